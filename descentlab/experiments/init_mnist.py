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
only (no model selection). Quick size: 500 iterations; full: the book's 2,000,
with the loss at iteration 1,900 reported next to the book's 2.30/0.21/0.09.
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


def _plot(
    runs: dict[str, dict], iterations: int, window: int, out: Path, size: str
) -> Path:
    chance = math.log(10)
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(1.6, 1))
        it = np.arange(1, iterations + 1)
        for key, (_, lab) in INITS.items():
            r = runs[key]
            ax.plot(it, r["loss"], color=COLORS[key], lw=0.6, alpha=0.25)
            ax.plot(
                it,
                r["smoothed"],
                color=COLORS[key],
                lw=2.0,
                zorder=3,
                label=f"{lab}: final {r['final_smoothed']:.3f}",
            )
            bx.plot(
                [0] + r["epoch_steps"],
                [r["initial_test_acc"]] + r["test_acc_curve"],
                "-o",
                ms=3,
                color=COLORS[key],
                label=lab,
                zorder=3,
            )
        ax.axhline(
            chance,
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
                f"book's code on this sample: {book}\nhere (smoothed): {here}",
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
            f"Training loss, moving average over {window} iterations (raw loss faint)"
        )
        ax.legend(loc="lower left")
        bx.axhline(10, color="black", ls=":", lw=1.0, zorder=1, label="chance, 10 %")
        bx.set_ylim(0, 100)
        bx.set_xlim(0, iterations)
        bx.set_xlabel("iteration")
        bx.set_ylabel("test accuracy (%)")
        bx.set_title("Accuracy on 1,000 held-out digits, per epoch")
        bx.legend(loc="center right")
        fig.suptitle(
            "ReLU MLP 784-100×4-10, SGD lr 0.01, batch 128, "
            f"{N_TRAIN:,} training digits",
            fontsize=12,
        )
        return save_figure(fig, out, NAME, svg=size == "full")


def _prose(runs: dict, iterations: int, window: int, size: str) -> dict[str, str]:
    fin = {k: runs[k]["final_smoothed"] for k in INITS}
    acc = {k: runs[k]["test_acc"] for k in INITS}
    learns = fin["std0.01"] > 2.2
    text = (
        f"After {iterations} iterations the mean loss of the last {window} batches is "
        f"{fin['std0.01']:.3f} with std 0.01, {fin['xavier']:.3f} with Xavier and "
        f"{fin['he']:.3f} with He; test accuracy {pct(acc['std0.01'])}, "
        f"{pct(acc['xavier'])} and {pct(acc['he'])}. "
        + (
            "With std 0.01 the net has not left the chance level (ln 10 ≈ 2.303): "
            "it does not learn at all. "
            if learns
            else ""
        )
        + (
            "He learns fastest. "
            if fin["he"] < fin["xavier"]
            else "Here Xavier ends below He. "
        )
    )
    if size == "full":
        at = {k: runs[k]["loss_at_1900"] for k in INITS}
        text += (
            f"At iteration {BOOK_ITERATION} the smoothed losses are "
            f"{at['std0.01']:.2f}, {at['xavier']:.2f} and {at['he']:.2f}; the "
            "book's code run on this sample gave "
            + " / ".join(f"{v:.2f}" for v in BOOK_LOSS.values())
            + "."
        )
    else:
        full = full_result(NAME).get("loss_at_1900")
        if full:
            text += (
                f"At full size (see `descentlab report --full`; stored run, seed "
                f"{full_result(NAME).get('seed', 0)}) the smoothed losses at "
                f"iteration {BOOK_ITERATION} are "
                + " / ".join(f"{full[k]:.2f}" for k in INITS)
                + " against "
                + " / ".join(f"{v:.2f}" for v in BOOK_LOSS.values())
                + " for the book's code run on this sample; this quick run stops "
                f"at {iterations}."
            )
    return {"text": text}


@experiment(NAME)
def run(r: Run) -> dict[str, Any]:
    """Train the MLP from each initialisation; write the figure and JSON.

    Result keys beyond the contract: ``iterations``, ``window``, ``final_smoothed``
    {init: mean loss of the last ``window`` iterations}, ``test_acc`` {init: final
    test accuracy}, ``runs`` {init: {"loss", "smoothed", "epoch_steps",
    "test_acc_curve", ...}}, and at full size ``loss_at_1900`` {init: smoothed loss
    at iteration 1,900} with ``book_loss_at_1900``.
    """
    size, seed, out = r.size, r.seed, r.out
    iterations, window = ITERATIONS[size], WINDOW[size]
    splits = mnist_sample_splits(N_TRAIN, n_test=N_TEST, seed=seed, flatten=True)
    runs: dict[str, dict] = {}
    for key, (init, name) in INITS.items():
        status(name)
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
    figure = _plot(runs, iterations, window, out, size)
    table = []
    for key, (_, lab) in INITS.items():
        v = runs[key]
        row = {
            "init": lab,
            "initial loss": float(v["loss"][0]),
            f"final loss (mean of last {window})": v["final_smoothed"],
            "test acc": v["test_acc"],
        }
        if iterations >= BOOK_ITERATION:
            row[f"loss at it. {BOOK_ITERATION} (smoothed)"] = v["loss_at_1900"]
            row[f"book's code on this sample, it. {BOOK_ITERATION}"] = BOOK_LOSS[key]
        table.append(row)
    extra: dict[str, Any] = {}
    if iterations >= BOOK_ITERATION:
        extra["loss_at_1900"] = {k: runs[k]["loss_at_1900"] for k in INITS}
    p = _prose(runs, iterations, window, size)
    fin = {k: runs[k]["final_smoothed"] for k in INITS}
    return r.result(
        [figure],
        table,
        captions={
            figure.name: (
                f"Training loss (left) and test accuracy (right) per initial scale: "
                f"after {iterations} iterations std 0.01 is at "
                f"{fin['std0.01']:.2f} (chance 2.30), Xavier at {fin['xavier']:.2f}, "
                f"He at {fin['he']:.2f}."
            )
        },
        texts={figure.name: p["text"]},
        budget={
            "training digits": N_TRAIN,
            "iterations": iterations,
            "seeds": 1,
        },
        takeaways=[
            f"Initialisation: with std 0.01 a 5-layer ReLU net stays at the chance "
            f"loss ({fin['std0.01']:.2f}); He's scale reaches {fin['he']:.2f} in "
            f"{iterations} iterations (Xavier {fin['xavier']:.2f})."
        ],
        book_figures=[
            {
                "book": "Fig. 6-15 (init on MNIST; the book's code)",
                "figure": figure.name,
                "note": "4,000 sample digits; accuracy panel added",
            }
        ],
        iterations=iterations,
        window=window,
        lr=LR,
        batch_size=BATCH,
        runs=runs,
        final_smoothed=fin,
        test_acc={k: runs[k]["test_acc"] for k in INITS},
        book_loss_at_1900=BOOK_LOSS,
        **extra,
    )
