"""AdaGrad: per-coordinate step sizes from the sum of squared gradients."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from .base import Optimizer
from .hyper import nonnegative, positive


class AdaGrad(Optimizer):
    """AdaGrad, with PyTorch's ``Adagrad`` semantics.

    Update rule (t counts from 1; g = grad + weight_decay*theta)::

        G     <- G + g^2                       (G starts at initial_accumulator_value)
        clr   =  lr / (1 + (t - 1) * lr_decay)
        theta <- theta - clr * g / (sqrt(G) + eps)

    The effective step ``clr / (sqrt(G) + eps)`` only shrinks, which suits
    sparse features and convex problems but can stall deep nets (see RMSProp).

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (>= 0).
        lr_decay: (>= 0) slows the learning rate down as 1/(1 + (t-1)*lr_decay).
        weight_decay: L2 penalty coefficient (>= 0).
        initial_accumulator_value: starting value of G (>= 0).
        eps: (> 0) added to sqrt(G) for numerical stability.

    References:
        Duchi, Hazan, Singer, "Adaptive subgradient methods for online learning
        and stochastic optimization", JMLR 2011.
    """

    hyperparameters = {
        "lr": nonnegative(0.01),
        "lr_decay": nonnegative(0.0),
        "weight_decay": nonnegative(0.0),
        "initial_accumulator_value": nonnegative(0.0),
        "eps": positive(1e-10),
    }

    def _init_state(self, p) -> dict[str, Any]:
        xp = B.get_array_module(p.data)
        init = self._group_of(p)["initial_accumulator_value"]
        return {"G": xp.full_like(p.data, init)}

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        g = self._l2(p, g, group["weight_decay"])
        G, w = state["G"], self._tmp(p)
        clr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        xp.multiply(g, g, out=w)
        G += w
        xp.sqrt(G, out=w)
        w += group["eps"]
        xp.divide(g, w, out=w)
        w *= clr
        p.data -= w


Adagrad = AdaGrad
