"""The Schedule base class: a pure, closed-form map from step index to lr."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._validation import check_scalar


def positive_real(value: Any, name: str, owner: str) -> float:
    """``check_scalar`` for a float in ``(0, inf)``: a learning rate or a factor."""
    return check_scalar(
        value,
        name,
        numbers.Real,
        min_val=0.0,
        include_boundaries="neither",
        owner=owner,
    )


class Schedule:
    """A learning rate as a pure function of the step (or epoch) index t = 0, 1, ...

    ``lr_at(t)`` (also ``schedule(t)``) is closed form: no state, no recursion,
    so any step can be evaluated directly and resuming is trivial.
    ``base_lr`` is the nominal (peak) learning rate; ``factor_at(t) =
    lr_at(t) / base_lr`` is the same curve as a multiplier, which
    :class:`~descentlab.schedules.Scheduler` uses with ``relative=True``.
    Arguments are validated when the schedule is built.
    """

    base_lr: float = 1.0

    def _lr(self, t: int) -> float:
        raise NotImplementedError(f"{type(self).__name__}._lr is not implemented")

    def lr_at(self, step: int) -> float:
        """The learning rate at step ``step`` (an int >= 0)."""
        check_scalar(
            step,
            "step",
            numbers.Integral,
            min_val=0,
            owner=f"{type(self).__name__}.lr_at",
        )
        return float(self._lr(int(step)))

    def __call__(self, step: int) -> float:
        return self.lr_at(step)

    def factor_at(self, step: int) -> float:
        """``lr_at(step) / base_lr``: the schedule as a multiplier of the base lr."""
        return self.lr_at(step) / self.base_lr

    def values(self, n: int) -> np.ndarray:
        """``[lr_at(0), ..., lr_at(n-1)]`` as a float64 array (for plots)."""
        return np.array(
            [
                self._lr(t)
                for t in range(
                    check_scalar(n, "n", numbers.Integral, min_val=0, owner="values")
                )
            ],
            dtype=np.float64,
        )

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_")
        )
        return f"{type(self).__name__}({args})"
