"""run_configs: a fixed list of configurations, each run once over many processes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from descentlab.errors import InvalidParameterError  # noqa: E402
from descentlab.search import batch_results, open_storage, run_configs  # noqa: E402

CONFIGS = [{"x": x / 10} for x in range(6)]


@pytest.fixture
def optuna():
    return pytest.importorskip("optuna")


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}


RUNNER = """
import json, sys
from descentlab.search import run_configs
configs = json.loads(sys.argv[2])
res = run_configs("search_objectives:config_value", configs, storage=sys.argv[1],
                  study_name="batch", poll=0.05)
print(json.dumps([[r.index, r.status, r.value, r.trial_number, r.result.get("pid")]
                  for r in res]))
"""


def test_one_process_runs_each_config_once(optuna, tmp_path):
    """Check values, JSON results and order; a second call runs nothing again."""
    journal = tmp_path / "b.journal"
    seen = []
    res = run_configs(
        "search_objectives:config_value",
        CONFIGS,
        storage=journal,
        study_name="b",
        on_trial=lambda r: seen.append(r.index),
    )
    assert [r.index for r in res] == list(range(6))
    assert sorted(seen) == list(range(6))
    assert all(r.status == "complete" for r in res)
    assert [r.value for r in res] == [-((c["x"] - 0.3) ** 2) for c in CONFIGS]
    assert [r.result["x"] for r in res] == [c["x"] for c in CONFIGS]
    again = run_configs(
        "search_objectives:config_value", CONFIGS, storage=journal, study_name="b"
    )
    assert [(r.trial_number, r.value) for r in again] == [
        (r.trial_number, r.value) for r in res
    ]
    study = optuna.load_study(study_name="b", storage=open_storage(journal))
    assert len(study.trials) == 6
    with pytest.raises(InvalidParameterError, match="holds another batch"):
        run_configs(
            "search_objectives:config_value",
            CONFIGS[:3],
            storage=journal,
            study_name="b",
        )


def test_processes_started_together_share_the_batch(optuna, tmp_path):
    """Check that 3 processes started at once on one journal run the 6 configurations
    exactly once in total, and each reports the same complete table."""
    journal = str(tmp_path / "shared.journal")
    configs = [{**c, "sleep": 0.1} for c in CONFIGS]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, journal, json.dumps(configs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    tables = [json.loads(o) for o, _ in outs]
    assert tables[0] == tables[1] == tables[2]
    assert [row[1] for row in tables[0]] == ["complete"] * 6
    assert sorted(row[3] for row in tables[0]) == list(range(6))
    optuna_mod = pytest.importorskip("optuna")
    study = optuna_mod.load_study(study_name="batch", storage=open_storage(journal))
    assert len(study.trials) == 6  # none twice, none extra


def test_killed_worker_config_is_rerun_and_a_rerun_resumes(
    optuna, tmp_path, monkeypatch
):
    """Check that a SIGKILLed batch process loses nothing: rerunning the call re-runs
    only the killed configuration (failed, re-queued) and keeps the finished ones."""
    journal = str(tmp_path / "crash.journal")
    marker = tmp_path / "hang.pid"
    code = (
        "import json, sys; from descentlab.search import run_configs; "
        "run_configs('search_objectives:config_hangs_once', json.loads(sys.argv[2]), "
        "storage=sys.argv[1], study_name='c', poll=0.05)"
    )
    env = {**_env(), "DESCENTLAB_TEST_HANG_MARKER": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, journal, json.dumps(CONFIGS)], env=env
    )
    done = threading.Event()
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        done.wait(0.02)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    study = optuna.load_study(study_name="c", storage=open_storage(journal))
    before = batch_results(study, CONFIGS)
    assert [r.status for r in before].count("pending") == 6 - sum(
        r.status == "complete" for r in before
    )
    monkeypatch.setenv("DESCENTLAB_TEST_HANG_MARKER", str(marker))
    res = run_configs(
        "search_objectives:config_hangs_once", CONFIGS, storage=journal, study_name="c"
    )
    assert [r.status for r in res] == ["complete"] * 6
    states = [t.state.name for t in study.trials]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 6
    for old, new in zip(before, res, strict=True):
        if old.status == "complete":
            assert new.trial_number == old.trial_number  # not run again
    killed = next(t for t in study.trials if t.state.name == "FAIL")
    assert killed.user_attrs["error"].startswith("stale: worker process")


def test_bad_arguments(optuna, tmp_path):
    """Check the messages for a bad configuration list and a non-JSON configuration."""
    with pytest.raises(InvalidParameterError, match="non-empty list of mappings"):
        run_configs(
            "search_objectives:config_value", [], storage=tmp_path, study_name="x"
        )
    with pytest.raises(InvalidParameterError, match="must be a JSON mapping"):
        run_configs(
            "search_objectives:config_value",
            [{"x": object()}],
            storage=tmp_path,
            study_name="x",
        )
