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

import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import palette
from ..data import mnist_sample_splits
from ..models import MLP, param_groups
from ..nn import SoftmaxCrossEntropy
from ..optim import SGD
from ..train import Callback, Trainer
from ._common import Run, experiment, plot_style, save_figure, status
from .api import binomial_se, fmt, pct

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
    "With 300 training digits and about 80,000 weights a plain network can "
    "memorise its training set; weight decay and dropout are two ways to keep it "
    "from doing so. Accuracies are measured in evaluation mode (dropout off)."
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
#: Train/test accuracy the book's code reaches on this sample.
BOOK = {"none": "1.00 / 0.80", "weight decay 0.1": "0.90 / 0.73"}
#: Quick size evaluates every 10th epoch only; the training is the same.
CONFIG = {
    "quick": {"epochs": 201, "eval_every": 10, "seeds": 3},
    "full": {"epochs": 201, "eval_every": 1, "seeds": 5},
}


class AccuracyMonitor(Callback):
    """Every ``every`` epochs and at the end: train and test accuracy (eval mode),
    the weight norm sqrt(Σ_l ||W_l||²) and each layer's ||W_l|| (Frobenius)."""

    def __init__(self, train: tuple[Any, Any], test: tuple[Any, Any], every: int):
        self.train, self.test, self.every = train, test, int(every)

    def on_train_begin(self, logs=None):
        self.epochs, self.train_acc, self.test_acc = [], [], []
        self.weight_norm, self.layer_norms = [], []
        self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every == 0 or done == self.trainer.epochs:
            self._record(done)

    def _record(self, epoch: int) -> None:
        self.epochs.append(epoch)
        self.train_acc.append(self.trainer.evaluate(*self.train)["acc"])
        self.test_acc.append(self.trainer.evaluate(*self.test)["acc"])
        norms = [
            float(np.linalg.norm(p.data))
            for p in self.trainer.model.parameters()
            if p.data.ndim >= 2
        ]
        self.layer_norms.append(norms)
        self.weight_norm.append(float(np.sqrt(np.sum(np.square(norms)))))


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
        "weight_norm": monitor.weight_norm,
        "layer_norms": monitor.layer_norms,
    }


# ----------------------------------------------------------------------- plots


PALETTE_KEY = {
    "none": "none",
    "weight decay 0.1": "weight_decay",
    "dropout 0.2": "dropout",
    "weight decay 0.1 + dropout 0.2": "both",
}


def _colors() -> dict[str, str]:
    return {n: palette.color("regularization", k) for n, k in PALETTE_KEY.items()}


def _plot_curves(runs: dict[str, dict], out: Path, size: str) -> Path:
    colors = _colors()
    with plot_style() as plt:
        fig, axes = plt.subplots(2, 2, figsize=(11.5, 8), sharex=True, sharey=True)
        for ax, (name, r) in zip(axes.flat, runs.items(), strict=True):
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
                f"{name}: train {r['train_acc'][-1]:.2f}, test {r['test_acc'][-1]:.2f}",
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
        ax.set_title("Generalisation gap during training (first seed)")
        ax.set_ylim(min(-0.03, ax.get_ylim()[0]), max(0.32, ax.get_ylim()[1] + 0.08))
        ax.legend(loc="upper center", ncol=2, fontsize=8)
        _final_bars(plt, bx, runs, colors)
        return save_figure(fig, out, "regularization_gap", svg=size == "full")


def _final_bars(plt, bx, runs: dict[str, dict], colors: dict) -> None:
    """Final train (solid) and test (hatched) accuracy per variant: median bars
    with the range over seeds, and the median gap above each pair."""
    names = list(runs)
    x = np.arange(len(names))
    w = 0.38
    for off, key, alpha, hatch in (
        (-w / 2, "train", 1.0, None),
        (w / 2, "test", 0.45, "//"),
    ):
        vals = [np.asarray(runs[n][f"seed_{key}"]) for n in names]
        med = [float(np.median(v)) for v in vals]
        bx.bar(
            x + off,
            med,
            w,
            color=[colors[n] for n in names],
            alpha=alpha,
            hatch=hatch,
            edgecolor="0.3" if hatch else None,
        )
        bx.errorbar(
            x + off,
            med,
            yerr=[
                np.subtract(med, [v.min() for v in vals]),
                np.subtract([v.max() for v in vals], med),
            ],
            fmt="none",
            ecolor="0.15",
            capsize=3,
        )
    for i, n in enumerate(names):
        g = float(np.median(runs[n]["seed_gap"]))
        bx.text(i, 1.04, f"gap {g:.2f}", ha="center", fontsize=8)
    bx.set_xticks(x, [n.replace(" + ", "\n+ ") for n in names], fontsize=8)
    bx.set_ylim(0, 1.12)
    bx.set_ylabel("final accuracy (eval mode)")
    n_seeds = len(runs[names[0]]["seed_train"])
    bx.set_title(f"After the last epoch: median and range over {n_seeds} seeds")
    solid = plt.Rectangle((0, 0), 1, 1, color="0.45", label="train")
    hatched = plt.Rectangle(
        (0, 0),
        1,
        1,
        facecolor="0.45",
        alpha=0.45,
        hatch="//",
        edgecolor="0.3",
        label="test",
    )
    bx.legend(handles=[solid, hatched], loc="lower left", fontsize=8)
    bx.grid(axis="x", visible=False)


