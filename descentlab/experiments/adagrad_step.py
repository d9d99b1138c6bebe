"""Experiment 2: AdaGrad's effective step size shrinks forever; RMSProp's levels off.

The real ``descentlab.optim`` AdaGrad and RMSProp each update one float64
parameter fed a gradient sequence g_t. The effective step size is measured from
the outside, independent of internal state names, as displacement over gradient:

    eta_t = |theta_t - theta_{t-1}| / |g_t|

which equals lr / (sqrt(G_t) + eps) for AdaGrad (G_t = sum of g^2) and
lr / (sqrt(v_t) + eps) for RMSProp (v_t = EMA of g^2, alpha = 0.99).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..nn.module import Parameter
from ..optim import AdaGrad, RMSProp
from ._common import (
    Run,
    color,
    experiment,
    label,
    plot_style,
    save_figure,
)

NAME = "adagrad_step"
TITLE = "AdaGrad's effective step size vs RMSProp"
FORMULA = (
    "AdaGrad:  G_t = G_{t-1} + g_t²;               "
    "effective step η_t = lr / (√G_t + ε)\n"
    "RMSProp:  v_t = α·v_{t-1} + (1−α)·g_t²  (α = 0.99);  η_t = lr / (√v_t + ε)\n"
    "constant gradient g:  AdaGrad η_t = lr / (|g|·√t)  → 0;   "
    "RMSProp η_t = lr / (|g|·√(1 − α^t))  → lr/|g|\n"
    "measured as η_t = |θ_t − θ_{t−1}| / |g_t| from the real optimizers"
)
EXPLANATION = (
    "AdaGrad divides the learning rate by the square root of the sum of all squared "
    "gradients seen so far. That sum only grows, so the effective step size shrinks "
    "like 1/√t for ever (a straight line of slope −1/2 on these log-log axes), with "
    "a constant gradient and with a noisy one alike; after a few thousand steps the "
    "parameter barely moves, which is why AdaGrad can stall before a deep network "
    "has converged. RMSProp replaces the sum by an exponential moving average, "
    "which forgets old gradients: its effective step starts large (the average "
    "starts at zero) and then levels off at about lr/√E[g²]. The right panel shows "
    "the consequence: the distance travelled grows like √t for AdaGrad but linearly "
    "for RMSProp."
)

LR = 0.1
GRAD = 1.0  # the constant gradient
NOISE = 1.0  # noisy gradient: g_t = GRAD + NOISE * N(0, 1)
ALPHA = 0.99
STEPS = {"quick": 1000, "full": 10000}


def effective_steps(
    opt_name: str, grads: np.ndarray, lr: float = LR
) -> tuple[np.ndarray, np.ndarray]:
    """Feed ``grads`` to a new optimizer; return (eta_t, theta_0 - theta_t) by step."""
    p = Parameter(np.zeros(1, dtype=np.float64))
    opt: AdaGrad | RMSProp
    if opt_name == "adagrad":
        opt = AdaGrad([p], lr=lr)
    else:
        opt = RMSProp([p], lr=lr, alpha=ALPHA)
    eta = np.empty(len(grads))
    travelled = np.empty(len(grads))
    for t, g in enumerate(grads):
        before = float(p.data[0])
        p.grad[0] = g
        opt.step()
        after = float(p.data[0])
        eta[t] = abs(after - before) / abs(g) if g != 0 else np.nan
        travelled[t] = after
    return eta, -travelled  # theta moves against the (mostly positive) gradient


def _plot(res: dict, steps: int, out: Path, size: str) -> Path:
    t = np.arange(1, steps + 1)
    with plot_style() as plt:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
        panels = (
            (axes[0], "constant", f"Constant gradient g = {GRAD:g}"),
            (axes[1], "noisy", f"Noisy gradient g = {GRAD:g} + {NOISE:g}·N(0, 1)"),
        )
        for ax, case, title in panels:
            mean_sq = GRAD**2 + (NOISE**2 if case == "noisy" else 0.0)
            ax.loglog(
                t, res[f"adagrad_{case}"], color=color("adagrad"), label="AdaGrad"
            )
            ax.loglog(
                t,
                res[f"rmsprop_{case}"],
                color=color("rmsprop"),
                label="RMSProp",
                lw=1.2 if case == "noisy" else 1.6,
            )
            ax.loglog(
                t,
                LR / np.sqrt(t * mean_sq),
                "--",
                color="0.2",
                lw=1.0,
                zorder=3,
                label=f"lr/√(t·E[g²])  (E[g²] = {mean_sq:g})",
            )
            ax.axhline(
                LR / np.sqrt(mean_sq),
                color="0.35",
                ls=":",
                lw=1.0,
                label="lr/√E[g²]  (RMSProp level)",
            )
            ax.set_xlabel("iteration t")
            ax.set_ylabel("effective step size η_t")
            ax.set_title(title)
            ax.legend(loc="lower left", fontsize=8)
        ax = axes[2]
        for name in ("adagrad", "rmsprop"):
            for case, ls in (("constant", "-"), ("noisy", "--")):
                ax.plot(
                    t,
                    res[f"travel_{name}_{case}"],
                    ls,
                    color=color(name),
                    label=f"{label(name)}, {case}",
                )
        ax.set_xlabel("iteration t")
        ax.set_ylabel("distance travelled  θ_0 − θ_t")
        ax.set_title("Consequence: how far the parameter gets")
        ax.legend(loc="upper left", fontsize=8)
        fig.suptitle(
            f"Effective step size, lr = {LR:g}, {steps} iterations "
            "(log-log axes on the left)",
            fontsize=12,
        )
        return save_figure(fig, out, "adagrad_step", svg=size == "full")


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Measure the effective steps; write ``adagrad_step.png`` and JSON into ``out``.

    Result keys beyond the contract (arrays of length ``steps``): ``adagrad_constant``,
    ``rmsprop_constant``, ``adagrad_noisy``, ``rmsprop_noisy`` (eta_t); scalars
    ``travel_<optimizer>_<case>`` (final theta_0 - theta_t), ``lr``, ``grad``,
    ``noise``, ``alpha``, ``steps``.
    """
    size, seed, out = ctx.size, ctx.seed, ctx.out
    steps = STEPS[size]
    rng = np.random.default_rng(seed)
    grads = {
        "constant": np.full(steps, GRAD),
        "noisy": GRAD + NOISE * rng.standard_normal(steps),
    }
    res: dict[str, Any] = {}
    for case, g in grads.items():
        for name in ("adagrad", "rmsprop"):
            eta, travel = effective_steps(name, g)
            res[f"{name}_{case}"] = eta
            res[f"travel_{name}_{case}"] = travel
    figure = _plot(res, steps, out, size)
    marks = [m for m in (1, 10, 100, 1000, 10000) if m <= steps]
    table = [
        {
            "iteration t": m,
            "AdaGrad η (const)": res["adagrad_constant"][m - 1],
            "lr/(|g|√t)": LR / (abs(GRAD) * np.sqrt(m)),
            "RMSProp η (const)": res["rmsprop_constant"][m - 1],
            "AdaGrad η (noisy)": res["adagrad_noisy"][m - 1],
            "RMSProp η (noisy)": res["rmsprop_noisy"][m - 1],
        }
        for m in marks
    ]
    numbers = {
        k: (float(v[-1]) if k.startswith("travel_") else v) for k, v in res.items()
    }
    captions = {
        figure.name: (
            "Effective step size per iteration (log-log) for a constant and a noisy "
            "gradient, and the distance each optimizer travels: AdaGrad's step falls "
            "like 1/sqrt(t), RMSProp's settles at lr/sqrt(E[g^2])."
        )
    }
    return ctx.result(
        [figure],
        table,
        captions=captions,
        lr=LR,
        grad=GRAD,
        noise=NOISE,
        alpha=ALPHA,
        steps=steps,
        **numbers,
    )
