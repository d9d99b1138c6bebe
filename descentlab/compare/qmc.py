"""Halton points: a deterministic quasi-random sequence in the unit cube.

Point i (i = 0, 1, 2, ...) has coordinate j equal to the radical inverse of i
in the j-th prime base b_j (2, 3, 5, 7, ...)::

    i = sum_k a_k b^k   (digits a_k in 0..b-1)   ->   phi_b(i) = sum_k a_k b^-(k+1)

so base 2 gives 0, 1/2, 1/4, 3/4, 1/8, ... Consecutive points fill [0, 1)^d
more evenly than independent uniform draws (discrepancy O(log(n)^d / n)
instead of O(1/sqrt(n))), which is what a small tuning budget needs.

With ``scramble=True`` every digit position k of every coordinate j gets its
own random permutation pi_jk of 0..b_j-1 (drawn from
``np.random.default_rng(seed)``), ``x = sum_k pi_jk(a_k) b^-(k+1)``, taking
enough digits for float64. This keeps the even spread, removes the
correlation between high prime bases and moves point 0 off the corner 0.

References: Halton (1960); Owen, "A randomized Halton algorithm in R" (2017).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import check_scalar

__all__ = ["first_primes", "halton", "radical_inverse"]

_OWNER = "halton"


def first_primes(n: int) -> list[int]:
    """The first ``n`` primes, in order (2, 3, 5, ...)."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < n:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return primes


def _digits(index: np.ndarray, base: int, n_digits: int) -> np.ndarray:
    """Base-``base`` digits of each index, least significant first: (n, n_digits)."""
    out = np.zeros((index.size, n_digits), dtype=np.int64)
    rest = index.copy()
    for k in range(n_digits):
        rest, out[:, k] = np.divmod(rest, base)
    return out


def radical_inverse(
    index: np.ndarray, base: int, permutations: np.ndarray | None = None
) -> np.ndarray:
    """phi_b(i) for each integer ``index``; ``permutations`` (n_digits, base) scrambles.

    Without permutations the digits stop where the largest index ends; with them
    every one of their ``n_digits`` positions counts (its zero digits permuted too).
    """
    index = np.asarray(index, dtype=np.int64).ravel()
    top = int(index.max()) if index.size else 0
    n_digits = 1
    while base**n_digits <= top:
        n_digits += 1
    if permutations is not None:
        n_digits = max(n_digits, permutations.shape[0])
    digits = _digits(index, base, n_digits)
    if permutations is not None:
        digits = np.take_along_axis(permutations.T, digits, axis=0)
    weights = float(base) ** -np.arange(1, n_digits + 1, dtype=np.float64)
    return digits.astype(np.float64) @ weights


def halton(
    n: int, d: int, *, start: int = 0, scramble: bool = False, seed: int = 0
) -> np.ndarray:
    """Points ``start .. start+n-1`` of the d-dimensional Halton sequence: (n, d).

    Args:
        n: number of points (>= 0).
        d: dimension (>= 1); coordinate j uses the j-th prime base.
        start: index of the first point (unscrambled point 0 is the origin).
        scramble: random digit permutations per coordinate and digit position.
        seed: seed of ``np.random.default_rng`` for the permutations.

    Returns:
        float64 array in [0, 1), the same for the same arguments on every
        machine. ``scramble=False`` equals ``scipy.stats.qmc.Halton(d,
        scramble=False)``'s points.
    """
    check_scalar(n, "n", numbers.Integral, min_val=0, owner=_OWNER)
    check_scalar(d, "d", numbers.Integral, min_val=1, owner=_OWNER)
    check_scalar(start, "start", numbers.Integral, min_val=0, owner=_OWNER)
    check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=_OWNER)
    index = np.arange(int(start), int(start) + int(n), dtype=np.int64)
    rng = np.random.default_rng(int(seed))
    points = np.empty((int(n), int(d)), dtype=np.float64)
    for j, base in enumerate(first_primes(int(d))):
        perms = None
        if scramble:
            n_digits = math.ceil(53 * math.log(2) / math.log(base))
            perms = np.stack([rng.permutation(base) for _ in range(n_digits)])
        points[:, j] = radical_inverse(index, base, perms) if n else 0.0
    return np.minimum(points, np.nextafter(1.0, 0.0))
