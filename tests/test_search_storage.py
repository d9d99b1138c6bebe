"""open_storage: journal locks, database creation retry, driver messages; the
Optuna internals check."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.errors import MissingDependencyError as Missing
from descentlab.search import storage as storage_mod

HERE = Path(__file__).parent


@pytest.fixture
def optuna():
    return pytest.importorskip("optuna")


def test_journal_lock_choice(optuna, tmp_path, monkeypatch):
    """Check symlink/open locks as asked, and that auto falls back to the open lock
    where symbolic links fail (simulated by a refusing os.symlink)."""
    from optuna.storages.journal import JournalFileOpenLock, JournalFileSymlinkLock

    path = str(tmp_path / "j.journal")
    assert isinstance(
        storage_mod.journal_lock_for(path, "symlink"), JournalFileSymlinkLock
    )
    assert isinstance(storage_mod.journal_lock_for(path, "open"), JournalFileOpenLock)
    assert isinstance(
        storage_mod.journal_lock_for(path, "auto"), JournalFileSymlinkLock
    )
    assert list(tmp_path.iterdir()) == []  # the probe link is removed

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", refuse)
    assert isinstance(storage_mod.journal_lock_for(path, "auto"), JournalFileOpenLock)
    with pytest.raises(InvalidParameterError, match="'journal_lock' must be one of"):
        storage_mod.journal_lock_for(path, "flock")


def test_open_lock_journal_runs_a_search(optuna, tmp_path):
    """Check a search on a journal with the O_EXCL open lock completes its trials."""
    sys.path.insert(0, str(HERE))
    import search_objectives

    from descentlab.search import Uniform, optuna_search

    res = optuna_search(
        search_objectives.quadratic,
        {"x": Uniform(0.0, 1.0)},
        study_name="o",
        out=tmp_path,
        n_trials=3,
        journal_lock="open",
    )
    assert sorted(t.number for t in res) == [0, 1, 2]
    assert not (tmp_path / "optuna.journal.lock").exists()  # released


def test_postgres_without_driver_names_the_extra(optuna, monkeypatch):
    """Check that a PostgreSQL URL without a driver names the extra to install."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("psycopg", "psycopg2") else real(name, *a),
    )
    with pytest.raises(Missing, match=r"pip install 'descentlab\[postgres\]'") as e:
        storage_mod.open_storage("postgresql://u:secret@127.0.0.1/db")
    assert "secret" not in str(e.value)
    with pytest.raises(Missing, match="psycopg2 is not installed"):
        storage_mod.open_storage("postgresql+psycopg2://u@127.0.0.1/db")


def test_bare_postgres_url_gets_an_installed_driver(monkeypatch):
    """Check the driver chosen for a bare postgresql:// URL."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "psycopg" else real(name, *a) or object(),
    )
    assert storage_mod._with_driver("postgresql://h/db") == "postgresql+psycopg2://h/db"
    assert storage_mod._with_driver("sqlite:///x.db") == "sqlite:///x.db"


class _FakeClock:
    """An explicit clock: ``sleep(d)`` records the delay and moves ``now`` on."""

    def __init__(self):
        self.now = 0.0
        self.delays = []

    def sleep(self, d):
        self.delays.append(d)
        self.now += d

    def __call__(self):
        return self.now


def _retry(fn, clock, timeout=30):
    return storage_mod.retry_storage_call(
        fn, what="w", timeout=timeout, sleep=clock.sleep, clock=clock
    )


def test_retry_backs_off_on_concurrent_creation(optuna):
    """Check that concurrent-creation errors are retried with growing delays until
    the call succeeds (explicit clock, no sleeping)."""
    from sqlalchemy.exc import IntegrityError

    clock = _FakeClock()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise IntegrityError("INSERT", {}, Exception('"pg_type_typname_nsp_index"'))
        return "ok"

    got = _retry(flaky, clock)
    delays = clock.delays
    assert got == "ok" and len(calls) == 4 and len(delays) == 3
    assert 0.025 <= delays[0] <= 0.075 and delays[2] > delays[0]


def test_retry_gives_up_after_the_timeout(optuna):
    """Check that an error that keeps coming is reported once the timeout is spent."""
    from sqlalchemy.exc import IntegrityError

    def always():
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(DescentlabError, match=r"w: still failing after \d+ attempts"):
        _retry(always, _FakeClock(), timeout=5)


def test_retry_does_not_repeat_a_missing_privilege(optuna):
    """Check that a permission error is reported at once: retrying cannot help."""
    from sqlalchemy.exc import ProgrammingError

    class NoPrivilege(Exception):
        pgcode = "42501"  # SQLSTATE insufficient_privilege: retrying cannot help

    calls = []

    def denied():
        calls.append(1)
        raise ProgrammingError("CREATE", {}, NoPrivilege("permission denied"))

    with pytest.raises(DescentlabError, match=r"w: \w+: .*permission denied"):
        _retry(denied, _FakeClock())
    assert len(calls) == 1


def test_retry_lets_other_errors_through(optuna):
    """Check that an error that is not a storage error is raised unchanged."""
    clock = _FakeClock()

    def other():
        raise KeyError("not a storage error")

    with pytest.raises(KeyError):
        storage_mod.retry_storage_call(other, what="w", sleep=clock.sleep)


def test_optuna_internals_are_present(optuna, tmp_path):
    """Check every Optuna internal the exact-N claim uses exists in the installed
    Optuna; this fails with a clear message when an Optuna release changes them."""
    from descentlab.search._optuna_internals import (
        OptunaInternalsChanged,
        check_internals,
        claim_waiting,
    )

    study = optuna.create_study(storage=storage_mod.open_storage(tmp_path / "i.j"))
    study.enqueue_trial({}, user_attrs={"tag": "a"})
    study.enqueue_trial({}, user_attrs={"tag": "b"})
    check_internals(study)
    trial = claim_waiting(study, lambda ft: ft.user_attrs.get("tag") == "b")
    assert trial.number == 1 and study.trials[1].state.name == "RUNNING"
    assert claim_waiting(study, lambda ft: ft.user_attrs.get("tag") == "b") is None
    assert study.trials[0].state.name == "WAITING"

    class Changed:
        _study_id = 0

        def get_trials(self, deepcopy=False):
            return []

    with pytest.raises(OptunaInternalsChanged, match=r"changed internals .*_storage"):
        check_internals(Changed())


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["--heartbeat", "0"], r"--heartbeat must be >= 1 second\. Got 0\."),
        (["--journal-lock", "flock"], r"invalid choice: 'flock'"),
        (["--random-search", "--journal-lock", "open"], r"does not use --journal-lock"),
        (["--random-search", "--heartbeat", "5"], r"does not use --heartbeat"),
    ],
)
def test_search_cli_storage_flags_are_checked(argv, pattern, tmp_path, capsys):
    """Check the new storage flags give one error line and exit 2."""
    from descentlab.cli import main

    rc = main(["search", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(("error:", "descentlab")), err
    import re

    assert re.search(pattern, err[-1])
    assert not (tmp_path / "o").exists()
