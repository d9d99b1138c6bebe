"""Searches on a real PostgreSQL server: simultaneous starts on a fresh database,
workers killed with SIGKILL, exact trial counts.

Each test creates its own fresh database (the role needs CREATEDB) on the server of
``DESCENTLAB_TEST_POSTGRES_URL`` and drops it afterwards; without that variable, or
with the server unreachable, the tests skip. CI starts a server and sets it.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from descentlab.search import (  # noqa: E402
    Uniform,
    batch_results,
    open_storage,
    optuna_search,
    run_configs,
)

SPACE = {"x": Uniform(0.0, 1.0)}


@pytest.fixture
def pg_url():
    """URL of a fresh, empty database, dropped after the test."""
    base = os.environ.get("DESCENTLAB_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("set DESCENTLAB_TEST_POSTGRES_URL to test PostgreSQL storage")
    pytest.importorskip("optuna")
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(base, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL server unreachable: {str(exc).strip()[:120]}")
    admin.autocommit = True
    name = f"dl_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base)
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def _env(**extra):
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]),
        "MPLBACKEND": "Agg",
        **extra,
    }


# Imports everything first, then waits for the gate file, so that the processes
# reach the database within a few milliseconds of each other.
GATED = """
import sys, time, os
import optuna, sqlalchemy, descentlab.cli, descentlab.search.storage
gate = sys.argv[1]
while not os.path.exists(gate):
    time.sleep(0.002)
sys.exit(descentlab.cli.main(sys.argv[2:]))
"""


def _gated(gate, argv, **env):
    return subprocess.Popen(
        [sys.executable, "-c", GATED, str(gate), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )


def _open(gate, procs):
    ready = threading.Event()
    ready.wait(1.0)  # let the interpreters finish importing
    gate.write_text("go")
    return [p.communicate(timeout=240) for p in procs]


def test_three_searches_start_together_on_a_fresh_database(pg_url, tmp_path):
    """Check that 3 `descentlab search` processes started at the same moment on a new
    database all succeed (no IntegrityError from concurrent schema creation) and the
    study holds exactly their 3 x 2 trials, numbered 0..5."""
    import optuna

    gate = tmp_path / "gate"
    procs = [
        _gated(
            gate,
            [
                "search",
                "--storage",
                pg_url,
                "--study",
                "s",
                "--trials",
                "2",
                "--epochs",
                "1",
                "--samples",
                "60",
                "--hidden",
                "4",
                "--sampler-seed",
                str(i),
                "--out",
                str(tmp_path / f"out{i}"),
                "--quiet",
            ],
        )
        for i in range(3)
    ]
    outs = _open(gate, procs)
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-600:] for _, e in outs]
    study = optuna.load_study(study_name="s", storage=open_storage(pg_url))
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in study.trials)


def test_sigkilled_worker_on_postgres(pg_url, tmp_path, monkeypatch):
    """Check that a worker killed by SIGKILL mid-trial is recovered on PostgreSQL: its
    trial is failed and re-run, and the call completes exactly 5 trials."""
    marker = tmp_path / "hang.pid"
    monkeypatch.setenv("DESCENTLAB_TEST_HANG_MARKER", str(marker))
    done = threading.Event()

    def kill():
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            done.wait(0.02)
        os.kill(int(marker.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    with pytest.warns(RuntimeWarning, match="died"):
        res = optuna_search(
            "search_objectives:hangs_once",
            SPACE,
            study_name="k",
            storage=pg_url,
            n_trials=5,
            n_workers=2,
            pruner="none",
            heartbeat_interval=1,
        )
    killer.join(5)
    states = [t.status for t in res]
    assert states.count("complete") == 5 and states.count("failed") == 1
    assert sorted(t.number for t in res) == list(range(6))


OTHER_HOST = """
import json, socket, sys
socket.gethostname = lambda: "another-machine"  # as if it ran elsewhere
from descentlab.search import run_configs
run_configs("search_objectives:config_hangs_once", json.loads(sys.argv[2]),
            storage=sys.argv[1], study_name="b", heartbeat_interval=1,
            grace_period=2, poll=0.1)
"""


def test_heartbeat_recovers_a_worker_of_another_machine(pg_url, tmp_path):
    """Check the heartbeat path: a batch worker that runs "on another machine" (its
    pid cannot be checked here) is SIGKILLed mid-trial; a process here fails its
    trial once the heartbeat is 2 s old, re-runs it, and every configuration ends
    complete exactly once."""
    configs = [{"x": x / 4} for x in range(4)]
    marker = tmp_path / "hang.pid"
    proc = subprocess.Popen(
        [sys.executable, "-c", OTHER_HOST, pg_url, json.dumps(configs)],
        env=_env(DESCENTLAB_TEST_HANG_MARKER=str(marker)),
    )
    done = threading.Event()
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        done.wait(0.02)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    os.environ["DESCENTLAB_TEST_HANG_MARKER"] = str(marker)
    try:
        t0 = time.monotonic()
        res = run_configs(
            "search_objectives:config_hangs_once",
            configs,
            storage=pg_url,
            study_name="b",
            heartbeat_interval=1,
            grace_period=2,
            poll=0.1,
        )
        waited = time.monotonic() - t0
    finally:
        del os.environ["DESCENTLAB_TEST_HANG_MARKER"]
    assert [r.status for r in res] == ["complete"] * 4
    import optuna

    study = optuna.load_study(study_name="b", storage=open_storage(pg_url))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1
    failed = next(t for t in study.trials if t.state.name == "FAIL")
    retried = [t for t in study.trials if "failed_trial" in t.system_attrs]
    assert [t.system_attrs["failed_trial"] for t in retried] == [failed.number]
    assert waited < 60


RUNNER = """
import json, sys
from descentlab.search import run_configs
res = run_configs("search_objectives:config_value", json.loads(sys.argv[3]),
                  storage=sys.argv[2], study_name="cmp", poll=0.05)
print(json.dumps([[r.index, r.status, r.trial_number] for r in res]))
"""


def test_batch_shared_by_processes_started_together(pg_url, tmp_path):
    """Check that 3 run_configs processes started at once on a fresh database run
    the 6 configurations exactly once in total and report the same table."""
    import optuna

    configs = [{"x": x / 10, "sleep": 0.05} for x in range(6)]
    gate = tmp_path / "gate"
    code = RUNNER.replace("sys.argv[2]", "sys.argv[2]")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os, sys, time\n"
                "import optuna, descentlab.search\n"
                "while not os.path.exists(sys.argv[1]): time.sleep(0.002)\n" + code,
                str(gate),
                pg_url,
                json.dumps(configs),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(3)
    ]
    outs = _open(gate, procs)
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-600:] for _, e in outs]
    tables = [json.loads(o) for o, _ in outs]
    assert tables[0] == tables[1] == tables[2]
    assert [row[1] for row in tables[0]] == ["complete"] * 6
    study = optuna.load_study(study_name="cmp", storage=open_storage(pg_url))
    assert len(study.trials) == 6
    assert [r.status for r in batch_results(study, configs)] == ["complete"] * 6


def test_two_workers_run_exactly_n_trials(pg_url, tmp_path):
    """Check two spawned workers on a PostgreSQL study run exactly 6 trials, 0..5."""
    res = optuna_search(
        "search_objectives:slow_quadratic",
        SPACE,
        study_name="two",
        storage=pg_url,
        out=tmp_path,
        n_trials=6,
        n_workers=2,
        seed=0,
    )
    assert sorted(t.number for t in res) == list(range(6))
    assert all(t.status == "complete" for t in res)
