"""Experiment 13: nudge one weight; see what changes; compare with backprop.

A small float64 MLP 4-5-4-3 (sigmoid hidden units, Xavier/LeCun init,
``descentlab.models.MLP``) and a fixed batch of 6 random inputs with random
class labels. Its modules are ``0`` Linear(4, 5), ``1`` Sigmoid, ``2``
Linear(5, 4), ``3`` Sigmoid, ``4`` Linear(4, 3), followed by
SoftmaxCrossEntropy. The experiment

1. runs the modules one by one and keeps every intermediate output;
2. adds a visible nudge (0.5) to one weight, W2[j, i] of the middle Linear
   (module ``2``), runs again and records |Δ| of every intermediate value: the
   input and the first layer are bit-for-bit unchanged, the middle layer's
   pre-activation z2 and activation a2 change only in unit j (the only unit
   that weight feeds), and from there on every unit and the loss change;
3. for a few weights compares the finite-difference loss change
   ΔL = L(w + h) − L(w) (h = 1e-6) with the first-order prediction
   (∂L/∂w)·h from one backward pass (``model.backward``), and shows ΔL over a
   wide range of nudges against the tangent line.

Nothing here is random beyond the seeded data and weights; quick and full are
the same (full also writes SVG figures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..models import MLP
from ..nn import SoftmaxCrossEntropy
from ._common import (
    Run,
    experiment,
    plot_style,
    save_figure,
)
from .api import fmt

NAME = "weight_sensitivity"
TITLE = "Nudging one weight: which activations change, and ΔL ≈ ∂L/∂w · Δw"
FORMULA = (
    "z1 = x W0ᵀ + b0,  a1 = σ(z1);  z2 = a1 W2ᵀ + b2,  a2 = σ(z2);  z3 = a2 W4ᵀ + b4\n"
    "L = −(1/N) Σ_n log softmax(z3_n)[y_n]\n"
    "w = W2[j, i]:  ∂z2[n, k]/∂w = a1[n, i] if k = j, else 0   (only unit j moves)\n"
    "ΔL = L(w + h) − L(w) = (∂L/∂w)·h + O(h²)     (h = 1e-6)\n"
    "relative error = |ΔL − (∂L/∂w)·h| / |(∂L/∂w)·h|"
)
EXPLANATION = (
    "A tiny network (4 inputs, hidden layers of 5 and 4 sigmoid units, 3 outputs) "
    "sees a fixed batch of 6 samples. One weight of the middle layer, W2[j, i] "
    "(from unit i of layer 1 to unit j of layer 2), is nudged by +0.5 and "
    "everything is recomputed. The network diagram colours each unit by how much "
    "its value moved (mean |Δ| over the samples; white with a dash = bit-for-bit "
    "unchanged) and the heatmaps give every sample. Nothing upstream of the weight "
    "moves: the inputs and layer 1 are exactly the same. In layer 2 only unit j "
    "moves, because the weight enters no other unit's sum. From there the change "
    "spreads to every output and to the loss. That chain — the weight changes z2[j], "
    "which changes a2[j], which changes all logits, which change L — is exactly "
    "what backpropagation multiplies out: for small nudges the loss change equals "
    "∂L/∂w times the nudge. The table checks it for five weights and biases in "
    "all three layers (finite difference with h = 1e-6 against the backprop "
    "gradient, relative errors of about 1e-6 or less); the second figure shows ΔL "
    "over nudges up to ±2 next to the tangent line ∂L/∂w·Δw, which is accurate "
    "only near 0."
)

SIZES = (4, 5, 4, 3)
N_SAMPLES = 6
NUDGED = ("2.weight", (2, 3))  # W2[j=2, i=3]: unit 3 of layer 1 -> unit 2 of layer 2
FIG_NUDGE = 0.5
H = 1e-6
#: the weights of the finite-difference table (state-dict name, index)
CHECKED: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("0.weight", (1, 2)),
    ("2.weight", (2, 3)),
    ("2.bias", (1,)),
    ("4.weight", (0, 1)),
    ("4.bias", (2,)),
)
#: intermediate values shown: (module index whose output it is, label)
STAGES = (
    (-1, "input x"),
    (0, "z1 (layer 1, pre-act.)"),
    (1, "a1 = σ(z1)"),
    (2, "z2 (layer 2, pre-act.)"),
    (3, "a2 = σ(z2)"),
    (4, "logits z3"),
)


def make_problem(seed: int) -> tuple[MLP, np.ndarray, np.ndarray]:
    """The float64 MLP 4-5-4-3 (sigmoid, LeCun init) and a batch (x, y) of ``seed``."""
    model = MLP(SIZES, activation="sigmoid", init="lecun", seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((N_SAMPLES, SIZES[0]))
    y = rng.integers(0, SIZES[-1], size=N_SAMPLES)
    return model, x, y


def forward_all(model: MLP, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Every module's output (copies), the mean loss and the per-sample losses."""
    outs, h = [], x
    for m in model:
        h = m.forward(h)
        outs.append(np.array(h, copy=True))
    loss = SoftmaxCrossEntropy()
    per_sample = np.array(
        [loss.forward(h[n : n + 1], y[n : n + 1]) for n in range(len(y))]
    )
    return {"outs": outs, "loss": loss.forward(h, y), "per_sample": per_sample}


