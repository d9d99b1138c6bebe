"""Experiment 6: Batch Normalization makes training insensitive to the weight scale.

As in "Deep Learning from Scratch" §6.3.2: a ReLU MLP 784-100x5-10 is trained
on 1,000 MNIST digits with SGD (lr 0.01, batch 100) from 16 weight-init scales
std = logspace(0, -4, 16), once with BatchNorm1d after every hidden Linear and
once without; both nets get exactly the same initial weights for each std
(``MLP(seed=seed)`` draws the Linear weights in the same order, BN draws
nothing). The training accuracy is measured after every epoch in evaluation
mode (BN uses its running statistics), as the book's ``accuracy`` does.
Every seed draws its own 1,000 digits, initial weights and batch order; the
figures draw the median and the range (min–max) over the seeds, and a run that
diverged is marked, never counted as chance accuracy. Quick size: 10 epochs, 3
seeds; full: 20 epochs, 5 seeds.

The second part checks the BN "computational graph" result, the closed-form
backward pass dx = (1/n)·(1/σ)·(n·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)), against central
differences with ``descentlab.nn.gradcheck`` in float64.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import palette
from ..data import mnist_sample_splits
from ..models import MLP
from ..nn import BatchNorm1d, BatchNorm2d, SoftmaxCrossEntropy, gradcheck
from ..optim import SGD
from ..train import Callback, Trainer
from ._common import (
    Run,
    experiment,
    plot_style,
    save_figure,
    status,
)
from .api import fmt, pct

NAME = "batchnorm"
TITLE = "Batch Normalization across weight-init scales"
FORMULA = (
    "BN (train), per feature over the mini-batch of n:\n"
    "  μ = (1/n)·Σ x_i;  σ² = (1/n)·Σ (x_i − μ)²;  x̂_i = (x_i − μ)/√(σ² + ε);  "
    "y_i = γ·x̂_i + β\n"
    "Backward (the computational-graph result):\n"
    "  dγ = Σ dy_i·x̂_i;  dβ = Σ dy_i;  dx̂_i = γ·dy_i\n"
    "  dx_i = (1/n)·(1/√(σ² + ε))·(n·dx̂_i − Σ_j dx̂_j − x̂_i·Σ_j dx̂_j·x̂_j)\n"
    "Eval: x̂ = (x − running_mean)/√(running_var + ε),  "
    "running ← 0.9·running + 0.1·batch stat\n"
    "Net: 784-100×5-10, Linear → [BN] → ReLU, W ~ N(0, std²), "
    "std ∈ logspace(0, −4, 16); SGD lr 0.01, batch 100"
)
EXPLANATION = (
    "Each panel of the grid trains the same 6-layer ReLU network from one weight "
    "scale, with Batch Normalization (solid) and without (dashed), starting from "
    "identical weights. With BN every hidden layer's pre-activations are "
    "re-standardised to zero mean and unit variance, so the forward signal no "
    "longer depends on the scale of the hidden weights; the output layer, which "
    "has no BN after it, still does."
)

STDS = np.logspace(0, -4, 16)
HIDDEN = (100, 100, 100, 100, 100)
LR = 0.01
BATCH = 100
CONFIG = {
    "quick": {"n_train": 1000, "epochs": 10, "seeds": 3},
    "full": {"n_train": 1000, "epochs": 20, "seeds": 5},
}
#: He's std for the 100-input hidden layers, drawn as a reference line.
HE_STD = float(np.sqrt(2.0 / HIDDEN[0]))
#: Scales well below He's, where the small output layer causes the BN plateau.
SMALL_STD = 0.01
_BN, _PLAIN = palette.color("norm", "batchnorm"), palette.color("norm", "plain")


class OutputNorm(Callback):
    """Record ||W_out|| (Frobenius) of the output layer before and after each epoch."""

    def __init__(self, weight) -> None:
        self.weight = weight

    def on_train_begin(self, logs=None):
        self.values = [float(np.linalg.norm(self.weight.data))]

    def on_epoch_end(self, epoch, logs=None):
        self.values.append(float(np.linalg.norm(self.weight.data)))


def plateau_epochs(acc: list[float], level: float = 0.2) -> int | None:
    """Epochs before the accuracy first exceeds ``level`` (None: never in the run)."""
    for k, a in enumerate(acc):
        if a > level:
            return k
    return None


def train_one(
    std: float,
    batchnorm: bool,
    train: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Train the MLP from weight std ``std`` (with or without BN) on ``train``.

    Returns ``acc`` (training accuracy in eval mode before training and after
    each finished epoch), ``final_acc`` (eval-mode accuracy of the final
    weights: the last epoch's; None when the run diverged), ``diverged`` (the
    Trainer stopped on a non-finite loss or gradient) and ``nonfinite`` (its
    step and cause, or None).
    """
    model = MLP(
        (784, *HIDDEN, 10),
        activation="relu",
        init=float(std),
        batchnorm=batchnorm,
        seed=seed,
    )
    norms = OutputNorm([p for p in model.parameters() if p.data.ndim == 2][-1])
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=LR),
        callbacks=[norms],
        verbose=0,
        on_interrupt="raise",
    )
    acc0 = trainer.evaluate(*train)["acc"]
    with warnings.catch_warnings():  # the non-finite stop is expected and reported
        warnings.simplefilter("ignore", RuntimeWarning)
        hist = trainer.fit(train, val=train, epochs=epochs, batch_size=BATCH, seed=seed)
    acc = [acc0, *hist.epoch["val_acc"]]
    return {
        "acc": acc,
        # the last epoch's evaluation is that of the final weights
        "final_acc": None if hist.stopped == "nonfinite" else acc[-1],
        "diverged": hist.stopped == "nonfinite",
        "nonfinite": hist.nonfinite,
        "out_norm": norms.values,
    }


