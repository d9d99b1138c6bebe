"""Optimizers (torch.optim-like) and gradient clipping.

::

    from descentlab.optim import Adam, clip_grad_norm
    opt = Adam(model.parameters(), lr=1e-3)
    ...; clip_grad_norm(model.parameters(), 1.0); opt.step(); opt.zero_grad()

``make_optimizer(name, params, lr=None, **kw)`` builds one from its CLI name;
``default_lr(name)`` is the learning rate it uses when none is given.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import InvalidParameterError
from .adadelta import Adadelta
from .adagrad import AdaGrad, Adagrad
from .adam import Adam, AdamW, NAdam
from .base import Optimizer, ParamsT
from .clip import clip_grad_norm, clip_grad_value
from .lion import Lion
from .rmsprop import RMSProp, RMSprop
from .sgd import SGD, Momentum, Nesterov
from .yogi import Yogi

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": NAdam,
    "lion": Lion,
    "adadelta": Adadelta,
    "yogi": Yogi,
}


def default_lr(name: str) -> float:
    """The learning rate of ``OPTIMIZERS[name]`` when none is given.

    It is the class's declared default, which is torch.optim's (the paper's for
    Lion and Yogi, which torch lacks). The CLI and ``make_optimizer`` read it
    from here, so ``descentlab train --optimizer X`` runs what ``X(params)``
    runs, and a default changes in one place: the class's table.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise InvalidParameterError(
            f"default_lr: unknown optimizer {name!r}; valid names are "
            f"{', '.join(OPTIMIZERS)}."
        )
    return float(OPTIMIZERS[key].hyperparameters["lr"].default)


def make_optimizer(
    name: str, params: ParamsT, lr: float | None = None, **kw: Any
) -> Optimizer:
    """Build an optimizer from its CLI name (``sgd``, ``momentum``, ``adam``, ...).

    ``lr=None`` keeps the class default. Other keyword arguments are passed on;
    unknown names, or options the optimizer does not take, raise
    InvalidParameterError listing what is allowed.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise InvalidParameterError(
            f"make_optimizer: unknown optimizer {name!r}; valid names are "
            f"{', '.join(OPTIMIZERS)}."
        )
    cls = OPTIMIZERS[key]
    allowed = [p for p in inspect.signature(cls).parameters if p != "params"]
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise InvalidParameterError(
            f"make_optimizer: {key!r} does not take {unknown}; its options are "
            f"{', '.join(allowed)}."
        )
    if lr is not None:
        kw["lr"] = lr
    return cls(params, **kw)


__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "Adagrad",
    "RMSProp",
    "RMSprop",
    "Adam",
    "AdamW",
    "NAdam",
    "Lion",
    "Adadelta",
    "Yogi",
    "clip_grad_norm",
    "clip_grad_value",
    "make_optimizer",
    "default_lr",
    "OPTIMIZERS",
]
