"""Adadelta: RMSProp with units fixed by a running average of past updates."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from .base import Optimizer, ema_
from .hyper import nonnegative, positive


class Adadelta(Optimizer):
    """Adadelta, with PyTorch's semantics (including its ``lr`` multiplier).

    Update rule (g = grad + weight_decay*theta; v, u start at 0)::

        v     <- rho * v + (1 - rho) * g^2
        d     =  sqrt(u + eps) / sqrt(v + eps) * g
        u     <- rho * u + (1 - rho) * d^2
        theta <- theta - lr * d

    The ratio of RMS(past updates) to RMS(gradients) gives the step the units
    of theta, so the paper needs no learning rate (lr = 1.0).

    Args:
        params: Parameters or parameter groups.
        lr: scale applied to the update (>= 0), default 1.0.
        rho: decay of both running averages, in [0, 1].
        eps: (> 0) inside both square roots.
        weight_decay: L2 penalty coefficient (>= 0).

    References:
        Zeiler, "ADADELTA: an adaptive learning rate method", arXiv:1212.5701, 2012.
    """

    hyperparameters = {
        "lr": nonnegative(1.0),
        "rho": nonnegative(0.9, max_val=1.0),
        "eps": positive(1e-6),
        "weight_decay": nonnegative(0.0),
    }

    def _init_state(self, p) -> dict[str, Any]:
        xp = B.get_array_module(p.data)
        return {"v": xp.zeros_like(p.data), "u": xp.zeros_like(p.data)}

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        rho, eps = group["rho"], group["eps"]
        g = self._l2(p, g, group["weight_decay"])
        v, u, d, w = state["v"], state["u"], self._tmp(p), self._tmp(p, 1)
        xp.multiply(g, g, out=w)
        ema_(v, w, rho, out=w)
        xp.add(u, eps, out=d)
        xp.sqrt(d, out=d)
        xp.add(v, eps, out=w)
        xp.sqrt(w, out=w)
        d /= w
        d *= g
        xp.multiply(d, d, out=w)
        ema_(u, w, rho, out=w)
        d *= group["lr"]
        p.data -= d
