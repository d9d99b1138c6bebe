"""Figures of a comparison, built as ``matplotlib.figure.Figure`` objects.

- ``performance_profile.png``: rho(tau) per optimizer, 1 <= tau <= 4;
- ``learning_curves.png``: validation accuracy vs step at each optimizer's
  selected setting, median over the seeds with a min-max band, target dashed;
- ``lr_sensitivity.png``: final validation accuracy of every tuning trial vs
  its learning rate, the selected one ringed (flat = forgiving, peaked =
  sensitive).

Labels and titles come from the plan and the results, never typed by hand.
Colours: one per optimizer, the project's palette (:mod:`descentlab.palette`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import palette
from ..io import atomic_write_bytes
from .plan import Plan

__all__ = ["optimizer_color", "optimizer_label", "write_figures"]

_SYMBOLS = {"lr": "lr", "momentum": "μ", "beta1": "β1", "beta2": "β2", "alpha": "α"}


def optimizer_color(name: str) -> str:
    """The optimizer's colour in every descentlab figure (:mod:`descentlab.palette`)."""
    return palette.optimizer_color(name)


def optimizer_label(name: str) -> str:
    """Display name ("adagrad" -> "AdaGrad")."""
    return palette.optimizer_label(name)


def params_text(params: Mapping[str, float]) -> str:
    """``lr=0.0123, μ=0.95, β2=0.9999`` (wd for weight decay); values near 1 keep
    enough digits to tell them from 1."""

    def num(v: float) -> str:
        digits = 3
        while 0.9 < v < 1 and f"{v:.{digits}g}" == "1" and digits < 8:
            digits += 1
        return f"{v:.{max(digits, 4 if 0.9 < v < 1 else 3)}g}"

    return ", ".join(f"{_SYMBOLS.get(k, 'wd')}={num(v)}" for k, v in params.items())


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig


def _style(ax: Any) -> None:
    ax.grid(True, alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def _cells(results: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(c["workload"], c["optimizer"]): c for c in results["cells"]}


def plot_profile(plan: Plan, results: Mapping[str, Any]) -> Any:
    prof = results["profile"]
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    n_w = len(results["workloads"])
    for i, o in enumerate(plan.optimizers):
        rho = np.asarray(prof["rho"][o])
        jitter = (i - (len(plan.optimizers) - 1) / 2) * 0.006  # keep ties visible
        solved = sum(math.isfinite(r) for r in prof["ratios"][o].values())
        ax.step(
            prof["taus"],
            rho + jitter,
            where="post",
            color=optimizer_color(o),
            lw=1.8,
            label=f"{optimizer_label(o)} ({solved}/{n_w} within {prof['tau_max']:g}x)",
        )
    ax.set_xlim(1, prof["tau_max"])
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("τ (steps to target ÷ fastest optimizer's, per workload)")
    ax.set_ylabel("ρ(τ): share of workloads")
    ax.set_title(
        f"Performance profile over {n_w} workload{'s' * (n_w != 1)} "
        f"(median of {plan.seeds} seed{'s' * (plan.seeds != 1)})"
    )
    ax.legend(loc="lower right", fontsize=8)
    _style(ax)
    return fig


def plot_curves(plan: Plan, results: Mapping[str, Any]) -> Any:
    cells = _cells(results)
    n = len(plan.workloads)
    fig = _figure(5.2 * n, 4.4)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, w in zip(axes, plan.workloads, strict=True):
        lo_y = 1.0
        for o in plan.optimizers:
            c = cells[w.name, o]
            steps = c["curves"][0]["step"]
            m = min(len(cv["val_acc"]) for cv in c["curves"])
            if m == 0:  # a seed diverged before its first evaluation
                continue
            accs = np.array([cv["val_acc"][:m] for cv in c["curves"]])
            med = np.median(accs, axis=0)
            col = optimizer_color(o)
            ax.fill_between(
                steps[:m], accs.min(0), accs.max(0), color=col, alpha=0.18, lw=0
            )
            ax.plot(
                steps[:m],
                med,
                color=col,
                lw=1.7,
                label=f"{optimizer_label(o)} ({params_text(c['best_params'])})",
            )
            lo_y = min(lo_y, float(np.percentile(accs, 10)))
        ax.axhline(w.target, color="#555555", ls="--", lw=1)
        ax.text(
            w.steps * 0.02,
            w.target,
            f"target {w.target:g}",
            va="bottom",
            ha="left",
            fontsize=8,
            color="#555555",
        )
        ax.set_ylim(max(0.0, lo_y - 0.05), 1.0)
        ax.set_xlim(0, w.steps)
        ax.set_xlabel("step")
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"{w.name}: {w.n_val:,} validation images", fontsize=10)
        ax.legend(loc="lower right", fontsize=7)
        _style(ax)
    fig.suptitle(
        f"Validation accuracy at each optimizer's best of {plan.trials} trials: "
        f"median and range over seeds {', '.join(map(str, plan.rerun_seeds))}",
        fontsize=11,
    )
    return fig


def plot_lr(plan: Plan, results: Mapping[str, Any]) -> Any:
    cells = _cells(results)
    n = len(plan.workloads)
    fig = _figure(5.2 * n, 4.2)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, w in zip(axes, plan.workloads, strict=True):
        for o in plan.optimizers:
            c = cells[w.name, o]
            pts = sorted(
                (t["params"]["lr"], t["final_val_acc"], t["diverged"])
                for t in c["tuning"]
            )
            lrs = [p[0] for p in pts]
            acc = [0.0 if (p[2] or not math.isfinite(p[1])) else p[1] for p in pts]
            col = optimizer_color(o)
            ax.plot(lrs, acc, "-o", color=col, ms=3.5, lw=1.2, label=optimizer_label(o))
            best = c["tuning"][c["best_trial"]]
            ax.plot(
                [best["params"]["lr"]],
                [best["final_val_acc"]],
                "o",
                ms=10,
                mfc="none",
                mec=col,
                mew=1.6,
            )
        ax.axhline(w.target, color="#555555", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.0)
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("final validation accuracy (diverged = 0)")
        ax.set_title(f"{w.name}: {plan.trials} quasi-random trials each", fontsize=10)
        ax.legend(loc="lower left", fontsize=7)
        _style(ax)
    fig.suptitle(
        "Sensitivity to the learning rate (ring = selected trial)", fontsize=11
    )
    return fig


def write_figures(
    out: str | Path, plan: Plan, results: Mapping[str, Any]
) -> list[Path]:
    """Draw and write the three figures into ``out``; return their paths."""
    out = Path(out)
    return [
        _save(plot_profile(plan, results), out / "performance_profile.png"),
        _save(plot_curves(plan, results), out / "learning_curves.png"),
        _save(plot_lr(plan, results), out / "lr_sensitivity.png"),
    ]
