"""Losses: fused softmax + cross-entropy, and mean squared error.

SoftmaxCrossEntropy (stable: subtract the row max before exp):
  p = softmax(z);  L = -(1/N) Σ_n Σ_k t_nk log p_nk
  dL/dz = (p Σ_k t_nk - t) / N, i.e. (p - t) / N when each target row sums to 1
           (t one-hot from integer labels, or given as (N, K) targets, as torch)
MSELoss (torch's mean reduction):
  L = mean((y - t)^2);  dL/dy = 2 (y - t) / numel
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend as B
from .._validation import check_array
from ..errors import ShapeError


class SoftmaxCrossEntropy:
    """``loss.forward(logits, y) -> float``; ``loss.backward() -> dlogits``.

    logits: (N, K). y: integer class ids (N,) in [0, K), or one-hot / soft
    targets (N, K).
    """

    #: the Trainer reports accuracy for classification losses only
    classification = True

    def __init__(self) -> None:
        self._cache: tuple[Any, int] | None = None
        self.probs: Any = None

    def __call__(self, logits, y) -> float:
        return self.forward(logits, y)

    def forward(self, logits, y) -> float:
        check_array(
            logits, "logits", owner="SoftmaxCrossEntropy.forward", floating=True
        )
        if logits.ndim != 2:
            raise ShapeError(
                "SoftmaxCrossEntropy.forward: logits must have shape (N, K); got "
                f"{tuple(logits.shape)}."
            )
        xp = B.get_array_module(logits)
        n, k = logits.shape
        y = xp.asarray(y)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        sum_e = e.sum(axis=1, keepdims=True)
        log_probs = shifted - xp.log(sum_e)
        if y.ndim == 1:
            if y.shape[0] != n:
                raise ShapeError(
                    f"SoftmaxCrossEntropy.forward: labels have shape {tuple(y.shape)} "
                    f"but logits have shape {tuple(logits.shape)}; expected ({n},) "
                    f"class ids or ({n}, {k}) targets."
                )
            if y.dtype.kind not in "iu":
                raise TypeError(
                    "SoftmaxCrossEntropy.forward: 1-D labels must be integer class "
                    f"ids; got dtype {y.dtype}."
                )
            if n and (int(y.min()) < 0 or int(y.max()) >= k):
                raise ValueError(
                    f"SoftmaxCrossEntropy.forward: labels must be in [0, {k - 1}]; "
                    f"got values from {int(y.min())} to {int(y.max())}."
                )
            loss = -log_probs[xp.arange(n), y].mean()
        elif y.shape == logits.shape:
            loss = -(y * log_probs).sum() / n
        else:
            raise ShapeError(
                f"SoftmaxCrossEntropy.forward: targets have shape {tuple(y.shape)} but "
                f"logits have shape {tuple(logits.shape)}; expected ({n},) or "
                f"({n}, {k})."
            )
        self.probs = e / sum_e
        self._cache = (y, n)
        return float(loss)

    def backward(self):
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward() called before forward()")
        y, n = self._cache
        grad = self.probs.copy()
        if y.ndim == 1:
            xp = B.get_array_module(grad)
            grad[xp.arange(n), y] -= 1
        else:  # dL/dz = p Σ_k t - t, which is p - t when each target row sums to 1
            t = y.astype(grad.dtype, copy=False)
            grad *= t.sum(axis=1, keepdims=True)
            grad -= t
        grad /= n
        return grad


class MSELoss:
    """``loss.forward(y, t) -> float``: mean((y - t)^2).

    ``backward() -> 2 (y - t) / numel``.
    """

    classification = False

    def __init__(self) -> None:
        self._cache = None

    def __call__(self, y, t) -> float:
        return self.forward(y, t)

    def forward(self, y, t) -> float:
        check_array(y, "y", owner="MSELoss.forward", floating=True)
        t = B.get_array_module(y).asarray(t)
        if tuple(y.shape) != tuple(t.shape):
            raise ShapeError(
                f"MSELoss.forward: prediction shape {tuple(y.shape)} and target shape "
                f"{tuple(t.shape)} differ; they must be equal."
            )
        diff = y - t.astype(y.dtype, copy=False)
        self._cache = diff
        return float((diff * diff).mean())

    def backward(self):
        if self._cache is None:
            raise RuntimeError("MSELoss.backward() called before forward()")
        diff = self._cache
        return diff * diff.dtype.type(2.0 / diff.size)


def accuracy(logits: Any, y: Any) -> float:
    """Fraction of rows whose arg-max equals the label (class ids or one-hot)."""
    pred = B.to_numpy(logits).argmax(axis=1)
    y = B.to_numpy(y)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    return float(np.mean(pred == y)) if len(y) else float("nan")
