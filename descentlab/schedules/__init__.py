"""Learning-rate schedules: closed form, composable, resumable.

A :class:`Schedule` is a pure function of the step index, ``lr_at(t)``; the
:class:`Scheduler` writes it into an optimizer's parameter groups, counts per
step or per epoch, and saves/loads its state::

    from descentlab.schedules import Scheduler, warmup_cosine, ReduceOnPlateau
    sched = Scheduler(opt, warmup_cosine(0.1, 5, 50, 1e-3), interval="epoch",
                      plateau=ReduceOnPlateau(patience=3))
    ... each epoch: sched.step(); sched.step_plateau(val_loss)

Schedules: Constant, StepDecay, MultiStep, Exponential, CosineAnnealing,
CosineWarmRestarts, Polynomial, LinearWarmup, OneCycle; composition with
:func:`sequential`, :func:`chain` and :func:`warmup_cosine`;
:func:`make_schedule` builds one from its CLI name.
"""

from .base import Schedule
from .basic import Constant, Exponential, LinearWarmup, MultiStep, Polynomial, StepDecay
from .compose import Chain, Sequential, chain, sequential, warmup_cosine
from .cosine import CosineAnnealing, CosineWarmRestarts, OneCycle
from .factory import SCHEDULE_NAMES, make_schedule
from .plateau import ReduceOnPlateau
from .scheduler import Scheduler

__all__ = [
    "Schedule",
    "Constant",
    "StepDecay",
    "MultiStep",
    "Exponential",
    "CosineAnnealing",
    "CosineWarmRestarts",
    "Polynomial",
    "LinearWarmup",
    "OneCycle",
    "Sequential",
    "Chain",
    "sequential",
    "chain",
    "warmup_cosine",
    "ReduceOnPlateau",
    "Scheduler",
    "make_schedule",
    "SCHEDULE_NAMES",
]