def _param(model: MLP, name: str):
    return dict(model.named_parameters())[name]


def backprop_grads(model: MLP, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """∂L/∂θ for every parameter from one forward and one backward pass."""
    model.zero_grad()
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    return {n: np.array(p.grad, copy=True) for n, p in model.named_parameters()}


def loss_with_nudge(
    model: MLP, x, y, name: str, index: tuple[int, ...], delta: float
) -> float:
    """L with parameter ``name``[index] increased by ``delta`` (restored afterwards)."""
    p = _param(model, name)
    old = p.data[index]
    p.data[index] = old + delta
    try:
        return SoftmaxCrossEntropy().forward(model.forward(x), y)
    finally:
        p.data[index] = old


def _wname(name: str, index: tuple[int, ...]) -> str:
    layer = {"0": "W0", "2": "W2", "4": "W4"}[name.split(".")[0]]
    if name.endswith("bias"):
        layer = "b" + layer[1:]
    return f"{layer}[{', '.join(map(str, index))}]"


# ----------------------------------------------------------------------- plots


def _plot_network(
    stages: list[np.ndarray], dloss: np.ndarray, out: Path, size: str, dl_mean: float
) -> Path:
    from matplotlib.colors import LogNorm

    nonzero = np.concatenate([d[d > 0].ravel() for d in stages + [dloss]])
    norm = LogNorm(vmin=max(nonzero.min(), 1e-6), vmax=nonzero.max())
    with plot_style() as plt:
        cmap = plt.get_cmap("viridis")
        fig = plt.figure(figsize=(14, 9.6))
        grid = fig.add_gridspec(2, len(stages) + 1, height_ratios=(1.25, 1))
        ax = fig.add_subplot(grid[0, :])
        # network diagram: one column per layer (post-activation values + logits)
        cols = [
            (stages[0], "input x"),
            (stages[2], "layer 1  a1"),
            (stages[4], "layer 2  a2"),
            (stages[5], "logits z3"),
            (dloss[:, None], "loss (per sample)"),
        ]
        _diagram(ax, cols, cmap, norm)
        ax.set_title(
            f"Mean |Δ| over {dloss.shape[0]} samples per unit after the nudge (— = "
            f"exactly unchanged); mean loss changes by {dl_mean:+.3e}"
        )
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, label="|Δ value| (log scale)", shrink=0.8, pad=0.01)
        # heatmaps: |Δ| per sample and unit for every intermediate value
        shown = list(zip(stages, [s[1] for s in STAGES], strict=False))
        shown.append((dloss[:, None], "loss per sample"))
        for k, (d, title) in enumerate(shown):
            _heatmap(plt, fig.add_subplot(grid[1, k]), d, title, cmap, norm, k == 0)
        fig.suptitle(
            "MLP 4-5-4-3 (sigmoid), float64: nudge one weight and recompute. "
            "Heatmaps: |Δ| per sample and unit, same colour scale (0 = bit-for-bit "
            "unchanged)",
            fontsize=12,
        )
        return save_figure(fig, out, "weight_sensitivity_nudge", svg=size == "full")


