"""Experiment 5: weight initialisation decides whether a ReLU MLP learns at all.

Deep Learning from Scratch §6.2.4: the "5-layer" net of 100 units per layer is
the book's ``MultiLayerNet(784, [100, 100, 100, 100], 10)``, i.e. MLP
784-100-100-100-100-10 (four hidden ReLU layers of 100 units, five affine
layers), trained with plain SGD, lr 0.01, batch 128, from three initial weight
scales: std 0.01, "Xavier" (the book's: std = 1/sqrt(fan_in), ``init="lecun"``)
and He (std = sqrt(2/fan_in)). All three use the same standard-normal draws
(``MLP(seed=seed)``) scaled differently, and the same mini-batch order.

Data: 4,000 training digits of the shipped sample; the 1,000 held-out test
digits are evaluated after each epoch (32 iterations) for the accuracy curve
only (no model selection). Every seed draws its own split, initial weights and
batch order (the three inits of one seed share them); the figure draws the
median and the range (min–max) over the seeds. Quick size: 500 iterations, 3
seeds; full: the book's 2,000 iterations, 5 seeds, with the loss at iteration
1,900 reported next to the book's 2.30/0.21/0.09 (one run of its code).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import palette
from ..data import mnist_sample_splits
from ..models import MLP
from ..nn import SoftmaxCrossEntropy
from ..optim import SGD
from ..train import Callback, Trainer
from ._common import Run, experiment, plot_style, save_figure, smooth, status
from .api import full_result, pct

NAME = "init_mnist"
TITLE = "Weight initialisation on MNIST: std 0.01 vs Xavier vs He (ReLU MLP)"
FORMULA = (
    "W ~ N(0, σ²) in every layer, biases 0;  n = fan_in\n"
    "std 0.01:  σ = 0.01\n"
    "Xavier (book; LeCun normal):  σ = 1/√n\n"
    "He:  σ = √(2/n)   so that E[a_l²] = E[a_{l−1}²] through ReLU (which halves it)\n"
    "SGD: θ ← θ − 0.01·∇L,  batch 128;  chance level L = ln 10 ≈ 2.303"
)
EXPLANATION = (
    "The same ReLU MLP (784-100-100-100-100-10) is trained by plain SGD (lr 0.01, "
    "batch 128) from three weight scales that differ only by a constant factor. "
    "With std 0.01 the signal shrinks by about 14 times in every layer, so the "
    "logits are ~1e-6, the softmax is uniform and the loss sits at ln 10 ≈ 2.303; "
    "the gradients reaching the first layers shrink just as fast. Xavier (the "
    "book's std 1/√n, right for sigmoid/tanh) halves the mean square of the "
    "activations in each ReLU layer; He's std √(2/n) compensates the ReLU's "
    "halving exactly and keeps the signal and the gradients at scale in every layer."
)

SIZES_MLP = (784, 100, 100, 100, 100, 10)
LR, BATCH = 0.01, 128
N_TRAIN, N_TEST = 4000, 1000
ITERATIONS = {"quick": 500, "full": 2000}
SEEDS = {"quick": 3, "full": 5}
WINDOW = {"quick": 20, "full": 50}
BOOK_ITERATION = 1900
BOOK_LOSS = {"std0.01": 2.30, "xavier": 0.21, "he": 0.09}
#: key -> (init passed to MLP, label)
INITS: dict[str, tuple[str | float, str]] = {
    "std0.01": (0.01, "std = 0.01"),
    "xavier": ("lecun", "Xavier (std = 1/√n)"),
    "he": ("he", "He (std = √(2/n))"),
}
COLORS = {
    "std0.01": palette.color("init", "std=0.01"),
    "xavier": palette.color("init", "xavier"),
    "he": palette.color("init", "he"),
}


class EpochRecorder(Callback):
    """Record (global step, val_acc, val_loss) at the end of every epoch."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.steps: list[int] = []
        self.val_acc: list[float] = []
        self.val_loss: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.steps.append(int(self.trainer.global_step))
        logs = logs or {}
        self.val_acc.append(float(logs["val_acc"]))
        self.val_loss.append(float(logs["val_loss"]))


