"""Experiment 9: learning-rate schedules, and the same small net trained on each.

Every schedule is built for the horizon that is actually trained, counted in
optimizer steps (T = epochs x steps per epoch), and stepped once per iteration
(``Scheduler(..., interval="step")``), so a warmup really warms up over its
first T/10 iterations, starting at lr/W (not 0), and the figure and table show
the lr of the run on the page. The same MLP (same initial weights and batches
for a given seed) is trained by SGD with momentum 0.9 under each schedule, on
several seeds; the band is the range over the seeds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import palette
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
from ._common import Run, experiment, plot_style, save_figure, status
from .api import binomial_se, fmt, pct

NAME = "schedules"
TITLE = "Learning-rate schedules"
FORMULA = (
    "t = optimizer step 0..T−1 (T = epochs × steps per epoch);  base lr 0.1, "
    "min lr 0.001\n"
    "step:          lr = 0.1 · 0.5^floor(t/(T/5))\n"
    "exponential:   lr = 0.1 · γ^t,  γ = 0.95^(50/T)  (the book-style 0.95 per "
    "epoch of a 50-epoch run)\n"
    "cosine:        lr = 0.001 + (0.1 − 0.001)·(1 + cos(π·t/T))/2\n"
    "polynomial:    lr = (0.1 − 0.001)·(1 − t/T)² + 0.001\n"
    "warmup+cosine: lr = 0.1·(1/W + (1 − 1/W)·t/W) for t < W = T/10, then cosine "
    "0.1 → 0.001\n"
    "one-cycle:     cosine 0.004 → 0.1 over the first 30 % of T, then 0.1 → 4e-7 "
    "(torch's OneCycleLR)"
)
EXPLANATION = (
    "Large early rates explore, small late rates let the loss settle into a "
    "minimum; a schedule decides how the run moves from one to the other."
)

BASE_LR = 0.1
MIN_LR = 0.001
#: test digits per seed
N_TEST = 1000
BATCH = 100
#: palette key of each schedule (``descentlab.palette.SCHEDULE_COLORS``)
PALETTE_KEY = {
    "constant": "constant",
    "step": "step",
    "exp": "exponential",
    "cosine": "cosine",
    "poly": "polynomial",
    "warmup-cosine": "warmup_cosine",
    "onecycle": "one_cycle",
}
LABELS = {
    "constant": "constant 0.1",
    "step": "step (×0.5 every T/5)",
    "exp": "exponential",
    "cosine": "cosine (0.1 → 0.001)",
    "poly": "polynomial (power 2)",
    "warmup-cosine": "warmup T/10 + cosine",
    "onecycle": "one-cycle",
}
TRAIN_SIZES = {
    "quick": {"n_train": 1000, "epochs": 10, "seeds": 3},
    "full": {"n_train": 4000, "epochs": 50, "seeds": 5},
}


def make_schedules(
    total_steps: int, base_lr: float = BASE_LR, min_lr: float = MIN_LR
) -> dict[str, Schedule]:
    """The compared schedules for a run of ``total_steps`` optimizer steps."""
    warm = max(1, total_steps // 10)
    return {
        "constant": Constant(base_lr),
        "step": StepDecay(base_lr, 0.5, max(1, total_steps // 5)),
        "exp": Exponential(base_lr, 0.95 ** (50 / total_steps)),
        "cosine": CosineAnnealing(base_lr, total_steps, min_lr),
        "poly": Polynomial(base_lr, total_steps, power=2.0, end_lr=min_lr),
        "warmup-cosine": warmup_cosine(
            base_lr, warm, total_steps, min_lr, start_factor=1.0 / warm
        ),
        "onecycle": OneCycle(base_lr, total_steps),
    }


def lr_curves(schedules: dict[str, Schedule], steps: int) -> dict[str, np.ndarray]:
    """``{name: [lr_at(0), ..., lr_at(steps - 1)]}``: the lr of every step."""
    return {
        n: np.array([s.lr_at(t) for t in range(steps)]) for n, s in schedules.items()
    }


def _color(name: str) -> str:
    return palette.color("schedule", PALETTE_KEY[name])


def _train_one(schedule: Schedule, data, epochs: int, seed: int) -> dict[str, Any]:
    from ..models import MLP
    from ..nn import SoftmaxCrossEntropy
    from ..optim import SGD
    from ..schedules import Scheduler
    from ..train import Trainer

    model = MLP([784, 100, 100, 10], seed=seed)
    opt = SGD(model.parameters(), lr=BASE_LR, momentum=0.9)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        opt,
        Scheduler(opt, schedule, interval="step"),
        verbose=0,
        on_interrupt="raise",
    )
    hist = trainer.fit(
        data.train, data.test, epochs=epochs, batch_size=BATCH, seed=seed
    )
    return {
        "train_loss": hist.epoch["loss"],
        "test_acc": hist.epoch["val_acc"],
        "lr_used": hist.step["lr"],
    }


def _train_all(cfg: dict, seed: int) -> tuple[dict[str, dict], int]:
    from ..data import mnist_sample_splits

    epochs, n_seeds = cfg["epochs"], cfg["seeds"]
    steps = epochs * math.ceil(cfg["n_train"] / BATCH)
    results: dict[str, dict[str, Any]] = {}
    for name, schedule in make_schedules(steps).items():
        runs = []
        for s in range(seed, seed + n_seeds):
            status(f"{name} schedule, seed {s}")
            data = mnist_sample_splits(
                cfg["n_train"], n_val=0, n_test=N_TEST, seed=s, flatten=True
            )
            runs.append(_train_one(schedule, data, epochs, s))
        acc = np.array([r["test_acc"] for r in runs])
        loss = np.array([r["train_loss"] for r in runs])
        results[name] = {
            "train_loss": loss,
            "test_acc": acc,
            "lr_used": runs[0]["lr_used"],
            "lr_expected": [schedule.lr_at(t) for t in range(steps)],
            "final_acc": acc[:, -1],
            "final_loss": loss[:, -1],
            "epoch1_acc": acc[:, 0],
        }
    return results, steps


def _plot_curves(curves: dict[str, np.ndarray], spe: int, out: Path, size: str):
    with plot_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
        for ax, log in zip(axes, (False, True), strict=True):
            for name, lr in curves.items():
                ax.plot(
                    np.arange(len(lr)) / spe,
                    lr,
                    color=_color(name),
                    label=LABELS[name],
                    ls=":" if name == "constant" else "-",
                    drawstyle="steps-post",
                )
            ax.set_xlabel(f"epoch (each of {spe} steps)")
            ax.set_ylabel("learning rate" + (" (log scale)" if log else ""))
            if log:
                ax.set_yscale("log")
                ax.set_title("Same curves, log scale")
            else:
                ax.set_title(f"lr of every step of the trained run ({len(lr)} steps)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", fontsize=9)
        return save_figure(fig, out, "schedules_lr", svg=size == "full")


def _plot_training(results: dict, cfg: dict, out: Path, size: str) -> Path:
    with plot_style() as plt:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6))
        ep = np.arange(1, cfg["epochs"] + 1)
        for name, r in results.items():
            c = _color(name)
            for ax, key in ((ax1, "train_loss"), (ax2, "test_acc")):
                v = np.asarray(r[key])
                ax.plot(ep, np.median(v, axis=0), color=c, label=LABELS[name])
                ax.fill_between(ep, v.min(axis=0), v.max(axis=0), color=c, alpha=0.15)
        ax1.set(
            xlabel="epoch",
            ylabel="training loss (log scale)",
            yscale="log",
            title=f"MLP 784-100-100-10, SGD momentum 0.9, {cfg['n_train']:,} digits",
        )
        ax2.set(
            xlabel="epoch",
            ylabel="test accuracy (1,000 held-out digits)",
            title=f"Test accuracy: median and range over {cfg['seeds']} seeds",
        )
        lo = min(float(np.min(r["test_acc"][:, -1])) for r in results.values())
        ax2.set_ylim(max(0.0, lo - 0.1), 1.0)
        ax2.legend(fontsize=8, loc="lower right")
        return save_figure(fig, out, "schedules_training", svg=size == "full")


def _table(results: dict, curves: dict, steps: int) -> list[dict[str, Any]]:
    """One row per schedule: its lr at 0, 1/4, 1/2 and the end of the trained
    horizon, its mean lr, and the final loss and accuracy over seeds."""
    q = {k: int(round(k * (steps - 1))) for k in (0.25, 0.5)}
    return [
        {
            "schedule": LABELS[n],
            "lr step 0": curves[n][0],
            f"lr step {q[0.25]}": curves[n][q[0.25]],
            f"lr step {q[0.5]}": curves[n][q[0.5]],
            f"lr step {steps - 1}": curves[n][-1],
            "mean lr": float(curves[n].mean()),
            "final train loss (median)": float(np.median(v["final_loss"])),
            "test acc (median)": float(np.median(v["final_acc"])),
            "test acc (min–max)": f"{pct(v['final_acc'].min())}–"
            f"{pct(v['final_acc'].max())}",
        }
        for n, v in results.items()
    ]


def _prose(lr_fig, train_fig, results, curves, cfg, steps, seeds, se):
    """(captions, texts) of the two figures, from this run's numbers."""
    spe = steps // cfg["epochs"]
    med = {n: float(np.median(v["final_acc"])) for n, v in results.items()}
    best, worst = max(med, key=med.__getitem__), min(med, key=med.__getitem__)
    w = results["warmup-cosine"]
    warm = max(1, steps // 10)
    lossy = {n: float(np.median(v["final_loss"])) for n, v in results.items()}
    low = min(lossy, key=lossy.__getitem__)
    captions = {
        lr_fig: (
            f"The lr of each of the {steps} steps the nets were trained for: the "
            f"warmup starts at {fmt(curves['warmup-cosine'][0], 3)} (= "
            f"{BASE_LR:g}/{warm}) and reaches {BASE_LR:g} after {warm} steps; "
            f"one-cycle ends at {fmt(curves['onecycle'][-1], 2)}, far below the "
            "others (log panel)."
        ),
        train_fig: (
            f"Median and range over {cfg['seeds']} seeds: the medians end between "
            f"{pct(med[worst])} ({LABELS[worst]}) and {pct(med[best])} "
            f"({LABELS[best]}); the binomial noise of one run on {N_TEST:,} digits "
            f"is ±{pct(se)}."
        ),
    }
    texts = {
        lr_fig: (
            f"Each schedule is built for the {cfg['epochs']} epochs × {spe} steps "
            f"= {steps} optimizer steps that are trained below and set at every "
            "step. Step decay halves the rate every T/5 steps; exponential decay "
            "shrinks it steadily; cosine and polynomial annealing keep it high for "
            f"longer and then bring it smoothly to {MIN_LR:g}; warmup+cosine starts "
            "small so that the first updates, made with random weights and "
            "possibly large gradients, stay small; one-cycle climbs to its peak "
            "and then anneals far below the others."
        ),
        train_fig: (
            f"The same MLP trained under each schedule, seeds {seeds[0]}–{seeds[-1]} "
            "(each seed draws its own split, initial weights and batch order; all "
            "schedules see the same ones). After the first epoch the warmup run "
            f"is at a median test accuracy of {pct(float(np.median(w['epoch1_acc'])))}"
            f" (its first step uses lr {fmt(w['lr_used'][0], 3)}). The lowest final "
            f"training loss is {LABELS[low]}'s ({fmt(lossy[low], 3)}). "
            + (
                "The spread of the medians is within about two binomial standard "
                "errors, so on this small net and data set the ranking by "
                "accuracy is not meaningful; the schedules differ mostly in how "
                "low and how smoothly the training loss ends."
                if med[best] - med[worst] < 2 * se * math.sqrt(2)
                else f"{LABELS[best]} ends ahead of {LABELS[worst]} by "
                f"{100 * (med[best] - med[worst]):.1f} points, more than the "
                "noise of one run."
            )
        ),
    }
    return captions, texts


@experiment(NAME)
def run(r: Run) -> dict[str, Any]:
    """Train the same small net under each schedule (several seeds); plot lr and runs.

    Result keys beyond the contract: ``curves`` {name: lr of every step},
    ``total_steps``, ``steps_per_epoch``, ``train_epochs``, ``seeds``, and
    ``training`` {name: {"train_loss", "test_acc" (seeds x epochs), "lr_used"
    (per step, first seed), "lr_expected", "final_acc", "final_loss",
    "epoch1_acc" (per seed)}}.
    """
    cfg = r.pick(TRAIN_SIZES)
    results, steps = _train_all(cfg, r.seed)
    spe = steps // cfg["epochs"]
    curves = {n: np.asarray(v["lr_expected"]) for n, v in results.items()}
    f_lr = _plot_curves(curves, spe, r.out, r.size)
    f_train = _plot_training(results, cfg, r.out, r.size)
    seeds = list(range(r.seed, r.seed + cfg["seeds"]))
    med = {n: float(np.median(v["final_acc"])) for n, v in results.items()}
    best, worst = max(med, key=med.__getitem__), min(med, key=med.__getitem__)
    se = binomial_se(med[best], N_TEST)
    captions, texts = _prose(
        f_lr.name, f_train.name, results, curves, cfg, steps, seeds, se
    )
    table = _table(results, curves, steps)
    return r.result(
        [f_lr, f_train],
        table,
        table_after=f_train.name,
        captions=captions,
        texts=texts,
        budget={
            "training digits": cfg["n_train"],
            "epochs": cfg["epochs"],
            "steps": steps,
            "seeds": cfg["seeds"],
        },
        takeaways=[
            f"Learning-rate schedules: on this small net the {len(results)} "
            f"schedules end within {100 * (med[best] - med[worst]):.1f} points of "
            f"each other ({pct(med[worst])}–{pct(med[best])} median test accuracy "
            f"over {cfg['seeds']} seeds); they differ most in the final training "
            "loss."
        ],
        curves=curves,
        total_steps=steps,
        steps_per_epoch=spe,
        base_lr=BASE_LR,
        min_lr=MIN_LR,
        seeds=seeds,
        training=results,
        train_epochs=cfg["epochs"],
    )
