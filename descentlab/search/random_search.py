"""Random search, and random search with range narrowing over several rounds.

An *objective* is any callable ``objective(params, report) -> float``: it gets
one draw of the space (``{"lr": 3e-4, ...}``) and may call ``report(step,
value)`` with intermediate values (e.g. validation accuracy after each epoch).
An objective that takes only ``params`` is accepted too. A trial whose
objective raises an ``Exception`` or returns something that is not a finite
number is recorded with status ``"failed"`` and the reason; the search goes on.
``KeyboardInterrupt`` stops the search; the table saved after the previous
trial stays on disk.

Example:
    >>> from descentlab.search import LogUniform, run_rounds
    >>> def f(params, report):
    ...     return -abs(np.log10(params["lr"]) + 3)        # best at lr = 1e-3
    >>> space = {"lr": LogUniform(1e-6, 1e-2)}
    >>> res = run_rounds(space, f, rounds=2, trials_per_round=10)
    >>> len(res), len(res.spaces)
    (20, 2)

Reference: Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", 2012.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_option, check_scalar
from ..errors import InvalidParameterError
from .results import SearchResults, TrialRecord
from .space import check_space, narrow, sample_space

Report = Callable[[int, float], None]
Objective = Callable[..., float]


class TrialPruned(Exception):
    """Raised by ``report`` when the search decides to stop a trial early.

    An objective may also raise it itself; the trial is then recorded as
    ``"pruned"`` with its last reported value.
    """


def _accepts_report(objective: Callable) -> bool:
    """True unless ``objective`` visibly takes a single positional argument."""
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):
        return True
    positional = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


def _check_objective(objective: Any, owner: str) -> Callable:
    if not callable(objective):
        raise InvalidParameterError(
            f"{owner}: 'objective' must be a callable "
            f"objective(params, report) -> float. "
            f"Got {objective!r}."
        )
    return objective


def evaluate(
    objective: Objective,
    params: dict[str, Any],
    report: Report,
    *,
    pruned: tuple[type[BaseException], ...] = (TrialPruned,),
) -> tuple[str, float | None, str]:
    """Run one trial; returns ``(status, value, error)`` and never raises an Exception.

    ``status`` is ``"complete"``, ``"failed"`` or ``"pruned"`` (the objective
    raised one of ``pruned``). ``KeyboardInterrupt`` and ``SystemExit`` pass through.
    """
    try:
        if _accepts_report(objective):
            raw = objective(params, report)
        else:
            raw = objective(params)
    except pruned:
        return "pruned", None, ""
    except Exception as exc:  # a failed trial must not stop the search
        return "failed", None, f"{type(exc).__name__}: {exc}"
    if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
        return (
            "failed",
            None,
            (
                f"objective returned {raw!r} of type "
                f"{type(raw).__name__}; expected a float"
            ),
        )
    value = float(raw)
    if not math.isfinite(value):
        return "failed", None, f"objective returned {value!r}"
    return "complete", value, ""


def run_trial(
    objective: Objective, params: dict[str, Any], *, number: int, round: int = 0
) -> TrialRecord:
    """Evaluate ``objective`` on ``params`` and return the finished record."""
    intermediate: list[list] = []

    def report(step: int, value: float) -> None:
        intermediate.append([int(step), float(value)])

    start = time.perf_counter()
    status, value, error = evaluate(objective, params, report)
    if status == "pruned" and intermediate:
        value = intermediate[-1][1]
    return TrialRecord(
        number=number,
        round=round,
        params=params,
        value=value,
        status=status,
        seconds=time.perf_counter() - start,
        error=error,
        intermediate=intermediate,
    )


class RandomSearch:
    """Random search: ``n_trials`` independent draws of ``space``.

    Args:
        space: name -> dimension (LogUniform, Uniform, IntUniform, Choice).
        objective: ``objective(params, report) -> float``.
        n_trials: number of trials (>= 1).
        seed: seed of ``np.random.default_rng`` that draws the parameters.
        mode: ``"max"`` (e.g. accuracy) or ``"min"`` (e.g. loss).
        out: directory that receives ``trials.json``/``trials.csv`` after every trial.
        metric: name of the objective value in the table (e.g. ``"val_acc"``).
        on_trial: called with each finished :class:`TrialRecord` (progress output).

    Example:
        >>> from descentlab.search import Uniform
        >>> f = lambda p, report: -p["x"] ** 2
        >>> res = RandomSearch({"x": Uniform(-1, 1)}, f, 20).run()
        >>> res.best(1)[0].value > -0.1
        True
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        objective: Objective,
        n_trials: int,
        *,
        seed: int = 0,
        mode: str = "max",
        out: str | os.PathLike | None = None,
        metric: str = "value",
        on_trial: Callable[[TrialRecord], None] | None = None,
    ) -> None:
        owner = "RandomSearch"
        self.space = check_space(space, owner=owner)
        self.objective = _check_objective(objective, owner)
        self.n_trials = check_scalar(
            n_trials, "n_trials", numbers.Integral, min_val=1, owner=owner
        )
        self.seed = check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=owner)
        self.mode = check_option(mode, "mode", ("max", "min"), owner=owner)
        self.out = out
        self.metric = metric
        self.on_trial = on_trial

    def run(self) -> SearchResults:
        """Run every trial; returns the results table (also saved to ``out``)."""
        results = SearchResults(mode=self.mode, out=self.out, metric=self.metric)
        results.meta.update(kind="random", seed=int(self.seed))
        results.add_space(self.space)
        _run_round(
            self.space,
            self.objective,
            int(self.n_trials),
            np.random.default_rng(self.seed),
            results,
            0,
            self.on_trial,
        )
        return results


