"""Optuna adapter: shared journal storage, K workers, resume, pruning, stale trials."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from descentlab.errors import DataError, InvalidParameterError, MissingDependencyError
from descentlab.search import (
    Choice,
    IntUniform,
    LogUniform,
    SearchResults,
    Uniform,
    format_summary,
    optuna_search,
    study_summary,
)

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # the workers import the objectives by module name
import search_objectives  # noqa: E402 (needs the path above)

SPACE = {"x": Uniform(0.0, 1.0)}


@pytest.fixture
def optuna():
    return pytest.importorskip("optuna")


def _numbers(res):
    return sorted(t.number for t in res)


def test_missing_optuna_gives_install_hint(monkeypatch, tmp_path):
    """Check that without optuna the adapter raises MissingDependencyError with the pip
    line."""
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(
        MissingDependencyError,
        match=r"optuna is not installed: pip install 'descentlab\[optuna\]'",
    ):
        optuna_search(
            search_objectives.quadratic, SPACE, study_name="s", out=tmp_path, n_trials=1
        )
    with pytest.raises(ImportError):
        study_summary(tmp_path, "s")


N_SHARED = 8


@pytest.fixture(scope="module")
def shared_journal(tmp_path_factory):
    """(folder, results) of one search: 2 spawned workers, one journal, N trials."""
    pytest.importorskip("optuna")
    out = tmp_path_factory.mktemp("shared")
    res = optuna_search(
        "search_objectives:slow_quadratic",
        SPACE,
        study_name="shared",
        out=out,
        n_trials=N_SHARED,
        n_workers=2,
        seed=0,
        pruner="none",
    )
    return out, res


def test_two_workers_run_exactly_n_trials_numbered_once(optuna, shared_journal):
    """Check that 2 spawned workers on one journal run exactly N trials, numbered once
    each, in worker processes only."""
    out, res = shared_journal
    assert _numbers(res) == list(range(N_SHARED))
    assert all(t.status == "complete" for t in res)
    study = optuna.load_study(
        study_name="shared",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(out / "optuna.journal"))
        ),
    )
    pids = {t.user_attrs["dl_worker"]["pid"] for t in study.trials}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_a_fresh_process_sees_every_trial_of_the_journal(shared_journal):
    """Check that a third process, started after the search, summarizes all N trials."""
    out, _ = shared_journal
    code = (
        "import json, sys; from descentlab.search import study_summary; "
        f"s = study_summary({str(out)!r}, 'shared', k=100); print(json.dumps(s))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    stdout = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    summary = json.loads(stdout)
    assert summary["n_trials"] == N_SHARED
    assert summary["states"] == {"complete": N_SHARED}
    assert sorted(r["number"] for r in summary["best"]) == list(range(N_SHARED))


def test_the_results_table_is_exported_after_the_last_trial(shared_journal):
    """Check that the saved SearchResults hold every trial of the shared search."""
    out, _ = shared_journal
    assert _numbers(SearchResults.load(out)) == list(range(N_SHARED))


@pytest.mark.parametrize("user_set", [None, "3"])
def test_workers_share_the_cores_for_blas(optuna, tmp_path, monkeypatch, user_set):
    """Check spawned workers get cpus // workers BLAS threads, unless the user set a
    count, and that the parent's environment is restored."""
    from descentlab._threads import THREAD_VARS, usable_cpus

    for var in THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    if user_set is not None:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", user_set)
    res = optuna_search(
        "search_objectives:blas_threads_seen",
        SPACE,
        study_name="threads",
        out=tmp_path,
        n_trials=2,
        n_workers=2,
        seed=0,
        pruner="none",
    )
    expected = float(user_set) if user_set else float(max(1, usable_cpus() // 2))
    assert [t.value for t in res] == [expected, expected]
    assert os.environ.get("OPENBLAS_NUM_THREADS") == user_set
    assert "OMP_NUM_THREADS" not in os.environ


def test_resume_continues_the_numbering(optuna, tmp_path):
    """Check that 3 trials then 2 more in the same study give trial numbers 0..4."""
    first = optuna_search(
        search_objectives.quadratic,
        SPACE,
        study_name="r",
        out=tmp_path,
        n_trials=3,
        seed=0,
    )
    assert _numbers(first) == [0, 1, 2]
    again = optuna_search(
        search_objectives.quadratic,
        SPACE,
        study_name="r",
        out=tmp_path,
        n_trials=2,
        seed=0,
    )
    assert _numbers(again) == [0, 1, 2, 3, 4]
    params = [t.params["x"] for t in again]
    assert len(set(params)) == 5  # the resumed run draws new points
    assert [t.to_dict() for t in again.trials[:3]] == [
        t.to_dict() for t in first.trials
    ]


def test_median_pruner_prunes_bad_trials(optuna, tmp_path):
    """Check that trials reporting low values early are pruned, good ones complete."""
    res = optuna_search(
        search_objectives.climbing,
        SPACE,
        study_name="p",
        out=tmp_path,
        n_trials=20,
        seed=1,
        sampler="random",
        pruner="median",
    )
    pruned = [t for t in res if t.status == "pruned"]
    complete = [t for t in res if t.status == "complete"]
    assert len(pruned) >= 3 and len(complete) >= 5
    best_x = max(t.params["x"] for t in res)
    assert best_x in [t.params["x"] for t in complete]
    assert all(len(t.intermediate) < 5 for t in pruned)

    def mean(ts):
        return sum(t.params["x"] for t in ts) / len(ts)

    assert mean(pruned) < mean(complete)


def test_failures_are_recorded(optuna, tmp_path):
    """Check that raising and NaN objectives become FAIL trials with the reason; search
    goes on."""
    res = optuna_search(
        search_objectives.fails_for_small_x,
        SPACE,
        study_name="f",
        out=tmp_path,
        n_trials=12,
        seed=0,
        sampler="random",
    )
    assert len(res) == 12
    failed = [t for t in res if t.status == "failed"]
    assert failed and all(t.error for t in failed)
    assert {t.error.split(":")[0] for t in failed} <= {
        "ValueError",
        "objective returned nan",
    }
    assert all(0.3 <= t.params["x"] <= 0.7 for t in res if t.status == "complete")


def test_mixed_space_maps_to_suggest(optuna, tmp_path):
    """Check that log, int and choice dimensions map to Optuna's distributions."""
    space = {
        "lr": LogUniform(1e-6, 1e-2),
        "n": IntUniform(1, 3),
        "act": Choice(["relu", "tanh"]),
    }

    def objective(params, report):
        assert isinstance(params["n"], int) and params["act"] in ("relu", "tanh")
        return params["lr"]

    optuna_search(objective, space, study_name="m", out=tmp_path, n_trials=4, seed=0)
    study = optuna.load_study(
        study_name="m",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna.journal"))
        ),
    )
    dists = study.trials[0].distributions
    assert dists["lr"].log and dists["lr"].low == 1e-6
    assert isinstance(dists["n"], optuna.distributions.IntDistribution)
    assert dists["act"].choices == ("relu", "tanh")
    assert all(t.state.name == "COMPLETE" for t in study.trials)


@pytest.fixture
def orphans(optuna, tmp_path):
    """A study with one finished trial, then three RUNNING trials (of a dead worker
    process, of this live process, and one with no worker recorded) and a WAITING
    slot queued by a dead search process."""
    import socket

    optuna_search(
        search_objectives.quadratic,
        SPACE,
        study_name="st",
        out=tmp_path,
        n_trials=1,
        seed=0,
    )
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna.journal"))
    )
    study = optuna.load_study(study_name="st", storage=storage)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    t_dead, t_live, t_old = study.ask(), study.ask(), study.ask()
    for trial, pid in ((t_dead, dead.pid), (t_live, os.getpid())):
        trial.set_user_attr("dl_worker", {"host": host, "pid": pid, "start": None})
    study.enqueue_trial(
        {},
        user_attrs={
            "dl_run": "gone",
            "dl_queued_by": {"host": host, "pid": dead.pid, "start": None},
        },
    )
    return SimpleNamespace(
        study=study,
        dead_pid=dead.pid,
        dead=t_dead.number,
        live=t_live.number,
        old=t_old.number,
        queued=t_old.number + 1,
    )


