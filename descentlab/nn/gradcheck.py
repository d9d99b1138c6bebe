"""Numerical gradient checks by central differences in float64.

For a module f and a fixed random R, the scalar L = Σ f(x) ⊙ R has
dL/dθ ≈ (L(θ + h) - L(θ - h)) / 2h. ``gradcheck`` compares that with the
module's backward (called with dout = R) and reports, per input and
parameter, the relative error

    ||g_analytic - g_numeric|| / (||g_analytic|| + ||g_numeric||).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend as B
from .module import Module


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


def numerical_grad(
    f: Callable[[], float],
    arr: np.ndarray,
    h: float = 1e-6,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Central-difference gradient of scalar f() w.r.t. ``arr`` (perturbed in place)."""
    grad = np.zeros_like(arr, dtype=np.float64)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size) if indices is None else indices:
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def gradcheck(
    module: Module,
    x: Any,
    *,
    h: float = 1e-6,
    seed: int = 0,
    max_checks: int | None = None,
    before_forward: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Check ``module.backward`` against central differences in float64.

    The module is cast to float64 in place. ``before_forward`` runs before every
    forward pass (e.g. to reseed a Dropout's generator so the mask is fixed).
    ``max_checks`` limits the checked entries per array (random subset).

    Returns:
        {"x": rel_err, "<param name>": rel_err, ...}
    """
    module.astype(np.float64)
    x = np.array(B.to_numpy(x), dtype=np.float64)
    # Not default_rng(seed) itself: with x drawn from default_rng(0) as well, the
    # projection r would equal x, and for BatchNorm dL/dx = x̂(1 - mean(x̂²)) ≈ 0,
    # leaving only roundoff to compare.
    rng = np.random.default_rng([seed, 0x6772])

    def run(inp):
        if before_forward is not None:
            before_forward()
        return B.to_numpy(module.forward(inp))

    y = run(x)
    r = rng.standard_normal(y.shape)
    module.zero_grad()
    dx = B.to_numpy(module.backward(r))

    def subset(a: np.ndarray):
        if max_checks is None or a.size <= max_checks:
            return None
        return rng.choice(a.size, size=max_checks, replace=False)

    def compare(analytic: np.ndarray, numeric: np.ndarray, idx) -> float:
        if idx is None:
            return _rel_error(analytic, numeric)
        return _rel_error(analytic.reshape(-1)[idx], numeric.reshape(-1)[idx])

    report: dict[str, float] = {}
    idx = subset(x)
    num_dx = numerical_grad(lambda: float((run(x) * r).sum()), x, h, idx)
    report["x"] = compare(dx, num_dx, idx)
    for name, p in module.named_parameters():
        analytic = B.to_numpy(p.grad).copy()
        idx = subset(p.data)
        data = p.data
        num = numerical_grad(lambda: float((run(x) * r).sum()), data, h, idx)
        report[name] = compare(analytic, num, idx)
    return report