def _diagram(ax, cols, cmap, norm) -> None:
    """The network as columns of units coloured by mean |Δ|, with every connection
    and the nudged weight highlighted."""
    j, i = NUDGED[1]
    xs = np.arange(len(cols)) * 2.0
    ys = [
        np.linspace(-(d.shape[1] - 1) / 2, (d.shape[1] - 1) / 2, d.shape[1])[::-1]
        for d, _ in cols
    ]
    for c in range(len(cols) - 1):
        for a, ya in enumerate(ys[c]):
            for b, yb in enumerate(ys[c + 1]):
                hot = c == 1 and a == i and b == j
                ax.plot(
                    [xs[c], xs[c + 1]],
                    [ya, yb],
                    color="#D55E00" if hot else "0.8",
                    lw=3.2 if hot else 0.6,
                    zorder=3 if hot else 1,
                )
    ax.annotate(
        f"nudged weight W2[{j}, {i}] += {FIG_NUDGE:g}",
        xy=((xs[1] + xs[2]) / 2, (ys[1][i] + ys[2][j]) / 2),
        xytext=((xs[1] + xs[2]) / 2 + 0.2, -2.9),
        color="#D55E00",
        fontsize=10,
        ha="center",
        arrowprops={"arrowstyle": "->", "color": "#D55E00"},
    )
    for c, (d, title) in enumerate(cols):
        mean = d.mean(axis=0)
        for u, yu in enumerate(ys[c]):
            fc = "white" if mean[u] == 0 else cmap(norm(max(mean[u], norm.vmin)))
            ax.scatter(xs[c], yu, s=900, color=fc, edgecolors="black", zorder=4)
            if d.shape[1] > 1:
                ax.text(
                    xs[c],
                    yu,
                    str(u),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="0.3" if mean[u] == 0 else "white",
                    zorder=5,
                )
            txt = "—" if mean[u] == 0 else f"{mean[u]:.1e}"
            ax.text(xs[c] + 0.28, yu, txt, fontsize=8, va="center", zorder=5)
        ax.text(xs[c], 3.0, title, ha="center", fontsize=10, fontweight="bold")
    ax.set_xlim(-0.6, xs[-1] + 1.2)
    ax.set_ylim(-3.3, 3.4)
    ax.axis("off")


def _heatmap(plt, hx, d, title: str, cmap, norm, first: bool) -> None:
    """|Δ| per sample and unit of one stage (0 written where bit-for-bit equal);
    the nudged unit framed in layer 2."""
    j = NUDGED[1][0]
    hx.imshow(np.ma.masked_equal(d, 0.0), cmap=cmap, norm=norm, aspect="auto")
    hx.set_facecolor("white")
    for (n, u), v in np.ndenumerate(d):
        if v == 0:
            hx.text(u, n, "0", ha="center", va="center", fontsize=7.5, color="0.4")
    hx.set_xticks(range(d.shape[1]) if d.shape[1] > 1 else [])
    hx.set_yticks(range(d.shape[0]))
    hx.grid(False)
    hx.set_xlabel("unit" if d.shape[1] > 1 else "")
    if first:
        hx.set_ylabel("sample")
    hx.set_title(title, fontsize=9)
    if title.startswith("z2") or title.startswith("a2"):
        hx.add_patch(
            plt.Rectangle(
                (j - 0.5, -0.5), 1, d.shape[0], fill=False, ec="#D55E00", lw=2
            )
        )


