"""``optuna_search``: shared studies, several worker processes, pruning (optional).

``pip install 'descentlab[optuna]'``. Optuna is imported only when a function
here is called. The pieces live in small modules: :mod:`.storage` (opening
journal files and databases, safe for simultaneous starts), :mod:`.workers`
(the claim-and-run loop), :mod:`.recovery` (trials of killed workers),
:mod:`.study_report` (reading a study) and :mod:`._optuna_internals` (the only
code that touches Optuna internals).

Storage (``storage=``): None (a journal file ``out/optuna.journal``), a journal
file path, or a database URL (``sqlite:///out/study.db``,
``postgresql://user:pw@host/db``, ``mysql+pymysql://...``); see
:func:`~descentlab.search.storage.open_storage`. Any process on any machine
that reaches the same storage can join the study.

Exactly ``n_trials`` per call. ``optuna_search`` first enqueues ``n_trials``
empty trials tagged with a fresh run id (state WAITING); its workers take
(atomically, through the storage) only WAITING trials with that tag and stop
when none is left. A trial is never run by two workers and no worker starts an
extra one, so K workers finish exactly ``n_trials`` trials in total, numbered
after the ones already in the study. (A ``MaxTrialsCallback`` is checked only
after a trial ends, so two workers can both start "the last" trial.) Several
calls on one study, from one or many machines, each add their own ``n_trials``.

Killed workers. A trial whose worker died is marked FAIL and re-queued with the
same parameters (at most twice), so the call still finishes ``n_trials`` trials:
on this host at once (the worker's process is gone), on any machine through
database heartbeats (``heartbeat_interval``, ``grace_period``), and for journal
files of other machines with ``stale_after``. If a worker dies after the others
have finished, this process runs what it left. See :mod:`.recovery`.

Sampling: TPE with ``constant_liar=True`` (running trials count as bad guesses,
so parallel workers spread out) or random. Pruning: the objective's
``report(step, value)`` calls ``trial.report`` and, when the pruner (Optuna's
MedianPruner by default) says so, raises :class:`~descentlab.search.TrialPruned`;
the trial is stored as PRUNED.

Worker processes are started with the ``spawn`` method, so with
``n_workers > 1`` the objective must be picklable: a top-level function, a
``"package.module:function"`` string, an :class:`MLPObjective`, or a
``functools.partial`` of a top-level function.
"""

from __future__ import annotations

import numbers
import os
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._validation import check_option, check_scalar
from ..errors import DescentlabError, InvalidParameterError, MissingDependencyError
from .objective_loading import check_picklable, resolve_objective
from .recovery import QUEUED_BY, RUN, identity, recover_orphaned_trials
from .results import SearchResults, TrialRecord
from .space import check_space, space_to_dict
from .storage import (
    HEARTBEAT_INTERVAL,
    JOURNAL_LOCKS,
    check_direction,
    check_study_name,
    create_or_join_study,
    describe_storage,
    open_storage,
    optuna_module,
    quiet_optuna,
    redact,
    retry_storage_call,
    storage_spec,
)
from .study_report import (
    NOT_RUN,
    format_summary,
    load_study,
    study_results,
    study_summary,
    trial_record,
)
from .workers import (
    check_workers,
    make_pruner,
    make_sampler,
    run_processes,
    run_worker,
    suggest,
    worker_seed,
)

__all__ = [
    "NOT_RUN",
    "format_summary",
    "load_study",
    "optuna_search",
    "resolve_objective",
    "storage_spec",
    "study_results",
    "study_summary",
    "suggest",
]

_OWNER = "optuna_search"


def _check_compatible(study: Any, space: Mapping[str, Any]) -> None:
    """Refuse a space whose dimensions change kind against the study's trials."""
    from .space import Choice, IntUniform, LogUniform

    d = optuna_module().distributions
    new = {}
    for name, dim in space.items():
        if isinstance(dim, Choice):
            new[name] = d.CategoricalDistribution(list(dim.options))
        elif isinstance(dim, IntUniform):
            new[name] = d.IntDistribution(dim.lo, dim.hi)
        else:
            new[name] = d.FloatDistribution(
                dim.lo, dim.hi, log=isinstance(dim, LogUniform)
            )
    seen: set[str] = set()
    for ft in study.get_trials(deepcopy=False):
        for name, old in ft.distributions.items():
            if name in new and name not in seen:
                seen.add(name)
                try:
                    d.check_distribution_compatibility(old, new[name])
                except ValueError as exc:
                    raise InvalidParameterError(
                        f"{_OWNER}: dimension {name!r} = {space[name]!r} does not "
                        f"match the study's earlier trials ({old}): {exc}"
                    ) from None


