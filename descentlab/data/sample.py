"""The shipped 5,000-digit MNIST sample (package data, no download needed).

``mnist_sample.npz`` holds ``images`` uint8 (5000, 28, 28) and ``labels`` uint8
(5000,), 500 digits per class, *sorted by class* (shuffle before splitting; the
split helpers in :mod:`descentlab.data.split` do). Source: the MNIST database of
handwritten digits (Y. LeCun, C. Cortes, C. J. C. Burges), CC BY-SA 3.0; see
``MNIST_SOURCE.md`` beside the file.
"""

from __future__ import annotations

import functools
import io
import os
from importlib import resources
from typing import Any

import numpy as np

from ..errors import DataError
from .transforms import _prepare

SAMPLE_FILE = "mnist_sample.npz"
SAMPLE_SIZE = 5000
NUM_CLASSES = 10


def load_mnist_sample(
    *,
    normalize: bool = True,
    flatten: bool = False,
    one_hot: bool = False,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the 5,000 shipped MNIST digits (500 per class, sorted by class).

    Args:
        normalize: scale pixels to [0, 1] (needs a floating ``dtype``). With
            ``normalize=False`` pixels keep their 0-255 values, cast to
            ``dtype``: floats 0.0-255.0 by default, raw bytes with
            ``dtype=np.uint8``.
        flatten: return ``x: (5000, 784)`` instead of NCHW ``(5000, 1, 28, 28)``.
        one_hot: return ``y: (5000, 10)`` one-hot rows (dtype ``dtype`` when it
            is floating, else float32) instead of int64 class ids ``(5000,)``.
        dtype: dtype of ``x`` (float32 by default).

    Returns:
        ``(x, y)``: fresh arrays the caller may modify. The file is read once
        per process and kept in memory.

    Raises:
        DataError: the shipped file is missing or damaged (wrong keys, shapes,
            dtypes or label values).
        InvalidParameterError: ``normalize=True`` with a non-floating dtype.

    Example:
        >>> x, y = load_mnist_sample()
        >>> x.shape, x.dtype, y[:3]
        ((5000, 1, 28, 28), dtype('float32'), array([0, 0, 0]))
    """
    images, labels = _read_shipped_sample()
    return _prepare(
        images,
        labels,
        normalize_=normalize,
        flatten=flatten,
        one_hot=one_hot,
        dtype=dtype,
        num_classes=NUM_CLASSES,
        owner="load_mnist_sample",
    )


@functools.lru_cache(maxsize=1)
def _read_shipped_sample() -> tuple[np.ndarray, np.ndarray]:
    """Read and check the package file once; the arrays are made read-only."""
    resource = resources.files(__package__).joinpath(SAMPLE_FILE)
    try:
        data = resource.read_bytes()
    except OSError as exc:
        raise DataError(
            f"the shipped MNIST sample {SAMPLE_FILE!r} cannot be read from the "
            f"descentlab.data package ({exc}); reinstall descentlab."
        ) from exc
    images, labels = read_sample_npz(io.BytesIO(data), name=SAMPLE_FILE)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def read_sample_npz(
    source: str | os.PathLike | io.BytesIO,
    *,
    name: str | None = None,
    expected_count: int | None = SAMPLE_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Read an ``.npz`` with ``images`` uint8 (N, 28, 28) and ``labels`` uint8 (N,).

    Args:
        source: path or binary file object.
        name: how to call the file in error messages (defaults to the path).
        expected_count: required N, or None to accept any N >= 1.

    Returns:
        ``(images, labels)`` as stored.

    Raises:
        DataError: the file is not a readable .npz without pickles, or a key,
            shape, dtype or label value is not as described above.
    """
    name = name or str(source)
    try:
        with np.load(source, allow_pickle=False) as npz:
            missing = {"images", "labels"} - set(npz.files)
            if missing:
                raise DataError(
                    f"{name}: missing key(s) {sorted(missing)}; an MNIST sample "
                    f"file holds 'images' and 'labels'. Found {sorted(npz.files)}."
                )
            images, labels = npz["images"], npz["labels"]
    except DataError:
        raise
    except Exception as exc:  # BadZipFile, EOFError, ValueError (pickles), ...
        raise DataError(
            f"{name}: not a readable .npz file; it may be truncated or damaged "
            f"({type(exc).__name__}: {exc})."
        ) from exc
    n = images.shape[0] if images.ndim else 0
    want_n = "N" if expected_count is None else expected_count
    if (
        images.dtype != np.uint8
        or images.ndim != 3
        or images.shape[1:] != (28, 28)
        or n < 1
        or (expected_count is not None and n != expected_count)
    ):
        raise DataError(
            f"{name}: 'images' must be uint8 of shape ({want_n}, 28, 28). "
            f"Got {images.dtype} of shape {images.shape}."
        )
    if labels.dtype != np.uint8 or labels.shape != (n,):
        raise DataError(
            f"{name}: 'labels' must be uint8 of shape ({n},) to match 'images'. "
            f"Got {labels.dtype} of shape {labels.shape}."
        )
    if labels.max() >= NUM_CLASSES:
        raise DataError(
            f"{name}: labels must be digits 0-9. Got a maximum of {labels.max()}."
        )
    return images, labels