def _plot_tangents(curves: list[dict], out: Path, size: str) -> Path:
    with plot_style() as plt:
        fig, axes = plt.subplots(
            1, len(curves), figsize=(3.1 * len(curves), 3.9), sharex=True
        )
        for ax, c in zip(axes, curves, strict=False):
            ax.plot(c["delta"], c["dL"], color="#0072B2", label="ΔL = L(w+Δw) − L(w)")
            ax.plot(
                c["delta"],
                c["grad"] * c["delta"],
                "--",
                color="#D55E00",
                label="∂L/∂w · Δw (backprop)",
            )
            ax.axhline(0, color="0.6", lw=0.6)
            ax.axvline(0, color="0.6", lw=0.6)
            ax.set_title(f"{c['label']}\n∂L/∂w = {c['grad']:.4f}", fontsize=10)
            ax.set_xlabel("nudge Δw")
        axes[0].set_ylabel("change of the mean loss ΔL")
        axes[0].legend(fontsize=8, loc="upper left")
        fig.suptitle(
            "Loss change vs nudge size: the backprop gradient is the slope at Δw = 0",
            fontsize=12,
        )
        return save_figure(fig, out, "weight_sensitivity_tangents", svg=size == "full")


# ----------------------------------------------------------------------- run


def nudge_downstream(model, x, y) -> dict[str, Any]:
    """Nudge the weight NUDGED by FIG_NUDGE and compare every stage with before:
    ``stages`` (|Δ| per stage), ``dloss`` (per sample), ``unchanged_before``
    (input, z1 and a1 bit-for-bit equal), ``changed`` {stage: unit indices},
    ``loss_before`` and ``loss_change``."""
    base = forward_all(model, x, y)
    p = _param(model, NUDGED[0])
    p.data[NUDGED[1]] += FIG_NUDGE
    after = forward_all(model, x, y)
    p.data[NUDGED[1]] -= FIG_NUDGE
    before_vals = [x] + base["outs"]
    after_vals = [x] + after["outs"]
    stages = [np.abs(after_vals[k + 1] - before_vals[k + 1]) for k, _ in STAGES]
    return {
        "stages": stages,
        "dloss": np.abs(after["per_sample"] - base["per_sample"]),
        "unchanged_before": all(
            np.array_equal(after_vals[k], before_vals[k]) for k in (0, 1, 2)
        ),
        "changed": {
            lab: np.flatnonzero(d.max(axis=0) > 0).tolist()
            for d, (_, lab) in zip(stages, STAGES, strict=True)
        },
        "loss_before": base["loss"],
        "loss_change": after["loss"] - base["loss"],
    }


def check_weights(model, x, y) -> tuple[list[dict], list[dict], list[dict]]:
    """(checks, table rows, tangent curves): for each CHECKED weight, backprop's
    ∂L/∂w against the forward and central finite differences at H, and the loss
    change over nudges in [-2, 2]."""
    grads = backprop_grads(model, x, y)
    l0 = SoftmaxCrossEntropy().forward(model.forward(x), y)
    checks: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    curves: list[Any] = []
    span = np.linspace(-2.0, 2.0, 81)
    for name, index in CHECKED:
        g = float(grads[name][index])
        lp = loss_with_nudge(model, x, y, name, index, H)
        lm = loss_with_nudge(model, x, y, name, index, -H)
        fd, pred = lp - l0, g * H
        central = (lp - lm) / 2
        rel = abs(fd - pred) / abs(pred)
        rel_c = abs(central - pred) / abs(pred)
        value = float(_param(model, name).data[index])
        checks.append(
            {
                "name": name,
                "index": list(index),
                "value": value,
                "grad": g,
                "fd_change": fd,
                "predicted": pred,
                "rel_error": rel,
                "rel_error_central": rel_c,
            }
        )
        table.append(
            {
                "weight": _wname(name, index),
                "value": value,
                "∂L/∂w (backprop)": g,
                "ΔL = L(w+h) − L(w)": fd,
                "∂L/∂w · h": pred,
                "relative error": rel,
                "rel. error (central diff.)": rel_c,
            }
        )
        dl = np.array([loss_with_nudge(model, x, y, name, index, d) - l0 for d in span])
        curves.append(
            {"label": _wname(name, index), "delta": span, "dL": dl, "grad": g}
        )
    return checks, table, curves