def _plot_norms(runs: dict[str, dict], out: Path, size: str) -> Path:
    colors = _colors()
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 4.4))
        for name, r in runs.items():
            ax.plot(r["epochs"], r["weight_norm"], color=colors[name], label=name)
            layers = np.asarray(r["layer_norms"])
            bx.plot(
                np.arange(1, layers.shape[1] + 1),
                layers[-1] / layers[0],
                "-o",
                ms=4,
                color=colors[name],
                label=name,
            )
        ax.set(
            xlabel="epoch",
            ylabel="√(Σ_l ||W_l||²)",
            title="Weight norm during training",
        )
        ax.legend(fontsize=8)
        bx.axhline(1, color="0.5", lw=0.8)
        bx.set(
            xlabel="layer (1 = input side, 7 = output)",
            ylabel="||W_l|| after / before training",
            title="Each layer's weight norm, end vs start",
        )
        return save_figure(fig, out, "regularization_norms", svg=size == "full")


# ----------------------------------------------------------------------- run


def _texts(runs: dict[str, dict], n_seeds: int) -> dict[str, Any]:
    med = {
        n: {k: float(np.median(r[f"seed_{k}"])) for k in ("train", "test", "gap")}
        for n, r in runs.items()
    }
    rng = {n: (min(r["seed_gap"]), max(r["seed_gap"])) for n, r in runs.items()}
    reg = [n for n in runs if n != "none"]
    both = runs["weight decay 0.1 + dropout 0.2"]
    peak_i = int(np.argmax(both["train_acc"]))
    se = binomial_se(med["none"]["test"], N_TEST)
    curves = (
        f"Without regularisation the net reaches a training accuracy of "
        f"{pct(med['none']['train'])} and a test accuracy of "
        f"{pct(med['none']['test'])} (medians over {n_seeds} seeds), a gap of "
        f"{med['none']['gap']:.2f}. "
        + " ".join(
            f"With {n}: train {pct(med[n]['train'])}, test {pct(med[n]['test'])}, "
            f"gap {med[n]['gap']:.2f} (range {rng[n][0]:.2f}–{rng[n][1]:.2f})."
            for n in reg
        )
        + f" One run's test accuracy carries a binomial noise of about ±{pct(se)}."
    )
    steps = both["epochs"][-1] * math.ceil(N_TRAIN / BATCH)
    decay = (1 - LR * 0.1) ** steps
    ratio = {
        n: np.asarray(v["layer_norms"][-1]) / np.asarray(v["layer_norms"][0])
        for n, v in runs.items()
    }
    mid = len(both["epochs"]) // 5  # an early evaluation (about epoch 40)
    drop, wd = runs["dropout 0.2"], runs["weight decay 0.1"]
    norms = (
        f"Why both regularisers together fail here (first seed): with both, the "
        f"training accuracy peaks at {pct(both['train_acc'][peak_i])} (epoch "
        f"{both['epochs'][peak_i]}) and then falls to {pct(both['train_acc'][-1])}. "
        f"The weight norms show what happens. Each of the {steps} steps multiplies "
        f"every weight by 1 − lr·λ = {1 - LR * 0.1:g}, i.e. by {decay:.3f} over the "
        f"run, and the data gradient at lr {LR:g} barely moves the norms (without "
        f"decay each layer's norm changes by at most "
        f"{100 * float(np.max(np.abs(ratio['none'] - 1))):.0f} %): with decay every "
        f"layer ends at {fmt(float(ratio['weight decay 0.1 + dropout 0.2'].min()), 2)}–"
        f"{fmt(float(ratio['weight decay 0.1 + dropout 0.2'].max()), 2)} of its start, "
        f"so the seven layers together scale the logits by about "
        f"{fmt(float(np.prod(ratio['weight decay 0.1 + dropout 0.2'])), 2)} and the "
        "backward signal shrinks the same way. Weight decay alone most likely survives "
        f"this because the net learns the task before the shrinking bites (train "
        f"accuracy {pct(wd['train_acc'][mid])} at epoch {wd['epochs'][mid]}); "
        f"dropout slows learning (alone: {pct(drop['train_acc'][mid])} at that "
        f"epoch, with decay: {pct(both['train_acc'][mid])}), so with both the "
        "shrinking wins and the logits flatten towards a uniform guess. "
        f"Regularisation can be overdone: at lr {LR:g}, λ = 0.1 plus dropout is too "
        "strong for this 7-layer net."
    )
    return {"curves": curves, "norms": norms, "med": med}


