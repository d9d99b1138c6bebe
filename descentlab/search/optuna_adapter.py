"""Optuna adapter: shared studies, several worker processes, pruning (optional extra).

``pip install 'descentlab[optuna]'``. Optuna is imported only when a function
here is called.

Storage (``storage=``):

- ``None``: a journal file ``out/optuna.journal`` (JournalStorage with
  JournalFileBackend). Any process on any machine that sees the same file
  (local disk; NFS works with Optuna's file locks) can join the study.
- a URL such as ``sqlite:///out/study.db``, ``postgresql://user:pw@host/db`` or
  ``mysql+pymysql://...``: passed to ``optuna.create_study(storage=url,
  load_if_exists=True)``, so processes on many machines join one study.
- any other string or path: a journal file at that path.

Exactly ``n_trials`` per call. ``optuna_search`` first enqueues ``n_trials``
empty trials tagged with a fresh run id (state WAITING); its workers take
(atomically, through the storage) only WAITING trials with that tag and stop
when none is left. A trial is never run twice and no worker starts an extra
one, so K workers finish exactly ``n_trials`` trials in total, numbered after
the ones already in the study. (A ``MaxTrialsCallback`` is checked only after
a trial ends, so two workers can both start "the last" trial.) Several
``optuna_search`` calls on one study, from one or many machines, each add
their own ``n_trials``.

Stale trials. Every trial records the host, process id and process start time
of its worker. At the start of each call, RUNNING trials of a worker on this
host whose process is gone (killed) are marked FAIL, as are WAITING trials
enqueued by a call on this host that is gone; so a killed worker leaves at most
its own running trial unfinished until the next start. A worker killed on
*another* machine cannot be checked from here: pass ``stale_after=SECONDS`` to
fail RUNNING trials of workers that cannot be checked from here (other hosts,
or trials without a recorded worker) started longer ago than that (choose more
than the longest trial), or run the next call on that machine. Checking process ids is done
only on POSIX systems.

Pruning: the objective's ``report(step, value)`` calls ``trial.report`` and,
when the pruner (Optuna's MedianPruner by default: stop a trial whose best
value so far is worse than the median of earlier trials at the same step)
says so, raises :class:`~descentlab.search.TrialPruned`; the trial is stored as
PRUNED.

Worker processes are started with the ``spawn`` method, so with
``n_workers > 1`` the objective must be picklable: a top-level function, a
``"package.module:function"`` string, an :class:`MLPObjective`, or a
``functools.partial`` of a top-level function.
"""

from __future__ import annotations

import importlib
import logging
import math
import multiprocessing
import numbers
import os
import pickle
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .._threads import blas_threads_env, usable_cpus
from .._validation import check_option, check_scalar
from ..errors import (
    DataError,
    DescentlabError,
    InvalidParameterError,
    MissingDependencyError,
)
from .random_search import TrialPruned, evaluate
from .results import SearchResults, TrialRecord
from .space import (
    Choice,
    IntUniform,
    LogUniform,
    Uniform,
    check_space,
    space_from_dict,
    space_to_dict,
)

_RUN = "dl_run"  # user attr: id of the optuna_search call that queued the trial
_WORKER = "dl_worker"  # user attr: {"host", "pid", "start"} of the process running it
_OWNER = "optuna_search"
_INTERRUPTED = 130  # exit code of a worker stopped by Ctrl-C
#: error of queued trials that a stopped search never started (counted as "not run")
NOT_RUN = "not run: the search stopped before this trial"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError(
            "optuna is not installed: pip install 'descentlab[optuna]'"
        ) from None
    return optuna


# ----------------------------------------------------------------- objective


def resolve_objective(objective: Any) -> Callable:
    """Return the callable for ``objective`` (a callable or ``"module:function"``)."""
    if isinstance(objective, str):
        module, sep, attr = objective.partition(":")
        if not sep or not module or not attr:
            raise InvalidParameterError(
                f"{_OWNER}: an objective string must look like "
                f"'package.module:function'. "
                f"Got {objective!r}."
            )
        try:
            target: Any = importlib.import_module(module)
            for part in attr.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise InvalidParameterError(
                f"{_OWNER}: cannot load objective {objective!r}: {exc}."
            ) from None
        objective = target
    if not callable(objective):
        raise InvalidParameterError(
            f"{_OWNER}: 'objective' must be a callable "
            f"objective(params, report) -> float "
            f"or a 'module:function' string. Got {objective!r}."
        )
    return objective


