"""Fair optimizer comparison: workloads, one search-space table, quasi-random
tuning with equal budgets, seed reruns, performance profiles, a manifest.

::

    from descentlab.compare import make_plan, run_plan
    plan = make_plan(["sgd", "momentum", "adam"], ["mlp", "simplecnn"],
                     trials=8, seeds=3, seed=0)
    results = run_plan(plan, "runs/compare")          # manifest, results, figures
    results = rerun("runs/compare/manifest.json", "runs/compare2")  # same numbers

Modules: :mod:`.workloads` (model + data + budget + target), :mod:`.spaces`
(the search space of every optimizer), :mod:`.qmc` (Halton points),
:mod:`.plan` (what runs, and the selection rule), :mod:`.protocol` (one
training run), :mod:`.runner` (running a plan, resuming), :mod:`.profile`
(performance profiles), :mod:`.results`, :mod:`.manifest`, :mod:`.plots`.
"""

from .manifest import build_manifest, load_manifest
from .plan import Plan, Task, make_plan, select_best
from .profile import TAU_MAX, performance_profile, performance_ratios
from .protocol import run_trial, steps_to_target
from .qmc import halton
from .results import deterministic_view, same_numbers, summarize
from .runner import Interrupted, rerun, run_plan
from .spaces import AXES, DEFAULT_OPTIMIZERS, SPACES, Dim
from .workloads import DEFAULT_WORKLOADS, WORKLOADS, Workload, available_workloads

__all__ = [
    "AXES",
    "DEFAULT_OPTIMIZERS",
    "DEFAULT_WORKLOADS",
    "Dim",
    "Interrupted",
    "Plan",
    "SPACES",
    "TAU_MAX",
    "Task",
    "WORKLOADS",
    "Workload",
    "available_workloads",
    "build_manifest",
    "deterministic_view",
    "halton",
    "load_manifest",
    "make_plan",
    "performance_profile",
    "performance_ratios",
    "rerun",
    "run_plan",
    "run_trial",
    "same_numbers",
    "select_best",
    "steps_to_target",
    "summarize",
]
