"""`descentlab compare` end to end in real processes, at a tiny size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from descentlab.compare import Workload

TINY = Workload(
    name="tinycli",
    model="mlp",
    hidden=(16,),
    steps=12,
    batch_size=32,
    eval_every=4,
    target=0.3,
    n_train=200,
    n_val=100,
    n_test=100,
)


def _env() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return env


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "descentlab", "compare", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


@pytest.fixture(scope="module")
def workload_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wl") / "tiny.json"
    path.write_text(json.dumps(TINY.to_dict()))
    return path


def test_compare_then_rerun(workload_file, tmp_path):
    """Check that a tiny comparison writes its files and table, and that --rerun
    reports every number equal."""
    out = tmp_path / "a"
    r = _cli(
        "--optimizers",
        "sgd,momentum",
        "--workloads",
        str(workload_file),
        "--trials",
        "2",
        "--seeds",
        "2",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "tinycli:" in r.stdout and "Momentum" in r.stdout
    assert "performance profile" in r.stdout
    assert "compare: 8/8 runs" in r.stderr  # the progress line (not a terminal)
    for name in (
        "manifest.json",
        "results.json",
        "results.csv",
        "learning_curves.png",
        "lr_sensitivity.png",
        "performance_profile.png",
    ):
        assert (out / name).is_file(), name
    again = _cli(
        "--rerun", str(out / "manifest.json"), "--out", str(tmp_path / "b"), "--quiet"
    )
    assert again.returncode == 0, again.stderr
    assert "every number equals the original's (timings excluded)" in again.stdout
    assert again.stderr == ""
    assert (tmp_path / "b" / "results.csv").read_text() != ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizers", "sgd,adamax"], "unknown optimizer 'adamax'"),
        (["--workloads", "nowhere"], "unknown workload 'nowhere'"),
        (["--trials", "0"], "'trials' must be an int in [1, inf]. Got 0."),
        (["--seeds", "0"], "'seeds' must be an int in [1, inf]. Got 0."),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--rerun", "missing.json"], "manifest 'missing.json' does not exist"),
        (["--rerun", "m.json", "--trials", "3"], "drop --trials"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    """Check that bad input exits 2 with one 'error:' line naming the problem."""
    r = _cli(*args, "--out", str(tmp_path / "x"), timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr


def test_edited_manifest_is_refused(workload_file, tmp_path):
    """Check that --rerun of a hand-edited manifest exits 2 with one line."""
    out = tmp_path / "a"
    r = _cli(
        "--optimizers",
        "sgd",
        "--workloads",
        str(workload_file),
        "--trials",
        "1",
        "--seeds",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["settings"]["trial_params"]["sgd"][0]["lr"] = 0.5
    (out / "manifest.json").write_text(json.dumps(manifest))
    again = _cli("--rerun", str(out / "manifest.json"), "--out", str(tmp_path / "b"))
    assert again.returncode == 2
    assert "was changed after it was written" in again.stderr
    assert again.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def interrupted_comparison(tmp_path_factory, sigint_default_in_module):
    """A 10-run comparison sent SIGINT once 2 runs are saved: its arguments, trials
    folder, exit code, stderr and the number of runs kept."""
    slow = dict(TINY.to_dict(), name="slowcli", steps=60, eval_every=20)
    tmp = tmp_path_factory.mktemp("ctrl_c")
    wfile = tmp / "slow.json"
    wfile.write_text(json.dumps(slow))
    out = tmp / "a"
    args = ["--optimizers", "sgd,adam", "--workloads", str(wfile)]
    args += ["--trials", "3", "--seeds", "2", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab", "compare", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    trials = out / "trials"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if trials.is_dir() and len(list(trials.glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return SimpleNamespace(
        args=args,
        trials=trials,
        returncode=proc.returncode,
        err=err,
        kept=len(list(trials.glob("*.json"))),
    )


def test_ctrl_c_exits_130_keeping_the_finished_runs(interrupted_comparison):
    """Check that SIGINT mid-comparison exits 130, keeps the finished runs and says
    how many, without a traceback."""
    r = interrupted_comparison
    assert r.returncode == 130, r.err
    assert 2 <= r.kept < 10
    assert f"{r.kept} of 10 runs are kept" in r.err and "Traceback" not in r.err


def test_the_same_command_then_finishes_only_the_rest(interrupted_comparison):
    """Check that rerunning the interrupted command starts after the kept runs and
    ends with all 10."""
    r = interrupted_comparison
    again = _cli(*r.args)
    assert again.returncode == 0, again.stderr
    assert len(list(r.trials.glob("*.json"))) == 10
    lines = [ln for ln in again.stderr.splitlines() if ln.startswith("compare: ")]
    assert lines and lines[0].startswith(f"compare: {r.kept + 1}/10 runs")


def _completed(study) -> list[tuple[str, str]]:
    """(config key, worker as JSON) of each COMPLETE trial of ``study``."""
    return [
        (
            t.user_attrs["dl_config"]["key"],
            json.dumps(t.user_attrs.get("dl_worker"), sort_keys=True),
        )
        for t in study.get_trials()
        if t.state.name == "COMPLETE"
    ]


@pytest.fixture(scope="module", params=["journal", "postgres"])
def shared_comparison(request, tmp_path_factory):
    """Two `compare` processes started at once on one storage, both exiting 0: their
    results, and the completed trials of each phase's study as (config key, worker)
    pairs."""
    optuna = pytest.importorskip("optuna")
    search = pytest.importorskip("descentlab.search")
    if not hasattr(search, "run_configs"):
        pytest.skip("descentlab.search.run_configs is not available")
    from descentlab.search.storage import open_storage

    kind = request.param
    tmp = tmp_path_factory.mktemp(f"shared_{kind}")
    if kind == "journal":
        storage = str(tmp / "shared.journal")
    else:
        storage = os.environ.get("DESCENTLAB_TEST_POSTGRES_URL", "")
        if not storage:
            pytest.skip("set DESCENTLAB_TEST_POSTGRES_URL to test PostgreSQL storage")
    study = f"cmp-test-{os.getpid()}-{time.time_ns()}"
    slow = dict(TINY.to_dict(), name="sharedcli", steps=40, eval_every=20)
    wfile = tmp / "shared.json"
    wfile.write_text(json.dumps(slow))
    args = ["--optimizers", "sgd,adam", "--workloads", str(wfile), "--trials", "2"]
    args += ["--seeds", "1", "--storage", storage, "--study", study, "--quiet"]
    cmd = [sys.executable, "-m", "descentlab", "compare", *args, "--out"]
    procs = [
        subprocess.Popen(
            [*cmd, str(tmp / name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for name in ("a", "b")
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    opened = open_storage(storage)
    done = {
        phase: _completed(
            optuna.load_study(study_name=f"{study}-{phase}", storage=opened)
        )
        for phase in ("tune", "seed")
    }
    yield SimpleNamespace(
        kind=kind, tmp=tmp, workload=Workload.from_dict(slow), done=done
    )
    if kind == "postgres":
        for phase in ("tune", "seed"):
            optuna.delete_study(study_name=f"{study}-{phase}", storage=opened)


def _results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def test_two_processes_on_one_storage_end_with_the_same_results(shared_comparison):
    """Check that both processes (which exit 0) end with the whole results, equal bit
    for bit."""
    from descentlab.compare import same_numbers

    tmp = shared_comparison.tmp
    assert same_numbers(_results(tmp / "a"), _results(tmp / "b"))


def test_shared_results_equal_a_local_comparison(shared_comparison):
    """Check that the storage changes where runs run, not their numbers: the shared
    results equal a local comparison's, on every storage."""
    from descentlab.compare import make_plan, run_plan, same_numbers

    tmp = shared_comparison.tmp
    plan = make_plan(["sgd", "adam"], [shared_comparison.workload], trials=2, seeds=1)
    run_plan(plan, tmp / "local", figures=False)
    assert same_numbers(_results(tmp / "a"), _results(tmp / "local"))


def test_every_shared_run_completes_exactly_once(shared_comparison):
    """Check that each phase's study holds every run once: 2 x 2 tune runs and 2 x 1
    seed runs, six distinct configurations in all."""
    done = shared_comparison.done
    assert len(done["tune"]) == 2 * 2 and len(done["seed"]) == 2 * 1
    keys = [key for phase in ("tune", "seed") for key, _ in done[phase]]
    assert len(keys) == len(set(keys)) == 6


def test_both_processes_take_part_in_the_shared_comparison(shared_comparison):
    """Check that the completed runs were done by at least two workers."""
    workers = {
        w for phase in ("tune", "seed") for _, w in shared_comparison.done[phase]
    }
    assert len(workers) >= 2  # both processes took part
