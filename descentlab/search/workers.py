"""Worker loop: claim queued trials of one tag, run them, record the results.

A worker (a spawned process, or the calling process) opens the storage, and
until no trial with its tag is left WAITING: recovers trials of killed workers
(:func:`~descentlab.search.recovery.recover_orphaned_trials`), claims one
WAITING trial with the tag (atomic: never two workers on one trial), runs the
objective under a heartbeat, and tells Optuna the outcome. With ``wait`` it
then also waits (polling every ``poll`` seconds) until the tagged trials that
other workers run are finished, taking over any that a dead worker left.

Two kinds of work share the loop: an ``optuna_search`` call (params drawn by
the sampler from ``space``) and a batch of fixed configurations
(:func:`~descentlab.search.configs.run_configs`; params are the queued
configuration, stored as the trial's ``dl_config`` user attribute).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._threads import blas_threads_env, usable_cpus
from ..errors import DescentlabError
from ._optuna_internals import check_internals, claim_waiting, heartbeat
from .objective_loading import resolve_objective
from .random_search import TrialPruned, _accepts_report, evaluate
from .recovery import WORKER, identity, recover_orphaned_trials
from .space import Choice, IntUniform, LogUniform, Uniform, space_from_dict
from .storage import open_storage, optuna_module

INTERRUPTED = 130  # exit code of a worker stopped by Ctrl-C
CONFIG = "dl_config"  # user attr: the fixed configuration of a batch trial
RESULT = "dl_result"  # user attr: the mapping a batch objective returned


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


def make_sampler(name: Any, seed: int) -> Any:
    """TPE (``constant_liar``: running trials count as bad guesses, so parallel
    workers do not all sample the same point) or random; objects pass through."""
    optuna = optuna_module()
    if not isinstance(name, str):
        return name
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(pruner: Any) -> Any:
    """``"median"`` (MedianPruner), ``"none"``/None (no pruning) or an Optuna pruner."""
    from ..errors import InvalidParameterError

    optuna = optuna_module()
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner()
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    raise InvalidParameterError(
        "optuna_search: 'pruner' must be 'median', 'none' or an optuna pruner. "
        f"Got {pruner!r}."
    )


def worker_seed(seed: int, existing: int, worker: int) -> int:
    """Sampler seed of worker ``worker`` of a call that found ``existing`` trials."""
    seq = np.random.SeedSequence([int(seed), int(existing), int(worker)])
    return int(seq.generate_state(1)[0])


def _jsonable(obj: Any) -> Any:
    from ..io import _json_default

    return json.loads(json.dumps(obj, default=_json_default, allow_nan=False))


def _batch_objective(objective: Callable, extra: dict[str, Any]) -> Callable:
    """Wrap an objective that may return a mapping with ``"value"``: the mapping is
    kept in ``extra`` (stored as the trial's ``dl_result``), the value returned."""
    takes_report = _accepts_report(objective)

    def call(params: dict[str, Any], report: Callable) -> Any:
        raw = objective(params, report) if takes_report else objective(params)
        if isinstance(raw, Mapping):
            if "value" not in raw:
                raise ValueError("objective returned a mapping without a 'value' entry")
            extra.update(raw)
            return raw["value"]
        return raw

    return call


def _tagged(study: Any, key: str, value: str, states: tuple) -> list[Any]:
    return [
        ft
        for ft in study.get_trials(deepcopy=False, states=states)
        if ft.user_attrs.get(key) == value
    ]


def run_worker(
    cfg: dict[str, Any],
    on_trial: Callable[[Any], None] | None = None,
    *,
    stop: threading.Event | None = None,
) -> int:
    """Run WAITING trials tagged ``cfg["tag"]`` until none is left; returns how many.

    ``on_trial`` gets each finished ``FrozenTrial``. ``stop`` (optional) ends the
    wait for other workers early.
    """
    optuna = optuna_module()
    state = optuna.trial.TrialState
    objective = resolve_objective(cfg["objective"])
    space = space_from_dict(cfg["space"]) if cfg.get("space") is not None else None
    storage = open_storage(cfg["storage"][1], **cfg.get("storage_options", {}))
    study = optuna.load_study(
        study_name=cfg["study_name"],
        storage=storage,
        sampler=make_sampler(cfg.get("sampler", "random"), cfg.get("seed", 0)),
        pruner=make_pruner(cfg.get("pruner")),
    )
    check_internals(study)
    key, value = cfg["tag"]
    me = identity()
    stop = stop or threading.Event()
    done = 0
    while True:
        recover_orphaned_trials(
            study,
            stale_after=cfg.get("stale_after"),
            max_retry=cfg.get("storage_options", {}).get("max_retry", 2),
        )
        trial = claim_waiting(study, lambda ft: ft.user_attrs.get(key) == value)
        if trial is None:
            if not cfg.get("wait"):
                return done
            if not _tagged(study, key, value, (state.RUNNING, state.WAITING)):
                return done
            if stop.wait(cfg.get("poll", 1.0)):
                return done
            continue
        with heartbeat(study, trial):
            trial.set_user_attr(WORKER, me)
            frozen = _run_one(study, trial, objective, space)
        done += 1
        if cfg.get("out"):
            from .study_report import study_results

            study_results(study, metric=cfg.get("metric", "value"), out=cfg["out"])
        if on_trial is not None:
            on_trial(frozen)


def _run_one(study: Any, trial: Any, objective: Callable, space: Any) -> Any:
    optuna = optuna_module()
    state = optuna.trial.TrialState

    def report(step: int, value: float) -> None:
        trial.report(float(value), int(step))
        if trial.should_prune():
            raise TrialPruned(f"pruned at step {step}")

    extra: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        if space is not None:
            params = suggest(trial, space)
            fn = objective
        else:
            params = dict(trial.user_attrs.get(CONFIG) or {})
            fn = _batch_objective(objective, extra)
        status, value, error = evaluate(
            fn, params, report, pruned=(TrialPruned, optuna.TrialPruned)
        )
    except BaseException as exc:
        trial.set_user_attr("error", f"interrupted: {type(exc).__name__}")
        study.tell(trial, state=state.FAIL)
        raise
    trial.set_user_attr("seconds", time.perf_counter() - start)
    if extra:
        try:
            trial.set_user_attr(RESULT, _jsonable(extra))
        except (TypeError, ValueError) as exc:
            status, value = "failed", None
            error = f"the objective's result is not JSON serialisable: {exc}"
    if error:
        trial.set_user_attr("error", error[:2000])
    if status == "complete" and value is not None and math.isfinite(value):
        return study.tell(trial, value)
    return study.tell(trial, state=state.PRUNED if status == "pruned" else state.FAIL)


def worker_main(cfg: dict[str, Any]) -> None:
    """Entry point of a spawned worker process; exits 130 on Ctrl-C (no traceback:
    its running trial is already marked failed, the parent reports the interrupt)."""
    optuna_module().logging.set_verbosity(logging.WARNING)
    try:
        run_worker(cfg)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)


