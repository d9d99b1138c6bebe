"""Shared plumbing of the diagnostics: parameter vectors and full-data loss/gradient.

A model's parameters, in the order of ``model.parameters()``, are seen as one flat
vector theta of length P (float64); a direction ``d`` in parameter space is a flat
vector of the same length. ``loss_and_grad`` evaluates

    L(theta) = (1/N) sum_n l(f(x_n; theta), y_n)        and        grad L(theta)

over all N samples, in chunks of ``batch_size`` (each chunk's mean weighted by
its share of N), so memory stays bounded while the value is the full-data mean.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .. import backend as B
from .._validation import check_scalar
from ..errors import InvalidParameterError, NonFiniteError
from ..nn.module import Module, Parameter


def check_model(model: Any, owner: str) -> list[Parameter]:
    """The model's parameters; InvalidParameterError if it is no Module or has none."""
    if not isinstance(model, Module):
        raise InvalidParameterError(
            f"{owner}: 'model' must be a descentlab Module. Got {type(model).__name__}."
        )
    params = model.parameters()
    if not params:
        raise InvalidParameterError(
            f"{owner}: the model ({type(model).__name__}) has no parameters; there is "
            "nothing to differentiate or perturb."
        )
    return params


def check_data(x: Any, y: Any, owner: str) -> None:
    """x and y hold the same number (>= 1) of samples."""
    nx, ny = len(x), len(y)
    if nx == 0 or nx != ny:
        raise InvalidParameterError(
            f"{owner}: x and y must hold the same number (at least 1) of samples. "
            f"Got len(x)={nx}, len(y)={ny}."
        )


def check_batch_size(batch_size: Any, owner: str) -> int:
    check_scalar(batch_size, "batch_size", numbers.Integral, min_val=1, owner=owner)
    return int(batch_size)


def num_params(params: list[Parameter]) -> int:
    return sum(p.size for p in params)


def get_vector(params: list[Parameter]) -> np.ndarray:
    """theta as one float64 vector (a copy)."""
    return np.concatenate(
        [B.to_numpy(p.data).astype(np.float64).ravel() for p in params]
    )


def set_vector(params: list[Parameter], theta: np.ndarray) -> None:
    """Write ``theta`` into the parameters in place (cast to each one's dtype)."""
    start = 0
    for p in params:
        n = p.size
        chunk = theta[start : start + n].reshape(p.shape)
        p.data[...] = B.get_array_module(p.data).asarray(chunk, dtype=p.data.dtype)
        start += n


def split_vector(params: list[Parameter], v: np.ndarray) -> list[np.ndarray]:
    """Views of ``v`` shaped like each parameter."""
    out, start = [], 0
    for p in params:
        out.append(v[start : start + p.size].reshape(p.shape))
        start += p.size
    return out


def check_vector(v: Any, size: int, name: str, owner: str) -> np.ndarray:
    """``v`` as a finite float64 vector of length ``size``."""
    arr = np.asarray(B.to_numpy(v) if hasattr(v, "shape") else v, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != size:
        raise InvalidParameterError(
            f"{owner}: {name!r} must be a flat vector of the model's {size} parameters "
            f"(shape ({size},)). Got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{owner}: {name!r} has non-finite entries.")
    return arr


@contextmanager
def eval_mode(model: Module) -> Iterator[Module]:
    """Evaluation mode inside the block; each module's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)


def float64_copy(model: Module) -> Module:
    """A deep float64 copy of ``model`` in evaluation mode (the original untouched)."""
    m = copy.deepcopy(model)
    m.astype(np.float64)
    m.eval()
    return m


def _chunks(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def mean_loss(model: Module, loss: Any, x: Any, y: Any, batch_size: int) -> float:
    """L = (1/N) sum_n l_n with the model as it is (call inside ``eval_mode``).

    With ``batch_size >= N`` this is exactly ``loss.forward(model.forward(x), y)``.
    """
    n = len(x)
    if batch_size >= n:
        return float(loss.forward(model.forward(_input(model, x)), y))
    total = 0.0
    for s in _chunks(n, batch_size):
        xb = _input(model, x[s])
        total += float(loss.forward(model.forward(xb), y[s])) * (s.stop - s.start)
    return total / n


def loss_and_grad(
    model: Module, params: list[Parameter], loss: Any, x: Any, y: Any, batch_size: int
) -> tuple[float, np.ndarray]:
    """(L, grad L) over all samples as float64; gradients zeroed first."""
    n = len(x)
    for p in params:
        p.zero_grad()
    total = 0.0
    for s in _chunks(n, batch_size):
        weight = (s.stop - s.start) / n
        out = model.forward(_input(model, x[s]))
        total += float(loss.forward(out, y[s])) * weight
        dout = loss.backward()
        model.backward(dout * dout.dtype.type(weight) if weight != 1.0 else dout)
    return total, get_grad(params)


def get_grad(params: list[Parameter]) -> np.ndarray:
    return np.concatenate(
        [B.to_numpy(p.grad).astype(np.float64).ravel() for p in params]
    )


def _input(model: Module, xb: Any) -> Any:
    """The batch in the model's floating dtype (the first parameter's)."""
    dtype = model.parameters()[0].data.dtype
    xb = B.get_array_module(xb).asarray(xb) if hasattr(xb, "dtype") else np.asarray(xb)
    return xb.astype(dtype, copy=False) if xb.dtype != dtype else xb


def check_finite_loss(value: float, owner: str, where: str) -> float:
    if not math.isfinite(value):
        raise NonFiniteError(
            f"{owner}: the loss is not finite ({value}) {where}; check the model's "
            "weights and the data (inputs scaled, labels valid)."
        )
    return value


def skip_data_grad(model: Module) -> None:
    """On a private copy: let the layer fed with the data skip dx (never used here)."""
    from ..train.trainer import _data_layer  # noqa: PLC0415

    first = _data_layer(model)
    if first is not None:
        first.input_grad = False