def random_search(
    space: Mapping[str, Any], objective: Objective, n_trials: int, **options: Any
) -> SearchResults:
    """``RandomSearch(space, objective, n_trials, **options).run()`` in one call.

    ``options``: ``seed``, ``mode``, ``out``, ``metric``, ``on_trial``, as for
    :class:`RandomSearch`.
    """
    return RandomSearch(space, objective, n_trials, **options).run()


def _run_round(
    space: Mapping[str, Any],
    objective: Objective,
    n_trials: int,
    rng: np.random.Generator,
    results: SearchResults,
    round: int,
    on_trial: Callable[[TrialRecord], None] | None,
) -> None:
    for _ in range(n_trials):
        params = sample_space(space, rng)
        record = run_trial(objective, params, number=results.next_number(), round=round)
        results.add(record)
        if on_trial is not None:
            on_trial(record)


def _round_counts(rounds: Any, trials_per_round: Any, owner: str) -> list[int]:
    """Trials per round: one int for every round, or a list of ``rounds`` ints."""
    check_scalar(rounds, "rounds", numbers.Integral, min_val=1, owner=owner)
    if isinstance(trials_per_round, numbers.Integral) and not isinstance(
        trials_per_round, bool
    ):
        counts = [int(trials_per_round)] * int(rounds)
    elif isinstance(trials_per_round, Sequence) and len(trials_per_round) == rounds:
        counts = list(trials_per_round)
    else:
        raise InvalidParameterError(
            f"{owner}: 'trials_per_round' must be an int or a list of {rounds} ints. "
            f"Got {trials_per_round!r}."
        )
    for c in counts:
        check_scalar(c, "trials_per_round", numbers.Integral, min_val=1, owner=owner)
    return counts


def run_rounds(
    space: Mapping[str, Any],
    objective: Objective,
    rounds: int,
    trials_per_round: int | Sequence[int],
    *,
    keep: float = 0.2,
    seed: int = 0,
    mode: str = "max",
    out: str | os.PathLike | None = None,
    metric: str = "value",
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> SearchResults:
    """Random search with range narrowing between rounds.

    Round 0 samples ``space``; before each later round the space is replaced by
    ``narrow(space, trials of the previous round, keep, mode)`` (see
    :func:`descentlab.search.space.narrow` for the rule: ranges shrink to the
    best ``keep`` share, widen when the best sit at an edge, log stays log).

    Args:
        space: the first round's space.
        objective: ``objective(params, report) -> float``.
        rounds: number of rounds (>= 1).
        trials_per_round: trials in each round, or one count per round
            (e.g. ``[100, 30, 30]``).
        keep: share of the previous round's completed trials that defines the
            next ranges, in (0, 1].
        seed: seed of the one ``np.random.default_rng`` used for every draw.
        mode, out, metric, on_trial: as for :class:`RandomSearch`.

    Returns:
        SearchResults with every trial (``record.round`` tells the round) and
        ``results.spaces[r]``, the space sampled in round ``r``.
    """
    owner = "run_rounds"
    space = check_space(space, owner=owner)
    _check_objective(objective, owner)
    counts = _round_counts(rounds, trials_per_round, owner)
    check_scalar(
        keep,
        "keep",
        numbers.Real,
        min_val=0.0,
        max_val=1.0,
        include_boundaries="right",
        owner=owner,
    )
    check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=owner)
    check_option(mode, "mode", ("max", "min"), owner=owner)

    rng = np.random.default_rng(seed)
    results = SearchResults(mode=mode, out=out, metric=metric)
    results.meta.update(
        kind="rounds", seed=int(seed), keep=float(keep), rounds=int(rounds)
    )
    current = space
    for r, count in enumerate(counts):
        if r > 0:
            previous = [t for t in results.trials if t.round == r - 1]
            current = narrow(current, previous, keep=keep, metric_mode=mode)
        results.add_space(current)
        _run_round(current, objective, int(count), rng, results, r, on_trial)
    return results
