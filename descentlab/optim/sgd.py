"""Stochastic gradient descent with optional momentum and Nesterov momentum."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from ..errors import InvalidParameterError
from .base import Optimizer, ParamsT, check_hp


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

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
            ),
        )

    def _validate(self, hp: dict[str, Any]) -> None:
        super()._validate(hp)
        owner = type(self).__name__
        hp["momentum"] = check_hp(owner, "momentum", hp["momentum"], 0.0)
        hp["dampening"] = check_hp(owner, "dampening", hp["dampening"], 0.0, 1.0)
        hp["weight_decay"] = check_hp(owner, "weight_decay", hp["weight_decay"], 0.0)
        if not isinstance(hp["nesterov"], bool):
            raise InvalidParameterError(
                f"{owner}: 'nesterov' must be a bool. Got {hp['nesterov']!r}."
            )
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            raise InvalidParameterError(
                f"{owner}: nesterov=True requires momentum > 0 and dampening = 0. "
                f"Got momentum={hp['momentum']}, dampening={hp['dampening']}."
            )

    def _update(self, p, g, state, group) -> None:
        mu, damp = group["momentum"], group["dampening"]
        g = self._l2(p, g, group["weight_decay"])
        d = g
        if mu != 0:
            b = state.get("b")
            if b is None:
                b = state["b"] = B.get_array_module(g).array(g, copy=True)
            else:
                b *= mu
                if damp == 0:
                    b += g
                else:
                    b += (1.0 - damp) * g
            d = b
            if group["nesterov"]:
                d = self._tmp(p)
                B.get_array_module(g).multiply(b, mu, out=d)
                d += g
        w = self._tmp(p, 1)
        B.get_array_module(g).multiply(d, group["lr"], out=w)
        p.data -= w


class Momentum(SGD):
    """SGD with (heavy-ball) momentum: ``SGD(params, lr, momentum=0.9)``.

    ``b <- mu*b + g; theta <- theta - lr*b`` (b = g on the first step); equal
    to the book's ``v <- mu*v - lr*g; theta <- theta + v`` for a constant lr.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.01,
        momentum: float = 0.9,
        *,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
    ):
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=False,
        )


class Nesterov(SGD):
    """SGD with Nesterov momentum: ``SGD(params, lr, momentum=0.9, nesterov=True)``.

    ``b <- mu*b + g; theta <- theta - lr*(g + mu*b)`` (b = g on the first step).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.01,
        momentum: float = 0.9,
        *,
        weight_decay: float = 0.0,
    ):
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=0.0,
            weight_decay=weight_decay,
            nesterov=True,
        )
