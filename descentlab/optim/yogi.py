"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

import math
from typing import Any

from .. import backend as B
from .base import Optimizer, ParamsT, check_betas, check_hp


class Yogi(Optimizer):
    """Yogi, with Adam-style bias correction.

    Update rule (t counts from 1; g = grad + weight_decay*theta; m starts at 0,
    v at initial_accumulator_value)::

        m     <- beta1 * m + (1 - beta1) * g
        v     <- v - (1 - beta2) * sign(v - g^2) * g^2
        m_hat =  m / (1 - beta1^t);   v_hat = v / (1 - beta2^t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)

    Adam's ``v <- v + (1-beta2)(g^2 - v)`` can shrink v fast when gradients
    become small and rare, inflating the step; Yogi changes v by at most
    (1-beta2)*g^2 per step in either direction. The paper's Algorithm 2 shows
    no bias correction; like the common implementations (Keras/TF-Addons,
    torch-optimizer) this class applies Adam's correction, placed as in torch's
    Adam (eps added to sqrt(v_hat)), with the paper's defaults eps=1e-3 and
    v_0 = 1e-6.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (>= 0), default 1e-2.
        betas: (beta1, beta2), each in [0, 1).
        eps: (> 0) added to sqrt(v_hat), default 1e-3.
        weight_decay: L2 penalty coefficient (>= 0).
        initial_accumulator_value: v_0 (>= 0), default 1e-6.

    References:
        Zaheer, Reddi, Sachan, Kale, Kumar, "Adaptive methods for nonconvex
        optimization", NeurIPS 2018.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-3,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 1e-6,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
            ),
        )

    def _validate(self, hp: dict[str, Any]) -> None:
        super()._validate(hp)
        owner = type(self).__name__
        hp["betas"] = check_betas(owner, hp["betas"])
        hp["eps"] = check_hp(owner, "eps", hp["eps"], 0.0, None, "neither")
        hp["weight_decay"] = check_hp(owner, "weight_decay", hp["weight_decay"], 0.0)
        hp["initial_accumulator_value"] = check_hp(
            owner, "initial_accumulator_value", hp["initial_accumulator_value"], 0.0
        )

    def _init_state(self, p) -> dict[str, Any]:
        xp = B.get_array_module(p.data)
        v0 = self._group_of(p)["initial_accumulator_value"]
        return {"m": xp.zeros_like(p.data), "v": xp.full_like(p.data, v0)}

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        beta1, beta2 = group["betas"]
        t = state["step"]
        g = self._l2(p, g, group["weight_decay"])
        m, v, g2, w = state["m"], state["v"], self._tmp(p), self._tmp(p, 1)
        m *= beta1
        xp.multiply(g, 1.0 - beta1, out=w)
        m += w
        xp.multiply(g, g, out=g2)
        xp.subtract(v, g2, out=w)
        xp.sign(w, out=w)
        w *= g2
        w *= 1.0 - beta2
        v -= w
        xp.sqrt(v, out=w)
        w /= math.sqrt(1.0 - beta2**t)
        w += group["eps"]
        xp.divide(m, w, out=w)
        w *= group["lr"] / (1.0 - beta1**t)
        p.data -= w
