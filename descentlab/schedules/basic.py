"""Constant, step, multi-step, exponential, polynomial and linear-warmup schedules."""

from __future__ import annotations

import bisect
import itertools
import numbers
from collections.abc import Sequence

from .._validation import check_scalar
from ..errors import InvalidParameterError
from .base import Schedule, positive_real


class Constant(Schedule):
    """lr(t) = base_lr."""

    def __init__(self, base_lr: float = 1.0):
        self.base_lr = positive_real(base_lr, "base_lr", "Constant")

    def _lr(self, t: int) -> float:
        return self.base_lr


class StepDecay(Schedule):
    """lr(t) = base_lr * factor^floor(t / every).

    torch: ``StepLR(step_size=every, gamma=factor)``.

    Example: ``StepDecay(0.1, 0.5, 10).lr_at(25) == 0.025``.
    """

    def __init__(self, base_lr: float, factor: float = 0.1, every: int = 10):
        self.base_lr = positive_real(base_lr, "base_lr", "StepDecay")
        self.factor = positive_real(factor, "factor", "StepDecay")
        self.every = check_scalar(
            every, "every", numbers.Integral, min_val=1, owner="StepDecay"
        )

    def _lr(self, t: int) -> float:
        return self.base_lr * self.factor ** (t // self.every)


class MultiStep(Schedule):
    """lr(t) = base_lr * factor^(number of milestones <= t)   (torch: MultiStepLR)."""

    def __init__(self, base_lr: float, milestones: Sequence[int], factor: float = 0.1):
        owner = "MultiStep"
        self.base_lr = positive_real(base_lr, "base_lr", owner)
        self.factor = positive_real(factor, "factor", owner)
        if (
            isinstance(milestones, (str, bytes))
            or not isinstance(milestones, Sequence)
            or not milestones
        ):
            raise InvalidParameterError(
                f"{owner}: 'milestones' must be a non-empty list of increasing ints. "
                f"Got {milestones!r}."
            )
        ms = [
            check_scalar(
                m, f"milestones[{i}]", numbers.Integral, min_val=1, owner=owner
            )
            for i, m in enumerate(milestones)
        ]
        if any(b <= a for a, b in itertools.pairwise(ms)):
            raise InvalidParameterError(
                f"{owner}: 'milestones' must be strictly increasing. Got {ms}."
            )
        self.milestones = ms

    def _lr(self, t: int) -> float:
        return self.base_lr * self.factor ** bisect.bisect_right(self.milestones, t)


class Exponential(Schedule):
    """lr(t) = base_lr * gamma^t, gamma in (0, 1]   (torch: ExponentialLR)."""

    def __init__(self, base_lr: float, gamma: float = 0.95):
        self.base_lr = positive_real(base_lr, "base_lr", "Exponential")
        self.gamma = check_scalar(
            gamma,
            "gamma",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="right",
            owner="Exponential",
        )

    def _lr(self, t: int) -> float:
        return self.base_lr * self.gamma**t


class Polynomial(Schedule):
    """lr(t) = (base_lr - end_lr) * (1 - min(t, T)/T)^power + end_lr (clamped at T).

    With end_lr = 0 this is torch's PolynomialLR(total_iters=T, power).
    """

    def __init__(self, base_lr: float, T: int, power: float = 1.0, end_lr: float = 0.0):
        owner = "Polynomial"
        self.base_lr = positive_real(base_lr, "base_lr", owner)
        self.T = check_scalar(T, "T", numbers.Integral, min_val=1, owner=owner)
        self.power = positive_real(power, "power", owner)
        self.end_lr = check_scalar(
            end_lr,
            "end_lr",
            numbers.Real,
            min_val=0.0,
            max_val=self.base_lr,
            owner=owner,
        )

    def _lr(self, t: int) -> float:
        frac = 1.0 - min(t, self.T) / self.T
        return (self.base_lr - self.end_lr) * frac**self.power + self.end_lr


class LinearWarmup(Schedule):
    """lr(t) = base_lr * (s + (e - s) * min(t, steps) / steps), s/e: start/end factor.

    A factor schedule by default (base_lr = 1.0), as torch's
    LinearLR(start_factor, end_factor, total_iters=steps); give ``base_lr`` for
    absolute values, e.g. inside :func:`sequential`.
    """

    def __init__(
        self,
        start_factor: float,
        steps: int,
        *,
        end_factor: float = 1.0,
        base_lr: float = 1.0,
    ):
        owner = "LinearWarmup"
        self.start_factor = check_scalar(
            start_factor, "start_factor", numbers.Real, min_val=0.0, owner=owner
        )
        self.steps = check_scalar(
            steps, "steps", numbers.Integral, min_val=1, owner=owner
        )
        self.end_factor = check_scalar(
            end_factor, "end_factor", numbers.Real, min_val=0.0, owner=owner
        )
        self.base_lr = positive_real(base_lr, "base_lr", owner)

    def _lr(self, t: int) -> float:
        frac = min(t, self.steps) / self.steps
        return self.base_lr * (
            self.start_factor + (self.end_factor - self.start_factor) * frac
        )
