"""Experiment 7: overfitting on 300 digits, and weight decay and dropout against it.

As in "Deep Learning from Scratch" §6.4: a deep ReLU MLP 784-100x6-10 (He init)
is trained on only 300 MNIST digits with SGD (lr 0.01, batch 100) for 201
epochs, four ways: no regularisation, L2 weight decay λ = 0.1, dropout p = 0.2
after every hidden layer, and both. Train and test accuracy (1,000 held-out
digits) are measured in evaluation mode (dropout off) during training.

Weight decay. The book adds 0.5·λ·Σ||W||² (all weight matrices, no biases) to
the loss; its gradient is λ·W, so the update is W ← W − lr·(∂L/∂W + λ·W). That
is exactly ``SGD(..., weight_decay=λ)``, which adds λ·θ to the gradient of the
parameters of its group. ``descentlab.models.param_groups(model, λ)`` puts the
weight matrices in a group with weight_decay λ and the biases in one with 0,
matching the book. (The training loss the Trainer records is the data loss,
without the penalty term.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist_sample_splits
from ..models import MLP, param_groups
from ..nn import SoftmaxCrossEntropy
from ..optim import SGD
from ..train import Callback, Trainer
from ._common import (
    SERIES_COLORS,
    check_size,
    make_result,
    plot_style,
    prepare_out,
    save_figure,
    status,
)

NAME = "regularization"
TITLE = "Overfitting, weight decay and dropout"
FORMULA = (
    "Weight decay (L2):  L' = L + 0.5·λ·Σ_l ||W_l||²   ⇒   ∂L'/∂W = ∂L/∂W + λ·W\n"
    "  SGD step:  W ← W − lr·(∂L/∂W + λ·W)   = SGD(weight_decay=λ) on the weights "
    "(biases not decayed);  λ = 0.1\n"
    "Dropout (inverted), per hidden unit in training:  m ~ Bernoulli(1 − p),  "
    "h ← h·m/(1 − p);  eval: h unchanged;  p = 0.2\n"
    "Gap = train accuracy − test accuracy\n"
    "Net: 784-100×6-10 ReLU (He init); 300 training digits, 1,000 test digits; "
    "SGD lr 0.01, batch 100, 201 epochs"
)
EXPLANATION = (
    "With 300 training digits and about 80,000 weights the plain network memorises "
    "its training set: training accuracy reaches 100 % while test accuracy stalls "
    "near 80 %, a gap of about 20 points. Weight decay penalises large weights "
    "(0.5·λ·||W||² in the loss, which is the same as adding λ·W to every weight's "
    "gradient) and dropout trains a random thinned network at every step; both keep "
    "the network from fitting every training digit, so training accuracy stays "
    "below 100 % and the train-test gap (second figure) is smaller: about 0.13-0.17 "
    "against 0.19-0.21 without regularisation over split/init seeds 0-3. "
    "The price is slower learning: at this small learning rate the regularised nets "
    "are still improving after 201 epochs, and with both regularisers at once the "
    "net barely leaves chance level within the budget (regularisation can be "
    "overdone). Regularisation narrows the gap; it does not by itself raise test "
    "accuracy here. The book's figures for its own code on this sample are "
    "1.00/0.80 (train/test) without and 0.90/0.73 with weight decay 0.1, listed in "
    "the table beside ours."
)

HIDDEN = (100,) * 6
LR = 0.01
BATCH = 100
N_TRAIN = 300
N_TEST = 1000
#: name -> (weight decay λ, dropout p)
VARIANTS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "weight decay 0.1": (0.1, 0.0),
    "dropout 0.2": (0.0, 0.2),
    "weight decay 0.1 + dropout 0.2": (0.1, 0.2),
}
#: Train/test accuracy the book's code reaches on this sample (GUIDE §7).
BOOK = {"none": "1.00 / 0.80", "weight decay 0.1": "0.90 / 0.73"}
#: Quick size evaluates every 10th epoch only; the training is the same.
CONFIG = {
    "quick": {"epochs": 201, "eval_every": 10},
    "full": {"epochs": 201, "eval_every": 1},
}


class AccuracyMonitor(Callback):
    """Record train and test accuracy (eval mode) every ``every`` epochs and at the end."""

    def __init__(self, train: tuple[Any, Any], test: tuple[Any, Any], every: int):
        self.train, self.test, self.every = train, test, int(every)

    def on_train_begin(self, logs=None):
        self.epochs, self.train_acc, self.test_acc = [], [], []
        self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every == 0 or done == self.trainer.epochs:
            self._record(done)

    def _record(self, epoch: int) -> None:
        self.epochs.append(epoch)
        self.train_acc.append(self.trainer.evaluate(*self.train)["acc"])
        self.test_acc.append(self.trainer.evaluate(*self.test)["acc"])


def train_variant(
    weight_decay: float,
    dropout: float,
    train,
    test,
    *,
    epochs: int,
    eval_every: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Train one variant; return ``epochs``, ``train_acc``, ``test_acc`` (eval mode)."""
    model = MLP(
        (784, *HIDDEN, 10), activation="relu", init="he", dropout=dropout, seed=seed
    )
    optimizer = SGD(param_groups(model, weight_decay), lr=LR)
    monitor = AccuracyMonitor(train, test, eval_every)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        optimizer,
        callbacks=[monitor],
        verbose=0,
        on_interrupt="raise",
    )
    trainer.fit(train, epochs=epochs, batch_size=BATCH, seed=seed)
    return {
        "epochs": monitor.epochs,
        "train_acc": monitor.train_acc,
        "test_acc": monitor.test_acc,
    }


