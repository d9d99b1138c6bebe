"""Experiment 12: classic CNN architectures trained the same way on the MNIST sample.

LeNet5 in its 1998 form (sigmoid, average pooling) and its modern form (ReLU,
max pooling), AlexNetSmall (AlexNet's ideas at 28x28) with and without local
response normalisation and dropout, the book's DeepConvNet and ResNetSmall.
Every model gets the same stratified split, the same Adam (lr 1e-3), batch
size and number of epochs; the table reports parameters, test accuracy and
training time per epoch, the figures the accuracies and validation curves.

Every model is trained on several seeds; each seed draws its own split
(training, validation and test digits), initial weights and batch order, and
the figures draw the median and the range (min–max) over the seeds.

Sizes. quick (tests, ``report --quick``): 2 seeds, 1,000 training and 200
validation digits, 2 epochs of batch 20 (100 steps), AlexNetSmall at width 0.5,
and only the six models that fit the budget (both LeNet5 variants, the three
AlexNetSmall variants, DeepConvNet). full: 3 seeds, 3,500 training + 500
validation digits (the 4,000 digits outside the test set), 10 epochs of batch
50, every variant at full width. For the first seed the 1,000 test digits are
the same as in the ``cnn`` experiment.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist_sample_splits
from ..models import AlexNetSmall, DeepConvNet, LeNet5, ResNetSmall
from ..nn import SoftmaxCrossEntropy
from ..optim import Adam
from ..train import Callback, Trainer
from ._common import (
    SERIES_COLORS,
    EpochStatus,
    Run,
    experiment,
    plot_style,
    save_figure,
    smooth,
    status,
)
from .api import binomial_se, pct

NAME = "architectures"
TITLE = (
    "CNN architectures: LeNet-5, AlexNetSmall, DeepConvNet (ResNetSmall at full size)"
)
FORMULA = (
    "LeNet-5:      conv 6@5x5 p2 → act → pool 2 → conv 16@5x5 → act → pool 2 → "
    "120 → 84 → 10   (sigmoid + avg pool, or ReLU + max pool)\n"
    "AlexNetSmall: conv 32@5x5 → ReLU → [LRN] → maxpool 3/2 → conv 64@5x5 → ReLU → "
    "[LRN] → maxpool 3/2 → conv 96, 96, 64 @3x3 → maxpool 3/2 → [dropout 0.5] → "
    "256 → [dropout] → 10\n"
    "LRN:          b_c = a_c / (k + α/n · Σ_{c' near c} a_c'²)^β,  k = 2, n = 5, "
    "α = 1e-4, β = 0.75\n"
    "DeepConvNet:  (conv 3x3 → ReLU) x2 → pool, channels 16, 32, 64 → 50 → "
    "dropout 0.5 → 10\n"
    "ResNetSmall:  y = ReLU(x + F(x)),  F = conv 3x3 → BN → ReLU → conv 3x3 → BN\n"
    "Training:     Adam lr 1e-3, softmax cross-entropy, same split, batch size and "
    "epochs"
)
EXPLANATION = (
    "All models are trained identically (Adam, lr 1e-3, same digits, batch size and "
    "epochs), so the differences come from the architectures. AlexNetSmall is run "
    "three ways, with LRN and dropout, without LRN and without dropout, so that "
    "each of the two effects is seen on its own."
)

#: key -> (label, constructor, kwargs, sizes it runs at)
MODELS: dict[str, tuple[str, Any, dict[str, Any], tuple[str, ...]]] = {
    "lenet5-sigmoid-avg": (
        "LeNet-5 sigmoid/avg",
        LeNet5,
        {"activation": "sigmoid", "pool": "avg"},
        ("quick", "full"),
    ),
    "lenet5-relu-max": (
        "LeNet-5 ReLU/max",
        LeNet5,
        {"activation": "relu", "pool": "max"},
        ("quick", "full"),
    ),
    "alexnet-small": (
        "AlexNetSmall LRN+dropout",
        AlexNetSmall,
        {"lrn": True, "dropout": 0.5},
        ("quick", "full"),
    ),
    "alexnet-small-nolrn": (
        "AlexNetSmall no LRN",
        AlexNetSmall,
        {"lrn": False, "dropout": 0.5},
        ("quick", "full"),
    ),
    "alexnet-small-nodropout": (
        "AlexNetSmall no dropout",
        AlexNetSmall,
        {"lrn": True, "dropout": 0.0},
        ("quick", "full"),
    ),
    "deepconvnet": ("DeepConvNet", DeepConvNet, {}, ("quick", "full")),
    "resnet-small": ("ResNetSmall", ResNetSmall, {}, ("full",)),
}
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "n_train": 1000,
        "n_val": 200,
        "n_test": 1000,
        "epochs": 2,
        "batch_size": 20,
        "alexnet_width": 0.5,
        "seeds": 2,
    },
    "full": {
        "n_train": 3500,
        "n_val": 500,
        "n_test": 1000,
        "epochs": 10,
        "batch_size": 50,
        "alexnet_width": 1.0,
        "seeds": 3,
    },
}
LR = 1e-3
CHANCE_LOSS = math.log(10.0)
#: Evaluation batch: conv forward passes on 1,000 digits at once are ~4x slower per
#: digit than on 100 (the im2col matrices no longer fit in cache).
EVAL_BATCH = 100


class _EpochTimer(Callback):
    """Wall time of each epoch's training pass (first batch start to last batch end)."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, step, logs=None):
        if logs and logs.get("batch") == logs.get("batches", 0) - 1:
            self.seconds.append(time.perf_counter() - self._t0)