def _check_picklable(objective: Any) -> None:
    try:
        pickle.dumps(objective)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means the same thing
        raise InvalidParameterError(
            f"{_OWNER}: with n_workers > 1 the objective is sent to spawned "
            f"processes and "
            f"must be picklable (a top-level function, a 'module:function' string, an "
            f"MLPObjective, or functools.partial of a top-level function). "
            f"Got {objective!r} ({type(exc).__name__}: {exc})."
        ) from None


# ------------------------------------------------------------------- storage


def _redact(url: str) -> str:
    """Hide the password in ``scheme://user:password@host``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def storage_spec(storage: Any, out: str | os.PathLike | None) -> tuple[str, str]:
    """``("url", url)`` or ``("journal", path)`` for a storage argument (picklable)."""
    if storage is None:
        if out is None:
            raise InvalidParameterError(
                f"{_OWNER}: give 'out' (the journal file goes to "
                f"out/optuna.journal) or "
                f"a 'storage' URL or journal path."
            )
        return ("journal", str(Path(out) / "optuna.journal"))
    if isinstance(storage, os.PathLike):
        storage = os.fspath(storage)
    if not isinstance(storage, str) or not storage.strip():
        raise InvalidParameterError(
            f"{_OWNER}: 'storage' must be a URL (sqlite:///..., postgresql://...) or a "
            f"journal file path. Got {storage!r}."
        )
    if "://" in storage:
        if storage.startswith("redis"):
            raise InvalidParameterError(
                f"{_OWNER}: redis storage is not supported; use a journal file, "
                f"SQLite, "
                f"PostgreSQL or MySQL URL. Got {_redact(storage)!r}."
            )
        return ("url", storage)
    path = Path(storage)
    if path.is_dir():
        path = path / "optuna.journal"
    return ("journal", str(path))


def _open_storage(spec: tuple[str, str]) -> Any:
    _optuna()
    kind, where = spec
    if kind == "url":
        return where
    Path(where).parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(where))


def _describe(spec: tuple[str, str]) -> str:
    return _redact(spec[1]) if spec[0] == "url" else f"journal file {spec[1]!r}"


def _sampler(name: Any, seed: int) -> Any:
    optuna = _optuna()
    if not isinstance(name, str):
        return name
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _pruner(pruner: Any) -> Any:
    optuna = _optuna()
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner()
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    raise InvalidParameterError(
        f"{_OWNER}: 'pruner' must be 'median', 'none' or an optuna pruner. "
        f"Got {pruner!r}."
    )


# ------------------------------------------------------------ process checks


def _proc_start(pid: int) -> str | None:
    """Start time of a process (Linux ``/proc/PID/stat`` field 22) or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: Any, start: Any) -> bool:
    """False only when process ``pid`` on this POSIX host is certainly gone."""
    if os.name != "posix" or not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return start is None or _proc_start(pid) in (None, start)


def _identity() -> dict[str, Any]:
    """``{"host", "pid", "start"}`` of this process (user attr ``dl_worker``)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _proc_start(pid)}


def _fail(study: Any, trial_id: int, reason: str) -> bool:
    optuna = _optuna()
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id, "error", reason)
        return bool(
            storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.FAIL)
        )
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def fail_stale_trials(study: Any, *, stale_after: float | None = None) -> list[int]:
    """Mark trials left by killed workers/calls FAIL; returns their numbers.

    RUNNING trials whose worker ran on this host and is gone, WAITING trials
    enqueued by a call on this host that is gone, and (with ``stale_after``)
    RUNNING trials that cannot be checked here (another host's, or without a
    recorded worker) started more than ``stale_after`` seconds ago.
    """
    optuna = _optuna()
    state = optuna.trial.TrialState
    host = socket.gethostname()
    now = datetime.now()
    failed = []
    for ft in study.get_trials(deepcopy=False, states=(state.RUNNING, state.WAITING)):
        ua = ft.user_attrs
        who = ua.get(_WORKER) if isinstance(ua.get(_WORKER), dict) else {}
        local = who.get("host") == host and "pid" in who
        dead = local and not _alive(who.get("pid"), who.get("start"))
        reason = None
        if ft.state == state.RUNNING:
            if dead:
                reason = f"stale: worker process {who['pid']} on {host} is gone"
            elif (
                stale_after is not None
                and not local
                and ft.datetime_start is not None
                and (now - ft.datetime_start).total_seconds() > stale_after
            ):
                reason = (
                    f"stale: still running after {stale_after:g} s "
                    "(worker presumed dead)"
                )
        elif ua.get(_RUN) and dead:
            reason = (
                f"stale: queued by search process {who['pid']} on {host}, which is gone"
            )
        if reason is not None and _fail(study, ft._trial_id, reason):
            failed.append(ft.number)
    return failed


# ------------------------------------------------------------------- workers


def suggest(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Draw ``space`` through Optuna's ``trial.suggest_*`` (log stays log)."""
    params: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, LogUniform):
            params[name] = trial.suggest_float(name, dim.lo, dim.hi, log=True)
        elif isinstance(dim, Uniform):
            params[name] = trial.suggest_float(name, dim.lo, dim.hi)
        elif isinstance(dim, IntUniform):
            params[name] = trial.suggest_int(name, dim.lo, dim.hi)
        elif isinstance(dim, Choice):
            params[name] = trial.suggest_categorical(name, list(dim.options))
    return params


