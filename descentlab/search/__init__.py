"""Hyperparameter search: random search with range narrowing; Optuna adapter.

::

    from descentlab.search import LogUniform, run_rounds, mnist_sample_objective
    space = {"lr": LogUniform(1e-6, 1e-2), "weight_decay": LogUniform(1e-8, 1e-4)}
    res = run_rounds(space, mnist_sample_objective(epochs=10), rounds=3,
                     trials_per_round=[100, 30, 30], out="runs/hp")
    res.best(5)

The Optuna adapter (:func:`optuna_search`, :func:`study_summary`), the shared
storages (:func:`open_storage`) and fixed batches of configurations run once
each over many processes (:func:`run_configs`) need the optional extra
``descentlab[optuna]``; it is imported lazily.
"""

from .configs import ConfigResult, batch_results, run_configs
from .objective import MLPObjective, mlp_objective, mnist_sample_objective
from .objective_loading import resolve_objective
from .optuna_adapter import optuna_search
from .plots import plot_best_curves, plot_trials
from .random_search import (
    RandomSearch,
    TrialPruned,
    evaluate,
    random_search,
    run_rounds,
    run_trial,
)
from .recovery import recover_orphaned_trials
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
from .storage import create_or_join_study, open_storage
from .study_report import format_summary, load_study, study_results, study_summary

__all__ = [
    "Choice",
    "ConfigResult",
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
    "batch_results",
    "create_or_join_study",
    "evaluate",
    "format_summary",
    "load_study",
    "mlp_objective",
    "mnist_sample_objective",
    "narrow",
    "optuna_search",
    "parse_dimension",
    "open_storage",
    "parse_space",
    "plot_best_curves",
    "plot_trials",
    "random_search",
    "recover_orphaned_trials",
    "resolve_objective",
    "run_configs",
    "run_rounds",
    "run_trial",
    "sample_space",
    "study_results",
    "study_summary",
]
