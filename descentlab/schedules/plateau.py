"""ReduceOnPlateau: cut the learning rate when a monitored metric stops improving."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from .._validation import check_option, check_scalar
from ..errors import CheckpointError, InvalidParameterError


class ReduceOnPlateau:
    """Multiply the lr by ``factor`` after ``patience`` epochs without improvement.

    Fed one metric per call to :meth:`step` (torch's ReduceLROnPlateau rules)::

        improved = metric < best * (1 - threshold)   (mode "min", threshold_mode "rel")
                   metric < best - threshold         ("min", "abs"); mirrored for "max"
        improved: best = metric, bad = 0;  else bad += 1
        in cooldown: cooldown -= 1, bad = 0
        bad > patience:  scale *= factor;  cooldown = cooldown_steps;  bad = 0

    It does not own a learning rate: it keeps ``scale`` (the product of the
    reductions so far), and :meth:`apply` turns any lr into
    ``max(lr * scale, min(min_lr, lr))``, so it composes with whatever schedule
    is active (the plateau factor multiplies it; the floor never lifts an lr
    above the schedule's own value). Use it through
    ``Scheduler(opt, schedule, plateau=ReduceOnPlateau(...))``. Unlike torch, a
    reduction is never skipped for being smaller than 1e-8; the floor min_lr
    still bounds the result.

    Args:
        mode: "min" (loss) or "max" (accuracy).
        factor: multiplier per reduction, in (0, 1).
        patience: bad epochs tolerated before a reduction (int >= 0).
        threshold: minimum change that counts as improvement (>= 0).
        threshold_mode: "rel" (relative to best) or "abs".
        cooldown: epochs to wait after a reduction before counting again (>= 0).
        min_lr: floor of the lr (float >= 0, or one per parameter group).
    """

    def __init__(
        self,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
    ):
        owner = "ReduceOnPlateau"
        self.mode = check_option(mode, "mode", ("min", "max"), owner=owner)
        self.factor = check_scalar(
            factor,
            "factor",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="neither",
            owner=owner,
        )
        self.patience = check_scalar(
            patience, "patience", numbers.Integral, min_val=0, owner=owner
        )
        self.threshold = check_scalar(
            threshold, "threshold", numbers.Real, min_val=0.0, owner=owner
        )
        self.threshold_mode = check_option(
            threshold_mode, "threshold_mode", ("rel", "abs"), owner=owner
        )
        self.cooldown = check_scalar(
            cooldown, "cooldown", numbers.Integral, min_val=0, owner=owner
        )
        if isinstance(min_lr, Sequence) and not isinstance(min_lr, str):
            self.min_lr: float | list[float] = [
                check_scalar(m, f"min_lr[{i}]", numbers.Real, min_val=0.0, owner=owner)
                for i, m in enumerate(min_lr)
            ]
        else:
            self.min_lr = check_scalar(
                min_lr, "min_lr", numbers.Real, min_val=0.0, owner=owner
            )
        self.reset()

    def reset(self) -> None:
        """Forget the history: best, counters and scale."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad = 0
        self.cooldown_counter = 0
        self.scale = 1.0
        self.num_reductions = 0

    def _is_better(self, a: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < self.best * (1.0 - self.threshold)
            return a < self.best - self.threshold
        if self.threshold_mode == "rel":
            return a > self.best * (1.0 + self.threshold)
        return a > self.best + self.threshold

    def step(self, metric: float) -> bool:
        """Record one metric value; return True if the lr was reduced now."""
        if isinstance(metric, bool) or not isinstance(metric, numbers.Real):
            raise InvalidParameterError(
                f"ReduceOnPlateau.step: 'metric' must be a float. Got {metric!r} "
                f"of type {type(metric).__name__}."
            )
        current = float(metric)  # NaN never improves: it counts as a bad epoch
        if self._is_better(current):
            self.best, self.num_bad = current, 0
        else:
            self.num_bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            self.scale *= self.factor
            self.num_reductions += 1
            self.cooldown_counter = self.cooldown
            self.num_bad = 0
            return True
        return False

    def apply(self, lr: float, group: int = 0) -> float:
        """``max(lr * scale, min(min_lr, lr))`` for parameter group ``group``."""
        if self.num_reductions == 0:
            return lr
        floor = self.min_lr[group] if isinstance(self.min_lr, list) else self.min_lr
        return max(lr * self.scale, min(floor, lr))

    _STATE = ("best", "num_bad", "cooldown_counter", "scale", "num_reductions")

    def state_dict(self) -> dict[str, Any]:
        """Counters and scale (JSON scalars)."""
        return {k: getattr(self, k) for k in self._STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        missing = [k for k in self._STATE if k not in state]
        if missing:
            raise CheckpointError(
                f"ReduceOnPlateau.load_state_dict: missing {missing}."
            )
        self.best = float(state["best"])
        self.scale = float(state["scale"])
        for k in ("num_bad", "cooldown_counter", "num_reductions"):
            setattr(self, k, int(state[k]))

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau(mode={self.mode!r}, factor={self.factor}, "
            f"patience={self.patience}, threshold={self.threshold}, "
            f"threshold_mode={self.threshold_mode!r}, cooldown={self.cooldown}, "
            f"min_lr={self.min_lr})"
        )
