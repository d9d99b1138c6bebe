"""Experiment 4: activation distributions in a deep net vs weight initialisation.

As in Deep Learning from Scratch §6.2.2: 1,000 inputs x ~ N(0, 1) of dimension
100 pass through 5 layers of 100 units, each ``Linear(100, 100, bias=False,
init=...)`` followed by an activation module (``descentlab.nn``), in float64.
Every configuration draws its weights from the same standard-normal numbers
(a fresh ``default_rng(seed + 1)`` per configuration), so the configurations
differ only in the weight scale and the activation.

"Xavier" here is the book's: std = 1/sqrt(n) with n = fan_in (``init="lecun"``,
LeCun normal). The true Glorot/Xavier normal std = sqrt(2/(fan_in + fan_out)) is
the same number for these square 100x100 layers (0.1), so the two draw identical
weights; ``run`` checks that and records both stds. A tanh row with Xavier is
added, the book's remark that tanh (symmetric about 0) gives a cleaner spread.

Sizes: the experiment is cheap, so quick and full run the same network; full
also writes SVG figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import Linear, ReLU, Sigmoid, Tanh
from ..nn import init as nninit
from ._common import (
    Run,
    experiment,
    plot_style,
    save_figure,
)
from .api import fmt, pct

NAME = "init_activations"
TITLE = "Activation histograms in a 5-layer net vs weight initialisation"
FORMULA = (
    "a_l = φ(a_{l−1} W_lᵀ),  a_0 = x ~ N(0, 1)^100,  W_l: 100×100,\n"
    "φ = sigmoid | tanh | ReLU\n"
    "Var(z) = n·Var(w)·E[a²]  for z = Σ_i w_i a_i over n = 100 inputs\n"
    "std 1:  z has std ≈ 10·rms(a) → sigmoid saturates at 0 and 1\n"
    "std 0.01:  z has std ≈ 0.1·rms(a) → sigmoid(z) ≈ 0.5 + z/4, all units alike\n"
    "Xavier (book) = LeCun normal: std = 1/√n = 0.1\n"
    "  (= Glorot √(2/(n_in+n_out)) here)\n"
    "He:  std = √(2/n) ≈ 0.141, keeps E[a²] constant through ReLU layers"
)
EXPLANATION = (
    "Each row feeds the same 1,000 Gaussian inputs through five 100-unit layers "
    "(no biases) and histograms every layer's activations (columns = layers 1 to 5; "
    "all panels of a row share their axes). Sigmoid with weight std 1: the "
    "pre-activations are about 10 times too large, so most outputs sit near 0 or 1 "
    "where the sigmoid's gradient y(1−y) vanishes — gradients die during backprop. "
    "Std 0.01: the pre-activations are tiny and every unit outputs about 0.5 — no "
    "vanishing gradient, but all units say the same thing, so the layer's "
    "expressive power collapses. Xavier (std 1/√n, the book's choice) keeps a broad "
    "spread in every layer; tanh with Xavier gives a symmetric bell. For ReLU, "
    "half of the activations are exactly 0 in every configuration (not drawn; the "
    "panels state the share). Std 0.01 shrinks the rest by about 14 times "
    "(1/(0.01·√(n/2))) per layer "
    "(to ~1e-6 in layer 5), Xavier halves their mean square per layer (gain 1/2 of "
    "ReLU), while He (std √(2/n)) compensates exactly and keeps the scale. In the "
    "deeper sigmoid layers the histogram splits into spikes: sigmoid outputs "
    "average 0.5, not 0, so each unit receives a fixed offset 0.5·Σ_i w_i that "
    "differs from unit to unit (tanh, centred at 0, has no such offset). The "
    "summary figure plots the per-layer std (log scale) and the saturated or dead "
    "fraction."
)

N_INPUTS, WIDTH, LAYERS = 1000, 100, 5
BINS = 30

#: key -> (activation, init passed to Linear, display label)
CONFIGS: dict[str, tuple[str, str | float, str]] = {
    "sigmoid_std1": ("sigmoid", 1.0, "sigmoid, std = 1"),
    "sigmoid_std0.01": ("sigmoid", 0.01, "sigmoid, std = 0.01"),
    "sigmoid_xavier": ("sigmoid", "lecun", "sigmoid, Xavier (std = 1/√n)"),
    "tanh_xavier": ("tanh", "lecun", "tanh, Xavier (std = 1/√n)"),
    "relu_std0.01": ("relu", 0.01, "ReLU, std = 0.01"),
    "relu_xavier": ("relu", "lecun", "ReLU, Xavier (std = 1/√n)"),
    "relu_he": ("relu", "he", "ReLU, He (std = √(2/n))"),
}
_ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}
_SATURATION = {
    "sigmoid": "fraction < 0.1 or > 0.9",
    "tanh": "fraction |a| > 0.9",
    "relu": "fraction exactly 0",
}


def saturated_fraction(a: np.ndarray, activation: str) -> float:
    """Share of activations in the flat part of ``activation`` (see ``_SATURATION``)."""
    if activation == "sigmoid":
        return float(np.mean((a < 0.1) | (a > 0.9)))
    if activation == "tanh":
        return float(np.mean(np.abs(a) > 0.9))
    return float(np.mean(a == 0))


def forward_layers(
    x: np.ndarray, activation: str, init: str | float, *, seed: int
) -> list[np.ndarray]:
    """Activations of each of the LAYERS layers for input ``x`` (weights: ``seed``)."""
    rng = np.random.default_rng(seed)
    acts, h = [], x
    for _ in range(LAYERS):
        layer = Linear(WIDTH, WIDTH, bias=False, init=init, rng=rng, dtype=np.float64)
        h = _ACTIVATIONS[activation]().forward(layer.forward(h))
        acts.append(h)
    return acts


def _hist_range(key: str, runs: dict[str, dict]) -> tuple[float, float]:
    act = CONFIGS[key][0]
    if act == "sigmoid":
        return 0.0, 1.0
    if act == "tanh":
        return -1.0, 1.0
    # one range for every ReLU row: up to the 99.5th percentile of He's layer 1
    he1 = runs["relu_he"]["acts"][0]
    return 0.0, float(np.percentile(he1[he1 > 0], 99.5))


def _plot_grid(runs: dict[str, dict], out: Path, size: str) -> Path:
    n_rows = len(CONFIGS)
    hi_relu = _hist_range("relu_he", runs)[1]
    with plot_style() as plt:
        fig, axes = plt.subplots(
            n_rows, LAYERS, figsize=(14, 2.05 * n_rows + 0.8), sharey="row"
        )
        for r, key in enumerate(CONFIGS):
            act, _, title = CONFIGS[key]
            lo, hi = _hist_range(key, runs)
            for c in range(LAYERS):
                ax = axes[r, c]
                a = runs[key]["acts"][c].ravel()
                drawn = a[a != 0] if act == "relu" else a
                w = np.full(drawn.size, 100.0 / a.size)  # bar heights in % of all a
                ax.hist(
                    drawn,
                    bins=BINS,
                    range=(lo, hi),
                    weights=w,
                    color="#0072B2" if act != "relu" else "#D55E00",
                    edgecolor="white",
                    linewidth=0.3,
                )
                ax.set_xlim(lo, hi)
                note = f"std {fmt(float(a.std()), 2)}"
                if act == "relu":
                    note += f"\n{100 * np.mean(a == 0):.0f}% exactly 0 (not drawn)"
                elif act == "sigmoid":
                    note += f"\n{100 * saturated_fraction(a, act):.0f}% <0.1 or >0.9"
                ax.text(
                    0.97,
                    0.95,
                    note,
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=7.5,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.8},
                )
                if r == 0:
                    ax.set_title(f"layer {c + 1}")
                if c == 0:
                    ax.set_ylabel(f"{title}\n% of activations", fontsize=8.5)
                if (
                    r == n_rows - 1
                    or CONFIGS[list(CONFIGS)[min(r + 1, n_rows - 1)]][0] != act
                ):
                    ax.set_xlabel("activation value", fontsize=8.5)
                ax.tick_params(labelsize=7.5)
        fig.suptitle(
            f"Activations of {N_INPUTS:,} N(0, 1) inputs through {LAYERS} layers of "
            f"{WIDTH} units (rows: activation and weight init; columns: layer)\n"
            f"ReLU rows share one x axis, cut at {hi_relu:.1f} "
            "(99.5th percentile of He, "
            "layer 1)",
            fontsize=11.5,
        )
        return save_figure(fig, out, "init_activations_histograms", svg=size == "full")


def _plot_summary(runs: dict[str, dict], out: Path, size: str) -> Path:
    styles = {"sigmoid": "-", "tanh": ":", "relu": "--"}
    layers = np.arange(1, LAYERS + 1)
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.8))
        for i, (key, (act, _, title)) in enumerate(CONFIGS.items()):
            col = f"C{i}"
            ax.semilogy(
                layers,
                runs[key]["std"],
                styles[act],
                marker="o",
                color=col,
                label=title,
            )
            bx.plot(
                layers,
                100 * np.asarray(runs[key]["saturated"]),
                styles[act],
                marker="o",
                color=col,
                label=title,
            )
        ax.set_xlabel("layer")
        ax.set_ylabel("std of the layer's activations (log scale)")
        ax.set_title("Spread of the activations")
        ax.set_xticks(layers)
        ax.legend(fontsize=8, loc="lower left")
        bx.set_xlabel("layer")
        bx.set_ylabel("% of activations")
        bx.set_title(
            "Saturated or dead: sigmoid <0.1 or >0.9,\ntanh |a| > 0.9, ReLU exactly 0"
        )
        bx.set_xticks(layers)
        bx.set_ylim(-3, 103)
        bx.text(
            0.98,
            0.5,
            "The three ReLU curves coincide: the inits share the same\n"
            "random numbers, and scaling W does not change which\n"
            "pre-activations are negative. Sigmoid std 0.01 and\n"
            "Xavier stay at 0 % from layer 2 on.",
            transform=bx.transAxes,
            ha="right",
            va="center",
            fontsize=8.5,
            bbox={"fc": "white", "ec": "0.7", "alpha": 0.9},
        )
        fig.suptitle("Per-layer summary (same runs as the histograms)", fontsize=12)
        return save_figure(fig, out, "init_activations_summary", svg=size == "full")


def _forward_all(x, seed: int) -> dict[str, dict]:
    """Every configuration's activations and their per-layer statistics."""
    runs: dict[str, dict] = {}
    for key, (act, init, _) in CONFIGS.items():
        acts = forward_layers(x, act, init, seed=seed + 1)
        runs[key] = {
            "acts": acts,
            "mean": [float(a.mean()) for a in acts],
            "std": [float(a.std()) for a in acts],
            "saturated": [saturated_fraction(a, act) for a in acts],
            "near_zero": [float(np.mean(a < 0.1)) for a in acts],
            "near_one": [float(np.mean(a > 0.9)) for a in acts],
            "exact_zero": [float(np.mean(a == 0)) for a in acts],
        }
    return runs


