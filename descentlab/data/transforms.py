"""Array preparation shared by every data set: scaling, flattening, one-hot labels.

All loaders return images as NCHW arrays ``x: (N, 1, 28, 28)`` (or ``(N, 784)``
when flattened) and labels as int64 class ids ``y: (N,)`` (or one-hot
``(N, num_classes)``).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._validation import check_scalar
from ..errors import InvalidParameterError


def normalize(images: Any, *, dtype: Any = np.float32) -> np.ndarray:
    """Scale 8-bit pixel values to [0, 1]: ``x = images / 255``.

    Args:
        images: array of any shape holding values 0-255 (usually uint8).
        dtype: floating dtype of the result (float32 by default).

    Returns:
        A new array of the same shape and the given dtype, values in [0, 1].

    Raises:
        InvalidParameterError: ``dtype`` is not a floating dtype.
    """
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise InvalidParameterError(
            f"normalize: 'dtype' must be a floating dtype. Got {dt}."
        )
    out = np.asarray(images).astype(dt, copy=True)
    out *= dt.type(1.0 / 255.0)
    return out


def to_one_hot(y: Any, num_classes: int, *, dtype: Any = np.float32) -> np.ndarray:
    """Encode integer class ids as one-hot rows.

    ``Y[i, y[i]] = 1`` and every other entry is 0.

    Args:
        y: class ids, shape ``(N,)``, integers in ``[0, num_classes)``.
        num_classes: number of classes K (>= 1).
        dtype: dtype of the result (float32 by default).

    Returns:
        Array of shape ``(N, K)``.

    Raises:
        InvalidParameterError: ``y`` is not 1-D integers, or an id is outside
            ``[0, num_classes)``.
    """
    check_scalar(
        num_classes, "num_classes", numbers.Integral, min_val=1, owner="to_one_hot"
    )
    y = np.asarray(y)
    if y.ndim != 1 or not (y.dtype.kind in "iu" or y.size == 0):
        raise InvalidParameterError(
            "to_one_hot: 'y' must be a 1-D array of integer class ids. "
            f"Got shape {y.shape} and dtype {y.dtype}."
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise InvalidParameterError(
            f"to_one_hot: class ids must be in [0, {num_classes}). "
            f"Got values from {y.min()} to {y.max()}."
        )
    out = np.zeros((y.shape[0], int(num_classes)), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def _prepare(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    normalize_: bool,
    flatten: bool,
    one_hot: bool,
    dtype: Any,
    num_classes: int = 10,
    owner: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn raw ``images: (N, H, W)`` uint8 and ``labels: (N,)`` into (x, y).

    ``x`` is ``(N, 1, H, W)``, or ``(N, H*W)`` when ``flatten``; it is scaled to
    [0, 1] when ``normalize_`` (a floating ``dtype`` is then required), else
    cast to ``dtype`` with values 0-255 (``dtype=np.uint8`` keeps raw bytes).
    ``y`` is int64 class ids, or one-hot of dtype ``dtype`` (float32 when
    ``dtype`` is not floating) when ``one_hot``. Always returns new arrays.
    """
    dt = np.dtype(dtype)
    if normalize_ and dt.kind != "f":
        raise InvalidParameterError(
            f"{owner}: normalize=True needs a floating 'dtype'. Got {dt}; pass "
            "normalize=False to keep 0-255 values in an integer dtype."
        )
    n = images.shape[0]
    shape = (n, -1) if flatten else (n, 1) + tuple(images.shape[1:])
    if normalize_:
        x = normalize(images, dtype=dt).reshape(shape)
    else:
        x = images.astype(dt, copy=True).reshape(shape)
    y = labels.astype(np.int64)
    if one_hot:
        y = to_one_hot(y, num_classes, dtype=dt if dt.kind == "f" else np.float32)
    return x, y