def check_bn_gradients(seed: int = 0) -> dict[str, dict[str, float]]:
    """Gradient-check BatchNorm1d and BatchNorm2d in train mode (float64).

    gamma and beta are set to random values (not 1 and 0) so that every term
    of the backward formula matters. Returns {layer: {"x"|"weight"|"bias": rel err}}.
    """
    rng = np.random.default_rng(seed)
    report = {}
    for layer, shape in ((BatchNorm1d(6), (10, 6)), (BatchNorm2d(3), (4, 3, 5, 5))):
        layer.train()
        c = layer.num_features
        layer.weight.data[...] = rng.uniform(0.5, 2.0, c)
        layer.bias.data[...] = rng.normal(0.0, 1.0, c)
        x = rng.normal(3.0, 2.0, shape)
        report[type(layer).__name__] = gradcheck(layer, x, seed=seed)
    return report


def aggregate(seed_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One scale's runs (with or without BN) over the seeds.

    The runs that diverged have no accuracy: the median ("final", "curve") and the
    range ("lo"/"hi", "curve_lo"/"curve_hi") are over the others, None when every
    seed diverged. "seed_final" is each seed's final accuracy (None: diverged).
    """
    ok = [r for r in seed_runs if not r["diverged"]]
    finals = [r["final_acc"] for r in ok]
    curves = np.array([r["acc"] for r in ok]) if ok else None
    stops = [r["nonfinite"]["step"] for r in seed_runs if r["diverged"]]
    return {
        "seed_final": [r["final_acc"] for r in seed_runs],
        "final": float(np.median(finals)) if ok else None,
        "lo": min(finals) if ok else None,
        "hi": max(finals) if ok else None,
        "curve": None if curves is None else np.median(curves, axis=0),
        "curve_lo": None if curves is None else curves.min(axis=0),
        "curve_hi": None if curves is None else curves.max(axis=0),
        "seed_curves": [r["acc"] for r in seed_runs],
        "n_seeds": len(seed_runs),
        "n_diverged": len(stops),
        "first_stop": min(stops) if stops else None,
        "causes": sorted({r["nonfinite"]["cause"] for r in seed_runs if r["diverged"]}),
    }


def bn_ahead_seeds(bn: dict, plain: dict) -> int:
    """Seeds on which BN ends with the higher accuracy (a diverged plain net counts
    as behind)."""
    return sum(
        p is None or (b is not None and b > p)
        for b, p in zip(bn["seed_final"], plain["seed_final"], strict=True)
    )


# ----------------------------------------------------------------------- plots


def _std_label(std: float) -> str:
    return f"std = {std:.3g}"


def _band(ax, x, agg: dict, color: str, ls: str) -> None:
    if agg["curve"] is None:
        return
    ax.fill_between(x, agg["curve_lo"], agg["curve_hi"], color=color, alpha=0.2, lw=0)
    ax.plot(x, agg["curve"], ls, color=color, lw=1.8)


def _scale_panel(ax, r: dict, ep, epochs: int, n_seeds: int) -> None:
    """One init scale: both bands, and the diverged seeds marked and counted."""
    bn, plain = r["bn"], r["plain"]
    _band(ax, ep, bn, _BN, "-")
    _band(ax, ep, plain, _PLAIN, "--")
    if plain["n_diverged"]:
        ax.plot(epochs, 1.0, "x", color=_PLAIN, ms=10, mew=2.5, clip_on=False)
        ax.text(
            0.97,
            0.5,
            f"no BN: non-finite loss on\n{plain['n_diverged']} of {n_seeds} "
            f"seeds (from step {plain['first_stop']}),\nstopped, not drawn",
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=8,
            color=_PLAIN,
        )
    ax.set_title(_std_label(r["std"]), fontsize=10)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, epochs)


def _grid_legend(plt, n_seeds: int) -> list:
    """The grid's legend entries: BN, no BN, the seed band, a stopped run."""
    return [
        plt.Line2D([], [], color=_BN, lw=1.8, label="with Batch Norm"),
        plt.Line2D(
            [],
            [],
            color=_PLAIN,
            lw=1.8,
            ls="--",
            label="without Batch Norm (same initial weights)",
        ),
        plt.Rectangle(
            (0, 0),
            1,
            1,
            color="0.6",
            alpha=0.4,
            label=f"range over {n_seeds} seeds",
        ),
        plt.Line2D(
            [],
            [],
            color=_PLAIN,
            ls="none",
            marker="x",
            ms=9,
            mew=2.5,
            label="training stopped: non-finite loss",
        ),
    ]


def _plot_grid(
    runs: list[dict], epochs: int, n_train: int, n_seeds: int, out: Path, size: str
) -> Path:
    ep = np.arange(epochs + 1)
    with plot_style() as plt:
        fig, axes = plt.subplots(4, 4, figsize=(13, 11.5), sharex=True, sharey=True)
        for ax, r in zip(axes.flat, runs, strict=False):
            _scale_panel(ax, r, ep, epochs, n_seeds)
        for ax in axes[-1]:
            ax.set_xlabel("epoch")
        for ax in axes[:, 0]:
            ax.set_ylabel("training accuracy")
        handles = _grid_legend(plt, n_seeds)
        fig.legend(handles=handles, loc="outside lower center", ncol=4)
        fig.suptitle(
            "Training accuracy vs epoch for 16 weight-init scales (panel title: "
            f"std of every weight), median and range over {n_seeds} seeds\n"
            f"MLP 784-100×5-10 (ReLU), {n_train:,} MNIST digits, SGD lr {LR:g}, "
            f"batch {BATCH}; accuracy in eval mode on the training set",
            fontsize=12,
        )
        return save_figure(fig, out, "batchnorm_grid", svg=size == "full")


def _nan(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _plot_summary(
    runs: list[dict], epochs: int, n_seeds: int, out: Path, size: str
) -> Path:
    stds = np.array([r["std"] for r in runs])
    div = np.array([r["plain"]["n_diverged"] > 0 for r in runs])
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(8, 5.2))
        for key, color, style, name in (
            ("bn", _BN, "-o", "with Batch Norm"),
            ("plain", _PLAIN, "--s", "without Batch Norm"),
        ):
            aggs = [r[key] for r in runs]
            lo, hi = _nan([a["lo"] for a in aggs]), _nan([a["hi"] for a in aggs])
            ax.fill_between(stds, lo, hi, color=color, alpha=0.2, lw=0)
            ax.semilogx(
                stds,
                _nan([a["final"] for a in aggs]),
                style,
                color=color,
                ms=5,
                label=f"{name} (median, range over {n_seeds} seeds)",
            )
        if div.any():
            ax.plot(
                stds[div],
                np.full(div.sum(), 1.0),
                "x",
                color=_PLAIN,
                ms=11,
                mew=2.5,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                label="without BN: diverged (non-finite loss) on some seed; "
                "those have no accuracy",
            )
        ax.axvline(HE_STD, color="0.4", ls=":", lw=1.2)
        ax.text(
            HE_STD * 1.08, 0.02, "He std √(2/100)", va="bottom", fontsize=8, color="0.3"
        )
        ax.axhline(0.1, color="0.6", lw=0.8)
        ax.text(stds.min() * 1.1, 0.12, "chance (10 %)", fontsize=8, color="0.4")
        ax.set_xlabel("weight init std (log scale)")
        ax.set_ylabel(f"training accuracy after {epochs} epochs")
        ax.set_ylim(-0.02, 1.05)
        wins = sum(_bn_ahead(r) for r in runs)
        ax.set_title(
            f"Final training accuracy vs init scale: BN's median ahead at {wins} of "
            f"{len(stds)} scales",
            fontsize=10.5,
        )
        fig.legend(loc="outside lower center", fontsize=8, ncol=2)
        return save_figure(fig, out, "batchnorm_summary", svg=size == "full")


def _plot_output_norm(
    runs: list[dict], epochs: int, n_seeds: int, out: Path, size: str
) -> Path:
    """||W_out|| per epoch of the BN nets (first seed), and where each leaves the
    chance plateau (every seed)."""
    with plot_style() as plt:
        cmap = plt.get_cmap("viridis")
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 4.6))
        stds = np.array([r["std"] for r in runs])
        for i, r in enumerate(runs):
            c = cmap(i / max(1, len(runs) - 1))
            norm = r["out_norm"]
            ax.semilogy(np.arange(len(norm)), norm, color=c, lw=1.3)
            k = r["plateau"][0]
            if k is not None:
                ax.plot(k, norm[k], "o", color=c, mec="black", ms=6)
        ax.set(
            xlabel="epoch",
            ylabel="||W_out|| of the output layer (log scale)",
            title="With BN, first seed: output-layer weight norm "
            "(dots: accuracy first > 20 %)",
        )
        ax.title.set_fontsize(10)
        sm = plt.cm.ScalarMappable(
            cmap=cmap, norm=plt.Normalize(vmin=0, vmax=len(runs) - 1)
        )
        cb = fig.colorbar(sm, ax=ax, ticks=[0, len(runs) - 1])
        cb.ax.set_yticklabels([f"std {stds[0]:.0e}", f"std {stds[-1]:.0e}"])
        never_y = epochs + 0.5
        per = np.array(
            [[never_y if p is None else p for p in r["plateau"]] for r in runs], float
        )
        med = np.median(per, axis=1)
        bx.fill_between(stds, per.min(1), per.max(1), color=_BN, alpha=0.2, lw=0)
        bx.semilogx(
            stds, med, "-o", color=_BN, label=f"median, range over {n_seeds} seeds"
        )
        never = per == never_y
        if never.any():
            rows, _ = np.nonzero(never)
            bx.plot(
                stds[rows],
                [never_y] * len(rows),
                "v",
                color="black",
                ms=8,
                label=f"a seed never left it within {epochs} epochs",
            )
        bx.legend(fontsize=8, loc="upper right")
        bx.set(
            xlabel="weight init std (log scale)",
            ylabel="epochs at chance before learning",
            title="With BN: length of the chance plateau",
        )
        bx.title.set_fontsize(10)
        return save_figure(fig, out, "batchnorm_output_norm", svg=size == "full")