def run_processes(
    cfg: dict[str, Any], n_workers: int, seed: int, existing: int
) -> list[tuple[str, int | None]]:
    """Run ``n_workers`` spawned workers to the end; returns ``(name, exit code)``
    of those that failed. Raises KeyboardInterrupt when Ctrl-C stopped them."""
    # Each worker gets its share of the cores for BLAS unless the user chose a
    # thread count: K workers x all-core BLAS oversubscribe (27x slower on 2 cores).
    per_worker = max(1, usable_cpus() // n_workers)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=worker_main,
            kwargs={"cfg": {**cfg, "seed": worker_seed(seed, existing, w)}},
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
    if bad and all(code in (INTERRUPTED, -signal.SIGINT) for _, code in bad):
        raise KeyboardInterrupt  # Ctrl-C reached the workers (same process group)
    return bad


def check_workers(bad: list[tuple[str, int | None]], unfinished: int) -> None:
    """Raise DescentlabError when failed workers left trials of the call unrun."""
    if bad and unfinished:
        raise DescentlabError(
            "optuna_search: worker process(es) failed: "
            + ", ".join(f"{name} exit code {code}" for name, code in bad)
            + f" (their error is printed above) and {unfinished} trial(s) were not "
            "run; the finished trials are in the study."
        )