def train_seed(seed: int, iterations: int, window: int) -> dict[str, dict]:
    """Train the MLP from each initialisation on seed ``seed``'s split, weights and
    batch order; return {init: {"loss", "smoothed", "final_smoothed",
    "initial_loss", "initial_test_acc", "epoch_steps", "test_acc_curve",
    "test_acc", "test_loss", "seconds"}} (and the losses at iteration 1,900 when
    the run is that long)."""
    splits = mnist_sample_splits(N_TRAIN, n_test=N_TEST, seed=seed, flatten=True)
    runs: dict[str, dict] = {}
    for key, (init, name) in INITS.items():
        status(f"{name}, seed {seed}")
        t1 = time.perf_counter()
        model = MLP(SIZES_MLP, activation="relu", init=init, seed=seed)
        opt = SGD(model.parameters(), lr=LR)
        initial = Trainer(model, SoftmaxCrossEntropy(), opt, verbose=0).evaluate(
            *splits.test
        )
        recorder = EpochRecorder()
        trainer = Trainer(
            model,
            SoftmaxCrossEntropy(),
            opt,
            callbacks=[recorder],
            verbose=0,
            on_interrupt="raise",
        )
        trainer.fit(
            splits.train,
            val=splits.test,
            max_steps=iterations,
            batch_size=BATCH,
            seed=seed,
        )
        loss = np.asarray(trainer.history.step["loss"])
        sm = smooth(loss, window)
        runs[key] = {
            "loss": loss,
            "smoothed": sm,
            "final_smoothed": float(sm[-1]),
            "initial_loss": float(loss[0]),
            "initial_test_acc": 100 * initial["acc"],
            "epoch_steps": recorder.steps,
            "test_acc_curve": [100 * a for a in recorder.val_acc],
            "test_acc": recorder.val_acc[-1],
            "test_loss": recorder.val_loss[-1],
            "seconds": time.perf_counter() - t1,
        }
        if iterations >= BOOK_ITERATION:
            runs[key]["loss_at_1900"] = float(sm[BOOK_ITERATION - 1])
            runs[key]["raw_loss_at_1900"] = float(loss[BOOK_ITERATION - 1])
    return runs


def summarize(per_seed: list[dict[str, dict]]) -> dict[str, dict]:
    """Per init: the first seed's raw loss, and over the seeds the median, min and
    max of the smoothed loss and of the test-accuracy curve, plus each seed's
    final numbers ("seed_final", "seed_test_acc", ...)."""
    runs: dict[str, dict] = {}
    for key in INITS:
        seeds = [s[key] for s in per_seed]
        sm = np.array([r["smoothed"] for r in seeds])
        acc = np.array([[r["initial_test_acc"], *r["test_acc_curve"]] for r in seeds])
        final = [r["final_smoothed"] for r in seeds]
        test = [r["test_acc"] for r in seeds]
        entry: dict[str, Any] = {
            "loss": seeds[0]["loss"],
            "seed_smoothed": sm,
            "smoothed": np.median(sm, axis=0),
            "smoothed_lo": sm.min(axis=0),
            "smoothed_hi": sm.max(axis=0),
            "epoch_steps": seeds[0]["epoch_steps"],
            "seed_acc_curve": acc,
            "acc_curve": np.median(acc, axis=0),
            "acc_curve_lo": acc.min(axis=0),
            "acc_curve_hi": acc.max(axis=0),
            "seed_final": final,
            "seed_test_acc": test,
            "seed_initial_loss": [r["initial_loss"] for r in seeds],
            "final_smoothed": float(np.median(final)),
            "final_range": [min(final), max(final)],
            "test_acc": float(np.median(test)),
            "test_acc_range": [min(test), max(test)],
            "seconds": sum(r["seconds"] for r in seeds),
        }
        if "loss_at_1900" in seeds[0]:
            at = [r["loss_at_1900"] for r in seeds]
            entry["seed_loss_at_1900"] = at
            entry["loss_at_1900"] = float(np.median(at))
        runs[key] = entry
    return runs


def _plot(
    runs: dict[str, dict],
    iterations: int,
    window: int,
    n_seeds: int,
    out: Path,
    size: str,
) -> Path:
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 6), width_ratios=(1.6, 1))
        it = np.arange(1, iterations + 1)
        for key, (_, lab) in INITS.items():
            r = runs[key]
            c = COLORS[key]
            ax.plot(it, r["loss"], color=c, lw=0.5, alpha=0.18)
            ax.fill_between(it, r["smoothed_lo"], r["smoothed_hi"], color=c, alpha=0.3)
            lo, hi = r["final_range"]
            ax.plot(
                it,
                r["smoothed"],
                color=c,
                lw=2.0,
                zorder=3,
                label=f"{lab}: final {r['final_smoothed']:.3f} ({lo:.3f}–{hi:.3f})",
            )
            steps = [0, *r["epoch_steps"]]
            bx.fill_between(
                steps, r["acc_curve_lo"], r["acc_curve_hi"], color=c, alpha=0.3
            )
            bx.plot(steps, r["acc_curve"], "-o", ms=3, color=c, label=lab, zorder=3)
        _label_loss_axes(ax, runs, iterations, window, n_seeds)
        _label_accuracy_axes(bx, iterations, n_seeds)
        fig.suptitle(
            "ReLU MLP 784-100×4-10, SGD lr 0.01, batch 128, "
            f"{N_TRAIN:,} training digits",
            fontsize=12,
        )
        return save_figure(fig, out, NAME, svg=size == "full")