def _check_compatible(study: Any, space: Mapping[str, Any]) -> None:
    """Refuse a space whose dimensions change kind against the study's trials."""
    optuna = _optuna()
    d = optuna.distributions
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


def _claim(study: Any, run_id: str) -> Any:
    """Take (atomically) one WAITING trial of this run; None when none is left."""
    optuna = _optuna()
    state = optuna.trial.TrialState
    storage = study._storage
    for ft in storage.get_all_trials(
        study._study_id, deepcopy=False, states=(state.WAITING,)
    ):
        if ft.user_attrs.get(_RUN) != run_id:
            continue
        try:
            if not storage.set_trial_state_values(ft._trial_id, state=state.RUNNING):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        return optuna.Trial(study, ft._trial_id)
    return None


def _run_worker(cfg: dict[str, Any], on_trial: Callable | None = None) -> int:
    """Run this call's queued trials until none is left; returns how many it ran."""
    optuna = _optuna()
    state = optuna.trial.TrialState
    objective = resolve_objective(cfg["objective"])
    space = space_from_dict(cfg["space"])
    study = optuna.load_study(
        study_name=cfg["study_name"],
        storage=_open_storage(cfg["storage"]),
        sampler=_sampler(cfg["sampler"], cfg["seed"]),
        pruner=_pruner(cfg["pruner"]),
    )
    me = _identity()
    done = 0
    while True:
        trial = _claim(study, cfg["run_id"])
        if trial is None:
            return done
        trial.set_user_attr(_WORKER, me)

        def report(step: int, value: float, trial: Any = trial) -> None:
            trial.report(float(value), int(step))
            if trial.should_prune():
                raise TrialPruned(f"pruned at step {step}")

        start = time.perf_counter()
        try:
            params = suggest(trial, space)
            status, value, error = evaluate(
                objective, params, report, pruned=(TrialPruned, optuna.TrialPruned)
            )
        except BaseException as exc:
            trial.set_user_attr("error", f"interrupted: {type(exc).__name__}")
            study.tell(trial, state=state.FAIL)
            raise
        trial.set_user_attr("seconds", time.perf_counter() - start)
        if error:
            trial.set_user_attr("error", error[:2000])
        if status == "complete":
            frozen = study.tell(trial, value)
        else:
            frozen = study.tell(
                trial, state=state.PRUNED if status == "pruned" else state.FAIL
            )
        done += 1
        if cfg.get("out"):
            study_results(study, metric=cfg["metric"], out=cfg["out"])
        if on_trial is not None:
            on_trial(_record(frozen))


def _worker_main(cfg: dict[str, Any]) -> None:
    """Entry point of a spawned worker process; exits 130 on Ctrl-C (no traceback:
    its running trial is already marked failed, the parent reports the interrupt)."""
    _optuna().logging.set_verbosity(logging.WARNING)
    try:
        _run_worker(cfg)
    except KeyboardInterrupt:
        sys.exit(_INTERRUPTED)