def _table(runs: dict) -> list[dict[str, Any]]:
    """One row per configuration: mean ± std per layer, layer 5's saturation."""
    table = []
    for key, (act, _init, title) in CONFIGS.items():
        row = {"configuration": title}
        for layer in range(LAYERS):
            row[f"layer {layer + 1} mean ± std"] = (
                f"{fmt(runs[key]['mean'][layer], 2)} ± "
                f"{fmt(runs[key]['std'][layer], 2)}"
            )
        row["layer 5 saturated/dead"] = runs[key]["saturated"][-1]
        row["measure"] = _SATURATION[act]
        table.append(row)
    return table


def _captions(figures, st: dict, sat1: list[float]) -> dict[str, str]:
    """One caption per figure, with this run's numbers."""
    return {
        figures[0].name: (
            f"Histograms of each layer's activations (columns = layers 1–5): sigmoid "
            f"with std 1 piles up at 0 and 1 ({pct(sat1[-1])} saturated in layer 5), "
            "std 0.01 collapses to 0.5 (layer-5 std "
            f"{fmt(st['sigmoid_std0.01'][-1], 2)}), Xavier keeps a spread (layer-5 "
            f"std {fmt(st['sigmoid_xavier'][-1], 2)})."
        ),
        figures[1].name: (
            f"Per-layer std (log scale) and saturated or dead share: ReLU with std "
            f"0.01 falls to {fmt(st['relu_std0.01'][-1], 2)} by layer 5, Xavier to "
            f"{fmt(st['relu_xavier'][-1], 2)}, while He stays at "
            f"{fmt(st['relu_he'][-1], 2)}."
        ),
    }


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Forward the inputs for every configuration; write the figures and JSON.

    Result keys beyond the contract: ``configs`` {key: {"activation", "init",
    "label"}}, and ``stats`` {key: {"mean", "std", "saturated", "near_zero",
    "near_one", "exact_zero"}} with one value per layer (``near_zero``/``near_one``:
    fraction < 0.1 / > 0.9; ``exact_zero``: fraction == 0; ``saturated`` the
    activation's own measure, see ``saturation_measure``). ``xavier_std`` and
    ``glorot_std`` are the two Xavier stds of a 100x100 layer (equal).
    """
    size, seed, out = ctx.size, ctx.seed, ctx.out
    x = np.random.default_rng(seed).standard_normal((N_INPUTS, WIDTH))
    runs = _forward_all(x, seed)
    shape = (WIDTH, WIDTH)
    xavier_std = float(nninit.lecun_normal(shape, rng=0, dtype=np.float64).std())
    w_lecun = nninit.lecun_normal(shape, rng=seed, dtype=np.float64)
    w_glorot = nninit.xavier_normal(shape, rng=seed, dtype=np.float64)
    glorot_equal = bool(np.allclose(w_lecun, w_glorot))
    figures = [_plot_grid(runs, out, size), _plot_summary(runs, out, size)]
    table = _table(runs)
    stats = {
        k: {
            s: v[s]
            for s in ("mean", "std", "saturated", "near_zero", "near_one", "exact_zero")
        }
        for k, v in runs.items()
    }
    st = {k: v["std"] for k, v in stats.items()}
    sat1 = runs["sigmoid_std1"]["saturated"]
    captions = _captions(figures, st, sat1)
    return ctx.result(
        figures,
        table,
        captions=captions,
        table_after=figures[1].name,
        budget={"inputs": N_INPUTS, "layers": LAYERS, "units per layer": WIDTH},
        takeaways=[
            f"Activations: through five ReLU layers, std 0.01 shrinks the signal to "
            f"a std of {fmt(st['relu_std0.01'][-1], 2)}, He keeps it at "
            f"{fmt(st['relu_he'][-1], 2)}; sigmoid with std 1 saturates "
            f"({pct(sat1[-1])} of layer 5)."
        ],
        book_figures=[
            {
                "book": "Fig. 6-10, 6-11, 6-13, 6-14 (activation histograms; the "
                "book's code)",
                "figure": figures[0].name,
                "note": "all rows in one grid, shared axes; tanh row added",
            }
        ],
        stats=stats,
        configs={
            k: {"activation": a, "init": i, "label": t}
            for k, (a, i, t) in CONFIGS.items()
        },
        saturation_measure=_SATURATION,
        xavier_std=1.0 / math.sqrt(WIDTH),
        glorot_std=math.sqrt(2.0 / (2 * WIDTH)),
        xavier_sample_std=xavier_std,
        glorot_equals_xavier=glorot_equal,
        n_inputs=N_INPUTS,
        width=WIDTH,
        layers=LAYERS,
    )