def _label_loss_axes(ax, runs: dict, iterations: int, window: int, n_seeds: int):
    """Chance level, the book's iteration-1,900 losses (when the run reaches
    it), limits, labels and legend of the loss panel."""
    ax.axhline(
        math.log(10),
        color="black",
        ls=":",
        lw=1.0,
        zorder=1,
        label="ln 10 = 2.303 (chance level)",
    )
    if iterations >= BOOK_ITERATION:
        ax.axvline(BOOK_ITERATION, color="0.4", ls="--", lw=0.8, zorder=1)
        book = " / ".join(f"{v:.2f}" for v in BOOK_LOSS.values())
        here = " / ".join(f"{runs[k]['loss_at_1900']:.2f}" for k in INITS)
        ax.text(
            BOOK_ITERATION - 20,
            1.4,
            "loss at iteration 1,900 (std 0.01 / Xavier / He)\n"
            f"book's code on this sample: {book}\nhere (smoothed, median): {here}",
            ha="right",
            va="bottom",
            fontsize=8.5,
            bbox={"fc": "white", "ec": "none", "alpha": 0.8},
        )
    ax.set_xlim(0, iterations)
    ax.set_ylim(0, 2.6)
    ax.set_xlabel("iteration (mini-batch of 128)")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title(
        f"Training loss, moving average over {window} iterations: median and "
        f"range over {n_seeds} seeds\n(faint: raw loss of the first seed)",
        fontsize=10,
    )
    ax.legend(  # below the axes: inside, it covers curves at one size or another
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=2,
        fontsize=8.5,
        title="final: median (min–max)",
    )


def _label_accuracy_axes(bx, iterations: int, n_seeds: int) -> None:
    """Chance level, limits, labels and legend of the accuracy panel."""
    bx.axhline(10, color="black", ls=":", lw=1.0, zorder=1, label="chance, 10 %")
    bx.set_ylim(0, 100)
    bx.set_xlim(0, iterations)
    bx.set_xlabel("iteration")
    bx.set_ylabel("test accuracy (%)")
    bx.set_title(
        f"Accuracy on {N_TEST:,} held-out digits per epoch:\nmedian and range "
        f"over {n_seeds} seeds",
        fontsize=10,
    )
    bx.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8.5)


def _span(values: list[float], digits: int = 3) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"


def _prose(
    runs: dict, iterations: int, window: int, seeds: list[int], size: str
) -> dict[str, str]:
    fin = {k: runs[k]["final_smoothed"] for k in INITS}
    acc = {k: runs[k]["test_acc"] for k in INITS}
    n = len(seeds)
    he, xa = runs["he"]["seed_final"], runs["xavier"]["seed_final"]
    he_wins = sum(h < x for h, x in zip(he, xa, strict=True))
    stuck = max(runs["std0.01"]["seed_final"]) > 2.2
    text = (
        f"Seeds {seeds[0]}–{seeds[-1]}: each seed draws its own split, initial "
        "weights and batch order; the three inits of one seed share them. After "
        f"{iterations} iterations the mean loss of the last {window} batches is "
        f"(median over {n} seeds, range in brackets) {fin['std0.01']:.3f} "
        f"({_span(runs['std0.01']['seed_final'])}) with std 0.01, "
        f"{fin['xavier']:.3f} ({_span(xa)}) with Xavier and {fin['he']:.3f} "
        f"({_span(he)}) with He; median test accuracy {pct(acc['std0.01'])}, "
        f"{pct(acc['xavier'])} and {pct(acc['he'])}. "
        + (
            "With std 0.01 no seed has left the chance level (ln 10 ≈ 2.303): "
            "it does not learn at all. "
            if stuck
            else ""
        )
        + (
            f"He ends below Xavier on every one of the {n} seeds: He learns fastest. "
            if he_wins == n
            else f"He ends below Xavier on {he_wins} of the {n} seeds, so this run "
            "does not rank the two. "
        )
    )
    if size == "full":
        at = {k: runs[k]["loss_at_1900"] for k in INITS}
        text += (
            f"At iteration {BOOK_ITERATION} the smoothed losses (median) are "
            f"{at['std0.01']:.2f}, {at['xavier']:.2f} and {at['he']:.2f}; the "
            "book's code run on this sample gave "
            + " / ".join(f"{v:.2f}" for v in BOOK_LOSS.values())
            + " (one run)."
        )
    else:
        stored = full_result(NAME)
        full = stored.get("loss_at_1900")
        if full:
            which = (
                f"seeds {stored['seeds'][0]}–{stored['seeds'][-1]}, median"
                if len(stored.get("seeds", [])) > 1
                else f"seed {stored.get('seed', 0)}"
            )
            text += (
                f"At full size (see `descentlab report --full`; stored run, {which}) "
                f"the smoothed losses at iteration {BOOK_ITERATION} are "
                + " / ".join(f"{full[k]:.2f}" for k in INITS)
                + " against "
                + " / ".join(f"{v:.2f}" for v in BOOK_LOSS.values())
                + " for the book's code run on this sample; this quick run stops "
                f"at {iterations}."
            )
    return {"text": text}