def build(key: str, size: str, seed: int = 0):
    """The model ``key`` of MODELS for ``size`` (AlexNetSmall width from SETTINGS)."""
    _, cls, kwargs, _ = MODELS[key]
    kwargs = dict(kwargs)
    if cls is AlexNetSmall:
        kwargs["width"] = SETTINGS[size]["alexnet_width"]
    return cls(seed=seed, **kwargs)


def train_one(key: str, size: str, seed: int, data) -> dict[str, Any]:
    """Train model ``key`` with Adam on ``data`` (Splits); return curves and scores."""
    cfg = SETTINGS[size]
    model = build(key, size, seed)
    timer = _EpochTimer()
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        Adam(model.parameters(), lr=LR),
        callbacks=[timer, EpochStatus(MODELS[key][0])],
        verbose=0,
        eval_batch_size=EVAL_BATCH,
        on_interrupt="raise",
    )
    start = trainer.evaluate(*data.val)
    history = trainer.fit(
        data.train,
        val=data.val,
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        seed=seed,
    )
    test = trainer.evaluate(*data.test)
    label_ = MODELS[key][0]
    if isinstance(model, AlexNetSmall) and cfg["alexnet_width"] != 1.0:
        label_ += f" (width {cfg['alexnet_width']:g})"
    return {
        "label": label_,
        "params": model.num_parameters(),
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        "val_acc": [start["acc"], *history.epoch["val_acc"]],
        "val_loss": [start["loss"], *history.epoch["val_loss"]],
        "train_acc": history.epoch["acc"],
        "step_loss": history.step["loss"],
        "epoch_seconds": timer.seconds,
        "seconds_per_epoch": float(np.mean(timer.seconds)),
    }


