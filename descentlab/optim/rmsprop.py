"""RMSProp: divide by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from ..errors import InvalidParameterError
from .base import Optimizer, ParamsT, check_hp


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

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
            ),
        )

    def _validate(self, hp: dict[str, Any]) -> None:
        super()._validate(hp)
        owner = type(self).__name__
        hp["alpha"] = check_hp(owner, "alpha", hp["alpha"], 0.0, 1.0, "left")
        hp["eps"] = check_hp(owner, "eps", hp["eps"], 0.0, None, "neither")
        hp["weight_decay"] = check_hp(owner, "weight_decay", hp["weight_decay"], 0.0)
        hp["momentum"] = check_hp(owner, "momentum", hp["momentum"], 0.0)
        if not isinstance(hp["centered"], bool):
            raise InvalidParameterError(
                f"{owner}: 'centered' must be a bool. Got {hp['centered']!r}."
            )

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
        v *= alpha
        xp.multiply(g, g, out=w)
        w *= 1.0 - alpha
        v += w
        if group["centered"]:
            gbar = state.setdefault("gbar", xp.zeros_like(p.data))
            gbar *= alpha
            xp.multiply(g, 1.0 - alpha, out=w)
            gbar += w
            xp.multiply(gbar, gbar, out=w)
            xp.subtract(v, w, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(v, out=avg)
        avg += group["eps"]
        xp.divide(g, avg, out=w)
        if mu > 0:
            b = state.setdefault("b", xp.zeros_like(p.data))
            b *= mu
            b += w
            xp.multiply(b, group["lr"], out=w)
        else:
            w *= group["lr"]
        p.data -= w


RMSprop = RMSProp