def test_dead_workers_trial_and_queued_slot_are_failed(orphans):
    """Check that the RUNNING trial of a dead local worker becomes FAIL, and that a
    queued slot of a dead search process is failed as never run."""
    from descentlab.search import recover_orphaned_trials

    failed = recover_orphaned_trials(orphans.study, stale_after=3600)
    assert failed == [orphans.dead, orphans.queued]
    by_number = {t.number: t for t in orphans.study.get_trials()}
    assert (
        by_number[orphans.dead]
        .user_attrs["error"]
        .startswith(f"stale: worker process {orphans.dead_pid}")
    )
    assert "queued by search process" in by_number[orphans.queued].user_attrs["error"]


def test_live_and_young_trials_are_left_running(orphans):
    """Check that a live worker's trial, and one younger than stale_after, stay
    RUNNING."""
    from descentlab.search import recover_orphaned_trials

    recover_orphaned_trials(orphans.study, stale_after=3600)
    by_number = {t.number: t for t in orphans.study.get_trials()}
    assert by_number[orphans.live].state.name == "RUNNING"
    assert by_number[orphans.old].state.name == "RUNNING"  # younger than stale_after


def test_unchecked_trials_older_than_stale_after_are_failed(orphans):
    """Check by an explicit clock that a trial with no worker to check is failed once
    it is older than stale_after, and never a live worker's trial."""
    from datetime import datetime, timedelta

    from descentlab.search import recover_orphaned_trials

    study = orphans.study
    recover_orphaned_trials(study, stale_after=3600)  # the dead worker's, first
    started = study.trials[orphans.old].datetime_start
    later = started + timedelta(seconds=0.1)
    assert recover_orphaned_trials(study, stale_after=0.2, now=later) == []
    much_later = started + timedelta(seconds=0.3)
    assert recover_orphaned_trials(study, stale_after=0.2, now=much_later) == [
        orphans.old
    ]
    assert "still running after 0.2 s" in study.trials[orphans.old].user_attrs["error"]
    assert study.trials[orphans.live].state.name == "RUNNING"
    assert datetime.now() >= started


