"""Hyperparameter search: random search with range narrowing; Optuna adapter.

::

    from descentlab.search import LogUniform, run_rounds, mnist_sample_objective
    space = {"lr": LogUniform(1e-6, 1e-2), "weight_decay": LogUniform(1e-8, 1e-4)}
    res = run_rounds(space, mnist_sample_objective(epochs=10), rounds=3,
                     trials_per_round=[100, 30, 30], out="runs/hp")
    res.best(5)

The Optuna adapter (:func:`optuna_search`, :func:`study_summary`) needs the
optional extra ``descentlab[optuna]``; it is imported lazily.
"""

from .objective import MLPObjective, mlp_objective, mnist_sample_objective
from .optuna_adapter import (
    fail_stale_trials,
    format_summary,
    load_study,
    optuna_search,
    resolve_objective,
    study_results,
    study_summary,
)
from .plots import plot_best_curves, plot_trials
from .random_search import (
    RandomSearch,
    TrialPruned,
    evaluate,
    random_search,
    run_rounds,
    run_trial,
)
from .results import SearchResults, TrialRecord
from .space import (
    Choice,
    Dimension,
    IntUniform,
    LogUniform,
    Space,
    Uniform,
    check_space,
    narrow,
    parse_dimension,
    parse_space,
    sample_space,
)

__all__ = [
    "Choice",
    "Dimension",
    "IntUniform",
    "LogUniform",
    "MLPObjective",
    "RandomSearch",
    "SearchResults",
    "Space",
    "TrialPruned",
    "TrialRecord",
    "Uniform",
    "check_space",
    "evaluate",
    "fail_stale_trials",
    "format_summary",
    "load_study",
    "mlp_objective",
    "mnist_sample_objective",
    "narrow",
    "optuna_search",
    "parse_dimension",
    "parse_space",
    "plot_best_curves",
    "plot_trials",
    "random_search",
    "resolve_objective",
    "run_rounds",
    "run_trial",
    "sample_space",
    "study_results",
    "study_summary",
]
