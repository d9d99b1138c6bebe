"""RMSProp: divide by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from .base import Optimizer, ema_
from .hyper import flag, nonnegative, positive


class RMSProp(Optimizer):
    """RMSProp, with PyTorch's ``RMSprop`` semantics (centered and momentum options).

    Update rule (g = grad + weight_decay*theta; v, gbar, b start at 0)::

        v     <- alpha * v + (1 - alpha) * g^2
        avg   =  sqrt(v) + eps
        centered:  gbar <- alpha * gbar + (1 - alpha) * g
                   avg  =  sqrt(v - gbar^2) + eps
        momentum = 0:   theta <- theta - lr * g / avg
        otherwise:      b <- mu * b + g / avg;   theta <- theta - lr * b

    Unlike AdaGrad's sum, the exponential average forgets old gradients, so
    the effective step does not decay to zero.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (>= 0).
        alpha: smoothing constant in [0, 1).
        eps: (> 0) added to the root mean square.
        weight_decay: L2 penalty coefficient (>= 0).
        momentum: mu (>= 0).
        centered: estimate the variance (subtract the squared mean gradient).

    References:
        Tieleman, Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for
        Machine Learning, 2012. Graves, "Generating sequences with recurrent
        neural networks", 2013 (centered form).
    """

    hyperparameters = {
        "lr": nonnegative(0.01),
        "alpha": nonnegative(0.99, max_val=1.0, include_boundaries="left"),
        "eps": positive(1e-8),
        "weight_decay": nonnegative(0.0),
        "momentum": nonnegative(0.0),
        "centered": flag(False),
    }

    def _init_state(self, p) -> dict[str, Any]:
        xp, group = B.get_array_module(p.data), self._group_of(p)
        state = {"v": xp.zeros_like(p.data)}
        if group["centered"]:
            state["gbar"] = xp.zeros_like(p.data)
        if group["momentum"] > 0:
            state["b"] = xp.zeros_like(p.data)
        return state

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        alpha, mu = group["alpha"], group["momentum"]
        g = self._l2(p, g, group["weight_decay"])
        v, avg, w = state["v"], self._tmp(p), self._tmp(p, 1)
        xp.multiply(g, g, out=w)
        ema_(v, w, alpha, out=w)
        if group["centered"]:
            gbar = state["gbar"]
            ema_(gbar, g, alpha, out=w)
            xp.multiply(gbar, gbar, out=w)
            xp.subtract(v, w, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(v, out=avg)
        avg += group["eps"]
        xp.divide(g, avg, out=w)
        if mu > 0:
            b = state["b"]
            b *= mu
            b += w
            xp.multiply(b, group["lr"], out=w)
        else:
            w *= group["lr"]
        p.data -= w


RMSprop = RMSProp