def _left(study: Any, run_id: str) -> list[Any]:
    waiting = optuna_module().trial.TrialState.WAITING
    return [
        ft
        for ft in study.get_trials(deepcopy=False, states=(waiting,))
        if ft.user_attrs.get(RUN) == run_id
    ]


def optuna_search(
    objective: Any,
    space: Mapping[str, Any],
    *,
    study_name: str,
    storage: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    n_trials: int,
    n_workers: int = 1,
    seed: int = 0,
    direction: str = "maximize",
    pruner: Any = "median",
    sampler: str = "tpe",
    metric: str = "value",
    stale_after: float | None = None,
    journal_lock: str = "auto",
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL,
    grace_period: int | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> SearchResults:
    """Run ``n_trials`` trials of a (possibly shared) Optuna study with K workers.

    Args:
        objective: ``objective(params, report) -> float``, or ``"module:function"``.
        space: name -> LogUniform / Uniform / IntUniform / Choice.
        study_name: the study to create or join.
        storage: None (journal file ``out/optuna.journal``), a database URL, or a
            journal file path (see :func:`~descentlab.search.storage.open_storage`).
        out: directory for ``trials.json``/``trials.csv`` (all trials of the study,
            rewritten after every trial) and the default journal.
        n_trials: trials this call runs, over all its workers (>= 1).
        n_workers: 1 runs in this process; K > 1 starts K spawned processes.
        seed: sampler seed; worker w of a call that finds m trials in the study
            uses the seed derived from ``(seed, m, w)``.
        direction: ``"maximize"`` or ``"minimize"`` (must match an existing study).
        pruner: ``"median"`` (MedianPruner), ``"none"`` or an optuna pruner.
        sampler: ``"tpe"`` (with ``constant_liar``) or ``"random"``.
        metric: name of the value in ``trials.csv``.
        stale_after: fail RUNNING trials that cannot be checked from here (other
            hosts' on a journal file) started longer ago than this many seconds.
        journal_lock: ``"auto"``, ``"symlink"`` or ``"open"`` (journal files).
        heartbeat_interval, grace_period: database heartbeats (seconds; see
            :func:`~descentlab.search.storage.open_storage`).
        on_trial: called with each finished TrialRecord (only when n_workers == 1).

    Returns:
        SearchResults with every trial of the study (numbers are Optuna's).

    Raises:
        MissingDependencyError: optuna (or the database driver) is not installed.
        InvalidParameterError: bad arguments, an unpicklable objective with
            n_workers > 1, or a study whose direction differs.
        DescentlabError: the storage cannot be opened, or worker processes died
            and left trials unrun.
    """
    optuna_module()
    space = check_space(space, owner=_OWNER)
    _check_arguments(
        study_name=study_name,
        n_trials=n_trials,
        n_workers=n_workers,
        seed=seed,
        direction=direction,
        sampler=sampler,
        journal_lock=journal_lock,
        stale_after=stale_after,
    )
    make_pruner(pruner)
    objective = _prepare_objective(objective, pruner, n_workers)
    spec = storage_spec(storage, out)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "journal_lock": journal_lock,
        "heartbeat_interval": heartbeat_interval,
        "grace_period": grace_period,
    }

    with quiet_optuna():
        study = _open_study(spec, options, study_name, direction)
        _check_compatible(study, space)
        _record_space(study, space, metric)
        recover_orphaned_trials(study, stale_after=stale_after)
        existing = len(study.get_trials(deepcopy=False))
        run_id = _enqueue_trials(study, n_trials)
        cfg = {
            "objective": objective,
            "space": space_to_dict(space),
            "study_name": study_name,
            "storage": spec,
            "storage_options": options,
            "tag": (RUN, run_id),
            **_worker_options(pruner, sampler, metric, stale_after, out),
        }
        try:
            _run_workers(study, cfg, run_id, n_workers, seed, existing, on_trial)
        finally:
            _fail_unrun(study, run_id)
        return study_results(study, metric=metric, out=out)