def _train_all(cfg: dict, seeds: list[int]) -> dict[str, dict]:
    """Every variant on every seed: the first seed's curves and settings, the
    final train/test accuracy and gap per seed, and the median gap."""
    runs: dict[str, dict] = {}
    for s_ in seeds:
        splits = mnist_sample_splits(N_TRAIN, n_test=N_TEST, seed=s_, flatten=True)
        for name, (wd, p) in VARIANTS.items():
            status(f"{name}, seed {s_}")
            one = train_variant(
                wd,
                p,
                splits.train,
                splits.test,
                epochs=cfg["epochs"],
                eval_every=cfg["eval_every"],
                seed=s_,
            )
            entry = runs.setdefault(
                name,
                {
                    **one,
                    "weight_decay": wd,
                    "dropout": p,
                    "seed_train": [],
                    "seed_test": [],
                    "seed_gap": [],
                },
            )
            entry["seed_train"].append(one["train_acc"][-1])
            entry["seed_test"].append(one["test_acc"][-1])
            entry["seed_gap"].append(one["train_acc"][-1] - one["test_acc"][-1])
    for entry in runs.values():
        entry["gap"] = float(np.median(entry["seed_gap"]))
    return runs


def _table(runs: dict, med: dict) -> list[dict[str, Any]]:
    """One row per variant: medians over seeds, the gap's range, the book's code."""
    return [
        {
            "variant": name,
            "weight decay λ": v["weight_decay"],
            "dropout p": v["dropout"],
            "train acc (median)": med[name]["train"],
            "test acc (median)": med[name]["test"],
            "gap (median)": med[name]["gap"],
            "gap (min–max)": f"{min(v['seed_gap']):.2f}–{max(v['seed_gap']):.2f}",
            "book's code on this sample, train / test": BOOK.get(name),
        }
        for name, v in runs.items()
    ]


def _captions(seeds: list[int], med: dict, both: dict) -> dict[str, str]:
    """One caption per figure, with this run's numbers."""
    return {
        "regularization_curves.png": (
            f"Train (solid) and test (dashed) accuracy per epoch, seed {seeds[0]}; "
            f"the shaded band is the gap (plain net: {med['none']['gap']:.2f} "
            "median over seeds)."
        ),
        "regularization_gap.png": (
            "Left: train − test accuracy during training. Right: final train "
            f"and test accuracy, median and range over {len(seeds)} seeds."
        ),
        "regularization_norms.png": (
            f"Weight norms: with both regularisers the norm falls from "
            f"{fmt(both['weight_norm'][0], 3)} to {fmt(both['weight_norm'][-1], 3)}"
            ", and every layer shrinks (right)."
        ),
    }


@experiment(NAME)
def run(r: Run) -> dict[str, Any]:
    """Train the four variants on several seeds; write the figures and JSON.

    Result keys beyond the contract: ``runs`` {variant: {"epochs", "train_acc",
    "test_acc", "weight_norm", "layer_norms" (first seed, per evaluation),
    "seed_train", "seed_test", "seed_gap" (final values per seed), "gap",
    "weight_decay", "dropout"}}, ``final_train``, ``final_test``, ``gap``
    ({variant: median over seeds}), ``seeds``, ``epochs``.
    """
    cfg = r.pick(CONFIG)
    seeds = list(range(r.seed, r.seed + cfg["seeds"]))
    runs = _train_all(cfg, seeds)
    figures = [
        _plot_curves(runs, r.out, r.size),
        _plot_gap(runs, r.out, r.size),
        _plot_norms(runs, r.out, r.size),
    ]
    t = _texts(runs, len(seeds))
    med = t["med"]
    both = runs["weight decay 0.1 + dropout 0.2"]
    return r.result(
        figures,
        _table(runs, med),
        table_after="regularization_gap.png",
        captions=_captions(seeds, med, both),
        texts={
            "regularization_curves.png": t["curves"],
            "regularization_norms.png": t["norms"],
        },
        budget={
            "training digits": N_TRAIN,
            "test digits": N_TEST,
            "epochs": cfg["epochs"],
            "seeds": len(seeds),
        },
        takeaways=[
            f"Regularisation on {N_TRAIN} digits: the train−test gap falls from "
            f"{med['none']['gap']:.2f} (none) to "
            f"{med['weight decay 0.1']['gap']:.2f} (weight decay) and "
            f"{med['dropout 0.2']['gap']:.2f} (dropout); both together shrink the "
            "weights until the net stops learning."
        ],
        book_figures=[
            {
                "book": "Fig. 6-20/6-21 (overfitting, weight decay; the book's code "
                "run on this sample)",
                "figure": "regularization_curves.png",
                "note": f"medians over {len(seeds)} seeds; {N_TEST:,} test digits",
            }
        ],
        runs=runs,
        final_train={n: med[n]["train"] for n in runs},
        final_test={n: med[n]["test"] for n in runs},
        gap={n: med[n]["gap"] for n in runs},
        seeds=seeds,
        epochs=cfg["epochs"],
        n_train=N_TRAIN,
        n_test=N_TEST,
        lr=LR,
        batch_size=BATCH,
    )
