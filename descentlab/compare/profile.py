"""Performance profiles (Dolan & Moré, 2002), capped as in AlgoPerf.

For costs t[o, w] > 0 of optimizer o on workload w (here: median steps to the
target; inf where it is never reached)::

    r[o, w]   = t[o, w] / min_o' t[o', w]        (inf when nobody reaches w)
    r[o, w]   = inf  if r[o, w] > tau_max         (the cap: slower counts as failed)
    rho_o(tau) = |{w : r[o, w] <= tau}| / |W|     for 1 <= tau <= tau_max

rho_o(1) is the share of workloads on which o is (one of) the fastest;
rho_o(tau_max) the share it solves within tau_max times the fastest.

References: Dolan & Moré, "Benchmarking optimization software with
performance profiles" (2002); Dahl et al., "Benchmarking Neural Network
Training Algorithms" (AlgoPerf, 2023).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._validation import check_scalar
from ..errors import InvalidParameterError

__all__ = ["TAU_MAX", "performance_profile", "performance_ratios"]

TAU_MAX = 4.0
_OWNER = "performance_profile"


def performance_ratios(costs: Any, *, tau_max: float = TAU_MAX) -> np.ndarray:
    """r[o, w] from costs (n_optimizers, n_workloads); inf where failed or capped.

    Costs must be > 0 (inf allowed, NaN not).
    """
    check_scalar(tau_max, "tau_max", numbers.Real, min_val=1.0, owner=_OWNER)
    t = np.asarray(costs, dtype=np.float64)
    if t.ndim != 2 or t.size == 0:
        raise InvalidParameterError(
            f"{_OWNER}: 'costs' must be a non-empty 2-D table (optimizers x "
            f"workloads). Got shape {t.shape}."
        )
    if np.isnan(t).any() or (t <= 0).any():
        raise InvalidParameterError(
            f"{_OWNER}: every cost must be > 0 or inf (never reached). "
            f"Got {t.tolist()}."
        )
    best = t.min(axis=0, keepdims=True)
    with np.errstate(invalid="ignore"):
        ratios = np.where(np.isfinite(best), t / best, np.inf)
    ratios[ratios > tau_max] = np.inf
    return ratios


def performance_profile(
    costs: Any, taus: Any = None, *, tau_max: float = TAU_MAX
) -> tuple[np.ndarray, np.ndarray]:
    """``(taus, rho)``: rho[o, i] = share of workloads with r[o, w] <= taus[i].

    ``taus`` defaults to 301 points from 1 to ``tau_max``; given taus must lie
    in [1, tau_max].
    """
    ratios = performance_ratios(costs, tau_max=tau_max)
    if taus is None:
        taus = np.linspace(1.0, float(tau_max), 301)
    taus = np.asarray(taus, dtype=np.float64).ravel()
    if taus.size == 0 or taus.min() < 1.0 or taus.max() > tau_max:
        raise InvalidParameterError(
            f"{_OWNER}: 'taus' must lie in [1, {tau_max:g}]. Got {taus.tolist()}."
        )
    rho = (ratios[:, :, None] <= taus[None, None, :]).mean(axis=1)
    return taus, rho