# ----------------------------------------------------------------------- plots


def _colors() -> dict[str, str]:
    return {
        name: SERIES_COLORS[i]
        for i, name in enumerate(
            (
                "none",
                "weight decay 0.1",
                "dropout 0.2",
                "weight decay 0.1 + dropout 0.2",
            )
        )
    }


def _plot_curves(runs: dict[str, dict], out: Path, size: str) -> Path:
    colors = _colors()
    with plot_style() as plt:
        fig, axes = plt.subplots(2, 2, figsize=(11.5, 8), sharex=True, sharey=True)
        for ax, (name, r) in zip(axes.flat, runs.items()):
            c = colors[name]
            ax.plot(
                r["epochs"], r["train_acc"], "-", color=c, label="train (300 digits)"
            )
            ax.plot(
                r["epochs"], r["test_acc"], "--", color=c, label="test (1,000 digits)"
            )
            ax.fill_between(
                r["epochs"],
                r["test_acc"],
                r["train_acc"],
                color=c,
                alpha=0.12,
                lw=0,
                label="gap",
            )
            ax.set_title(
                f"{name}: train {r['train_acc'][-1]:.2f}, test "
                f"{r['test_acc'][-1]:.2f}, gap {r['gap']:.2f}",
                fontsize=10,
            )
            ax.set_ylim(0, 1.02)
            ax.legend(loc="lower right", fontsize=8)
        for ax in axes[-1]:
            ax.set_xlabel("epoch")
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy (eval mode)")
        fig.suptitle(
            "Train (solid) and test (dashed) accuracy, MLP 784-100×6-10, "
            f"SGD lr {LR:g}, batch {BATCH}",
            fontsize=12,
        )
        return save_figure(fig, out, "regularization_curves", svg=size == "full")