def _bn_ahead(r: dict) -> bool:
    """BN's median ahead at this scale (or every plain seed diverged)."""
    b, p = r["bn"]["final"], r["plain"]["final"]
    return p is None or (b is not None and b > p)


def _bn_prose(runs: list[dict], epochs: int, n_seeds: int) -> dict[str, str]:
    """The paragraphs before the grid and the output-norm figures."""
    return {
        "grid": _grid_text(runs, epochs, n_seeds),
        "norm": _norm_text(runs, epochs, n_seeds),
    }


def _grid_text(runs: list[dict], epochs: int, n_seeds: int) -> str:
    """Which scales learn with and without BN, where seeds disagree, and why BN
    fails at the two ends of the scale range, from this run."""
    stds = [r["std"] for r in runs]
    bn_final = [r["bn"]["final"] for r in runs]
    plain = [r["plain"] for r in runs]
    diverged = [s for s, p in zip(stds, plain, strict=True) if p["n_diverged"]]
    all_div = [s for s, p in zip(stds, plain, strict=True) if p["final"] is None]
    learned_plain = [
        s
        for s, p in zip(stds, plain, strict=True)
        if p["final"] is not None and p["final"] > 0.5
    ]
    learned_bn = [s for s, a in zip(stds, bn_final, strict=True) if a > 0.5]
    i_max = int(np.argmax(bn_final))
    spread = [r["bn"]["hi"] - r["bn"]["lo"] for r in runs]
    i_spread = int(np.argmax(spread))
    around_he = bool(learned_plain) and min(learned_plain) <= HE_STD <= max(
        learned_plain
    )
    grid = (
        f"Each curve is the median over {n_seeds} seeds and the band their range "
        "(each seed draws its own training digits, initial weights and batch "
        "order). Without BN "
        + (
            f"{len(diverged)} of the {len(stds)} scales (std ≥ "
            f"{fmt(min(diverged), 2)}) blow the activations up until the loss is "
            "non-finite within a few steps"
            + (
                " on every seed"
                if all_div == diverged
                else f" on some seeds (on all {n_seeds} at {len(all_div)} scales)"
            )
            + "; those runs stopped and are marked ×, with no accuracy drawn. "
            if diverged
            else ""
        )
        + (
            f"Only {len(learned_plain)} scales ({fmt(min(learned_plain), 2)} to "
            f"{fmt(max(learned_plain), 2)}"
            + (", around He's √(2/100) ≈ 0.14" if around_he else "")
            + f") pass 50 % median training accuracy in {epochs} epochs; smaller "
            "weights shrink the signal layer by layer until the output is "
            "constant. "
            if learned_plain
            else f"No scale passes 50 % median training accuracy in {epochs} epochs. "
        )
        + f"With BN {len(learned_bn)} of the {len(stds)} scales pass 50 % "
        + (
            f"(std {fmt(min(learned_bn), 2)} to {fmt(max(learned_bn), 2)}); the "
            f"best median is {pct(bn_final[i_max])} (std {fmt(stds[i_max], 2)}). "
            if learned_bn
            else ". "
        )
        + f"The seeds disagree most at std {fmt(stds[i_spread], 2)}, where BN ends "
        f"between {pct(runs[i_spread]['bn']['lo'])} and "
        f"{pct(runs[i_spread]['bn']['hi'])}. "
        + (
            f"At std {fmt(stds[0], 2)} BN reaches only {pct(bn_final[0])} (the "
            "gradient of a normalised layer shrinks like 1/scale, so large weights "
            "learn slowly). "
            if bn_final[0] < 0.5
            else ""
        )
        + (
            f"At the smallest scale, std {fmt(stds[-1], 2)}, BN stays at "
            f"{pct(bn_final[-1])}: the first layer's pre-activation variance "
            "(std²·Σx²) falls below BN's ε = 1e-5, so the division by √(σ² + ε) no "
            "longer rescales and the signal dies as without BN."
            if bn_final[-1] < 0.2
            else ""
        )
    )
    return grid


