"""Stochastic gradient descent with optional momentum and Nesterov momentum."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from ..errors import InvalidParameterError
from .base import Optimizer
from .hyper import flag, nonnegative


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's momentum semantics.

    Update rule (t counts from 1; g = grad + weight_decay*theta)::

        momentum = 0:   theta <- theta - lr * g
        otherwise:      b_1 = g;  b_t = mu * b_{t-1} + (1 - dampening) * g
                        d = g + mu * b_t   if nesterov   else   d = b_t
                        theta <- theta - lr * d

    With dampening 0 and a constant lr this is the textbook momentum form
    ``v <- mu*v - lr*g; theta <- theta + v`` (``v = -lr*b``), just written
    without the learning rate inside the buffer (so changing lr mid-run takes
    effect at once).

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (>= 0).
        momentum: mu (>= 0).
        dampening: in [0, 1]; scales the gradient added to the buffer.
        weight_decay: L2 penalty coefficient (>= 0).
        nesterov: use Nesterov's look-ahead (needs momentum > 0, dampening 0).

    References:
        Polyak, "Some methods of speeding up the convergence of iteration
        methods", 1964. Sutskever, Martens, Dahl, Hinton, "On the importance of
        initialization and momentum in deep learning", ICML 2013.
    """

    hyperparameters = {
        "lr": nonnegative(0.01),
        "momentum": nonnegative(0.0),
        "dampening": nonnegative(0.0, max_val=1.0),
        "weight_decay": nonnegative(0.0),
        "nesterov": flag(False),
    }

    def _validate(self, hp: dict[str, Any]) -> None:
        super()._validate(hp)
        owner = type(self).__name__
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            raise InvalidParameterError(
                f"{owner}: nesterov=True requires momentum > 0 and dampening = 0. "
                f"Got momentum={hp['momentum']}, dampening={hp['dampening']}."
            )

    def _init_state(self, p) -> dict[str, Any]:
        if self._group_of(p)["momentum"] == 0:
            return {}
        return {"b": B.get_array_module(p.data).zeros_like(p.data)}

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        mu, damp = group["momentum"], group["dampening"]
        g = self._l2(p, g, group["weight_decay"])
        d, w = g, self._tmp(p, 1)
        if mu != 0:
            d = b = state["b"]
            if state["step"] == 1:
                b[...] = g
            else:
                b *= mu
                if damp == 0:
                    b += g
                else:
                    xp.multiply(g, 1.0 - damp, out=w)
                    b += w
            if group["nesterov"]:
                d = self._tmp(p)
                xp.multiply(b, mu, out=d)
                d += g
        xp.multiply(d, group["lr"], out=w)
        p.data -= w


class Momentum(SGD):
    """SGD with (heavy-ball) momentum: ``SGD(params, lr, momentum=0.9)``.

    ``b <- mu*b + g; theta <- theta - lr*b`` (b = g on the first step); equal
    to the book's ``v <- mu*v - lr*g; theta <- theta + v`` for a constant lr.
    """

    hyperparameters = {
        "lr": nonnegative(0.01),
        "momentum": nonnegative(0.9),
        "dampening": nonnegative(0.0, max_val=1.0, keyword_only=True),
        "weight_decay": nonnegative(0.0, keyword_only=True),
        "nesterov": flag(False, fixed=True),
    }


class Nesterov(SGD):
    """SGD with Nesterov momentum: ``SGD(params, lr, momentum=0.9, nesterov=True)``.

    ``b <- mu*b + g; theta <- theta - lr*(g + mu*b)`` (b = g on the first step).
    """

    hyperparameters = {
        **Momentum.hyperparameters,
        "dampening": nonnegative(0.0, fixed=True),
        "nesterov": flag(True, fixed=True),
    }
