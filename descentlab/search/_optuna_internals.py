"""The only module that touches Optuna internals (``study._storage``, trial ids).

Optuna's public API has no way to take one particular WAITING trial: ``ask()``
pops any waiting trial and creates a new one when none is left, so K workers
that stop "when the queue is empty" can run more trials than were queued. The
exact-N claim needs the storage's atomic compare-and-set
``set_trial_state_values(trial_id, RUNNING)`` (True for exactly one caller,
False for the others) on a trial chosen by its tag, then ``optuna.Trial(study,
trial_id)``; writing a heartbeat or an error attribute for a trial that this
process did not ask for also needs the trial id. Everything else in
``descentlab.search`` uses the public API.

:func:`check_internals` verifies the names used here and raises a clear
``OptunaInternalsChanged`` when an Optuna release removes or renames one; the
test suite calls it, so an incompatible Optuna fails loudly in CI.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import DescentlabError


class OptunaInternalsChanged(DescentlabError):
    """The installed Optuna no longer has an internal name descentlab relies on."""


_STUDY_ATTRS = ("_storage", "_study_id")
_STORAGE_METHODS = (
    "get_all_trials",
    "set_trial_state_values",
    "set_trial_user_attr",
    "get_trial",
)


def check_internals(study: Any | None = None) -> None:
    """Raise OptunaInternalsChanged unless every internal used here exists.

    With ``study`` the attributes of that live study are checked too.
    """
    import optuna

    missing = []
    if "trial_id" not in inspect.signature(optuna.trial.FrozenTrial).parameters:
        missing.append("FrozenTrial(trial_id=...)")
    params = list(inspect.signature(optuna.Trial.__init__).parameters)
    if params[1:3] != ["study", "trial_id"]:
        missing.append(f"optuna.Trial(study, trial_id) (has {params[1:]})")
    for name in _STORAGE_METHODS:
        if not callable(getattr(optuna.storages.BaseStorage, name, None)):
            missing.append(f"BaseStorage.{name}")
    if study is not None:
        missing += [f"Study.{a}" for a in _STUDY_ATTRS if not hasattr(study, a)]
        frozen = study.get_trials(deepcopy=False)
        if frozen and not isinstance(getattr(frozen[0], "_trial_id", None), int):
            missing.append("FrozenTrial._trial_id")
    if missing:
        raise OptunaInternalsChanged(
            f"optuna {optuna.__version__} changed internals that descentlab's "
            f"exact-N trial claim uses: {', '.join(missing)} "
            "(descentlab/search/_optuna_internals.py). Install an Optuna release "
            "this descentlab was tested with (4.x-5.0) or update that module."
        )


def claim_waiting(study: Any, accept: Callable[[Any], bool]) -> Any:
    """Take one WAITING trial for which ``accept(frozen)`` is true, atomically.

    Returns an ``optuna.Trial`` now RUNNING and owned by this process, or None
    when no accepted trial is waiting. Two processes never get the same trial:
    the storage's state change from WAITING succeeds for exactly one of them.
    """
    import optuna

    waiting = optuna.trial.TrialState.WAITING
    storage = study._storage
    for ft in storage.get_all_trials(
        study._study_id, deepcopy=False, states=(waiting,)
    ):
        if not accept(ft):
            continue
        try:
            taken = storage.set_trial_state_values(
                ft._trial_id, state=optuna.trial.TrialState.RUNNING
            )
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if taken:
            return optuna.Trial(study, ft._trial_id)
    return None


def fail_trial(study: Any, frozen: Any, reason: str) -> bool:
    """Mark a RUNNING or WAITING trial (of any process) FAIL with ``reason``.

    Returns False when another process finished or failed it first.
    """
    import optuna

    storage = study._storage
    try:
        storage.set_trial_user_attr(frozen._trial_id, "error", reason)
        return bool(
            storage.set_trial_state_values(
                frozen._trial_id, state=optuna.trial.TrialState.FAIL
            )
        )
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def heartbeat_interval(study: Any) -> int | None:
    """Seconds between heartbeats of the study's storage (None: no heartbeats)."""
    get = getattr(study._storage, "get_heartbeat_interval", None)
    return get() if callable(get) else None


@contextlib.contextmanager
def heartbeat(study: Any, trial: Any) -> Iterator[None]:
    """Record the trial's heartbeat now and every interval until the block ends.

    A no-op for storages without heartbeats (journal files). The first beat is
    written before the block starts, so a trial whose worker dies at once is
    still recognised as stale (Optuna ignores trials that never beat).
    """
    interval = heartbeat_interval(study)
    if interval is None:
        yield
        return
    storage = study._storage
    trial_id = trial._trial_id
    storage.record_heartbeat(trial_id)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a lost beat is retried next time
                storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name="descentlab-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