def aggregate(seed_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One model's runs over the seeds: medians (the plotted line), ranges
    (min–max, the band and error bars) and each seed's numbers."""
    first = seed_runs[0]
    test = [r["test_acc"] for r in seed_runs]
    val = np.array([r["val_acc"] for r in seed_runs])
    loss = np.array([r["step_loss"] for r in seed_runs])
    secs = [s for r in seed_runs for s in r["epoch_seconds"]]
    return {
        "label": first["label"],
        "params": first["params"],
        "seed_test_acc": test,
        "test_acc": float(np.median(test)),
        "test_acc_range": [min(test), max(test)],
        "test_loss": float(np.median([r["test_loss"] for r in seed_runs])),
        "seed_val_acc": val,
        "val_acc": np.median(val, axis=0),
        "val_acc_lo": val.min(axis=0),
        "val_acc_hi": val.max(axis=0),
        "val_loss": np.median([r["val_loss"] for r in seed_runs], axis=0),
        "train_acc": np.median([r["train_acc"] for r in seed_runs], axis=0),
        "seed_step_loss": loss,
        "step_loss": np.median(loss, axis=0),
        "epoch_seconds": secs,
        "seconds_per_epoch": float(np.median(secs)),
    }


#: One fixed colour per model, the same in both figures (descentlab.palette's
#: series colours: none of them is an optimizer's colour).
MODEL_COLORS: dict[str, str] = dict(zip(MODELS, SERIES_COLORS, strict=False))


def _colors(keys: list[str]) -> dict[str, str]:
    return {
        k: MODEL_COLORS.get(k, SERIES_COLORS[i % len(SERIES_COLORS)])
        for i, k in enumerate(keys)
    }


def _accuracy_bars(ax1, results: dict, keys: list, colors: dict, y, cfg: dict):
    """Median test accuracy per model, the range over seeds and each seed."""
    labels = [results[k]["label"] for k in keys]
    n_seeds = len(results[keys[0]]["seed_test_acc"])
    acc = np.array([results[k]["test_acc"] for k in keys])
    lo = np.array([results[k]["test_acc_range"][0] for k in keys])
    hi = np.array([results[k]["test_acc_range"][1] for k in keys])
    ax1.barh(y, acc, color=[colors[k] for k in keys], alpha=0.85)
    ax1.errorbar(acc, y, xerr=[acc - lo, hi - acc], fmt="none", ecolor="0.2", capsize=3)
    for yi, k in zip(y, keys, strict=True):
        seeds = results[k]["seed_test_acc"]
        ax1.plot(seeds, [yi] * len(seeds), "o", ms=3.5, color="white", mec="0.2")
    for yi, a, h in zip(y, acc, hi, strict=True):
        ax1.annotate(
            pct(a),
            (h, yi),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax1.axvline(0.1, color="0.3", ls=":", lw=1.2)
    ax1.annotate(
        "chance",
        (0.1, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -2),
        textcoords="offset points",
        va="top",
        fontsize=8.5,
        color="0.3",
    )
    ax1.set_xlim(0, 1.1)
    ax1.set_yticks(y, labels)
    ax1.set_xlabel(f"test accuracy ({cfg['n_test']:,} digits)")
    ax1.set_title(
        f"Test accuracy: median (bar), range and each of {n_seeds} seeds (dots)",
        fontsize=10,
    )


def _cost_bars(ax2, results: dict, keys: list, colors: dict, y, cfg: dict):
    """Training time per epoch per model (log scale), with its parameter count."""
    n_seeds = len(results[keys[0]]["seed_test_acc"])
    sec = [results[k]["seconds_per_epoch"] for k in keys]
    ax2.barh(y, sec, color=[colors[k] for k in keys])
    for yi, s, k in zip(y, sec, keys, strict=False):
        ax2.annotate(
            f"{s:.2f} s, {results[k]['params']:,} params",
            (s, yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8.5,
        )
    ax2.set_xscale("log")
    ax2.set_xlim(min(sec) / 2, max(sec) * 8)
    ax2.set_xlabel(
        f"training time per epoch of {cfg['n_train']:,} digits (seconds, log scale)"
    )
    ax2.set_title(f"Cost (median over the {n_seeds} seeds' epochs)", fontsize=10)


def _plot_summary(results: dict[str, dict], out: Path, cfg: dict) -> Path:
    keys = list(results)
    colors = _colors(keys)
    y = np.arange(len(keys))[::-1]
    with plot_style() as plt:
        fig, (ax1, ax2) = plt.subplots(
            1, 2, figsize=(12.5, 0.6 * len(keys) + 2.0), sharey=True
        )
        _accuracy_bars(ax1, results, keys, colors, y, cfg)
        _cost_bars(ax2, results, keys, colors, y, cfg)
        fig.suptitle(
            f"Same training for every model: Adam lr 1e-3, "
            f"{cfg['n_train']:,} digits, {cfg['epochs']} epochs of batch "
            f"{cfg['batch_size']}",
            fontsize=12,
        )
        return save_figure(fig, out, "architectures_accuracy")


def _plot_curves(results: dict[str, dict], out: Path, cfg: dict) -> Path:
    keys = list(results)
    colors = _colors(keys)
    styles = ["-", "--", "-.", ":"]
    n_seeds = len(results[keys[0]]["seed_test_acc"])
    with plot_style() as plt:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12.5, 4.8))
        for i, k in enumerate(keys):
            r = results[k]
            ls = styles[i % len(styles)]
            ep = np.arange(len(r["val_acc"]))
            ax1.fill_between(
                ep, r["val_acc_lo"], r["val_acc_hi"], color=colors[k], alpha=0.15, lw=0
            )
            ax1.plot(ep, r["val_acc"], "o" + ls, color=colors[k], label=r["label"])
            sm = np.array([smooth(s, 10) for s in r["seed_step_loss"]])
            it = np.arange(1, sm.shape[1] + 1)
            ax2.fill_between(
                it, sm.min(0), sm.max(0), color=colors[k], alpha=0.15, lw=0
            )
            ax2.plot(it, np.median(sm, 0), ls, color=colors[k], label=r["label"])
        ax1.axhline(0.1, color="0.3", ls=":", lw=1.2)
        ax1.set_xlabel("epoch (0 = before training)")
        ax1.set_ylabel(f"validation accuracy ({cfg['n_val']} digits)")
        ax1.set_ylim(0, 1)
        ax1.set_xticks(np.arange(cfg["epochs"] + 1))
        ax1.set_title("Validation accuracy per epoch")
        ax1.legend(fontsize=8, loc="best")
        ax2.axhline(
            CHANCE_LOSS, color="0.3", ls=":", lw=1.2, label="ln 10 (uniform guess)"
        )
        ax2.set_xlabel(f"iteration (batch of {cfg['batch_size']})")
        ax2.set_ylabel("training loss (moving average of 10 batches)")
        ax2.set_ylim(0, CHANCE_LOSS * 1.25)
        ax2.set_title("Training loss (train mode)")
        ax2.legend(fontsize=8, loc="best")
        fig.suptitle(
            "Learning curves (same data, optimizer and steps for every model): "
            f"median and range over {n_seeds} seeds",
            fontsize=12,
        )
        return save_figure(fig, out, "architectures_curves")


def _prose(results: dict[str, dict], cfg: dict, seeds: list[int]) -> dict[str, Any]:
    acc = {k: r["test_acc"] for k, r in results.items()}
    rng = {k: r["test_acc_range"] for k, r in results.items()}
    sec = {k: r["seconds_per_epoch"] for k, r in results.items()}
    n = len(seeds)
    steps = cfg["epochs"] * math.ceil(cfg["n_train"] / cfg["batch_size"])
    lenet = sec["lenet5-relu-max"]
    deep = [k for k in results if k.startswith(("alexnet", "deepconv", "resnet"))]
    ratios = [sec[k] / lenet for k in deep]
    sig, relu = acc["lenet5-sigmoid-avg"], acc["lenet5-relu-max"]
    base = acc["alexnet-small"]
    no_lrn, no_drop = acc["alexnet-small-nolrn"], acc["alexnet-small-nodropout"]
    se = binomial_se(max(acc.values()), cfg["n_test"])
    # a difference of two medians of n runs each, from the test digits alone
    diff_se = math.sqrt(2.0 / n) * se

    def diff(a: str, b: str) -> str:
        d = acc[a] - acc[b]
        overlap = rng[a][0] <= rng[b][1] and rng[b][0] <= rng[a][1]
        same = overlap or abs(d) <= 2 * diff_se
        return f"{100 * d:+.1f} points" + (" (within the noise)" if same else "")

    def span(k: str) -> str:
        return f"{pct(rng[k][0])}–{pct(rng[k][1])}"

    d_lrn = diff("alexnet-small-nolrn", "alexnet-small")
    d_drop = diff("alexnet-small-nodropout", "alexnet-small")
    sig_stuck = float(np.max(results["lenet5-sigmoid-avg"]["val_acc_hi"])) < 0.2
    summary = (
        f"Every model is trained on {n} seeds ({seeds[0]}–{seeds[-1]}; each seed "
        "draws its own training, validation and test digits, initial weights and "
        "batch order); the numbers are medians, with the range over the seeds in "
        f"brackets. After {steps} steps the classic LeNet-5 with sigmoid units and "
        f"average pooling reaches a test accuracy of {pct(sig)} "
        f"({span('lenet5-sigmoid-avg')}), the same network with ReLU and max "
        f"pooling {pct(relu)} ({span('lenet5-relu-max')})"
        + (
            ": the sigmoid version is still on its plateau at chance on every seed, "
            "because each sigmoid multiplies the backward signal by at most 0.25 "
            "and the outputs start close to uniform. "
            if sig_stuck
            else ". "
        )
        + f"The deeper nets cost {min(ratios):.0f}–{max(ratios):.0f} times LeNet-5's "
        "time per epoch (training pass, wall time on this machine's CPU, so noisy "
        "when the machine is busy). AlexNetSmall ablated: with LRN and dropout "
        f"{pct(base)} ({span('alexnet-small')}); without LRN {pct(no_lrn)} "
        f"({span('alexnet-small-nolrn')}, {d_lrn}); without dropout "
        f"{pct(no_drop)} ({span('alexnet-small-nodropout')}, {d_drop}). One run on "
        f"{cfg['n_test']:,} test digits is uncertain by about ±{pct(se)}; a "
        "difference counts as within the noise when the seeds' ranges overlap or "
        f"it is under {200 * diff_se:.1f} points (twice the binomial error of a "
        f"difference of two medians of {n} runs)."
        + (
            f" ResNetSmall (BN and identity shortcuts) reaches "
            f"{pct(acc['resnet-small'])} ({span('resnet-small')})."
            if "resnet-small" in acc
            else " ResNetSmall runs only at full size (`descentlab report --full`)."
        )
        + " The book reports 99.4 % for DeepConvNet on full MNIST (its text, §8.1.1, "
        "60,000 training digits)."
    )
    curves = (
        "The validation accuracy is measured in evaluation mode after each epoch. "
        "The training loss on the right is the loss of each mini-batch as trained, "
        "i.e. with dropout active for AlexNetSmall and DeepConvNet, so their "
        "training loss is higher than the same weights would score in eval mode. "
        f"Lines are medians over the {n} seeds, bands their range."
    )
    takeaway = (
        f"Architectures: ReLU/max pooling lifts LeNet-5 from {pct(sig)} to "
        f"{pct(relu)} in {steps} steps (medians of {n} seeds); removing dropout "
        f"from AlexNetSmall changes it by {d_drop}, removing LRN by {d_lrn}."
    )
    return {
        "summary": summary,
        "curves": curves,
        "takeaway": takeaway,
        "steps": steps,
        "cost_lo": min(ratios),
        "cost_hi": max(ratios),
        "noise": se,
        "noise_of_difference": diff_se,
    }


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Train every model of ``size`` on several seeds; write two figures and
    ``architectures.json``.

    Result keys beyond the contract: ``seeds``, ``models`` (key -> {label,
    params, test_acc (median over the seeds), test_acc_range ([min, max]),
    seed_test_acc, test_loss, val_acc (median per epoch, epoch 0 first),
    val_acc_lo, val_acc_hi, seed_val_acc, val_loss, train_acc, step_loss (median
    per step), seed_step_loss, epoch_seconds (every seed's), seconds_per_epoch
    (their median)}), ``test_acc`` (key -> median accuracy), ``noise``,
    ``settings``, ``size``, ``seed``.
    """
    size, out = ctx.size, ctx.out
    cfg = SETTINGS[size]
    seeds = list(range(ctx.seed, ctx.seed + cfg["seeds"]))
    keys = [key for key, spec in MODELS.items() if size in spec[3]]
    per_seed: dict[str, list[dict]] = {k: [] for k in keys}
    for s in seeds:
        data = mnist_sample_splits(cfg["n_train"], cfg["n_val"], cfg["n_test"], seed=s)
        for i, key in enumerate(keys, start=1):
            status(f"{MODELS[key][0]} ({i}/{len(keys)}), seed {s}")
            per_seed[key].append(train_one(key, size, s, data))
    results = {k: aggregate(v) for k, v in per_seed.items()}
    figures = [_plot_summary(results, out, cfg), _plot_curves(results, out, cfg)]
    table = [
        {
            "model": r["label"],
            "parameters": r["params"],
            "test accuracy (median)": r["test_acc"],
            "test accuracy (min–max)": f"{r['test_acc_range'][0]:.3f}–"
            f"{r['test_acc_range'][1]:.3f}",
            "test loss (median)": r["test_loss"],
            "final val accuracy (median)": float(r["val_acc"][-1]),
            "s/epoch (training, median)": r["seconds_per_epoch"],
        }
        for r in results.values()
    ]
    p = _prose(results, cfg, seeds)
    best = max(results.values(), key=lambda r: r["test_acc"])
    captions = {
        figures[0].name: f"Test accuracy (median, range and each of {len(seeds)} "
        f"seeds) and training time per epoch; best median: {best['label']} "
        f"({pct(best['test_acc'])}); the deep nets cost "
        f"{p['cost_lo']:.0f}–{p['cost_hi']:.0f}× the time of LeNet-5 per epoch.",
        figures[1].name: "Validation accuracy per epoch (left, eval mode) and "
        "training loss per batch (right, train mode: dropout on for the nets that "
        f"have it), median and range over {len(seeds)} seeds; the dotted line at "
        "ln 10 is the loss of a uniform guess.",
    }
    return ctx.result(
        figures,
        table,
        captions=captions,
        texts={figures[0].name: p["summary"], figures[1].name: p["curves"]},
        table_after=figures[0].name,
        budget={
            "training digits": cfg["n_train"],
            "epochs": cfg["epochs"],
            "steps": p["steps"],
            "seeds": len(seeds),
        },
        takeaways=[p["takeaway"]],
        settings=cfg,
        seeds=seeds,
        models=results,
        test_acc={k: r["test_acc"] for k, r in results.items()},
        noise=p["noise"],
    )
