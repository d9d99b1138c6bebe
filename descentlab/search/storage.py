"""Open Optuna storages shared by many processes and machines (optional extra).

One function, :func:`open_storage`, turns what a user types (``--storage``) into
an Optuna storage object, and :func:`create_or_join_study` creates a study or
joins the one that exists. Both are safe when many processes start at the same
moment on a fresh database:

- Journal file (a path, or ``None`` with ``out``: ``out/optuna.journal``):
  ``JournalStorage(JournalFileBackend(path, lock))``. The lock is Optuna's
  ``JournalFileSymlinkLock`` (atomic ``symlink``; NFS too) or, where the
  folder does not allow symbolic links (some network and FUSE file systems,
  Windows shares), ``JournalFileOpenLock`` (atomic ``open(O_CREAT | O_EXCL)``).
  ``journal_lock="auto"`` tries a symbolic link in the journal's folder once
  and picks the lock that works there.
- Database URL (``sqlite:///f.db``, ``postgresql://user:pw@host/db``,
  ``mysql+pymysql://...``): ``RDBStorage`` with heartbeats. Every running
  trial records a heartbeat each ``heartbeat_interval`` seconds; a trial whose
  worker has been silent for ``grace_period`` seconds (killed, on any machine)
  is marked FAIL by the next worker that looks, and re-queued as a WAITING copy
  with the same parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``, at
  most ``max_retry`` times). Creating the tables is retried with exponential
  backoff on the IntegrityError / OperationalError / ProgrammingError that
  concurrent schema creation raises (PostgreSQL's ``pg_type_typname_nsp_index``
  for example), then every process joins. A bare ``postgresql://`` URL uses
  ``psycopg`` (3) when installed, else ``psycopg2``.

Optuna (and SQLAlchemy, and the database driver) are imported only when a
function here is called.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import random
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DescentlabError, InvalidParameterError, MissingDependencyError

__all__ = [
    "JOURNAL_LOCKS",
    "StorageSpec",
    "create_or_join_study",
    "describe_storage",
    "open_storage",
    "redact",
    "storage_spec",
]

_OWNER = "open_storage"
#: accepted values of ``journal_lock``
JOURNAL_LOCKS = ("auto", "symlink", "open")
#: ``("url", url)`` or ``("journal", path)``: a picklable description of a storage
StorageSpec = tuple[str, str]
#: heartbeat defaults for database storages (seconds)
HEARTBEAT_INTERVAL = 10
GRACE_FACTOR = 6

T = TypeVar("T")


def optuna_module() -> Any:
    """``import optuna`` or MissingDependencyError with the pip line."""
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError(
            "optuna is not installed: pip install 'descentlab[optuna]'"
        ) from None
    return optuna


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Lower Optuna's log level to WARNING for the block, then restore it."""
    optuna = optuna_module()
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def check_study_name(study_name: Any, owner: str) -> None:
    """Refuse a study name that is not a non-empty string."""
    if not isinstance(study_name, str) or not study_name.strip():
        raise InvalidParameterError(
            f"{owner}: 'study_name' must be a non-empty string. Got {study_name!r}."
        )


def check_direction(study: Any, study_name: str, direction: str, owner: str) -> None:
    """Refuse to join a study whose optimization direction differs."""
    if study.direction.name.lower() != direction:
        raise InvalidParameterError(
            f"{owner}: study {study_name!r} exists with direction "
            f"{study.direction.name.lower()!r}. Got direction={direction!r}."
        )


