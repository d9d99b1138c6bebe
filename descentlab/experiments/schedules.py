"""Experiment 9: learning-rate schedules: their curves, and a small net trained on each.

The curves come straight from ``descentlab.schedules`` (closed form ``lr_at``);
the training part (:func:`_train_with_schedules`) drives the same MLP with each
schedule through ``Scheduler(..., interval="epoch")`` and the Trainer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..schedules import (
    Constant,
    CosineAnnealing,
    Exponential,
    OneCycle,
    Polynomial,
    Schedule,
    StepDecay,
    warmup_cosine,
)
from ._common import (
    check_size,
    color,
    make_result,
    plot_style,
    prepare_out,
    save_figure,
    status,
)

NAME = "schedules"
TITLE = "Learning-rate schedules"
FORMULA = (
    "step:          lr = 0.1 · 0.5^floor(e/10)\n"
    "exponential:   lr = 0.1 · 0.95^e\n"
    "cosine:        lr = 0.001 + (0.1 − 0.001)·(1 + cos(π·e/50))/2\n"
    "polynomial:    lr = (0.1 − 0.001)·(1 − e/50)² + 0.001\n"
    "warmup+cosine: linear 0 → 0.1 over 5 epochs, then cosine 0.1 → 0.001 by epoch 50\n"
    "one-cycle:     cosine 0.004 → 0.1 over the first 30%, then 0.1 → 4e-7 (torch's "
    "OneCycleLR)"
)
EXPLANATION = (
    "Each curve is the learning rate a schedule gives at each epoch of a 50-epoch "
    "run starting from 0.1 (constant 0.1 for reference). Step decay halves the rate "
    "every 10 epochs; exponential decay shrinks it by 5% per epoch and is already "
    "below 0.01 at the end; cosine and polynomial annealing keep the rate high for "
    "longer and then bring it smoothly down to 0.001; warmup+cosine starts from "
    "zero so that the first updates, made with random weights and possibly large "
    "gradients, stay small; one-cycle climbs to its peak and then anneals far below "
    "the others. The log-scale panel shows how many orders of magnitude each "
    "schedule covers. Large early rates explore, small late rates let the loss "
    "settle into a minimum. The second figure trains the same MLP (same initial "
    "weights, same batches, SGD with momentum 0.9) once per schedule, rescaled to "
    "the run length and stepped once per epoch; the table adds each run's final "
    "training loss and test accuracy. On a small network and data set the "
    "differences in accuracy are small; the schedules mostly differ in how low "
    "and how smoothly the training loss ends."
)

BASE_LR = 0.1
EPOCHS = 50
MIN_LR = 0.001


def make_schedules(
    base_lr: float = BASE_LR, epochs: int = EPOCHS, min_lr: float = MIN_LR
) -> dict[str, Schedule]:
    """The compared schedules, keyed by their CLI names (counted in epochs)."""
    return {
        "constant": Constant(base_lr),
        "step": StepDecay(base_lr, 0.5, max(1, epochs // 5)),
        "exp": Exponential(base_lr, 0.95),
        "cosine": CosineAnnealing(base_lr, epochs, min_lr),
        "poly": Polynomial(base_lr, epochs, power=2.0, end_lr=min_lr),
        "warmup-cosine": warmup_cosine(base_lr, max(1, epochs // 10), epochs, min_lr),
        "onecycle": OneCycle(base_lr, epochs),
    }


LABELS = {
    "constant": "constant 0.1",
    "step": "step (×0.5 every 10)",
    "exp": "exponential (γ = 0.95)",
    "cosine": "cosine (0.1 → 0.001)",
    "poly": "polynomial (power 2)",
    "warmup-cosine": "warmup 5 + cosine",
    "onecycle": "one-cycle",
}


def lr_curves(
    schedules: dict[str, Schedule], epochs: int = EPOCHS
) -> dict[str, np.ndarray]:
    """``{name: [lr_at(0), ..., lr_at(epochs - 1)]}``: the value used in each epoch."""
    return {
        name: np.array([s.lr_at(e) for e in range(epochs)])
        for name, s in schedules.items()
    }


def _plot_curves(curves: dict[str, np.ndarray], out: Path, size: str) -> Path:
    with plot_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
        for ax, log in zip(axes, (False, True)):
            for i, (name, lr) in enumerate(curves.items()):
                ax.plot(
                    np.arange(len(lr)),
                    lr,
                    color=color(name, i),
                    label=LABELS[name],
                    ls=":" if name == "constant" else "-",
                    drawstyle="steps-post" if name == "step" else "default",
                )
            ax.set_xlabel("epoch")
            ax.set_ylabel("learning rate" + (" (log scale)" if log else ""))
            if log:
                ax.set_yscale("log")
                ax.set_ylim(1e-5, 0.2)
                ax.set_title("Same curves, log scale")
                low = {n: lr[-1] for n, lr in curves.items() if 0 < lr[-1] < 1e-5}
                for n, v in low.items():
                    ax.annotate(
                        f"{LABELS[n]} ends at {v:.1g}",
                        xy=(len(curves[n]) - 1, 1e-5),
                        xytext=(len(curves[n]) * 0.45, 2.5e-5),
                        fontsize=8,
                        arrowprops={"arrowstyle": "->", "color": "0.3"},
                    )
            else:
                ax.set_title(
                    f"Learning rate per epoch ({EPOCHS} epochs, base {BASE_LR:g})"
                )
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", fontsize=9)
        fig.suptitle(
            "Learning-rate schedules (descentlab.schedules, closed form)", fontsize=12
        )
        return save_figure(fig, out, "schedules_lr", svg=size == "full")


TRAIN_SIZES = {
    "quick": {"n_train": 1000, "epochs": 10},
    "full": {"n_train": 4000, "epochs": 50},
}


def _train_with_schedules(size: str, seed: int, out: Path) -> dict[str, Any]:
    """Train the same MLP 784-100-100-10 with SGD (momentum 0.9) under each schedule.

    The schedules are rebuilt for the run's epoch count and stepped once per epoch
    (``Scheduler(opt, schedule, interval="epoch")``); every run starts from the same
    weights and sees the same batches. Returns figures, per-schedule numbers and
    the lr the Trainer actually used in each epoch.
    """
    from ..data import mnist_sample_splits
    from ..models import MLP
    from ..nn import SoftmaxCrossEntropy
    from ..optim import SGD
    from ..schedules import Scheduler
    from ..train import Trainer

    cfg = TRAIN_SIZES[size]
    epochs = cfg["epochs"]
    data = mnist_sample_splits(
        cfg["n_train"], n_val=0, n_test=1000, seed=seed, flatten=True
    )
    results: dict[str, dict[str, Any]] = {}
    for name, schedule in make_schedules(BASE_LR, epochs, MIN_LR).items():
        status(f"training with the {name} schedule")
        model = MLP([784, 100, 100, 10], seed=seed)
        opt = SGD(model.parameters(), lr=BASE_LR, momentum=0.9)
        trainer = Trainer(
            model,
            SoftmaxCrossEntropy(),
            opt,
            Scheduler(opt, schedule, interval="epoch"),
            verbose=0,
            on_interrupt="raise",
        )
        hist = trainer.fit(
            data.train, data.test, epochs=epochs, batch_size=100, seed=seed
        )
        results[name] = {
            "train_loss": hist.epoch["loss"],
            "test_acc": hist.epoch["val_acc"],
            "lr_used": hist.epoch["lr"],
            "lr_expected": [schedule.lr_at(e) for e in range(epochs)],
        }
    with plot_style() as plt:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.8))
        for i, (name, r) in enumerate(results.items()):
            ep = np.arange(1, epochs + 1)
            ax1.plot(ep, r["train_loss"], color=color(name, i), label=name)
            ax2.plot(ep, r["test_acc"], color=color(name, i), label=name)
        ax1.set(
            xlabel="epoch",
            ylabel="training loss (log scale)",
            yscale="log",
            title=f"MLP 784-100-100-10, SGD momentum 0.9, {cfg['n_train']} digits",
        )
        ax2.set(
            xlabel="epoch",
            ylabel="test accuracy (1,000 held-out digits)",
            title="Test accuracy per epoch",
        )
        ax2.legend(fontsize=8, loc="lower right")
        fig_path = save_figure(fig, out, "schedules_training", svg=size == "full")
    caption = (
        f"The same network trained for {epochs} epochs with each schedule "
        "(rescaled to the run length, stepped once per epoch)."
    )
    return {
        "figures": [fig_path],
        "captions": {fig_path.name: caption},
        "training": results,
        "train_epochs": epochs,
    }


def run(
    size: str = "quick", seed: int = 0, out: str | Path | None = None
) -> dict[str, Any]:
    """Plot the schedules' lr curves and train the same small net with each.

    Result keys beyond the contract: ``curves`` {name: lr per epoch 0..49},
    ``epochs``, ``base_lr``, ``min_lr``, ``training`` {name: {"train_loss",
    "test_acc", "lr_used", "lr_expected"} per epoch}, ``train_epochs``.
    """
    check_size(size)
    t0 = time.perf_counter()
    out = prepare_out(out, NAME)
    schedules = make_schedules()
    curves = lr_curves(schedules)
    figures = [_plot_curves(curves, out, size)]
    captions = {
        figures[0].name: (
            f"Learning rate per epoch for each schedule over {EPOCHS} epochs from "
            f"{BASE_LR:g}; linear scale (left) and log scale (right)."
        )
    }
    table = [
        {
            "schedule": name,
            "lr epoch 0": lr[0],
            "lr epoch 10": lr[10],
            "lr epoch 25": lr[25],
            "lr epoch 49": lr[EPOCHS - 1],
            "mean lr": float(lr[:EPOCHS].mean()),
        }
        for name, lr in curves.items()
    ]
    trained = _train_with_schedules(size, seed, out)
    figures += trained["figures"]
    captions.update(trained["captions"])
    for row in table:
        r = trained["training"][row["schedule"]]
        row["final train loss"] = r["train_loss"][-1]
        row["final test acc"] = r["test_acc"][-1]
    return make_result(
        NAME,
        out,
        t0,
        figures,
        table,
        captions=captions,
        size=size,
        seed=seed,
        curves=curves,
        epochs=EPOCHS,
        base_lr=BASE_LR,
        min_lr=MIN_LR,
        training=trained["training"],
        train_epochs=trained["train_epochs"],
    )