# ---------------------------------------------------------------- the search


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
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> SearchResults:
    """Run ``n_trials`` trials of a (possibly shared) Optuna study with K workers.

    Args:
        objective: ``objective(params, report) -> float``, or ``"module:function"``.
        space: name -> LogUniform / Uniform / IntUniform / Choice.
        study_name: the study to create or join.
        storage: None (journal file ``out/optuna.journal``), a database URL, or a
            journal file path (see the module docstring).
        out: directory for ``trials.json``/``trials.csv`` (all trials of the study,
            rewritten after every trial) and the default journal.
        n_trials: trials this call runs, over all its workers (>= 1).
        n_workers: 1 runs in this process; K > 1 starts K spawned processes.
        seed: sampler seed; worker w of a call that finds m trials in the study
            uses the seed derived from ``(seed, m, w)``.
        direction: ``"maximize"`` or ``"minimize"`` (must match an existing study).
        pruner: ``"median"`` (MedianPruner), ``"none"`` or an optuna pruner.
        sampler: ``"tpe"`` or ``"random"``.
        metric: name of the value in ``trials.csv``.
        stale_after: fail RUNNING trials older than this many seconds at start.
        on_trial: called with each finished TrialRecord (only when n_workers == 1).

    Returns:
        SearchResults with every trial of the study (numbers are Optuna's).

    Raises:
        MissingDependencyError: optuna is not installed.
        InvalidParameterError: bad arguments, an unpicklable objective with
            n_workers > 1, or a study whose direction differs.
        DescentlabError: the storage cannot be opened, or a worker process died.
    """
    optuna = _optuna()
    space = check_space(space, owner=_OWNER)
    if not isinstance(study_name, str) or not study_name.strip():
        raise InvalidParameterError(
            f"{_OWNER}: 'study_name' must be a non-empty string. Got {study_name!r}."
        )
    check_scalar(n_trials, "n_trials", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(n_workers, "n_workers", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=_OWNER)
    check_option(direction, "direction", ("maximize", "minimize"), owner=_OWNER)
    check_option(sampler, "sampler", ("tpe", "random"), owner=_OWNER)
    if stale_after is not None:
        check_scalar(
            stale_after,
            "stale_after",
            numbers.Real,
            min_val=0.0,
            include_boundaries="neither",
            owner=_OWNER,
        )
    _pruner(pruner)
    resolved = resolve_objective(objective)
    if n_workers > 1:
        _check_picklable(objective)
        _check_picklable(pruner)
    else:
        objective = resolved
    spec = storage_spec(storage, out)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        try:
            study = optuna.create_study(
                study_name=study_name,
                storage=_open_storage(spec),
                direction=direction,
                load_if_exists=True,
            )
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            raise DescentlabError(
                f"{_OWNER}: cannot open the study {study_name!r} in {_describe(spec)}: "
                f"{type(exc).__name__}: {_redact(str(exc))}"
            ) from None
        if study.direction.name.lower() != direction:
            raise InvalidParameterError(
                f"{_OWNER}: study {study_name!r} exists with direction "
                f"{study.direction.name.lower()!r}. Got direction={direction!r}."
            )
        _check_compatible(study, space)
        study.set_user_attr("descentlab_space", space_to_dict(space))
        study.set_user_attr("descentlab_metric", str(metric))
        fail_stale_trials(study, stale_after=stale_after)
        existing = len(study.get_trials(deepcopy=False))
        run_id = uuid.uuid4().hex
        tag = {_RUN: run_id, _WORKER: _identity()}
        for _ in range(int(n_trials)):
            study.enqueue_trial({}, user_attrs=tag)
        cfg = {
            "objective": objective,
            "space": space_to_dict(space),
            "study_name": study_name,
            "storage": spec,
            "run_id": run_id,
            "pruner": pruner,
            "sampler": sampler,
            "metric": str(metric),
            "out": None if out is None else str(out),
        }
        try:
            if n_workers == 1:
                _run_worker({**cfg, "seed": _worker_seed(seed, existing, 0)}, on_trial)
            else:
                _run_processes(cfg, int(n_workers), seed, existing)
        finally:
            left = [
                ft
                for ft in study.get_trials(
                    deepcopy=False, states=(optuna.trial.TrialState.WAITING,)
                )
                if ft.user_attrs.get(_RUN) == run_id
            ]
            for ft in left:
                _fail(study, ft._trial_id, NOT_RUN)
        return study_results(study, metric=metric, out=out)
    finally:
        optuna.logging.set_verbosity(previous)


def _worker_seed(seed: int, existing: int, worker: int) -> int:
    return int(
        np.random.SeedSequence([int(seed), int(existing), int(worker)]).generate_state(
            1
        )[0]
    )


def _run_processes(
    cfg: dict[str, Any], n_workers: int, seed: int, existing: int
) -> None:
    # Each worker gets its share of the cores for BLAS unless the user chose a
    # thread count: K workers x all-core BLAS oversubscribe (27x slower on 2 cores).
    per_worker = max(1, usable_cpus() // n_workers)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_worker_main,
            kwargs={"cfg": {**cfg, "seed": _worker_seed(seed, existing, w)}},
            name=f"descentlab-search-worker-{w}",
            daemon=False,
        )
        for w in range(n_workers)
    ]
    try:
        with blas_threads_env(per_worker, respect_user=True):
            for p in procs:
                p.start()
        for p in procs:
            p.join()
    except BaseException:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
        raise
    bad = [(p.name, p.exitcode) for p in procs if p.exitcode != 0]
    if bad and all(code in (_INTERRUPTED, -signal.SIGINT) for _, code in bad):
        raise KeyboardInterrupt  # Ctrl-C reached the workers (same process group)
    if bad:
        raise DescentlabError(
            f"{_OWNER}: worker process(es) failed: "
            + ", ".join(f"{name} exit code {code}" for name, code in bad)
            + " (their error is printed above); the finished trials are in the study."
        )


