"""Seeded, stratified, shuffled splits into disjoint train/validation/test sets.

Every split draws from ``np.random.default_rng(seed)``: one permutation per
class (classes in sorted order), then the parts are taken in order (test,
validation, train), each class giving its share by largest-remainder rounding of
``n_part * class_count / pool_size``, and finally each part is shuffled. So the
same seed always gives the same split, the test set does not depend on how
many training samples are asked for, and parts never share a sample.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_scalar
from ..errors import InvalidParameterError
from .sample import load_mnist_sample

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Splits:
    """Disjoint ``(x, y)`` pairs; ``val`` is None when no validation was asked for."""

    train: Pair
    val: Pair | None
    test: Pair


def train_val_split(
    x: Any,
    y: Any,
    val_fraction: float | None = None,
    *,
    n_val: int | None = None,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[Pair, Pair]:
    """Split ``(x, y)`` into shuffled, disjoint training and validation sets.

    Give exactly one of ``val_fraction`` (in (0, 1); ``n_val =
    round(val_fraction * N)``, at least 1) or ``n_val`` (1 <= n_val < N).

    Args:
        x: samples, shape ``(N, ...)``.
        y: labels, ``(N,)`` class ids or ``(N, K)`` one-hot rows.
        val_fraction: share of samples for validation.
        n_val: number of validation samples.
        seed: seed of ``np.random.default_rng``.
        stratify: keep class proportions in both parts (classes from ``y``).

    Returns:
        ``((x_train, y_train), (x_val, y_val))``, new arrays.

    Raises:
        InvalidParameterError: lengths differ, no data, or the sizes are
            missing, both given or out of range.
    """
    owner = "train_val_split"
    x, y, n = _check_xy(x, y, owner)
    if (val_fraction is None) == (n_val is None):
        raise InvalidParameterError(
            f"{owner}: give exactly one of 'val_fraction' and 'n_val'. "
            f"Got val_fraction={val_fraction!r}, n_val={n_val!r}."
        )
    if val_fraction is not None:
        check_scalar(
            val_fraction,
            "val_fraction",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="neither",
            owner=owner,
        )
        n_val = max(1, int(round(val_fraction * n)))
    check_scalar(
        n_val, "n_val", numbers.Integral, min_val=1, max_val=n - 1, owner=owner
    )
    val_idx, train_idx = _partition(y, [int(n_val or 0)], seed, stratify)
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])


def train_val_test_split(
    x: Any,
    y: Any,
    n_val: int,
    n_test: int,
    seed: int = 0,
    *,
    stratify: bool = True,
) -> tuple[Pair, Pair, Pair]:
    """Split ``(x, y)`` into shuffled, disjoint train, validation and test sets.

    The test set takes ``n_test`` samples, validation ``n_val`` and training
    the remaining ``N - n_val - n_test`` (at least 1). Zero-sized parts are
    empty arrays of the right trailing shape.

    Returns:
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``.

    Raises:
        InvalidParameterError: lengths differ, no data, or a size is negative
            or the sizes leave no training sample.
    """
    owner = "train_val_test_split"
    x, y, n = _check_xy(x, y, owner)
    check_scalar(n_val, "n_val", numbers.Integral, min_val=0, owner=owner)
    check_scalar(n_test, "n_test", numbers.Integral, min_val=0, owner=owner)
    if n_val + n_test >= n:
        raise InvalidParameterError(
            f"{owner}: n_val + n_test must be less than the {n} samples so that "
            f"training keeps at least one. Got n_val={n_val}, n_test={n_test}."
        )
    test_idx, val_idx, train_idx = _partition(
        y, [int(n_test), int(n_val)], seed, stratify
    )
    return tuple((x[i], y[i]) for i in (train_idx, val_idx, test_idx))  # type: ignore[return-value]


def mnist_sample_splits(
    n_train: int | None,
    n_val: int = 0,
    n_test: int = 1000,
    seed: int = 0,
    flatten: bool = False,
    *,
    one_hot: bool = False,
) -> Splits:
    """Stratified, disjoint train/val/test sets drawn from the 5,000-digit sample.

    ``n_train=None`` takes every sample left after test and validation. With
    the same ``seed`` and ``n_test`` the test set is the same whatever
    ``n_train`` and ``n_val`` are, so runs on 300 or 4,000 training digits are
    scored on the same test digits.

    Args:
        n_train: training samples (>= 1), or None for all that remain.
        n_val: validation samples (0 gives ``val=None``).
        n_test: test samples (>= 0).
        seed: seed of the split.
        flatten: images as ``(N, 784)`` instead of ``(N, 1, 28, 28)``.
        one_hot: labels as ``(N, 10)`` float32 instead of int64 ids.

    Returns:
        :class:`Splits` with ``train``, ``val`` and ``test`` ``(x, y)`` pairs:
        x float32 in [0, 1], y int64 class ids.

    Raises:
        InvalidParameterError: the sizes are negative or add up to more than
            5,000.

    Example:
        >>> s = mnist_sample_splits(4000, n_test=1000)   # the book's 4,000/1,000
        >>> s.train[0].shape, s.test[0].shape, s.val
        ((4000, 1, 28, 28), (1000, 1, 28, 28), None)
    """
    owner = "mnist_sample_splits"
    x, y = load_mnist_sample(flatten=flatten, one_hot=one_hot)
    n = x.shape[0]
    check_scalar(n_val, "n_val", numbers.Integral, min_val=0, owner=owner)
    check_scalar(n_test, "n_test", numbers.Integral, min_val=0, owner=owner)
    if n_train is not None:
        check_scalar(n_train, "n_train", numbers.Integral, min_val=1, owner=owner)
    wanted = (n_train or 1) + n_val + n_test
    if wanted > n:
        raise InvalidParameterError(
            f"{owner}: n_train + n_val + n_test must be at most {n}. Got "
            f"n_train={n_train}, n_val={n_val}, n_test={n_test}."
        )
    sizes = [int(n_test), int(n_val)]
    if n_train is not None and wanted < n:
        sizes.append(int(n_train))
    parts = _partition(y, sizes, seed, stratify=True)
    test_idx, val_idx, train_idx = parts[0], parts[1], parts[2]
    return Splits(
        train=(x[train_idx], y[train_idx]),
        val=(x[val_idx], y[val_idx]) if n_val else None,
        test=(x[test_idx], y[test_idx]),
    )


def _check_xy(x: Any, y: Any, owner: str) -> tuple[np.ndarray, np.ndarray, int]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise InvalidParameterError(
            f"{owner}: x and y must hold the same number of samples. Got "
            f"len(x)={len(x) if x.ndim else 'scalar'}, "
            f"len(y)={len(y) if y.ndim else 'scalar'}."
        )
    if len(x) < 2:
        raise InvalidParameterError(
            f"{owner}: need at least 2 samples to split. Got {len(x)}."
        )
    return x, y, len(x)


def _partition(
    y: np.ndarray, sizes: list[int], seed: int, stratify: bool
) -> list[np.ndarray]:
    """Index arrays for parts of the given sizes, in order, plus the rest last."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if not stratify:
        perm = rng.permutation(n)
        cuts = np.cumsum(sizes)
        return np.split(perm, cuts)
    ids = y.argmax(axis=1) if y.ndim == 2 else y
    _, cls = np.unique(ids, return_inverse=True)
    cls = cls.reshape(-1)
    pools = [rng.permutation(np.flatnonzero(cls == c)) for c in range(cls.max() + 1)]
    parts = []
    for size in sizes:
        counts = _allocate(size, np.array([len(p) for p in pools]))
        parts.append(
            np.concatenate([p[:k] for p, k in zip(pools, counts, strict=True)])
        )
        pools = [p[k:] for p, k in zip(pools, counts, strict=True)]
    parts.append(np.concatenate(pools))
    return [rng.permutation(p) for p in parts]


def _allocate(total: int, available: np.ndarray) -> np.ndarray:
    """Split ``total`` by class in proportion to ``available`` (largest remainder)."""
    pool = int(available.sum())
    exact = total * available / pool if pool else np.zeros(len(available))
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts
