"""Loss landscapes: filter-normalized directions, lines, surfaces, interpolation.

A direction d is a flat vector in parameter space (order of ``model.parameters()``).
Filter normalization (Li et al. 2018) rescales each filter of d to the norm of the
same filter in the weights::

    d_(i,j) <- d_(i,j) / ||d_(i,j)|| * ||theta_(i,j)||

where a filter is one output unit: a row of a Linear weight [out, in] or one
output channel of a Conv2d weight [out, in, kH, kW]. Scaling a ReLU layer's
filters by c > 0 and the next layer's weights by 1/c leaves the network function
unchanged; with filter-normalized directions it leaves the whole plotted curve
unchanged too, so the curvature seen does not depend on such rescalings (plain
Gaussian directions do depend on them). One-dimensional parameters (biases,
BatchNorm's gamma and beta) get a zero direction unless ``biases=True``; then
each one is normalized as a single filter.

All losses are evaluated in **evaluation mode** (BatchNorm running statistics,
no Dropout) in the model's own dtype; the weights are put back exactly
afterwards.

References:
    Li, Xu, Taylor, Studer, Goldstein, "Visualizing the loss landscape of neural
    nets", NeurIPS 2018.
    Goodfellow, Vinyals, Saxe, "Qualitatively characterizing neural network
    optimization problems", ICLR 2015 (linear interpolation).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend as B
from .._validation import check_option
from ..errors import InvalidParameterError
from . import _params as P

NORMS = ("filter", "layer", "none")


def random_direction(
    model: Any, rng: np.random.Generator, norm: str = "filter", *, biases: bool = False
) -> np.ndarray:
    """A random direction (P,) float64: N(0, 1) entries, then normalized.

    Args:
        rng: the Generator drawn from (one standard normal per parameter entry,
            in parameter order, whatever ``norm`` and ``biases`` say).
        norm: "filter" (per output unit, as above), "layer" (each parameter
            tensor scaled to the norm of that tensor) or "none" (raw Gaussian).
        biases: give 1-D parameters (biases, BN gamma/beta) a direction too; by
            default theirs is zero.
    """
    owner = "random_direction"
    params = P.check_model(model, owner)
    check_option(norm, "norm", NORMS, owner=owner)
    if not isinstance(rng, np.random.Generator):
        raise InvalidParameterError(
            f"{owner}: 'rng' must be a numpy.random.Generator "
            "(np.random.default_rng(seed)). "
            f"Got {type(rng).__name__}."
        )
    parts = []
    for p in params:
        w = B.to_numpy(p.data).astype(np.float64)
        d = rng.standard_normal(w.shape)
        if w.ndim <= 1 and not biases:
            d[...] = 0.0
        elif norm == "filter":
            rows_d = d.reshape(len(d), -1) if w.ndim >= 2 else d.reshape(1, -1)
            rows_w = w.reshape(len(w), -1) if w.ndim >= 2 else w.reshape(1, -1)
            nd = np.linalg.norm(rows_d, axis=1, keepdims=True)
            nw = np.linalg.norm(rows_w, axis=1, keepdims=True)
            d = (rows_d * (nw / np.where(nd == 0, 1.0, nd))).reshape(w.shape)
        elif norm == "layer":
            nd = np.linalg.norm(d)
            d = d * (np.linalg.norm(w) / (nd if nd else 1.0))
        parts.append(d.ravel())
    return np.concatenate(parts)


def _evaluator(model, loss, x, y, batch_size, owner):
    params = P.check_model(model, owner)
    P.check_data(x, y, owner)
    bs = P.check_batch_size(batch_size, owner)
    theta = P.get_vector(params)
    originals = [p.data.copy() for p in params]

    def at(vec: np.ndarray) -> float:
        P.set_vector(params, vec)
        return P.mean_loss(model, loss, x, y, bs)

    def restore() -> None:
        for p, w in zip(params, originals, strict=True):
            p.data[...] = w

    return params, theta, at, restore


def _alphas(values: Any, name: str, owner: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise InvalidParameterError(
            f"{owner}: {name!r} must be a non-empty list of finite numbers."
        )
    return a


def loss_line(
    model: Any,
    loss: Any,
    x: Any,
    y: Any,
    d: Any,
    alphas: Sequence[float] | np.ndarray,
    *,
    batch_size: int = 1000,
) -> np.ndarray:
    """L(theta + alpha d) for each alpha, shape (len(alphas),).

    At alpha = 0 the weights are exactly theta, and with ``batch_size >= len(x)``
    the value is exactly ``loss.forward(model.forward(x), y)`` in eval mode.
    """
    owner = "loss_line"
    params, theta, at, restore = _evaluator(model, loss, x, y, batch_size, owner)
    d = P.check_vector(d, theta.size, "d", owner)
    a = _alphas(alphas, "alphas", owner)
    try:
        with P.eval_mode(model), np.errstate(over="ignore", invalid="ignore"):
            return np.array([at(theta + alpha * d) for alpha in a])
    finally:
        restore()


def loss_surface(
    model: Any,
    loss: Any,
    x: Any,
    y: Any,
    d1: Any,
    d2: Any,
    alphas: Sequence[float] | np.ndarray,
    betas: Sequence[float] | np.ndarray,
    *,
    batch_size: int = 1000,
) -> np.ndarray:
    """Z[i, j] = L(theta + alphas[j] d1 + betas[i] d2), shape (len(betas), len(alphas)).

    Rows follow betas and columns alphas, so ``ax.contour(alphas, betas, Z)`` draws it.
    """
    owner = "loss_surface"
    params, theta, at, restore = _evaluator(model, loss, x, y, batch_size, owner)
    d1 = P.check_vector(d1, theta.size, "d1", owner)
    d2 = P.check_vector(d2, theta.size, "d2", owner)
    a, b = _alphas(alphas, "alphas", owner), _alphas(betas, "betas", owner)
    Z = np.empty((b.size, a.size))
    try:
        with P.eval_mode(model), np.errstate(over="ignore", invalid="ignore"):
            for i, beta in enumerate(b):
                for j, alpha in enumerate(a):
                    Z[i, j] = at(theta + alpha * d1 + beta * d2)
    finally:
        restore()
    return Z


def interpolate(
    model_a: Any,
    model_b: Any,
    alphas: Sequence[float] | np.ndarray,
    loss: Any,
    x: Any,
    y: Any,
    *,
    batch_size: int = 1000,
) -> np.ndarray:
    """L((1 - alpha) A + alpha B) for each alpha, weights *and* buffers interpolated.

    Every floating entry of the state dict (parameters, BatchNorm running mean and
    variance) is mixed as (1 - alpha) s_A + alpha s_B, so at alpha = 1 the model
    is exactly B (and at 0 exactly A); integer buffers (``num_batches_tracked``)
    come from the nearer end. Evaluated in eval mode on a copy; neither model changes.
    """
    owner = "interpolate"
    P.check_model(model_a, owner)
    P.check_model(model_b, owner)
    P.check_data(x, y, owner)
    bs = P.check_batch_size(batch_size, owner)
    sa, sb = model_a.state_dict(), model_b.state_dict()
    if list(sa) != list(sb) or any(sa[k].shape != sb[k].shape for k in sa):
        raise InvalidParameterError(
            f"{owner}: model_a and model_b must have the same architecture (state-dict "
            "keys and shapes); they differ."
        )
    a = _alphas(alphas, "alphas", owner)
    work = copy.deepcopy(model_a)
    work.eval()
    out = np.empty(a.size)
    with np.errstate(over="ignore", invalid="ignore"):
        for i, alpha in enumerate(a):
            mixed = {}
            for k in sa:
                if sa[k].dtype.kind == "f":
                    mixed[k] = (1.0 - alpha) * sa[k] + alpha * sb[k]
                else:
                    mixed[k] = sb[k] if alpha >= 0.5 else sa[k]
            work.load_state_dict(mixed)
            out[i] = P.mean_loss(work, loss, x, y, bs)
    return out