# ------------------------------------------------------------------ reading


_STATUS = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
}


def _record(ft: Any) -> TrialRecord:
    status = _STATUS.get(ft.state.name, "running")
    value = ft.value if ft.state.name in ("COMPLETE", "PRUNED") else None
    if value is not None and not math.isfinite(value):
        value = None
    seconds = ft.user_attrs.get("seconds")
    if seconds is None:
        seconds = ft.duration.total_seconds() if ft.duration is not None else 0.0
    return TrialRecord(
        number=ft.number,
        round=0,
        params=dict(ft.params),
        value=value,
        status=status,
        seconds=float(seconds),
        error=str(ft.user_attrs.get("error", "")),
        intermediate=[
            [int(s), float(v)] for s, v in sorted(ft.intermediate_values.items())
        ],
    )


def study_results(
    study: Any, *, metric: str = "value", out: str | os.PathLike | None = None
) -> SearchResults:
    """All trials of an Optuna study (except queued ones) as a SearchResults table."""
    optuna = _optuna()
    mode = "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"
    res = SearchResults(mode=mode, out=None, metric=metric)
    res.meta.update(kind="optuna", study_name=study.study_name)
    space = study.user_attrs.get("descentlab_space")
    if space:
        res.spaces = [space_from_dict(space)]
    res.trials = [
        _record(ft)
        for ft in study.get_trials(deepcopy=False)
        if ft.state.name != "WAITING"
    ]
    if out is not None:
        res.save(out)
    return res


def load_study(storage: str | os.PathLike, study_name: str) -> Any:
    """Open an existing study read/write; clear errors for a missing file or name."""
    optuna = _optuna()
    owner = "study_summary"
    spec = storage_spec(storage, None)
    if spec[0] == "journal" and not Path(spec[1]).is_file():
        raise DataError(f"{owner}: journal file {spec[1]!r} does not exist.")
    opened = _open_storage(spec)
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        names = optuna.get_all_study_names(storage=opened)
        if study_name not in names:
            raise InvalidParameterError(
                f"{owner}: no study {study_name!r} in {_describe(spec)}; it holds "
                f"{', '.join(repr(n) for n in names) or 'no study'}."
            )
        return optuna.load_study(study_name=study_name, storage=opened)
    finally:
        optuna.logging.set_verbosity(previous)


def study_summary(
    storage: str | os.PathLike, study_name: str, k: int = 10
) -> dict[str, Any]:
    """Counts by state and the ``k`` best completed trials of a stored study.

    Returns:
        ``{"study_name", "direction", "n_trials", "states": {"complete": n, ...},
        "best": [{"number", "value", "params", "seconds"}, ...]}`` (best first).
    """
    check_scalar(k, "k", numbers.Integral, min_val=1, owner="study_summary")
    study = load_study(storage, study_name)
    res = study_results(study)
    counts: dict[str, int] = {}
    for ft in study.get_trials(deepcopy=False):
        key = _STATUS.get(ft.state.name, ft.state.name.lower())
        if key == "failed" and ft.user_attrs.get("error") == NOT_RUN:
            key = "not run"
        counts[key] = counts.get(key, 0) + 1
    return {
        "study_name": study_name,
        "direction": study.direction.name.lower(),
        "n_trials": sum(counts.values()),
        "states": counts,
        "best": [
            {
                "number": t.number,
                "value": t.value,
                "params": t.params,
                "seconds": round(t.seconds, 3),
            }
            for t in res.best(k)
        ],
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """Plain-text table of :func:`study_summary`'s result (for the CLI)."""
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["states"].items()))
    head = (
        f"study {summary['study_name']!r} ({summary['direction']}): "
        f"{summary['n_trials']} trials ({states or 'none'})"
    )
    lines = [head]
    if not summary["best"]:
        lines.append("no completed trial yet")
        return "\n".join(lines)
    names = list(dict.fromkeys(n for row in summary["best"] for n in row["params"]))
    header = ["rank", "trial", "value", *names, "seconds"]
    rows = [
        [
            str(i + 1),
            str(r["number"]),
            f"{r['value']:.6g}",
            *[_fmt(r["params"].get(n, "")) for n in names],
            f"{r['seconds']:.2f}",
        ]
        for i, r in enumerate(summary["best"])
    ]
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
    for row in [header, *rows]:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