def _captions(figures, nudge: dict, n_curves: int, worst: float) -> dict[str, str]:
    """One caption per figure, with this run's numbers."""
    changed, stages = nudge["changed"], nudge["stages"]
    return {
        figures[0].name: (
            f"Nudging {_wname(*NUDGED)} by {FIG_NUDGE:g}: the input and layer 1 stay "
            f"bit-for-bit equal ({'yes' if nudge['unchanged_before'] else 'no'}), "
            f"only unit(s) "
            f"{', '.join(map(str, changed['z2 (layer 2, pre-act.)']))} of layer 2 "
            f"change, then {len(changed['logits z3'])} of "
            f"{stages[-1].shape[1]} logits; the mean loss changes by "
            f"{fmt(nudge['loss_change'], 3)}."
        ),
        figures[1].name: (
            f"Loss change against the nudge of {n_curves} weights with the "
            f"backprop tangent ∂L/∂w·Δw; at h = {H:g} the finite difference and the "
            f"tangent agree to a relative error of at most {fmt(worst, 2)}."
        ),
    }


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Nudge, compare, plot; write figures and JSON into ``out``.

    Result keys beyond the contract: ``nudged`` (name, index, nudge), ``delta``
    {stage label: (N, units) |Δ| after the visible nudge}, ``unchanged_before``
    (bool: input, z1, a1 bit-for-bit equal), ``changed_units_z2`` /
    ``changed_units_a2`` (indices of units of layer 2 with any change),
    ``changed_units_logits``, ``loss_change`` (mean loss change for the visible
    nudge), ``checks`` (one dict per checked weight: grad, fd_change, predicted,
    rel_error, rel_error_central), ``max_rel_error``.
    """
    size, seed, out = ctx.size, ctx.seed, ctx.out
    model, x, y = make_problem(seed)
    nudge = nudge_downstream(model, x, y)
    stages, changed = nudge["stages"], nudge["changed"]
    checks, table, curves = check_weights(model, x, y)
    figures = [
        _plot_network(stages, nudge["dloss"], out, size, nudge["loss_change"]),
        _plot_tangents(curves, out, size),
    ]
    worst = max(c["rel_error"] for c in checks)
    return ctx.result(
        figures,
        table,
        captions=_captions(figures, nudge, len(curves), worst),
        table_after=figures[1].name,
        budget={"samples": int(len(x)), "weights checked": len(checks)},
        takeaways=[
            f"Backprop: nudging one weight changes only what lies downstream of it, "
            f"and the loss change matches ∂L/∂w·Δw to {fmt(worst, 2)} (relative) at "
            f"h = {H:g}."
        ],
        h=H,
        nudged={"name": NUDGED[0], "index": list(NUDGED[1]), "nudge": FIG_NUDGE},
        delta={lab: d for d, (_, lab) in zip(stages, STAGES, strict=True)},
        delta_loss_per_sample=nudge["dloss"],
        unchanged_before=nudge["unchanged_before"],
        changed_units_z2=changed["z2 (layer 2, pre-act.)"],
        changed_units_a2=changed["a2 = σ(z2)"],
        changed_units_logits=changed["logits z3"],
        loss_before=nudge["loss_before"],
        loss_change=nudge["loss_change"],
        checks=checks,
        max_rel_error=worst,
    )