def _norm_text(runs: list[dict], epochs: int, n_seeds: int) -> str:
    """How long BN's runs sit at chance, and the output layer's norm when they
    leave it, from this run."""
    base = [
        k
        for r in runs
        if 0.02 <= r["std"] <= 0.3
        for k in r["plateau"]
        if k is not None
    ]
    small = [
        (r, r["plateau"][0]) for r in runs if r["plateau"][0] and r["std"] < SMALL_STD
    ]
    starts = [r["out_norm"][k] / r["out_norm"][0] for r, k in small]
    left = [
        (k, r["std"])
        for r in runs
        if r["std"] < SMALL_STD
        for k in r["plateau"]
        if k is not None
    ]
    longest = max((k for k, _ in left), default=0)
    at = sorted({std for k, std in left if k == longest})
    never = [r["std"] for r in runs if all(k is None for k in r["plateau"])]
    norm = (
        f"With BN every scale from 0.02 to 0.3 spends {min(base, default=0)}–"
        f"{max(base, default=0)} epochs at chance on the {n_seeds} seeds (accuracy "
        f"≤ 20 %; at lr {LR:g} and {BATCH} digits per step the first few dozen "
        "steps are slow whatever the scale). Why the plateau grows at the small "
        "scales: the output layer has no BN after it. Its weights start at the "
        "init std, so the logits start near 0 and the softmax is uniform; the "
        "gradient that reaches the hidden layers is multiplied by these small "
        "output weights, so they barely move, while the output layer's own "
        "gradient (its inputs are normalised, of order 1) makes its weights grow "
        f"steadily. Learning starts once ||W_out|| has grown: for the scales below "
        f"{SMALL_STD:g} that leave the plateau on the first seed, at the dots it is "
        + (
            f"{fmt(min(starts), 2)}–{fmt(max(starts), 2)} times its initial norm. "
            if starts
            else "— no such run leaves the plateau in this budget. "
        )
        + (
            f"The longest plateau that ends within the run lasts {longest} epochs "
            f"(std {', '.join(fmt(v, 2) for v in at)}). "
            if longest
            else ""
        )
        + (
            f"At std {', '.join(fmt(v, 2) for v in never)} no seed leaves it in "
            f"{epochs} epochs."
            if never
            else ""
        )
    )
    return norm


