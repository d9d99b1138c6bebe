"""`descentlab compare` end to end in real processes, at a tiny size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "-m", "descentlab", "compare", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
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


def test_ctrl_c_keeps_finished_runs_and_continues(workload_file, tmp_path):
    """Check that SIGINT mid-comparison exits 130 keeping the finished runs, and
    that the same command then finishes only the rest."""
    slow = dict(TINY.to_dict(), name="slowcli", steps=60, eval_every=20)
    wfile = tmp_path / "slow.json"
    wfile.write_text(json.dumps(slow))
    out = tmp_path / "a"
    args = [
        "--optimizers",
        "sgd,adam",
        "--workloads",
        str(wfile),
        "--trials",
        "3",
        "--seeds",
        "2",
        "--out",
        str(out),
    ]
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab", "compare", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
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
    assert proc.returncode == 130, err
    kept = len(list(trials.glob("*.json")))
    assert 2 <= kept < 10
    assert f"{kept} of 10 runs are kept" in err and "Traceback" not in err
    r = _cli(*args)
    assert r.returncode == 0, r.stderr
    assert len(list(trials.glob("*.json"))) == 10
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("compare: ")]
    assert lines and lines[0].startswith(f"compare: {kept + 1}/10 runs")


@pytest.mark.parametrize("kind", ["journal", "postgres"])
def test_two_processes_share_one_comparison(kind, workload_file, tmp_path):
    """Check that two processes started at once on one storage run every run
    exactly once between them, both end with the whole results, and those equal
    a local comparison's bit for bit."""
    optuna = pytest.importorskip("optuna")
    search = pytest.importorskip("descentlab.search")
    if not hasattr(search, "run_configs"):
        pytest.skip("descentlab.search.run_configs is not available")
    if kind == "journal":
        storage = str(tmp_path / "shared.journal")
    else:
        storage = os.environ.get("DESCENTLAB_TEST_POSTGRES_URL", "")
        if not storage:
            pytest.skip("set DESCENTLAB_TEST_POSTGRES_URL to test PostgreSQL storage")
    study = f"cmp-test-{os.getpid()}-{time.time_ns()}"
    slow = dict(TINY.to_dict(), name="sharedcli", steps=40, eval_every=20)
    wfile = tmp_path / "shared.json"
    wfile.write_text(json.dumps(slow))
    args = [
        "--optimizers",
        "sgd,adam",
        "--workloads",
        str(wfile),
        "--trials",
        "2",
        "--seeds",
        "1",
        "--storage",
        storage,
        "--study",
        study,
        "--quiet",
    ]
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "descentlab",
                "compare",
                *args,
                "--out",
                str(tmp_path / name),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("a", "b")
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    from descentlab.compare import make_plan, run_plan, same_numbers

    assert same_numbers(a, b)
    if kind == "journal":  # the storage changes where runs run, not their numbers
        plan = make_plan(["sgd", "adam"], [Workload.from_dict(slow)], trials=2, seeds=1)
        run_plan(plan, tmp_path / "local", figures=False)
        local = json.loads((tmp_path / "local" / "results.json").read_text())
        assert same_numbers(a, local)
    from descentlab.search.storage import open_storage

    opened = open_storage(storage)
    workers = set()
    keys = []
    for phase, n in (("tune", 2 * 2), ("seed", 2 * 1)):
        trials = optuna.load_study(study_name=f"{study}-{phase}", storage=opened)
        done = [t for t in trials.get_trials() if t.state.name == "COMPLETE"]
        assert len(done) == n
        keys += [t.user_attrs["dl_config"]["key"] for t in done]
        workers |= {
            json.dumps(t.user_attrs.get("dl_worker"), sort_keys=True) for t in done
        }
        if kind == "postgres":
            optuna.delete_study(study_name=f"{study}-{phase}", storage=opened)
    assert len(keys) == len(set(keys)) == 6
    assert len(workers) >= 2  # both processes took part
