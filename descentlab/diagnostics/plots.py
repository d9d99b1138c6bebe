"""Figures of the diagnostics, as ``matplotlib.figure.Figure`` objects (no pyplot).

Each function returns a Figure; the caller saves it (``fig.savefig(buf)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .lr_finder import LRRangeResult


def _figure(w: float, h: float):
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(figsize=(w, h), layout="constrained")


def plot_lr_range(res: LRRangeResult, title: str = "lr range test") -> Any:
    """Raw and smoothed loss against lr (log x); suggestion and valley marked."""
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    ok = np.isfinite(res.raw_losses)
    ax.plot(
        res.lrs[ok], res.raw_losses[ok], ".", color="#999999", ms=3, label="batch loss"
    )
    ax.plot(res.lrs, res.losses, color="#0072B2", label="EMA (bias-corrected)")
    ax.plot(
        res.lrs,
        res.local_losses,
        "--",
        color="#009E73",
        lw=1.2,
        label="local smoothing",
    )
    if res.valley:
        ax.axvspan(*res.valley, color="#009E73", alpha=0.08, label="valley")
    if res.valley_lr:
        ax.axvline(
            res.valley_lr, color="#E69F00", ls=":", label=f"valley {res.valley_lr:.2g}"
        )
    if res.suggestion:
        ax.axvline(
            res.suggestion,
            color="#D55E00",
            lw=2,
            label=f"suggestion (steepest) {res.suggestion:.2g}",
        )
    if res.divergence_lr:
        ax.axvline(
            res.divergence_lr,
            color="#000000",
            lw=1,
            ls="-.",
            label=f"rises from {res.divergence_lr:.2g}",
        )
    finite = res.raw_losses[ok]
    if finite.size:
        lo = (
            float(np.nanmin(res.local_losses))
            if np.isfinite(res.local_losses).any()
            else finite.min()
        )
        ax.set_ylim(lo - 0.05 * abs(lo), max(finite[0], lo) * 1.6 + 1e-12)
    ax.set_xscale("log")
    ax.set(xlabel="learning rate", ylabel="training loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_lines(
    alphas: Sequence[float] | np.ndarray,
    curves: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str,
    xlabel: str = "alpha (filter-normalized direction)",
) -> Any:
    """Loss along 1-D lines, one curve per label."""
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    for label, values in curves.items():
        ax.plot(alphas, values, label=label)
    ax.set(xlabel=xlabel, ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    return fig


def plot_surface(
    alphas: Sequence[float] | np.ndarray,
    betas: Sequence[float] | np.ndarray,
    Z: np.ndarray,
    *,
    title: str,
    path: np.ndarray | None = None,
    xlabel: str = "direction 1",
    ylabel: str = "direction 2",
) -> Any:
    """Contour of Z (rows: betas, columns: alphas), log-spaced levels; optional path."""
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot()
    finite = Z[np.isfinite(Z)]
    lo, hi = float(finite.min()), float(np.percentile(finite, 98))
    levels = np.geomspace(max(lo, 1e-12), max(hi, lo * 1.01 + 1e-12), 18)
    cs = ax.contourf(
        alphas,
        betas,
        np.clip(np.nan_to_num(Z, nan=hi, posinf=hi), None, hi),
        levels=levels,
        cmap="viridis",
    )
    ax.contour(
        alphas,
        betas,
        np.nan_to_num(Z, nan=hi, posinf=hi),
        levels=levels,
        colors="white",
        linewidths=0.4,
        alpha=0.6,
    )
    fig.colorbar(cs, ax=ax, label="loss")
    if path is not None:
        ax.plot(
            path[:, 0],
            path[:, 1],
            "o-",
            color="#D55E00",
            ms=3,
            lw=1.4,
            label="training path",
        )
        ax.plot(
            path[0, 0], path[0, 1], "s", color="white", mec="#D55E00", label="start"
        )
        ax.plot(
            path[-1, 0],
            path[-1, 1],
            "*",
            color="#D55E00",
            ms=12,
            mec="white",
            label="final",
        )
        ax.legend(fontsize=8, loc="best")
    ax.plot([0], [0], "+", color="white", ms=10)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig


def plot_sharpness(
    epochs: Sequence[int],
    values: np.ndarray,
    *,
    title: str,
    threshold: float | None = None,
    threshold_label: str = "",
) -> Any:
    """Top eigenvalue(s) against epoch; optional stability line (e.g. 2/lr)."""
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    values = np.atleast_2d(np.asarray(values, dtype=float).T).T
    for j in range(values.shape[1]):
        ax.plot(epochs, values[:, j], "o-", ms=3, label=f"lambda_{j + 1}")
    if threshold is not None:
        ax.axhline(threshold, color="#D55E00", ls="--", label=threshold_label)
    ax.set(xlabel="epoch", ylabel="Hessian eigenvalue", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def figure_png(fig: Any, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    import io  # noqa: PLC0415

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