# ----------------------------------------------------------------------- run


def _train_scales(cfg: dict, seeds: list[int]) -> list[dict[str, Any]]:
    """Every scale, with and without BN, on every seed (its own digits, weights and
    batch order): [{"std", "bn", "plain" (aggregates), "plateau" (per seed),
    "out_norm" (first seed)}]."""
    per: dict[float, dict[str, list]] = {
        float(s): {"bn": [], "plain": []} for s in STDS
    }
    for s_ in seeds:
        train = mnist_sample_splits(
            cfg["n_train"], n_test=0, seed=s_, flatten=True
        ).train
        for i, std in enumerate(STDS, start=1):
            status(f"init std {std:.3g} ({i}/{len(STDS)}), seed {s_}")
            for key, with_bn in (("bn", True), ("plain", False)):
                per[float(std)][key].append(
                    train_one(std, with_bn, train, epochs=cfg["epochs"], seed=s_)
                )
    runs = []
    for std, v in per.items():
        bn, plain = aggregate(v["bn"]), aggregate(v["plain"])
        runs.append(
            {
                "std": std,
                "bn": bn,
                "plain": plain,
                "bn_diverged": any(r["diverged"] for r in v["bn"]),
                "plateau": [plateau_epochs(r["acc"]) for r in v["bn"]],
                "out_norm": v["bn"][0]["out_norm"],
                "bn_ahead_seeds": bn_ahead_seeds(bn, plain),
            }
        )
    return runs


