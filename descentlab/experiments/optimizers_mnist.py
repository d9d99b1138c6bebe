"""Experiment 3: the update rules compared on MNIST (Deep Learning from Scratch §6.1.8).

Every optimizer trains the same MLP 784-100-100-100-100-10 (ReLU, He init),
starting from the *same* initial weights (``MLP(seed=seed)``) and seeing the same
mini-batches (batch 128, the DataLoader seeded with ``seed``), for a fixed number
of iterations. Everything runs through ``descentlab.models``, ``descentlab.optim``
and ``descentlab.train.Trainer``; the experiment only stops the Trainer after
``iterations`` steps (:class:`StopAfter`) and plots the per-step loss.

Learning rates. The book's values: SGD 0.01, Momentum 0.01 (mu 0.9), AdaGrad
0.01, Adam 0.001. The others: Nesterov uses Momentum's 0.01 with mu 0.9 (the
same heavy ball with a look-ahead, so the comparison isolates the look-ahead);
RMSProp 0.001 (its per-coordinate step is about lr/sqrt(E[g^2]) like Adam's, so
it takes Adam's rate; torch's default 0.01 makes the first steps of this net
jump); AdamW takes Adam's 0.001 with decoupled weight decay 0.01 (torch's
default), so it differs from Adam only by the decay.

Data: the shipped sample has 5,000 digits, so the nets train on a stratified
4,000-digit split and are tested on the other 1,000 (the book uses all 60,000
MNIST training images). Quick size: 200 iterations (6.4 epochs); full: the
book's 2,000 iterations (64 epochs).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist_sample_splits
from ..models import MLP
from ..nn import SoftmaxCrossEntropy
from ..optim import make_optimizer
from ..train import Callback, Trainer
from ._common import (
    check_size,
    color,
    label,
    make_result,
    plot_style,
    prepare_out,
    save_figure,
    smooth,
    status,
)

NAME = "optimizers_mnist"
TITLE = "Optimizers compared on MNIST (MLP 784-100×4-10)"
FORMULA = (
    "SGD:       θ ← θ − lr·g                                   lr = 0.01\n"
    "Momentum:  b ← μ·b + g;  θ ← θ − lr·b                      lr = 0.01, μ = 0.9\n"
    "Nesterov:  b ← μ·b + g;  θ ← θ − lr·(g + μ·b)              lr = 0.01, μ = 0.9\n"
    "AdaGrad:   G ← G + g²;  θ ← θ − lr·g/(√G + ε)              lr = 0.01\n"
    "RMSProp:   v ← α·v + (1−α)·g²;  θ ← θ − lr·g/(√v + ε)      lr = 0.001, α = 0.99\n"
    "Adam:      m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;\n"
    "           θ ← θ − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)   lr = 0.001\n"
    "AdamW:     θ ← θ·(1 − lr·wd), then the Adam step               lr = 0.001, wd = 0.01\n"
    "loss: L = −(1/N) Σ log softmax(z)_y over a batch of N = 128"
)
EXPLANATION = (
    "The same MLP (784-100-100-100-100-10, ReLU, He initialisation) is trained from "
    "identical initial weights on identical mini-batches of 128 digits by each "
    "update rule; the left panel shows the training loss per iteration (moving "
    "average over the last batches, log scale; the raw per-batch loss is drawn "
    "faintly behind). Plain SGD with the book's lr = 0.01 is by far the slowest: "
    "every other method reaches in a few dozen iterations a loss SGD needs hundreds "
    "for. Momentum and Nesterov accumulate velocity along consistent gradient "
    "directions (about 1/(1 − μ) = 10 times larger steps); AdaGrad, RMSProp, Adam "
    "and AdamW rescale each weight's step by its own gradient history, so the "
    "rarely-updated and the small-gradient weights move as fast as the others. As "
    "in the book, AdaGrad, Adam and Momentum all end well below SGD; the adaptive "
    "methods are the fastest at first. The right panel gives the accuracy on 1,000 "
    "held-out test digits after the last iteration. The ranking among the fast "
    "methods depends on the learning rates, which were not tuned (book values where "
    "the book gives one). Over the full 2,000 iterations (64 epochs of the 4,000 "
    "digits) every method except SGD drives the training loss towards 0, and "
    "RMSProp shows sudden spikes: once the gradients are tiny its average v of g² "
    "is tiny too, so a single larger gradient gets an outsized step."
)

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
#: optimizer -> keyword arguments of ``descentlab.optim.make_optimizer``.
SETTINGS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.01},
    "momentum": {"lr": 0.01, "momentum": 0.9},
    "nesterov": {"lr": 0.01, "momentum": 0.9},
    "adagrad": {"lr": 0.01},
    "rmsprop": {"lr": 0.001},
    "adam": {"lr": 0.001},
    "adamw": {"lr": 0.001, "weight_decay": 0.01},
}
SIZES_MLP = (784, 100, 100, 100, 100, 10)
BATCH = 128
N_TRAIN, N_TEST = 4000, 1000
ITERATIONS = {"quick": 200, "full": 2000}
WINDOW = {"quick": 20, "full": 50}


class StopAfter(Callback):
    """Stop training after ``steps`` optimizer steps (at the next batch boundary)."""

    def __init__(self, steps: int):
        self.steps = int(steps)

    def on_train_batch_end(self, step: int, logs: dict | None = None) -> None:
        if step + 1 >= self.steps:
            self.trainer.stop_training = True


def train_for(
    model,
    optimizer,
    train,
    steps: int,
    *,
    batch_size: int = BATCH,
    seed: int = 0,
    val=None,
    callbacks=(),
) -> Trainer:
    """Fit ``model`` with ``optimizer`` for exactly ``steps`` iterations; return the Trainer.

    ``val`` (x, y) is evaluated after every epoch (and after the last, partial one).
    """
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        optimizer,
        callbacks=[StopAfter(steps), *callbacks],
        verbose=0,
        on_interrupt="raise",
    )
    epochs = math.ceil(steps / math.ceil(len(train[0]) / batch_size))
    trainer.fit(train, val=val, epochs=epochs, batch_size=batch_size, seed=seed)
    return trainer


def _settings_text(name: str) -> str:
    kw = SETTINGS[name]
    extra = "".join(
        f", {'μ' if k == 'momentum' else 'wd'}={v:g}"
        for k, v in kw.items()
        if k != "lr"
    )
    return f"lr={kw['lr']:g}{extra}"


def _plot(
    runs: dict[str, dict], iterations: int, window: int, out: Path, size: str
) -> Path:
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), width_ratios=(2.1, 1))
        it = np.arange(1, iterations + 1)
        for name in OPTIMIZERS:
            ax.plot(it, runs[name]["loss"], color=color(name), lw=0.6, alpha=0.18)
        for name in OPTIMIZERS:
            ax.plot(
                it,
                runs[name]["smoothed"],
                color=color(name),
                lw=1.8,
                ls="--" if name == "adamw" else "-",  # AdamW lies on top of Adam
                label=f"{label(name)} ({_settings_text(name)})",
            )
        ax.set_yscale("log")
        ax.set_xlim(0, iterations)
        ax.set_xlabel("iteration (mini-batch of 128)")
        ax.set_ylabel("training loss (cross-entropy, log scale)")
        ax.set_title(f"Training loss, moving average over {window} iterations")
        ax.legend(loc="lower left" if size == "quick" else "upper right", fontsize=8.5)
        order = sorted(OPTIMIZERS, key=lambda n: runs[n]["test_acc"])
        accs = [100 * runs[n]["test_acc"] for n in order]
        bars = bx.barh([label(n) for n in order], accs, color=[color(n) for n in order])
        for b, a in zip(bars, accs):
            bx.text(
                b.get_width() - 0.3,
                b.get_y() + b.get_height() / 2,
                f"{a:.1f}%",
                va="center",
                ha="right",
                color="white",
                fontsize=9,
                fontweight="bold",
            )
        lo = max(0.0, 5 * math.floor((min(accs) - 8) / 5))
        bx.set_xlim(lo, 100)
        bx.set_xlabel("test accuracy (%), 1,000 held-out digits")
        bx.set_title(f"After {iterations} iterations")
        bx.grid(axis="y", visible=False)
        fig.suptitle(
            f"MLP 784-100×4-10 (ReLU, He init), same initial weights, "
            f"{N_TRAIN:,} training digits, batch {BATCH}",
            fontsize=12,
        )
        return save_figure(fig, out, NAME, svg=size == "full")


def run(
    size: str = "quick", seed: int = 0, out: str | Path | None = None
) -> dict[str, Any]:
    """Train the MLP with each optimizer; write the figure and JSON into ``out``.

    Result keys beyond the contract: ``iterations``, ``window``, ``settings``
    {optimizer: kwargs}, and per optimizer {name: {...}} in ``runs``: ``loss``
    (per-iteration batch loss), ``smoothed`` (moving average), ``final_smoothed``,
    ``train_loss`` / ``train_acc`` (whole training split at the end), ``test_loss``
    / ``test_acc``, ``seconds``. ``final_smoothed`` {optimizer: value} repeats the
    last smoothed losses for convenience.
    """
    check_size(size)
    t0 = time.perf_counter()
    out = prepare_out(out, NAME)
    iterations, window = ITERATIONS[size], WINDOW[size]
    splits = mnist_sample_splits(N_TRAIN, n_test=N_TEST, seed=seed, flatten=True)
    runs: dict[str, dict] = {}
    for i, name in enumerate(OPTIMIZERS, start=1):
        status(f"{label(name)} ({i}/{len(OPTIMIZERS)})")
        t1 = time.perf_counter()
        model = MLP(SIZES_MLP, activation="relu", init="he", seed=seed)
        opt = make_optimizer(name, model.parameters(), **SETTINGS[name])
        trainer = train_for(model, opt, splits.train, iterations, seed=seed)
        loss = np.asarray(trainer.history.step["loss"])
        train_ev = trainer.evaluate(*splits.train)
        test_ev = trainer.evaluate(*splits.test)
        sm = smooth(loss, window)
        runs[name] = {
            "loss": loss,
            "smoothed": sm,
            "final_smoothed": float(sm[-1]),
            "train_loss": train_ev["loss"],
            "train_acc": train_ev["acc"],
            "test_loss": test_ev["loss"],
            "test_acc": test_ev["acc"],
            "seconds": time.perf_counter() - t1,
        }
    figure = _plot(runs, iterations, window, out, size)
    table = [
        {
            "optimizer": label(n),
            "settings": _settings_text(n),
            f"smoothed loss (last {window} it.)": runs[n]["final_smoothed"],
            "train loss (all 4,000)": runs[n]["train_loss"],
            "train acc": runs[n]["train_acc"],
            "test acc": runs[n]["test_acc"],
            "seconds": runs[n]["seconds"],
        }
        for n in OPTIMIZERS
    ]
    return make_result(
        NAME,
        out,
        t0,
        [figure],
        table,
        size=size,
        seed=seed,
        iterations=iterations,
        window=window,
        batch_size=BATCH,
        settings=SETTINGS,
        runs=runs,
        final_smoothed={n: runs[n]["final_smoothed"] for n in OPTIMIZERS},
    )
