"""Scheduler: writes a schedule's learning rate into an optimizer's groups."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from .._validation import check_option, check_scalar
from ..errors import CheckpointError, InvalidParameterError
from .base import Schedule
from .basic import Constant
from .plateau import ReduceOnPlateau


class Scheduler:
    """Drive ``optimizer``'s learning rates from a closed-form schedule.

    The lr of group i after ``n`` calls to :meth:`step` is::

        absolute (default):  lr_i = schedule_i.lr_at(n)
        relative=True:       lr_i = base_lr_i * schedule_i.lr_at(n) / schedule_i.base_lr
        with plateau:        lr_i = plateau.apply(lr_i, i)     (see ReduceOnPlateau)

    where ``schedule_i`` is the single schedule given or the i-th of a list
    (one per group), and ``base_lr_i`` is group i's lr when the Scheduler was
    built. ``relative=True`` keeps per-group lr ratios (e.g. a smaller lr for
    a pretrained backbone) while every group follows the schedule's shape.
    A single absolute schedule over groups with different lrs is refused, as
    it would silently give them all the same lr. ``schedule=None`` keeps each
    group's lr (useful with ``plateau`` alone).

    The lr for step 0 is written at construction. The caller decides what a
    step is (``interval``, saved and exposed for the training loop): after
    every optimizer step (``"step"``) or after every epoch (``"epoch"``).

    Args:
        optimizer: a descentlab Optimizer (anything with ``param_groups``).
        schedule: a Schedule, a list with one Schedule per group, or None.
        interval: "step" or "epoch".
        plateau: a ReduceOnPlateau fed by :meth:`step_plateau`.
        relative: scale each group's own initial lr by the schedule's factor.

    Example::

        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = Scheduler(opt, warmup_cosine(0.1, 500, 10_000), interval="step")
        for batch in loader:  ... opt.step(); sched.step()
    """

    def __init__(
        self,
        optimizer: Any,
        schedule: Schedule | Sequence[Schedule] | None = None,
        *,
        interval: str = "step",
        plateau: ReduceOnPlateau | None = None,
        relative: bool = False,
    ):
        owner = "Scheduler"
        if not hasattr(optimizer, "param_groups"):
            raise InvalidParameterError(
                f"{owner}: 'optimizer' must be an Optimizer. "
                f"Got {type(optimizer).__name__}."
            )
        self.optimizer = optimizer
        self._interval = check_option(
            interval, "interval", ("step", "epoch"), owner=owner
        )
        if plateau is not None and not isinstance(plateau, ReduceOnPlateau):
            raise InvalidParameterError(
                f"{owner}: 'plateau' must be a ReduceOnPlateau. "
                f"Got {type(plateau).__name__}."
            )
        self.plateau = plateau
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        n = len(self.base_lrs)
        if schedule is None:
            schedule, relative = Constant(1.0), True
        if isinstance(schedule, Schedule):
            self.schedules = [schedule] * n
            if not relative and len(set(self.base_lrs)) > 1:
                raise InvalidParameterError(
                    f"{owner}: the optimizer's groups have different lrs "
                    f"{self.base_lrs}, "
                    "but one absolute schedule would give them all the same lr. Pass "
                    "relative=True (each group's lr times the schedule's factor) or a "
                    "list with one schedule per group."
                )
        else:
            schedules = list(schedule)
            if len(schedules) != n or not all(
                isinstance(s, Schedule) for s in schedules
            ):
                raise InvalidParameterError(
                    f"{owner}: 'schedule' must be a Schedule or a list of {n} "
                    "Schedules "
                    f"(one per parameter group). Got {schedule!r}."
                )
            self.schedules = schedules
        self.relative = bool(relative)
        self.last_step = 0
        self._last_lr: list[float] = []
        self._apply()

    @property
    def interval(self) -> str:
        """ "step" or "epoch": when the training loop should call :meth:`step`."""
        return self._interval

    def _lr(self, i: int, t: int) -> float:
        s = self.schedules[i]
        lr = self.base_lrs[i] * s.lr_at(t) / s.base_lr if self.relative else s.lr_at(t)
        return self.plateau.apply(lr, i) if self.plateau is not None else lr

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise InvalidParameterError(
                f"Scheduler: the optimizer has {len(groups)} parameter groups but the "
                f"scheduler was built for {len(self.base_lrs)}; build a new Scheduler "
                "after add_param_group()."
            )
        self._last_lr = [self._lr(i, self.last_step) for i in range(len(groups))]
        for group, lr in zip(groups, self._last_lr, strict=True):
            group["lr"] = lr

    def step(self, metric: float | None = None) -> None:
        """Advance one step (or epoch), write the lrs; ``metric`` feeds the plateau."""
        self.last_step += 1
        if metric is not None:
            self._plateau().step(metric)
        self._apply()

    def step_plateau(self, metric: float) -> bool:
        """Feed the plateau one metric (step count unchanged); True if lr was cut."""
        reduced = self._plateau().step(metric)
        self._apply()
        return reduced

    def _plateau(self) -> ReduceOnPlateau:
        if self.plateau is None:
            raise InvalidParameterError(
                "Scheduler: got a metric but no plateau; build it with "
                "Scheduler(..., plateau=ReduceOnPlateau(...))."
            )
        return self.plateau

    def get_last_lr(self) -> list[float]:
        """The lr currently written into each parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Step count, interval, base lrs and plateau state (JSON scalars only)."""
        return {
            "last_step": self.last_step,
            "interval": self._interval,
            "relative": self.relative,
            "base_lrs": list(self.base_lrs),
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`; writes the restored lrs into the optimizer.

        Raises:
            CheckpointError: the number of groups, the interval or the presence
                of a plateau differs.
        """
        owner = "Scheduler.load_state_dict"
        try:
            last_step, interval = state["last_step"], state["interval"]
            base_lrs, plateau = list(state["base_lrs"]), state["plateau"]
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{owner}: not a Scheduler state ({exc!r}).") from exc
        if len(base_lrs) != len(self.base_lrs):
            raise CheckpointError(
                f"{owner}: the state has {len(base_lrs)} parameter group(s), this "
                f"scheduler has {len(self.base_lrs)}."
            )
        if interval != self._interval:
            raise CheckpointError(
                f"{owner}: the state counts per {interval!r}, this scheduler per "
                f"{self._interval!r}."
            )
        if (plateau is None) != (self.plateau is None):
            raise CheckpointError(
                f"{owner}: the state {'has no' if plateau is None else 'has a'} "
                f"plateau, this scheduler "
                f"{'has one' if self.plateau is not None else 'has none'}."
            )
        self.last_step = check_scalar(
            last_step, "last_step", numbers.Integral, min_val=0, owner=owner
        )
        self.base_lrs = [float(b) for b in base_lrs]
        if plateau is not None and self.plateau is not None:
            self.plateau.load_state_dict(plateau)
        self._apply()

    def __repr__(self) -> str:
        return (
            f"Scheduler(schedule={self.schedules[0]!r}, interval={self._interval!r}, "
            f"relative={self.relative}, plateau={self.plateau!r}, "
            f"last_step={self.last_step})"
        )
