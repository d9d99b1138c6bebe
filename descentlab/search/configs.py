"""Run a fixed list of configurations through a shared Optuna storage, each once.

For work that is not a search but a list decided in advance (the tuning trials
of an optimizer comparison, a grid, reruns on several seeds): every process
that calls :func:`run_configs` with the same ``configs`` on the same storage
and study takes part in one batch; each configuration is run by exactly one
worker, and every caller gets the same table of results.

::

    from descentlab.search import run_configs
    configs = [{"optimizer": o, "lr": lr} for o in ("sgd", "adam")
               for lr in (1e-3, 1e-2)]
    results = run_configs("mypkg.tasks:train_one", configs,
                          storage="postgresql://u:pw@db/lab", study_name="cmp-1",
                          direction="maximize", n_workers=2)
    for r in results:
        print(r.index, r.config, r.status, r.value, r.result)

How it works. The first process creates the study (Optuna's study creation is
atomic: exactly one process wins), records the batch's digest (SHA-256 of the
configurations as JSON), enqueues one WAITING trial per configuration (user
attributes ``dl_batch`` = digest, ``dl_index``, ``dl_config``) and then marks
the batch ready. The others wait for that mark (up to ``setup_timeout``
seconds; a creator that died before it is replaced: the missing trials are
queued by the first process that notices). Workers claim WAITING trials of the
batch atomically (:mod:`._optuna_internals`), so no configuration runs twice.

Crashes. Finished trials stay in the storage. A trial whose worker was killed
is failed and re-queued (same host: at once; databases: after the heartbeat
grace period; journal files of other machines: after ``stale_after``), so the
batch still completes. Rerunning the same call after a crash continues the
batch: finished configurations are not run again. A configuration whose
objective raised is a result (status ``"failed"``), not retried.

The objective is ``objective(config, report) -> float`` (or ``objective(config)``)
or returns a mapping with a ``"value"`` entry and any other JSON data (curves,
steps to a target), returned as :attr:`ConfigResult.result`.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_option, check_scalar
from ..errors import InvalidParameterError
from .objective_loading import check_picklable, resolve_objective
from .recovery import BATCH, QUEUED_BY, alive, identity
from .storage import (
    HEARTBEAT_INTERVAL,
    JOURNAL_LOCKS,
    check_direction,
    check_study_name,
    open_storage,
    optuna_module,
    quiet_optuna,
    retry_storage_call,
    storage_spec,
)
from .workers import CONFIG, RESULT, run_processes, run_worker

__all__ = ["ConfigResult", "batch_results", "run_configs"]

_OWNER = "run_configs"
INDEX = "dl_index"  # user attr: position of the configuration in the list
_BATCH_ATTR = "descentlab_batch"  # study user attr: {"digest", "n", "by"}
_READY_ATTR = "descentlab_batch_ready"  # study user attr: digest once all queued


@dataclass
class ConfigResult:
    """The outcome of one configuration of a batch.

    Attributes:
        index: position in the ``configs`` list.
        config: the configuration.
        status: ``"complete"``, ``"failed"``, ``"pruned"``, or ``"pending"``
            (queued or running elsewhere, when the call did not wait).
        value: the objective's value (None unless complete or pruned).
        result: the mapping the objective returned (``{}`` for a plain float).
        error: why it failed (the exception, or a killed worker).
        trial_number: the Optuna trial that holds it (None while queued).
        seconds: wall time of the trial.
    """

    index: int
    config: dict[str, Any]
    status: str = "pending"
    value: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    trial_number: int | None = None
    seconds: float = 0.0


def _digest(configs: Sequence[Mapping[str, Any]]) -> str:
    try:
        text = json.dumps([dict(c) for c in configs], sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{_OWNER}: every configuration must be a JSON mapping (str keys; "
            f"numbers, strings, booleans, lists). {type(exc).__name__}: {exc}"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()


def _queued_indices(study: Any, digest: str) -> set[int]:
    return {
        int(ft.user_attrs[INDEX])
        for ft in study.get_trials(deepcopy=False)
        if ft.user_attrs.get(BATCH) == digest and INDEX in ft.user_attrs
    }


def _enqueue_missing(study: Any, configs: Sequence[Mapping], digest: str) -> None:
    have = _queued_indices(study, digest)
    me = identity()
    for i, config in enumerate(configs):
        if i not in have:
            study.enqueue_trial(
                {},
                user_attrs={
                    BATCH: digest,
                    INDEX: i,
                    CONFIG: dict(config),
                    QUEUED_BY: me,
                },
            )
    study.set_user_attr(_READY_ATTR, digest)


def _setup(
    storage: Any,
    study_name: str,
    direction: str,
    configs: Sequence[Mapping],
    digest: str,
    setup_timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Any:
    """Create the study and queue the batch, or join it (see the module doc)."""
    study = _create_batch_study(storage, study_name, direction, configs, digest)
    if study is not None:
        _enqueue_missing(study, configs, digest)
        return study
    study = optuna_module().load_study(study_name=study_name, storage=storage)
    check_direction(study, study_name, direction, _OWNER)
    deadline = clock() + setup_timeout
    delay = 0.05
    while True:
        attrs = study.user_attrs
        batch = attrs.get(_BATCH_ATTR)
        _check_same_batch(study, study_name, batch, digest)
        if attrs.get(_READY_ATTR) == digest:
            return study
        if _creator_dead(batch) or clock() > deadline:
            _enqueue_missing(study, configs, digest)
            return study
        sleep(delay)
        delay = min(2 * delay, 1.0)


def _create_batch_study(
    storage: Any,
    study_name: str,
    direction: str,
    configs: Sequence[Mapping],
    digest: str,
) -> Any:
    """The new study, marked with the batch; None when it exists already."""
    optuna = optuna_module()

    def create() -> Any:
        try:
            study = optuna.create_study(
                study_name=study_name, storage=storage, direction=direction
            )
        except optuna.exceptions.DuplicatedStudyError:
            return None
        study.set_user_attr(
            _BATCH_ATTR, {"digest": digest, "n": len(configs), "by": identity()}
        )
        return study

    return retry_storage_call(create, what=f"{_OWNER}: cannot create the study")


def _check_same_batch(study: Any, study_name: str, batch: Any, digest: str) -> None:
    """Refuse a study that holds another batch, or trials of none."""
    if batch is not None and batch.get("digest") != digest:
        raise InvalidParameterError(
            f"{_OWNER}: study {study_name!r} holds another batch "
            f"({batch.get('n')} configurations, digest "
            f"{str(batch.get('digest'))[:12]}); "
            "the configurations given differ. Use another study name."
        )
    if batch is None and any(
        ft.user_attrs.get(BATCH) != digest for ft in study.get_trials(deepcopy=False)
    ):
        raise InvalidParameterError(
            f"{_OWNER}: study {study_name!r} already holds trials that are not "
            "of this batch. Use another study name."
        )


def _creator_dead(batch: Mapping[str, Any] | None) -> bool:
    """Whether the process that created the batch ran on this host and is gone."""
    by = (batch or {}).get("by") or {}
    return by.get("host") == identity()["host"] and not alive(
        by.get("pid"), by.get("start")
    )


def batch_results(
    study: Any, configs: Sequence[Mapping[str, Any]]
) -> list[ConfigResult]:
    """One :class:`ConfigResult` per configuration, from the study's trials.

    A configuration's result is its finished trial (complete, else pruned, else
    failed when no retry of it is queued or running); else it is pending.
    """
    optuna = optuna_module()
    state = optuna.trial.TrialState
    digest = _digest(configs)
    rank = {state.COMPLETE: 0, state.PRUNED: 1, state.RUNNING: 2, state.WAITING: 2}
    best: dict[int, Any] = {}
    for ft in study.get_trials(deepcopy=False):
        if ft.user_attrs.get(BATCH) != digest or INDEX not in ft.user_attrs:
            continue
        i = int(ft.user_attrs[INDEX])
        r = rank.get(ft.state, 3)
        old = best.get(i)
        if (
            old is None
            or r < rank.get(old.state, 3)
            or (r == rank.get(old.state, 3) and ft.number > old.number)
        ):
            best[i] = ft
    out = []
    for i, config in enumerate(configs):
        ft = best.get(i)
        res = ConfigResult(index=i, config=dict(config))
        if ft is not None:
            res.trial_number = ft.number if ft.state != state.WAITING else None
            res.error = str(ft.user_attrs.get("error", ""))
            res.result = dict(ft.user_attrs.get(RESULT) or {})
            res.seconds = float(ft.user_attrs.get("seconds", 0.0))
            if ft.state in (state.COMPLETE, state.PRUNED):
                res.status = "complete" if ft.state == state.COMPLETE else "pruned"
                res.value = ft.value
            elif ft.state == state.FAIL:
                res.status = "failed"
        out.append(res)
    return out


def run_configs(
    objective: Any,
    configs: Sequence[Mapping[str, Any]],
    *,
    storage: str | os.PathLike,
    study_name: str,
    direction: str = "maximize",
    n_workers: int = 1,
    wait: bool = True,
    poll: float = 1.0,
    stale_after: float | None = None,
    journal_lock: str = "auto",
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL,
    grace_period: int | None = None,
    setup_timeout: float = 60.0,
    on_trial: Callable[[ConfigResult], None] | None = None,
) -> list[ConfigResult]:
    """Run each of ``configs`` exactly once over every process that joins the batch.

    Args:
        objective: ``objective(config, report) -> float | Mapping`` or a
            ``"module:function"`` string (picklable when ``n_workers > 1``).
        configs: JSON mappings; the same list (same order) in every process.
        storage: a journal file path or a database URL (see ``open_storage``).
        study_name: one study per batch.
        direction: ``"maximize"`` or ``"minimize"`` (what "best" means in Optuna).
        n_workers: 1 runs in this process; K > 1 starts K spawned processes.
        wait: also wait until configurations run by other processes finish, so
            that the result is complete; False returns when none is left queued.
        poll: seconds between looks while waiting.
        stale_after: journal files shared by machines: fail (and re-queue)
            RUNNING trials of other hosts started longer ago than this.
        journal_lock, heartbeat_interval, grace_period: see ``open_storage``.
        setup_timeout: seconds to wait for the process that queues the batch.
        on_trial: called with each configuration this process finishes
            (``n_workers == 1`` only).

    Returns:
        One :class:`ConfigResult` per configuration, in the order of ``configs``.
    """
    optuna_module()
    _check_arguments(configs, n_workers, poll, direction, journal_lock, study_name)
    resolved = resolve_objective(objective)
    if n_workers > 1:
        check_picklable(objective)
    else:
        objective = resolved
    digest = _digest(configs)
    spec = storage_spec(storage, None)
    options: dict[str, Any] = {
        "journal_lock": journal_lock,
        "heartbeat_interval": heartbeat_interval,
        "grace_period": grace_period,
    }
    with quiet_optuna():
        opened = open_storage(spec[1], **options)
        study = _setup(
            opened,
            study_name,
            direction,
            configs,
            digest,
            setup_timeout,
            time.monotonic,
            time.sleep,
        )
        cfg = {
            "objective": objective,
            "space": None,
            "study_name": study_name,
            "storage": spec,
            "storage_options": options,
            "tag": (BATCH, digest),
            "stale_after": stale_after,
            "wait": wait,
            "poll": float(poll),
        }
        _run_batch(study, cfg, configs, n_workers, on_trial)
        return batch_results(study, configs)


def _check_arguments(
    configs: Any,
    n_workers: Any,
    poll: Any,
    direction: Any,
    journal_lock: Any,
    study_name: Any,
) -> None:
    """Validate ``run_configs``'s arguments (configs first)."""
    _check_configs(configs)
    check_scalar(n_workers, "n_workers", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(poll, "poll", numbers.Real, min_val=0.0, owner=_OWNER)
    check_option(direction, "direction", ("maximize", "minimize"), owner=_OWNER)
    check_option(journal_lock, "journal_lock", JOURNAL_LOCKS, owner=_OWNER)
    check_study_name(study_name, _OWNER)


def _check_configs(configs: Any) -> None:
    """Refuse anything but a non-empty list of mappings."""
    if isinstance(configs, Mapping) or not isinstance(configs, Sequence):
        raise InvalidParameterError(
            f"{_OWNER}: 'configs' must be a list of mappings. "
            f"Got {type(configs).__name__}."
        )
    if not configs or not all(isinstance(c, Mapping) for c in configs):
        raise InvalidParameterError(
            f"{_OWNER}: 'configs' must be a non-empty list of mappings."
        )


def _run_batch(
    study: Any,
    cfg: dict[str, Any],
    configs: Sequence[Mapping[str, Any]],
    n_workers: int,
    on_trial: Callable[[ConfigResult], None] | None,
) -> None:
    """Run the batch's queued trials here or in K processes, then what they left."""
    if n_workers == 1:
        by_number: Callable[[Any], None] | None = None
        if on_trial is not None:

            def by_number(ft: Any) -> None:
                i = int(ft.user_attrs[INDEX])
                on_trial(batch_results(study, configs)[i])

        run_worker(cfg, by_number)
    else:
        run_processes(cfg, int(n_workers), 0, 0)
        run_worker(dict(cfg))  # what a dead worker left
