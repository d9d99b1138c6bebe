"""Constant, step, multi-step, exponential, polynomial and linear-warmup schedules."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from ..errors import InvalidParameterError
from .base import Schedule, check_int, check_real


class Constant(Schedule):
    """lr(t) = base_lr."""

    def __init__(self, base_lr: float = 1.0):
        self.base_lr = check_real("Constant", "base_lr", base_lr, 0.0, None, "neither")

    def _lr(self, t: int) -> float:
        return self.base_lr


class StepDecay(Schedule):
    """lr(t) = base_lr * factor^floor(t / every).

    torch: ``StepLR(step_size=every, gamma=factor)``.

    Example: ``StepDecay(0.1, 0.5, 10).lr_at(25) == 0.025``.
    """

    def __init__(self, base_lr: float, factor: float = 0.1, every: int = 10):
        self.base_lr = check_real("StepDecay", "base_lr", base_lr, 0.0, None, "neither")
        self.factor = check_real("StepDecay", "factor", factor, 0.0, None, "neither")
        self.every = check_int("StepDecay", "every", every)

    def _lr(self, t: int) -> float:
        return self.base_lr * self.factor ** (t // self.every)


class MultiStep(Schedule):
    """lr(t) = base_lr * factor^(number of milestones <= t)   (torch: MultiStepLR)."""

    def __init__(self, base_lr: float, milestones: Sequence[int], factor: float = 0.1):
        owner = "MultiStep"
        self.base_lr = check_real(owner, "base_lr", base_lr, 0.0, None, "neither")
        self.factor = check_real(owner, "factor", factor, 0.0, None, "neither")
        if (
            isinstance(milestones, (str, bytes))
            or not isinstance(milestones, Sequence)
            or not milestones
        ):
            raise InvalidParameterError(
                f"{owner}: 'milestones' must be a non-empty list of increasing ints. "
                f"Got {milestones!r}."
            )
        ms = [check_int(owner, f"milestones[{i}]", m) for i, m in enumerate(milestones)]
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise InvalidParameterError(
                f"{owner}: 'milestones' must be strictly increasing. Got {ms}."
            )
        self.milestones = ms

    def _lr(self, t: int) -> float:
        return self.base_lr * self.factor ** bisect.bisect_right(self.milestones, t)


class Exponential(Schedule):
    """lr(t) = base_lr * gamma^t, gamma in (0, 1]   (torch: ExponentialLR)."""

    def __init__(self, base_lr: float, gamma: float = 0.95):
        self.base_lr = check_real(
            "Exponential", "base_lr", base_lr, 0.0, None, "neither"
        )
        self.gamma = check_real("Exponential", "gamma", gamma, 0.0, 1.0, "right")

    def _lr(self, t: int) -> float:
        return self.base_lr * self.gamma**t


class Polynomial(Schedule):
    """lr(t) = (base_lr - end_lr) * (1 - min(t, T)/T)^power + end_lr (clamped at T).

    With end_lr = 0 this is torch's PolynomialLR(total_iters=T, power).
    """

    def __init__(self, base_lr: float, T: int, power: float = 1.0, end_lr: float = 0.0):
        owner = "Polynomial"
        self.base_lr = check_real(owner, "base_lr", base_lr, 0.0, None, "neither")
        self.T = check_int(owner, "T", T)
        self.power = check_real(owner, "power", power, 0.0, None, "neither")
        self.end_lr = check_real(owner, "end_lr", end_lr, 0.0, self.base_lr)

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
        self.start_factor = check_real(owner, "start_factor", start_factor, 0.0)
        self.steps = check_int(owner, "steps", steps)
        self.end_factor = check_real(owner, "end_factor", end_factor, 0.0)
        self.base_lr = check_real(owner, "base_lr", base_lr, 0.0, None, "neither")

    def _lr(self, t: int) -> float:
        frac = min(t, self.steps) / self.steps
        return self.base_lr * (
            self.start_factor + (self.end_factor - self.start_factor) * frac
        )