@experiment(NAME)
def run(r: Run) -> dict[str, Any]:
    """Train the MLP from each initialisation on several seeds; figure and JSON.

    Result keys beyond the contract: ``iterations``, ``window``, ``seeds``,
    ``final_smoothed`` {init: median over the seeds of the mean loss of the last
    ``window`` iterations}, ``test_acc`` {init: median final test accuracy},
    ``final_range`` and ``test_acc_range`` {init: [min, max] over the seeds},
    ``runs`` {init: {"loss" (first seed), "seed_smoothed" (seeds x iterations),
    "smoothed"/"smoothed_lo"/"smoothed_hi" (median, min, max over the seeds),
    "epoch_steps", "seed_acc_curve", "acc_curve", "acc_curve_lo", "acc_curve_hi"
    (test accuracy in %, before training and per epoch), "seed_final",
    "seed_test_acc", ...}}, and at full size ``loss_at_1900`` {init: median
    smoothed loss at iteration 1,900} with ``book_loss_at_1900``.
    """
    size, out = r.size, r.out
    iterations, window = ITERATIONS[size], WINDOW[size]
    seeds = list(range(r.seed, r.seed + SEEDS[size]))
    runs = summarize([train_seed(s, iterations, window) for s in seeds])
    figure = _plot(runs, iterations, window, len(seeds), out, size)
    table = []
    for key, (_, lab) in INITS.items():
        v = runs[key]
        row = {
            "init": lab,
            "initial loss (median)": float(np.median(v["seed_initial_loss"])),
            f"final loss, mean of last {window} (median)": v["final_smoothed"],
            "final loss (min–max)": _span(v["seed_final"]),
            "test acc (median)": v["test_acc"],
            "test acc (min–max)": _span(v["seed_test_acc"]),
        }
        if iterations >= BOOK_ITERATION:
            row[f"loss at it. {BOOK_ITERATION} (smoothed, median)"] = v["loss_at_1900"]
            row[f"book's code on this sample, it. {BOOK_ITERATION}"] = BOOK_LOSS[key]
        table.append(row)
    extra: dict[str, Any] = {}
    if iterations >= BOOK_ITERATION:
        extra["loss_at_1900"] = {k: runs[k]["loss_at_1900"] for k in INITS}
    p = _prose(runs, iterations, window, seeds, size)
    fin = {k: runs[k]["final_smoothed"] for k in INITS}
    return r.result(
        [figure],
        table,
        table_after=figure.name,
        captions={
            figure.name: (
                f"Training loss (left) and test accuracy (right) per initial scale, "
                f"median and range over {len(seeds)} seeds: after {iterations} "
                f"iterations std 0.01 is at {fin['std0.01']:.2f} (chance 2.30), "
                f"Xavier at {fin['xavier']:.2f}, He at {fin['he']:.2f}."
            )
        },
        texts={figure.name: p["text"]},
        budget={
            "training digits": N_TRAIN,
            "iterations": iterations,
            "seeds": len(seeds),
        },
        takeaways=[
            f"Initialisation: with std 0.01 a 5-layer ReLU net stays at the chance "
            f"loss ({fin['std0.01']:.2f}); He's scale reaches {fin['he']:.2f} in "
            f"{iterations} iterations (Xavier {fin['xavier']:.2f}; medians over "
            f"{len(seeds)} seeds)."
        ],
        book_figures=[
            {
                "book": "Fig. 6-15 (init on MNIST; the book's code)",
                "figure": figure.name,
                "note": f"4,000 sample digits; median and range over {len(seeds)} "
                "seeds; accuracy panel added",
            }
        ],
        iterations=iterations,
        window=window,
        seeds=seeds,
        lr=LR,
        batch_size=BATCH,
        runs=runs,
        final_smoothed=fin,
        final_range={k: runs[k]["final_range"] for k in INITS},
        test_acc={k: runs[k]["test_acc"] for k in INITS},
        test_acc_range={k: runs[k]["test_acc_range"] for k in INITS},
        book_loss_at_1900=BOOK_LOSS,
        **extra,
    )
