"""make_schedule: build a schedule from its command-line name."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from .._validation import check_scalar
from ..errors import InvalidParameterError
from .base import Schedule
from .basic import Constant, Exponential, MultiStep, Polynomial, StepDecay
from .compose import warmup_cosine
from .cosine import CosineAnnealing, CosineWarmRestarts, OneCycle


def _milestones(total: int) -> list[int]:
    return sorted({max(1, total // 2), max(2, (3 * total) // 4)})


# name -> (builder(base_lr, **kw), defaults(total) -> kw)
_BUILDERS: dict[
    str, tuple[Callable[..., Schedule], Callable[[int], dict[str, Any]]]
] = {
    "constant": (Constant, lambda T: {}),
    "step": (StepDecay, lambda T: {"factor": 0.5, "every": max(1, T // 5)}),
    "multistep": (MultiStep, lambda T: {"milestones": _milestones(T), "factor": 0.1}),
    "exp": (Exponential, lambda T: {"gamma": 0.95}),
    "cosine": (CosineAnnealing, lambda T: {"T": T, "min_lr": 0.0}),
    "cosine-restarts": (
        CosineWarmRestarts,
        lambda T: {"T_0": max(1, T // 4), "T_mult": 1, "min_lr": 0.0},
    ),
    "poly": (Polynomial, lambda T: {"T": T, "power": 2.0, "end_lr": 0.0}),
    "warmup-cosine": (
        warmup_cosine,
        lambda T: {
            "warmup_steps": min(max(1, T // 10), T - 1),
            "total_steps": T,
            "min_lr": 0.0,
            "start_factor": 0.0,
        },
    ),
    "onecycle": (
        OneCycle,
        lambda T: {
            "total_steps": T,
            "pct_start": 0.3,
            "div_factor": 25.0,
            "final_div_factor": 1e4,
            "anneal": "cos",
            "three_phase": False,
        },
    ),
}

SCHEDULE_NAMES = tuple(_BUILDERS)


def make_schedule(name: str, base_lr: float, total: int, **kw: Any) -> Schedule:
    """Build a schedule by CLI name; ``total`` is the run length in scheduler steps.

    ========================  ===================================================
    name                      schedule (defaults; any can be overridden by ``kw``)
    ========================  ===================================================
    ``constant``              Constant(base_lr)
    ``step``                  StepDecay(base_lr, factor=0.5, every=total//5)
    ``multistep``             MultiStep(base_lr, [total//2, 3*total//4], factor=0.1)
    ``exp``                   Exponential(base_lr, gamma=0.95)
    ``cosine``                CosineAnnealing(base_lr, T=total, min_lr=0)
    ``cosine-restarts``       CosineWarmRestarts(base_lr, T_0=total//4, T_mult=1)
    ``poly``                  Polynomial(base_lr, T=total, power=2, end_lr=0)
    ``warmup-cosine``         warmup_cosine(base_lr, total//10, total, min_lr=0)
    ``onecycle``              OneCycle(base_lr, total) (torch OneCycleLR defaults)
    ========================  ===================================================

    ``plateau`` is not a schedule: pass ``plateau=ReduceOnPlateau(...)`` to
    :class:`Scheduler` (with ``constant`` or any other schedule).

    Raises:
        InvalidParameterError: unknown name (the message lists the valid
            ones), an option the schedule does not take, or a bad value.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key == "plateau":
        raise InvalidParameterError(
            "make_schedule: 'plateau' is driven by a metric, not a closed-form "
            "schedule; "
            "use Scheduler(opt, make_schedule('constant', lr, total), "
            "plateau=ReduceOnPlateau(...))."
        )
    if key not in _BUILDERS:
        raise InvalidParameterError(
            f"make_schedule: unknown schedule {name!r}; valid names are "
            f"{', '.join(SCHEDULE_NAMES)} (and plateau, through Scheduler)."
        )
    total = check_scalar(
        total,
        "total",
        numbers.Integral,
        min_val=2 if key == "warmup-cosine" else 1,
        owner="make_schedule",
    )
    builder, defaults = _BUILDERS[key]
    options = defaults(total)
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise InvalidParameterError(
            f"make_schedule: {key!r} does not take {unknown}; its options are "
            f"{', '.join(options) or 'none'}."
        )
    options.update(kw)
    return builder(base_lr, **options)
