"""Adam and its variants AdamW (decoupled weight decay) and NAdam (Nesterov)."""

from __future__ import annotations

import math
from typing import Any

from .. import backend as B
from .base import Optimizer, ema_
from .hyper import betas, flag, nonnegative, positive


class Adam(Optimizer):
    """Adam, with PyTorch's semantics (including ``amsgrad``).

    Update rule (t counts from 1; g = grad + weight_decay*theta; m, v start at 0)::

        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g^2
        amsgrad:  v_max <- max(v_max, v);  use v_max in place of v below
        m_hat =  m / (1 - beta1^t);   v_hat = v / (1 - beta2^t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (>= 0).
        betas: (beta1, beta2), each in [0, 1).
        eps: (> 0) added to sqrt(v_hat).
        weight_decay: L2 penalty coefficient (>= 0), added to the gradient.
        amsgrad: keep the running maximum of v (never increase the step size).

    Subclasses change one hook: ``_decay`` (AdamW), ``_second_moment`` (Yogi).

    References:
        Kingma, Ba, "Adam: a method for stochastic optimization", ICLR 2015.
        Reddi, Kale, Kumar, "On the convergence of Adam and beyond", ICLR 2018.
    """

    hyperparameters = {
        "lr": nonnegative(1e-3),
        "betas": betas((0.9, 0.999)),
        "eps": positive(1e-8),
        "weight_decay": nonnegative(0.0),
        "amsgrad": flag(False),
    }

    def _init_state(self, p) -> dict[str, Any]:
        xp = B.get_array_module(p.data)
        state = {"m": xp.zeros_like(p.data), "v": xp.zeros_like(p.data)}
        if self._group_of(p).get("amsgrad"):
            state["v_max"] = xp.zeros_like(p.data)
        return state

    def _decay(self, p, g, group) -> Any:
        """Return the gradient to use; AdamW overrides this to decay theta instead."""
        return self._l2(p, g, group["weight_decay"])

    def _second_moment(self, p, g, v, beta2: float) -> None:
        """``v <- beta2 * v + (1 - beta2) * g^2`` in place."""
        g2 = self._tmp(p, 1)
        B.get_array_module(g).multiply(g, g, out=g2)
        ema_(v, g2, beta2, out=g2)

    def _moments(self, p, g, state, group) -> Any:
        """Decay, then update m and v in place; return the gradient used."""
        beta1, beta2 = group["betas"]
        g = self._decay(p, g, group)
        ema_(state["m"], g, beta1, out=self._tmp(p, 1))
        self._second_moment(p, g, state["v"], beta2)
        return g

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        beta1, beta2 = group["betas"]
        t = state["step"]
        self._moments(p, g, state, group)
        v = state["v"]
        if group.get("amsgrad"):
            v = state["v_max"]
            xp.maximum(v, state["v"], out=v)
        w = self._tmp(p)
        xp.sqrt(v, out=w)
        w /= math.sqrt(1.0 - beta2**t)
        w += group["eps"]
        xp.divide(state["m"], w, out=w)
        w *= group["lr"] / (1.0 - beta1**t)
        p.data -= w


class AdamW(Adam):
    """Adam with decoupled weight decay (default weight_decay=1e-2).

    Before the Adam step, ``theta <- theta * (1 - lr * weight_decay)``; the
    gradient itself is not changed. With L2 (``Adam(weight_decay=...)``) the
    decay term ``wd*theta`` passes through the adaptive scaling ``1/sqrt(v_hat)``,
    so weights with large gradients are decayed less; AdamW decays every
    weight at the same relative rate, as SGD's weight decay does.

    References:
        Loshchilov, Hutter, "Decoupled weight decay regularization", ICLR 2019.
    """

    hyperparameters = {**Adam.hyperparameters, "weight_decay": nonnegative(1e-2)}

    def _decay(self, p, g, group) -> Any:
        if group["weight_decay"] != 0:
            p.data *= 1.0 - group["lr"] * group["weight_decay"]
        return g


class NAdam(Adam):
    """NAdam (Adam with Nesterov momentum), with PyTorch's ``NAdam`` semantics.

    Update rule (t from 1; g = grad + weight_decay*theta; psi = momentum_decay)::

        mu_t   = beta1 * (1 - 0.5 * 0.96^(t * psi))      (momentum schedule)
        P_t    = mu_1 * mu_2 * ... * mu_t                 (state "mu_product")
        m, v   updated as in Adam;   v_hat = v / (1 - beta2^t)
        d      = (1 - mu_t) / (1 - P_t) * g + mu_{t+1} / (1 - P_t * mu_{t+1}) * m
        theta <- theta - lr * d / (sqrt(v_hat) + eps)

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (>= 0), default 2e-3.
        betas: (beta1, beta2), each in [0, 1).
        eps: (> 0) added to sqrt(v_hat).
        weight_decay: L2 penalty coefficient (>= 0).
        momentum_decay: psi (>= 0), default 4e-3.

    References:
        Dozat, "Incorporating Nesterov momentum into Adam", ICLR workshop 2016.
    """

    hyperparameters = {
        **{k: h for k, h in Adam.hyperparameters.items() if k != "amsgrad"},
        "lr": nonnegative(2e-3),
        "momentum_decay": nonnegative(4e-3),
    }

    def _init_state(self, p) -> dict[str, Any]:
        return {**super()._init_state(p), "mu_product": 1.0}

    def _update(self, p, g, state, group) -> None:
        xp = B.get_array_module(p.data)
        beta1, beta2 = group["betas"]
        t, psi = state["step"], group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        prod = state["mu_product"]
        g = self._moments(p, g, state, group)
        denom, w, wm = self._tmp(p), self._tmp(p, 1), self._tmp(p, 2)
        xp.divide(state["v"], 1.0 - beta2**t, out=denom)
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        xp.multiply(g, (1.0 - mu) / (1.0 - prod), out=w)
        xp.multiply(state["m"], mu_next / (1.0 - prod * mu_next), out=wm)
        w += wm
        w /= denom
        w *= group["lr"]
        p.data -= w