def redact(url: str) -> str:
    """Hide the password in ``scheme://user:password@host``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def storage_spec(
    storage: str | os.PathLike | None, out: str | os.PathLike | None = None
) -> StorageSpec:
    """``("url", url)`` or ``("journal", path)`` for a storage argument.

    ``None`` means the journal ``out/optuna.journal``; a folder means
    ``folder/optuna.journal``; a string with ``://`` is a database URL.
    """
    if storage is None:
        if out is None:
            raise InvalidParameterError(
                "optuna_search: give 'out' (the journal file goes to "
                "out/optuna.journal) or a 'storage' URL or journal path."
            )
        return ("journal", str(Path(out) / "optuna.journal"))
    if isinstance(storage, os.PathLike):
        storage = os.fspath(storage)
    if not isinstance(storage, str) or not storage.strip():
        raise InvalidParameterError(
            "optuna_search: 'storage' must be a URL (sqlite:///..., postgresql://...) "
            f"or a journal file path. Got {storage!r}."
        )
    if "://" in storage:
        if storage.startswith("redis"):
            raise InvalidParameterError(
                "optuna_search: redis storage is not supported; use a journal file, "
                f"SQLite, PostgreSQL or MySQL URL. Got {redact(storage)!r}."
            )
        return ("url", storage)
    path = Path(storage)
    if path.is_dir():
        path = path / "optuna.journal"
    return ("journal", str(path))


def describe_storage(spec: StorageSpec) -> str:
    """What a message calls the storage (password hidden)."""
    return redact(spec[1]) if spec[0] == "url" else f"journal file {spec[1]!r}"


# ------------------------------------------------------------------ journal


def symlinks_work(folder: str | os.PathLike) -> bool:
    """Whether ``os.symlink`` works in ``folder`` (tried once with a unique name)."""
    probe = Path(folder) / f".descentlab-symlink-probe-{uuid.uuid4().hex}"
    try:
        os.symlink(probe.name + ".target", probe)
    except (OSError, NotImplementedError):
        return False
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def journal_lock_for(path: str, journal_lock: str = "auto") -> Any:
    """Optuna's journal file lock for ``path``: symlink, open, or auto (see module)."""
    if journal_lock not in JOURNAL_LOCKS:
        raise InvalidParameterError(
            f"{_OWNER}: 'journal_lock' must be one of {', '.join(JOURNAL_LOCKS)}. "
            f"Got {journal_lock!r}."
        )
    optuna_module()
    from optuna.storages.journal import JournalFileOpenLock, JournalFileSymlinkLock

    if journal_lock == "auto":
        journal_lock = "symlink" if symlinks_work(Path(path).parent) else "open"
    if journal_lock == "symlink":
        return JournalFileSymlinkLock(path)
    return JournalFileOpenLock(path)


# ----------------------------------------------------------------- database


def _with_driver(url: str) -> str:
    """Pick an installed PostgreSQL driver for a bare ``postgresql://`` URL."""
    scheme, sep, rest = url.partition("://")
    base, plus, driver = scheme.partition("+")
    if base not in ("postgresql", "postgres"):
        return url
    if plus:
        wanted = {"psycopg2": "psycopg2", "psycopg": "psycopg", "pg8000": "pg8000"}
        module = wanted.get(driver, driver)
        if importlib.util.find_spec(module) is None:
            raise _no_driver(url, module)
        return "postgresql+" + driver + sep + rest
    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{module}{sep}{rest}"
    raise _no_driver(url, "psycopg2")


def _no_driver(url: str, module: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"PostgreSQL storage {redact(url)!r} needs a database driver ({module} is "
        "not installed): pip install 'descentlab[postgres]'"
    )


def _retryable() -> tuple[type[BaseException], ...]:
    """Errors that concurrent schema or study creation raise for the losers."""
    try:
        from sqlalchemy import exc
    except ImportError:
        return ()
    import optuna

    return (
        exc.IntegrityError,
        exc.OperationalError,
        exc.ProgrammingError,
        optuna.exceptions.StorageInternalError,
    )


#: SQLSTATE codes that retrying cannot fix: no privilege, bad password or role,
#: no such database
_PERMANENT_SQLSTATES = frozenset({"42501", "28P01", "28000", "3D000"})


def _permanent(exc: BaseException) -> bool:
    """Whether a database error is one that waiting will not cure."""
    for err in (exc, exc.__cause__):
        orig = getattr(err, "orig", None)
        code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
        if code in _PERMANENT_SQLSTATES:
            return True
    return False