def test_the_next_search_does_not_rerun_untagged_trials(orphans, tmp_path):
    """Check that after the orphans are failed, the next search adds one trial: the
    trials made by study.ask (untagged) are failed but not re-queued."""
    from datetime import timedelta

    from descentlab.search import recover_orphaned_trials

    study = orphans.study
    recover_orphaned_trials(study, stale_after=3600)
    much_later = study.trials[orphans.old].datetime_start + timedelta(seconds=0.3)
    recover_orphaned_trials(study, stale_after=0.2, now=much_later)
    res = optuna_search(
        search_objectives.quadratic,
        SPACE,
        study_name="st",
        out=tmp_path,
        n_trials=1,
        seed=0,
    )
    # 5 + 1 new
    assert len(res) == 6 and [t.status for t in res].count("complete") == 2


def _kill_when_marked(marker, sig=signal.SIGKILL, timeout=60.0):
    """Thread: wait for the hanging trial's pid in ``marker``, then send it ``sig``."""
    done = threading.Event()

    def run():
        deadline = time.monotonic() + timeout
        while not marker.exists() and time.monotonic() < deadline:
            done.wait(0.02)
        if marker.exists():
            os.kill(int(marker.read_text()), sig)
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_sigkilled_worker_trial_is_rerun(optuna, tmp_path, monkeypatch):
    """Check that a worker killed by SIGKILL mid-trial costs nothing: its trial is
    failed and re-run with the same parameters, the call still completes exactly N
    trials, and the death is reported as a warning."""
    marker = tmp_path / "hang.pid"
    monkeypatch.setenv("DESCENTLAB_TEST_HANG_MARKER", str(marker))
    killer = _kill_when_marked(marker)
    with pytest.warns(RuntimeWarning, match=r"exit code -9\) died"):
        res = optuna_search(
            "search_objectives:hangs_once",
            SPACE,
            study_name="k",
            out=tmp_path / "out",
            n_trials=6,
            n_workers=2,
            seed=0,
            pruner="none",
        )
    killer.join(5)
    complete = [t for t in res if t.status == "complete"]
    failed = [t for t in res if t.status == "failed"]
    assert len(complete) == 6 and len(failed) == 1 and len(res) == 7
    assert failed[0].error.startswith("stale: worker process")
    assert failed[0].params["x"] in [t.params["x"] for t in complete]
    assert _numbers(res) == list(range(7))