def _check_arguments(
    *,
    study_name: Any,
    n_trials: Any,
    n_workers: Any,
    seed: Any,
    direction: Any,
    sampler: Any,
    journal_lock: Any,
    stale_after: Any,
) -> None:
    """Validate ``optuna_search``'s scalar and option arguments."""
    check_study_name(study_name, _OWNER)
    check_scalar(n_trials, "n_trials", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(n_workers, "n_workers", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=_OWNER)
    check_option(direction, "direction", ("maximize", "minimize"), owner=_OWNER)
    check_option(sampler, "sampler", ("tpe", "random"), owner=_OWNER)
    check_option(journal_lock, "journal_lock", JOURNAL_LOCKS, owner=_OWNER)
    if stale_after is not None:
        check_scalar(
            stale_after,
            "stale_after",
            numbers.Real,
            min_val=0.0,
            include_boundaries="neither",
            owner=_OWNER,
        )


def _prepare_objective(objective: Any, pruner: Any, n_workers: int) -> Any:
    """Resolve the objective; with several workers keep it as given, picklable."""
    resolved = resolve_objective(objective)
    if n_workers > 1:
        check_picklable(objective)
        check_picklable(pruner, "pruner")
        return objective
    return resolved


def _open_study(
    spec: Any, options: Mapping[str, Any], study_name: str, direction: str
) -> Any:
    """Create or join the study; refuse one whose direction differs."""
    try:
        opened = open_storage(spec[1], **options)
        study = create_or_join_study(opened, study_name, direction=direction)
    except (MissingDependencyError, InvalidParameterError):
        raise
    except (ImportError, OSError, ValueError, RuntimeError, DescentlabError) as e:
        raise DescentlabError(
            f"{_OWNER}: cannot open the study {study_name!r} in "
            f"{describe_storage(spec)}: {type(e).__name__}: {redact(str(e))}"
        ) from None
    check_direction(study, study_name, direction, _OWNER)
    return study


def _record_space(study: Any, space: Mapping[str, Any], metric: Any) -> None:
    """Store the space and metric name on the study (only when they change)."""

    def set_attrs() -> None:
        for key, value in (
            ("descentlab_space", space_to_dict(space)),
            ("descentlab_metric", str(metric)),
        ):
            if study.user_attrs.get(key) != value:
                study.set_user_attr(key, value)

    retry_storage_call(set_attrs, what=f"{_OWNER}: cannot update the study")


def _enqueue_trials(study: Any, n_trials: int) -> str:
    """Enqueue ``n_trials`` empty trials tagged with a fresh run id; return it."""
    run_id = uuid.uuid4().hex
    tag = {RUN: run_id, QUEUED_BY: identity()}
    for _ in range(int(n_trials)):
        study.enqueue_trial({}, user_attrs=tag)
    return run_id


def _worker_options(
    pruner: Any,
    sampler: str,
    metric: Any,
    stale_after: float | None,
    out: str | os.PathLike | None,
) -> dict[str, Any]:
    """The per-trial settings every worker receives in its config."""
    return {
        "pruner": pruner,
        "sampler": sampler,
        "metric": str(metric),
        "stale_after": stale_after,
        "out": None if out is None else str(out),
    }


def _run_workers(
    study: Any,
    cfg: dict[str, Any],
    run_id: str,
    n_workers: int,
    seed: int,
    existing: int,
    on_trial: Callable[[TrialRecord], None] | None,
) -> None:
    """Run this call's trials here or in worker processes; recover dead ones."""

    def show(ft: Any) -> None:
        if on_trial is not None:
            on_trial(trial_record(ft))

    if n_workers == 1:
        run_worker({**cfg, "seed": worker_seed(seed, existing, 0)}, show)
        return
    stale_after = cfg["stale_after"]
    bad = run_processes(cfg, int(n_workers), seed, existing)
    if bad:
        recover_orphaned_trials(study, stale_after=stale_after)
    if bad and _left(study, run_id):
        # a worker died after the others had stopped: run what it left
        run_worker({**cfg, "seed": worker_seed(seed, existing, n_workers)})
    check_workers(bad, len(_left(study, run_id)))
    if bad:
        warnings.warn(
            f"{_OWNER}: worker process(es) "
            + ", ".join(f"{name} (exit code {code})" for name, code in bad)
            + " died; their trials were failed and run again.",
            RuntimeWarning,
            stacklevel=3,  # the caller of optuna_search
        )


def _fail_unrun(study: Any, run_id: str) -> None:
    """Mark FAIL the trials of this run that no worker took."""
    from ._optuna_internals import fail_trial

    for ft in _left(study, run_id):
        fail_trial(study, ft, NOT_RUN)


# Names kept for code written against the earlier single-module adapter.
_sampler = make_sampler
_describe = describe_storage