def _plot_gap(runs: dict[str, dict], out: Path, size: str) -> Path:
    colors = _colors()
    names = list(runs)
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(
            1, 2, figsize=(12.5, 4.6), gridspec_kw={"width_ratios": [1.3, 1]}
        )
        for name, r in runs.items():
            gap = np.asarray(r["train_acc"]) - np.asarray(r["test_acc"])
            ax.plot(r["epochs"], gap, color=colors[name], label=name)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("train − test accuracy")
        ax.set_title("Generalisation gap during training")
        ax.set_ylim(min(-0.03, ax.get_ylim()[0]), max(0.32, ax.get_ylim()[1] + 0.08))
        ax.legend(loc="upper center", ncol=2, fontsize=8)
        x = np.arange(len(names))
        w = 0.38
        train = [runs[n]["train_acc"][-1] for n in names]
        test = [runs[n]["test_acc"][-1] for n in names]
        bx.bar(x - w / 2, train, w, color=[colors[n] for n in names])
        bx.bar(
            x + w / 2,
            test,
            w,
            color=[colors[n] for n in names],
            alpha=0.45,
            hatch="//",
            edgecolor="0.3",
        )
        for i, n in enumerate(names):
            bx.text(
                i,
                max(train[i], test[i]) + 0.02,
                f"gap {runs[n]['gap']:.2f}",
                ha="center",
                fontsize=8,
            )
        bx.set_xticks(x, [n.replace(" + ", "\n+ ") for n in names], fontsize=8)
        bx.set_ylim(0, 1.12)
        bx.set_ylabel("final accuracy (eval mode)")
        bx.set_title("After the last epoch: train (solid) vs test (hatched)")
        bx.legend(
            handles=[
                plt.Rectangle((0, 0), 1, 1, color="0.45", label="train"),
                plt.Rectangle(
                    (0, 0),
                    1,
                    1,
                    facecolor="0.45",
                    alpha=0.45,
                    hatch="//",
                    edgecolor="0.3",
                    label="test",
                ),
            ],
            loc="upper right",
            fontsize=8,
        )
        bx.grid(axis="x", visible=False)
        return save_figure(fig, out, "regularization_gap", svg=size == "full")


# ----------------------------------------------------------------------- run


def run(
    size: str = "quick", seed: int = 0, out: str | Path | None = None
) -> dict[str, Any]:
    """Train the four variants; write the figures and ``regularization.json``.

    Result keys beyond the contract: ``runs`` {variant: {"epochs", "train_acc",
    "test_acc", "gap", "weight_decay", "dropout"}}, ``final_train``,
    ``final_test``, ``gap`` ({variant: value} each), ``epochs``.
    """
    check_size(size)
    t0 = time.perf_counter()
    out = prepare_out(out, NAME)
    cfg = CONFIG[size]
    splits = mnist_sample_splits(N_TRAIN, n_test=N_TEST, seed=seed, flatten=True)
    runs: dict[str, dict] = {}
    for name, (wd, p) in VARIANTS.items():
        status(name)
        r = train_variant(
            wd,
            p,
            splits.train,
            splits.test,
            epochs=cfg["epochs"],
            eval_every=cfg["eval_every"],
            seed=seed,
        )
        r.update(gap=r["train_acc"][-1] - r["test_acc"][-1], weight_decay=wd, dropout=p)
        runs[name] = r
    figures = [_plot_curves(runs, out, size), _plot_gap(runs, out, size)]
    table = [
        {
            "variant": name,
            "weight decay λ": r["weight_decay"],
            "dropout p": r["dropout"],
            "train acc": r["train_acc"][-1],
            "test acc": r["test_acc"][-1],
            "gap (train − test)": r["gap"],
            "book train / test": BOOK.get(name),
        }
        for name, r in runs.items()
    ]
    return make_result(
        NAME,
        out,
        t0,
        figures,
        table,
        size=size,
        seed=seed,
        runs=runs,
        final_train={n: r["train_acc"][-1] for n, r in runs.items()},
        final_test={n: r["test_acc"][-1] for n, r in runs.items()},
        gap={n: r["gap"] for n, r in runs.items()},
        epochs=cfg["epochs"],
        n_train=N_TRAIN,
        n_test=N_TEST,
        lr=LR,
        batch_size=BATCH,
        captions={
            "regularization_curves.png": "Train (solid) and test (dashed) "
            "accuracy per epoch for each regulariser; the shaded band is the gap.",
            "regularization_gap.png": "Left: train − test accuracy during "
            "training. Right: final train and test accuracy with the gap.",
        },
    )