def retry_storage_call(
    fn: Callable[[], T],
    *,
    what: str,
    timeout: float = 30.0,
    first_delay: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn`` until it succeeds, retrying the errors of concurrent creation.

    Delays double from ``first_delay`` (with +-50 % jitter so that processes
    started together spread out), capped at 2 s, until ``timeout`` seconds have
    passed; then the last error is raised as DescentlabError naming ``what``.
    """
    errors = _retryable()
    deadline = clock() + timeout
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except errors as exc:
            if _permanent(exc):
                cause = exc.__cause__ or exc
                raise DescentlabError(
                    f"{what}: {type(cause).__name__}: "
                    f"{redact(' '.join(str(cause).split()))[:300]}"
                ) from exc
            if clock() + delay > deadline:
                cause = exc.__cause__ or exc
                raise DescentlabError(
                    f"{what}: still failing after {attempt} attempts in "
                    f"{timeout:g} s: {type(cause).__name__}: "
                    f"{redact(' '.join(str(cause).split()))[:300]}"
                ) from exc
            sleep(delay * random.uniform(0.5, 1.5))
            delay = min(2.0 * delay, 2.0)


def _stale_callback(optuna: Any, max_retry: int) -> Any:
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    if cls is None:  # Optuna < 4.9
        cls = optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(max_retry=max_retry)


def _rdb_storage(
    url: str,
    *,
    heartbeat_interval: int | None,
    grace_period: int | None,
    max_retry: int,
    timeout: float,
) -> Any:
    optuna = optuna_module()
    url = _with_driver(url)
    kwargs: dict[str, Any] = {}
    if heartbeat_interval is not None:
        grace = grace_period or GRACE_FACTOR * heartbeat_interval
        callback_arg = (
            "heartbeat_stale_trial_callback"
            if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback")
            else "failed_trial_callback"
        )
        kwargs = {
            "heartbeat_interval": int(heartbeat_interval),
            "grace_period": int(grace),
            callback_arg: _stale_callback(optuna, max_retry),
        }

    def build() -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **kwargs)
        except ImportError as exc:
            raise MissingDependencyError(
                f"storage {redact(url)!r}: {exc.__cause__ or exc}. Install the "
                "database driver (PostgreSQL: pip install 'descentlab[postgres]')."
            ) from None

    return retry_storage_call(
        build, what=f"cannot open the storage {redact(url)}", timeout=timeout
    )


# --------------------------------------------------------------------- API


def open_storage(
    storage: str | os.PathLike | None,
    *,
    out: str | os.PathLike | None = None,
    journal_lock: str = "auto",
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL,
    grace_period: int | None = None,
    max_retry: int = 2,
    timeout: float = 30.0,
) -> Any:
    """An Optuna storage object for ``storage`` (see the module docstring).

    Args:
        storage: a journal file path, a folder (its ``optuna.journal``), a
            database URL, or None (``out/optuna.journal``).
        out: the folder of the default journal.
        journal_lock: ``"auto"``, ``"symlink"`` or ``"open"`` (journal files).
        heartbeat_interval: database storages: seconds between heartbeats of a
            running trial (None: no heartbeats; dead workers are not detected).
        grace_period: seconds of silence after which a running trial is stale
            (default ``6 * heartbeat_interval``).
        max_retry: how many times a stale trial is re-queued.
        timeout: seconds to keep retrying the creation of the database tables.

    Returns:
        ``optuna.storages.JournalStorage`` or ``optuna.storages.RDBStorage``.

    Raises:
        MissingDependencyError: optuna or the database driver is missing.
        InvalidParameterError: a bad argument.
        DescentlabError: the database cannot be opened within ``timeout``.
    """
    optuna = optuna_module()
    for name, value in (
        ("heartbeat_interval", heartbeat_interval),
        ("grace_period", grace_period),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidParameterError(
                f"{_OWNER}: '{name}' must be a whole number of seconds >= 1 or None. "
                f"Got {value!r}."
            )
    kind, where = storage_spec(storage, out)
    if kind == "url":
        return _rdb_storage(
            where,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retry=max_retry,
            timeout=timeout,
        )
    Path(where).parent.mkdir(parents=True, exist_ok=True)
    lock = journal_lock_for(where, journal_lock)
    backend = optuna.storages.journal.JournalFileBackend(where, lock_obj=lock)
    return optuna.storages.JournalStorage(backend)


def create_or_join_study(
    storage: Any,
    study_name: str,
    *,
    direction: str = "maximize",
    sampler: Any = None,
    pruner: Any = None,
    user_attrs: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> Any:
    """Create ``study_name`` in ``storage`` or load it if it exists.

    Retries (with backoff) the errors that processes creating the same study, or
    setting the same study attributes, at the same moment raise on a database.
    ``user_attrs`` are set on the study (same values from every process).
    """
    optuna = optuna_module()

    def create() -> Any:
        study = optuna.create_study(
            study_name=study_name,
            storage=storage,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        for key, value in (user_attrs or {}).items():
            if study.user_attrs.get(key) != value:
                study.set_user_attr(key, value)
        return study

    return retry_storage_call(
        create, what=f"cannot create or join the study {study_name!r}", timeout=timeout
    )
