"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

from typing import Any

from .. import backend as B
from .adam import Adam
from .hyper import nonnegative, positive


class Yogi(Adam):
    """Yogi, with Adam-style bias correction.

    Update rule (t counts from 1; g = grad + weight_decay*theta; m starts at 0,
    v at initial_accumulator_value)::

        m     <- beta1 * m + (1 - beta1) * g
        v     <- v - (1 - beta2) * sign(v - g^2) * g^2
        m_hat =  m / (1 - beta1^t);   v_hat = v / (1 - beta2^t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)

    Adam's ``v <- v + (1-beta2)(g^2 - v)`` can shrink v fast when gradients
    become small and rare, inflating the step; Yogi changes v by at most
    (1-beta2)*g^2 per step in either direction. Only that line differs from
    Adam (``_second_moment``). The paper's Algorithm 2 shows no bias
    correction; like the common implementations (Keras/TF-Addons,
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

    hyperparameters = {
        **{k: h for k, h in Adam.hyperparameters.items() if k != "amsgrad"},
        "lr": nonnegative(1e-2),
        "eps": positive(1e-3),
        "initial_accumulator_value": nonnegative(1e-6),
    }

    def _init_state(self, p) -> dict[str, Any]:
        xp = B.get_array_module(p.data)
        v0 = self._group_of(p)["initial_accumulator_value"]
        return {"m": xp.zeros_like(p.data), "v": xp.full_like(p.data, v0)}

    def _second_moment(self, p, g, v, beta2: float) -> None:
        """``v <- v - (1 - beta2) * sign(v - g^2) * g^2`` in place."""
        xp = B.get_array_module(g)
        g2, w = self._tmp(p), self._tmp(p, 1)
        xp.multiply(g, g, out=g2)
        xp.subtract(v, g2, out=w)
        xp.sign(w, out=w)
        w *= g2
        w *= 1.0 - beta2
        v -= w