def _span(lo: float | None, hi: float | None) -> str | None:
    return None if lo is None or hi is None else f"{lo:.3f}–{hi:.3f}"


def _table(runs: list[dict], grads: dict, n_seeds: int) -> list[dict]:
    table = []
    for r in runs:
        bn, plain = r["bn"], r["plain"]
        note = ""
        if plain["n_diverged"]:
            note = (
                f"no BN stopped on {plain['n_diverged']} of {n_seeds} seeds, first "
                f"at step {plain['first_stop']}: {'; '.join(plain['causes'])}"
            )
        table.append(
            {
                "weight init std": r["std"],
                "train acc with BN (median)": bn["final"],
                "with BN (min–max)": _span(bn["lo"], bn["hi"]),
                "train acc without BN (median)": plain["final"],
                "without BN (min–max)": _span(plain["lo"], plain["hi"]),
                "BN ahead (seeds)": f"{r['bn_ahead_seeds']}/{n_seeds}",
                "note": note,
            }
        )
    blank = dict.fromkeys(table[0])
    for layer, errs in grads.items():
        table.append(
            {
                **blank,
                "note": f"gradcheck {layer} (train mode, float64), relative error: "
                + ", ".join(
                    f"d{k if k == 'x' else ('γ' if k == 'weight' else 'β')} {v:.1e}"
                    for k, v in errs.items()
                ),
            }
        )
    return table


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Train 16 scales x {BN, no BN} on several seeds; gradient-check BN; write
    figures and JSON.

    Result keys beyond the contract (lists of 16, one per std): ``stds``,
    ``seeds``, ``final_acc_bn`` and ``final_acc_plain`` (median over the seeds
    that did not diverge; None when all did), ``final_range_bn`` and
    ``final_range_plain`` ([min, max] or None), ``seed_final_acc_bn`` and
    ``seed_final_acc_plain`` (per seed; None = diverged), ``acc_bn`` and
    ``acc_plain`` (median per-epoch curves, None when every seed diverged) with
    ``acc_bn_lo``/``acc_bn_hi``/``acc_plain_lo``/``acc_plain_hi`` (the band),
    ``seed_acc_bn``/``seed_acc_plain`` (each seed's curve; a diverged run's is
    shorter), ``diverged_plain`` (every seed diverged), ``n_diverged_plain``,
    ``diverged_bn`` (any seed), ``bn_wins`` (scales where BN's median is ahead),
    ``bn_wins_every_seed``, ``plateau_bn`` and ``out_norm_bn`` (first seed),
    ``plateau_bn_seeds``, ``gradcheck`` {layer: {"x", "weight", "bias"}},
    ``gradcheck_max``, ``epochs``, ``n_train``.
    """
    size, out = ctx.size, ctx.out
    cfg = CONFIG[size]
    seeds = list(range(ctx.seed, ctx.seed + cfg["seeds"]))
    n = len(seeds)
    runs = _train_scales(cfg, seeds)
    grads = check_bn_gradients(ctx.seed)
    figures = [
        _plot_grid(runs, cfg["epochs"], cfg["n_train"], n, out, size),
        _plot_summary(runs, cfg["epochs"], n, out, size),
        _plot_output_norm(runs, cfg["epochs"], n, out, size),
    ]
    prose = _bn_prose(runs, cfg["epochs"], n)
    final_bn = [r["bn"]["final"] for r in runs]
    final_plain = [r["plain"]["final"] for r in runs]
    n_bn = sum(a > 0.5 for a in final_bn)
    n_plain = sum(p is not None and p > 0.5 for p in final_plain)
    wins = sum(_bn_ahead(r) for r in runs)
    every = sum(r["bn_ahead_seeds"] == n for r in runs)

    def series(key: str, field: str) -> list:
        return [r[key][field] for r in runs]

    return ctx.result(
        figures,
        _table(runs, grads, n),
        stds=STDS,
        seeds=seeds,
        final_acc_bn=final_bn,
        final_acc_plain=final_plain,
        final_range_bn=[[r["bn"]["lo"], r["bn"]["hi"]] for r in runs],
        final_range_plain=[
            None if r["plain"]["lo"] is None else [r["plain"]["lo"], r["plain"]["hi"]]
            for r in runs
        ],
        seed_final_acc_bn=series("bn", "seed_final"),
        seed_final_acc_plain=series("plain", "seed_final"),
        acc_bn=series("bn", "curve"),
        acc_bn_lo=series("bn", "curve_lo"),
        acc_bn_hi=series("bn", "curve_hi"),
        acc_plain=series("plain", "curve"),
        acc_plain_lo=series("plain", "curve_lo"),
        acc_plain_hi=series("plain", "curve_hi"),
        seed_acc_bn=series("bn", "seed_curves"),
        seed_acc_plain=series("plain", "seed_curves"),
        diverged_plain=[r["plain"]["final"] is None for r in runs],
        n_diverged_plain=series("plain", "n_diverged"),
        diverged_bn=[r["bn_diverged"] for r in runs],
        bn_wins=wins,
        bn_wins_every_seed=every,
        plateau_bn=[r["plateau"][0] for r in runs],
        plateau_bn_seeds=[r["plateau"] for r in runs],
        out_norm_bn=[r["out_norm"] for r in runs],
        texts={
            "batchnorm_grid.png": prose["grid"],
            "batchnorm_output_norm.png": prose["norm"],
        },
        table_after="batchnorm_summary.png",
        budget={
            "training digits": cfg["n_train"],
            "epochs": cfg["epochs"],
            "scales": len(STDS),
            "seeds": n,
        },
        takeaways=[
            f"Batch Norm: {n_bn} of {len(STDS)} weight scales learn (median over "
            f"{n} seeds above 50 %) with BN against {n_plain} without, in "
            f"{cfg['epochs']} epochs; BN is ahead on every seed at {every} scales."
        ],
        book_figures=[
            {
                "book": "Fig. 6-19 (BN vs init scale; the book's code)",
                "figure": "batchnorm_grid.png",
                "note": f"median and range over {n} seeds; diverged runs marked, "
                "not drawn as chance",
            }
        ],
        gradcheck=grads,
        gradcheck_max=max(v for e in grads.values() for v in e.values()),
        epochs=cfg["epochs"],
        n_train=cfg["n_train"],
        lr=LR,
        batch_size=BATCH,
        captions={
            "batchnorm_grid.png": "Training accuracy per epoch, with (solid) and "
            "without (dashed) Batch Normalization, one panel per weight-init std: "
            f"median and range over {n} seeds.",
            "batchnorm_summary.png": (
                f"Final training accuracy against the weight-init std (log scale), "
                f"median and range over {n} seeds: with BN {n_bn} of {len(STDS)} "
                f"scales end above 50 %, without {n_plain}; × = diverged on some "
                "seed (no accuracy)."
            ),
            "batchnorm_output_norm.png": (
                "With BN: the output layer's weight norm per epoch on the first "
                "seed (dots: the epoch the accuracy first passes 20 %) and the "
                f"length of the chance plateau per scale over {n} seeds."
            ),
        },
    )
