"""Lion: the sign of an interpolated momentum (found by program search)."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from .base import Optimizer, ema_
from .hyper import betas, nonnegative


class Lion(Optimizer):
    """Lion (EvoLved Sign Momentum), with decoupled weight decay.

    Update rule (m starts at 0)::

        c     =  beta1 * m + (1 - beta1) * g
        theta <- theta - lr * (sign(c) + weight_decay * theta)
        m     <- beta2 * m + (1 - beta2) * g

    Every coordinate moves by exactly lr (plus decay), so Lion wants a
    learning rate 3-10x smaller than AdamW's and a larger weight decay.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (>= 0), default 1e-4.
        betas: (beta1, beta2), each in [0, 1); default (0.9, 0.99).
        weight_decay: decoupled decay coefficient (>= 0).

    References:
        Chen et al., "Symbolic discovery of optimization algorithms", NeurIPS 2023.
    """

    hyperparameters = {
        "lr": nonnegative(1e-4),
        "betas": betas((0.9, 0.99)),
        "weight_decay": nonnegative(0.0),
    }

    def _init_state(self, p) -> dict[str, Any]:
        return {"m": B.get_array_module(p.data).zeros_like(p.data)}

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        beta1, beta2 = group["betas"]
        wd, m = group["weight_decay"], state["m"]
        c, w = self._tmp(p), self._tmp(p, 1)
        xp.multiply(m, beta1, out=c)
        xp.multiply(g, 1.0 - beta1, out=w)
        c += w
        xp.sign(c, out=c)
        if wd != 0:
            xp.multiply(p.data, wd, out=w)
            c += w
        ema_(m, g, beta2, out=w)
        c *= group["lr"]
        p.data -= c
