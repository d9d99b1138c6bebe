"""The plan of a comparison: what runs, with which settings and seeds.

For each workload w and optimizer o:

1. tuning: trials k = 0..T-1, each at Halton point k (one scrambled sequence,
   seeded by ``seed``, over the shared axes of :data:`spaces.AXES`), all with
   the tuning seed ``seed``;
2. selection: the trial with the highest final validation accuracy (a
   diverged trial ranks below every finite one; ties go to the lower
   validation loss, then the earlier trial);
3. seeds: the selected setting rerun on S fresh seeds ``seed+1 .. seed+S``
   (not the tuning seed, so the reported numbers carry no selection bias);
   only these runs touch the test set.

Every optimizer gets exactly T tuning trials and sees the same point k in
every axis it shares with another.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._validation import check_scalar
from ..errors import InvalidParameterError
from .qmc import halton
from .spaces import AXES, SPACES, Dim, check_optimizers
from .workloads import Workload, check_workloads

__all__ = ["Plan", "Task", "make_plan", "select_best"]

_OWNER = "compare"


@dataclass(frozen=True)
class Task:
    """One run: ``phase`` "tune" (trial ``index``) or "seed" (rerun ``index``)."""

    phase: str
    workload: str
    optimizer: str
    index: int
    seed: int
    params: Mapping[str, float] | None

    @property
    def key(self) -> str:
        return f"{self.phase}/{self.workload}/{self.optimizer}/{self.index:03d}"


@dataclass
class Plan:
    """Every setting of a comparison (what its manifest stores)."""

    optimizers: list[str]
    workloads: list[Workload]
    trials: int
    seeds: int
    seed: int
    spaces: dict[str, list[Dim]]
    axes: list[str]
    points: list[list[float]]

    def workload(self, name: str) -> Workload:
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(name)

    def params(self, optimizer: str, k: int) -> dict[str, float]:
        """Hyperparameters of tuning trial ``k`` of ``optimizer``."""
        point = dict(zip(self.axes, self.points[k], strict=True))
        return {d.name: d.value(point[d.axis]) for d in self.spaces[optimizer]}

    @property
    def rerun_seeds(self) -> list[int]:
        return [self.seed + 1 + i for i in range(self.seeds)]

    def cells(self) -> list[tuple[str, str]]:
        """(workload, optimizer) pairs in table order."""
        return [(w.name, o) for w in self.workloads for o in self.optimizers]

    def tune_tasks(self) -> list[Task]:
        return [
            Task("tune", w, o, k, self.seed, self.params(o, k))
            for w, o in self.cells()
            for k in range(self.trials)
        ]

    def seed_tasks(
        self, best: Mapping[tuple[str, str], Mapping[str, float]]
    ) -> list[Task]:
        return [
            Task("seed", w, o, i, s, dict(best[w, o]))
            for w, o in self.cells()
            for i, s in enumerate(self.rerun_seeds)
        ]

    @property
    def n_runs(self) -> int:
        return len(self.cells()) * (self.trials + self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizers": list(self.optimizers),
            "workloads": [w.to_dict() for w in self.workloads],
            "trials": self.trials,
            "seeds": self.seeds,
            "seed": self.seed,
            "rerun_seeds": self.rerun_seeds,
            "spaces": {
                o: [d.to_dict() for d in dims] for o, dims in self.spaces.items()
            },
            "qmc": {"sequence": "halton", "scramble": True, "seed": self.seed},
            "axes": list(self.axes),
            "points": [list(p) for p in self.points],
            "trial_params": {
                o: [self.params(o, k) for k in range(self.trials)]
                for o in self.optimizers
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        try:
            return cls(
                optimizers=list(d["optimizers"]),
                workloads=[Workload.from_dict(w) for w in d["workloads"]],
                trials=int(d["trials"]),
                seeds=int(d["seeds"]),
                seed=int(d["seed"]),
                spaces={
                    o: [Dim(**dim) for dim in dims] for o, dims in d["spaces"].items()
                },
                axes=list(d["axes"]),
                points=[[float(u) for u in p] for p in d["points"]],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"compare: the manifest's settings are malformed ({exc!r})."
            ) from None


def make_plan(
    optimizers: Sequence[str],
    workloads: Sequence[str | Workload],
    *,
    trials: int,
    seeds: int,
    seed: int = 0,
) -> Plan:
    """Validate the arguments and lay out the comparison.

    Raises InvalidParameterError for an unknown or repeated optimizer/workload,
    ``trials`` or ``seeds`` < 1, or a negative ``seed``.
    """
    check_scalar(trials, "trials", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(seeds, "seeds", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=_OWNER)
    opts = check_optimizers(optimizers, owner=_OWNER)
    wls = check_workloads(workloads, owner=_OWNER)
    points = halton(int(trials), len(AXES), scramble=True, seed=int(seed))
    return Plan(
        optimizers=opts,
        workloads=wls,
        trials=int(trials),
        seeds=int(seeds),
        seed=int(seed),
        spaces={o: list(SPACES[o]) for o in opts},
        axes=list(AXES),
        points=points.tolist(),
    )


def _rank_key(record: Mapping[str, Any]) -> tuple[int, float, float]:
    acc, loss = record["final_val_acc"], record["final_val_loss"]
    finite = record["diverged"] is None and math.isfinite(acc)
    return (
        0 if finite else 1,
        -acc if math.isfinite(acc) else math.inf,
        loss if math.isfinite(loss) else math.inf,
    )


def select_best(records: Sequence[Mapping[str, Any]]) -> int:
    """Index of the best tuning record (see the module docstring for the rule)."""
    return min(range(len(records)), key=lambda k: (*_rank_key(records[k]), k))
