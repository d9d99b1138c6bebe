"""Gradient clipping by total norm and by value (in place, before ``step()``)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from .. import backend as B
from .._validation import check_scalar
from ..errors import InvalidParameterError, NonFiniteError
from ..nn.module import Parameter


def _grads(params: Parameter | Iterable[Parameter], owner: str) -> list[Any]:
    if isinstance(params, Parameter):
        params = [params]
    grads = []
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise InvalidParameterError(
                f"{owner}: 'params' must be Parameters; entry {i} is "
                f"{type(p).__name__}."
            )
        if p.grad is not None:
            grads.append(p.grad)
    return grads


def clip_grad_norm(
    params: Parameter | Iterable[Parameter],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Rescale all gradients together so that their total norm is at most max_norm.

    ::

        norm = || (||g_1||_p, ||g_2||_p, ...) ||_p      (p = norm_type; inf: max |g|)
        coef = min(1, max_norm / (norm + 1e-6));   g_i <- coef * g_i

    The direction of the full gradient is kept. Parameters whose grad is None
    are skipped.

    Args:
        params: a Parameter or an iterable of Parameters (e.g. model.parameters()).
        max_norm: the largest allowed total norm (>= 0).
        norm_type: p > 0 of the p-norm, or ``float("inf")`` / ``"inf"``.
        error_if_nonfinite: raise instead of scaling when the norm is NaN/inf.

    Returns:
        The total norm *before* clipping, as a float.

    Raises:
        NonFiniteError: the norm is NaN or infinite and ``error_if_nonfinite``.

    References:
        Pascanu, Mikolov, Bengio, "On the difficulty of training recurrent
        neural networks", ICML 2013.
    """
    owner = "clip_grad_norm"
    check_scalar(max_norm, "max_norm", numbers.Real, min_val=0.0, owner=owner)
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        norm_type = math.inf
    check_scalar(
        norm_type,
        "norm_type",
        numbers.Real,
        min_val=0.0,
        include_boundaries="right",
        max_val=math.inf,
        owner=owner,
    )
    grads = _grads(params, owner)
    if not grads:
        return 0.0
    xp = B.get_array_module(grads[0])
    if math.isinf(norm_type):
        norm = max(float(xp.max(xp.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        norm = math.sqrt(sum(float(xp.vdot(g.ravel(), g.ravel())) for g in grads))
    else:
        norm = sum(float(xp.sum(xp.abs(g) ** norm_type)) for g in grads) ** (
            1.0 / norm_type
        )
    if not math.isfinite(norm) and error_if_nonfinite:
        raise NonFiniteError(
            f"{owner}: the total gradient norm of order {norm_type} is {norm}; "
            "refusing to clip. Pass error_if_nonfinite=False to scale anyway."
        )
    coef = max_norm / (norm + 1e-6)
    if not coef >= 1.0:  # also true when coef is NaN, as in torch
        for g in grads:
            g *= coef
    return norm


def clip_grad_value(params: Parameter | Iterable[Parameter], clip_value: float) -> None:
    """Clip every gradient element into ``[-clip_value, clip_value]`` in place.

    Args:
        params: a Parameter or an iterable of Parameters.
        clip_value: the largest allowed magnitude (>= 0).
    """
    owner = "clip_grad_value"
    c = float(
        check_scalar(clip_value, "clip_value", numbers.Real, min_val=0.0, owner=owner)
    )
    for g in _grads(params, owner):
        B.get_array_module(g).clip(g, -c, c, out=g)
