"""Composition: schedules one after another (sequential) or multiplied (chain)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from .._validation import check_scalar
from ..errors import InvalidParameterError
from .base import Schedule, positive_real
from .basic import LinearWarmup
from .cosine import CosineAnnealing


class Sequential(Schedule):
    """Schedules run one after another; each sees t counted from its own start.

    Built by :func:`sequential`. ``base_lr`` is the largest of the parts' base_lr.
    """

    def __init__(self, parts: Sequence[tuple[Schedule, int]], last: Schedule):
        self.parts = list(parts)
        self.last = last
        self.base_lr = max([s.base_lr for s, _ in self.parts] + [last.base_lr])

    def _lr(self, t: int) -> float:
        for sched, n in self.parts:
            if t < n:
                return sched.lr_at(t)
            t -= n
        return self.last.lr_at(t)


def sequential(items: Sequence[Any]) -> Sequential:
    """Run schedules one after another: ``sequential([(warmup, 5), cosine])``.

    Every item but the last is ``(schedule, n_steps)``; the last may be a bare
    schedule (or a pair, whose length is then ignored) and runs for ever.
    A later schedule sees the step counted from its own start: the cosine
    above gets t - 5.
    """
    owner = "sequential"
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise InvalidParameterError(
            f"{owner}: expected a non-empty list like [(warmup, 5), cosine]. "
            f"Got {items!r}."
        )
    parts: list[tuple[Schedule, Any]] = []
    for i, item in enumerate(items):
        is_last = i == len(items) - 1
        if isinstance(item, Schedule) and is_last:
            parts.append((item, None))
            continue
        if not (
            isinstance(item, (tuple, list))
            and len(item) == 2
            and isinstance(item[0], Schedule)
        ):
            raise InvalidParameterError(
                f"{owner}: item {i} must be a (Schedule, n_steps) pair"
                f"{' or a Schedule' if is_last else ''}. Got {item!r}."
            )
        parts.append(
            (
                item[0],
                check_scalar(
                    item[1], f"items[{i}][1]", numbers.Integral, min_val=1, owner=owner
                ),
            )
        )
    return Sequential([(s, n) for s, n in parts[:-1]], parts[-1][0])


class Chain(Schedule):
    """The product of schedules: lr(t) = prod_i s_i.lr_at(t). Built by :func:`chain`."""

    def __init__(self, schedules: Sequence[Schedule]):
        self.schedules = list(schedules)
        self.base_lr = math.prod(s.base_lr for s in self.schedules)

    def _lr(self, t: int) -> float:
        return math.prod(s.lr_at(t) for s in self.schedules)


def chain(*schedules: Schedule) -> Chain:
    """Multiply schedules: ``chain(LinearWarmup(0.1, 5), CosineAnnealing(0.1, 50))``.

    Factor schedules (base_lr = 1, such as LinearWarmup by default) scale the
    absolute one, so the lr is base * product of factors. ``base_lr`` of the
    chain is the product of the parts' base_lr.
    """
    if not schedules:
        raise InvalidParameterError("chain: needs at least one schedule.")
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            raise InvalidParameterError(
                f"chain: argument {i} must be a Schedule. Got {type(s).__name__}."
            )
    return Chain(schedules)


def warmup_cosine(
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_lr: float = 0.0,
    *,
    start_factor: float = 0.0,
) -> Schedule:
    """Linear warmup from start_factor*base_lr, then cosine down to min_lr.

    ::

        t <  W:  lr = base_lr * (s + (1 - s) * t / W)                (s = start_factor)
        t >= W:  lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * (t - W)/(T - W))) / 2

    clamped to min_lr after total_steps T. ``warmup_steps=0`` gives plain cosine.

    References:
        Goyal et al., "Accurate, large minibatch SGD: training ImageNet in 1
        hour", 2017 (gradual warmup).
    """
    owner = "warmup_cosine"
    base_lr = positive_real(base_lr, "base_lr", owner)
    warmup_steps = check_scalar(
        warmup_steps, "warmup_steps", numbers.Integral, min_val=0, owner=owner
    )
    total_steps = check_scalar(
        total_steps, "total_steps", numbers.Integral, min_val=1, owner=owner
    )
    if total_steps <= warmup_steps:
        raise InvalidParameterError(
            f"{owner}: 'total_steps' must be greater than warmup_steps={warmup_steps}. "
            f"Got {total_steps}."
        )
    cosine = CosineAnnealing(base_lr, total_steps - warmup_steps, min_lr)
    if warmup_steps == 0:
        return cosine
    warmup = LinearWarmup(start_factor, warmup_steps, base_lr=base_lr)
    return sequential([(warmup, warmup_steps), cosine])