def test_sqlite_url_storage(optuna, tmp_path):
    """Check that a database URL is passed to Optuna (SQLite here) and can be
    resumed."""
    pytest.importorskip("sqlalchemy")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna_search(
        search_objectives.quadratic,
        SPACE,
        study_name="db",
        storage=url,
        out=tmp_path / "out",
        n_trials=2,
        seed=0,
    )
    res = optuna_search(
        search_objectives.quadratic,
        SPACE,
        study_name="db",
        storage=url,
        out=tmp_path / "out",
        n_trials=1,
        seed=0,
    )
    assert _numbers(res) == [0, 1, 2]
    assert not (tmp_path / "out" / "optuna.journal").exists()
    assert study_summary(url, "db")["n_trials"] == 3


def test_ctrl_c_in_workers_stops_the_search_quietly(optuna, tmp_path, capfd):
    """Check workers hit by Ctrl-C exit without tracebacks, the parent raises
    KeyboardInterrupt, and the study marks the running trials failed and the
    queued ones "not run"."""
    with pytest.raises(KeyboardInterrupt):
        optuna_search(
            "search_objectives:interrupts",
            SPACE,
            study_name="cut",
            out=tmp_path,
            n_trials=6,
            n_workers=2,
            seed=0,
            pruner="none",
        )
    assert "Traceback" not in capfd.readouterr().err
    summary = study_summary(str(tmp_path / "optuna.journal"), "cut")
    assert summary["states"] == {"failed": 2, "not run": 4}
    assert summary["best"] == []


@pytest.fixture(scope="module")
def summarized(tmp_path_factory):
    """The folder of a finished 4-trial study 's' maximizing val_acc."""
    pytest.importorskip("optuna")
    out = tmp_path_factory.mktemp("summary")
    optuna_search(
        search_objectives.quadratic,
        SPACE,
        study_name="s",
        out=out,
        n_trials=4,
        seed=0,
        metric="val_acc",
    )
    return out


def test_summary_lists_the_best_k_trials_best_first(summarized):
    """Check that study_summary counts the trials and keeps the k best, best first."""
    summary = study_summary(summarized / "optuna.journal", "s", k=2)
    assert summary["n_trials"] == 4 and len(summary["best"]) == 2
    assert summary["best"][0]["value"] >= summary["best"][1]["value"]


def test_format_summary_heads_the_table_with_the_study(summarized):
    """Check the summary text's first line (name, direction, counts) and its table."""
    text = format_summary(study_summary(summarized / "optuna.journal", "s", k=2))
    assert (
        text.startswith("study 's' (maximize): 4 trials (4 complete)")
        and "rank" in text
    )


def _search_s(objective=search_objectives.quadratic, **kwargs):
    """optuna_search on study 's', one trial unless told otherwise."""
    return optuna_search(
        objective, SPACE, **{"study_name": "s", "n_trials": 1, **kwargs}
    )


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (
            lambda out: study_summary(out, "nope"),
            InvalidParameterError,
            r"no study 'nope' in journal file .*'s'",
        ),
        (
            lambda out: study_summary(out / "missing.journal", "s"),
            DataError,
            "does not exist",
        ),
        (
            lambda out: _search_s(out=out, direction="minimize"),
            InvalidParameterError,
            r"exists with direction 'maximize'",
        ),
        (
            lambda out: _search_s(lambda p, r: 0.0, out=out, n_trials=2, n_workers=2),
            InvalidParameterError,
            "must be picklable",
        ),
        (
            lambda out: _search_s("no_colon", out=out),
            InvalidParameterError,
            "must look like 'package.module:function'",
        ),
        (
            lambda out: _search_s("search_objectives:nothing", out=out),
            InvalidParameterError,
            "cannot load objective",
        ),
        (
            lambda out: _search_s(storage="redis://u:secret@h/0"),
            InvalidParameterError,
            "redis storage is not supported",
        ),
        (
            lambda out: _search_s(out=out, pruner="hyperband"),
            InvalidParameterError,
            r"'pruner' must be 'median', 'none'",
        ),
    ],
    ids=[
        "unknown study",
        "missing journal",
        "other direction",
        "unpicklable objective",
        "objective without colon",
        "unknown objective",
        "redis",
        "unknown pruner",
    ],
)
def test_bad_arguments_and_unknown_studies_are_refused(
    summarized, call, error, pattern
):
    """Check the message for each bad argument or unknown study, and that the refused
    call added no trial."""
    with pytest.raises(error, match=pattern):
        call(summarized)
    assert len(study_summary(summarized, "s")["best"]) == 4
