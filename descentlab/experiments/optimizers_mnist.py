"""Experiment 3: the update rules compared on MNIST, each at its best learning rate.

Every optimizer trains the same MLP 784-100-100-100-100-10 (ReLU, He init),
starting from the same initial weights (``MLP(seed=seed)``) and seeing the same
mini-batches (batch 128), for a fixed number of iterations. A fair comparison
needs each rule at its own best learning rate: every optimizer is swept over a
log grid of learning rates (seed ``seed``), the lr with the lowest final
training loss (mean of the last ``window`` batch losses; a diverged run counts
as +inf) is chosen, and that setting is rerun on further seeds; the figures draw
the median and the range over the seeds, and the test accuracy with the
binomial noise floor sqrt(p(1 − p)/n) of the 1,000 test digits. The test digits
never take part in the choice.

AdamW is not in this comparison: at these budgets its decoupled decay changes
the weights by lr·wd per step (1e-5 at Adam's rate and torch's wd = 0.01), so
it is indistinguishable from Adam; decoupling matters for long runs and large
decay, which this experiment does not have.

Data: a stratified 4,000/1,000 split of the shipped 5,000-digit sample (the book
uses all 60,000 MNIST training images). Quick size: 200 iterations (6.4 epochs),
5 learning rates, 3 seeds; full: the book's 2,000 iterations, 7 learning
rates, 5 seeds.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist_sample_splits
from ..models import MLP
from ..nn import SoftmaxCrossEntropy
from ..optim import make_optimizer
from ..train import Trainer
from ._common import (
    Run,
    color,
    experiment,
    label,
    plot_style,
    save_figure,
    smooth,
    status,
)
from .api import binomial_se, fmt, pct

NAME = "optimizers_mnist"
TITLE = "Optimizers compared on MNIST, each at its best learning rate"
FORMULA = (
    "SGD:       θ ← θ − lr·g\n"
    "Momentum:  b ← μ·b + g;  θ ← θ − lr·b                      μ = 0.9\n"
    "Nesterov:  b ← μ·b + g;  θ ← θ − lr·(g + μ·b)              μ = 0.9\n"
    "AdaGrad:   G ← G + g²;  θ ← θ − lr·g/(√G + ε)\n"
    "RMSProp:   v ← α·v + (1−α)·g²;  θ ← θ − lr·g/(√v + ε)      α = 0.99\n"
    "Adam:      m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;\n"
    "           θ ← θ − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)\n"
    "lr* = argmin over a log grid of the final training loss;  "
    "noise floor of an accuracy p on n digits: √(p(1−p)/n)"
)
EXPLANATION = (
    "Which update rule is fastest depends on the learning rate it is given, so "
    "each rule is first swept over a log grid of rates and then compared at its "
    "own best one, on several seeds."
)

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
#: The book's learning rates (Deep Learning from Scratch §6.1.8, figure 6-9's
#: code): SGD 0.01, Momentum 0.01, AdaGrad 0.01, Adam 0.001; Nesterov takes
#: Momentum's, RMSProp Adam's (its per-coordinate step is like Adam's).
BOOK_LR = {
    "sgd": 0.01,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.001,
    "adam": 0.001,
}
#: Extra keyword arguments of ``make_optimizer`` (besides lr).
EXTRA: dict[str, dict[str, float]] = {
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
}
#: Log-grid exponents around the book's lr (SGD's grid is shifted up: its book
#: rate is at the slow end of what it tolerates).
GRID = {
    "quick": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "full": (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5),
}
GRID_SHIFT = {"sgd": 1.0}
SEEDS = {"quick": 3, "full": 5}
SIZES_MLP = (784, 100, 100, 100, 100, 10)
BATCH = 128
N_TRAIN, N_TEST = 4000, 1000
ITERATIONS = {"quick": 200, "full": 2000}
WINDOW = {"quick": 20, "full": 50}


def lr_grid(name: str, size: str) -> list[float]:
    """The swept learning rates of optimizer ``name``: book lr × 10^k on the grid."""
    shift = GRID_SHIFT.get(name, 0.0)
    return [float(BOOK_LR[name] * 10 ** (k + shift)) for k in GRID[size]]


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
    """Fit ``model`` with ``optimizer`` for exactly ``steps`` iterations
    (``Trainer.fit(max_steps=steps)``).

    ``val`` (x, y) is evaluated after every epoch (and after the last, partial one).
    """
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        optimizer,
        callbacks=list(callbacks),
        verbose=0,
        on_interrupt="raise",
    )
    trainer.fit(train, val=val, max_steps=steps, batch_size=batch_size, seed=seed)
    return trainer


def train_one(
    name: str, lr: float, splits, iterations: int, window: int, seed: int
) -> dict[str, Any]:
    """Train the MLP with optimizer ``name`` at ``lr`` for ``iterations`` steps.

    Returns the per-batch ``loss``, its moving average ``smoothed``, ``final``
    (last smoothed value, +inf when the run diverged), ``diverged`` and, unless it
    diverged, ``test_acc``/``test_loss`` on the test split.
    """
    model = MLP(SIZES_MLP, activation="relu", init="he", seed=seed)
    opt = make_optimizer(name, model.parameters(), lr=lr, **EXTRA.get(name, {}))
    with warnings.catch_warnings():  # an overflow at a too-large lr is expected
        warnings.simplefilter("ignore", RuntimeWarning)
        trainer = train_for(model, opt, splits.train, iterations, seed=seed)
        loss = np.asarray(trainer.history.step["loss"], dtype=float)
        diverged = (
            trainer.history.stopped == "nonfinite"
            or len(loss) < iterations
            or not np.all(np.isfinite(loss))
        )
        test = None if diverged else trainer.evaluate(*splits.test)
    sm = smooth(np.where(np.isfinite(loss), loss, np.nan), window)
    return {
        "loss": loss,
        "smoothed": sm,
        "final": math.inf if diverged else float(sm[-1]),
        "diverged": bool(diverged),
        "test_acc": None if test is None else float(test["acc"]),
        "test_loss": None if test is None else float(test["loss"]),
    }


def sweep_and_rerun(size: str, seed: int) -> dict[str, dict[str, Any]]:
    """For each optimizer: the lr sweep on ``seed``, the best lr, its reruns.

    ``{name: {"lrs", "sweep_final" (per lr, inf = diverged), "best_lr",
    "best_index", "seeds", "runs" (one per seed at best_lr; the first is the
    sweep's run)}}``.
    """
    iterations, window = ITERATIONS[size], WINDOW[size]
    seeds = list(range(seed, seed + SEEDS[size]))
    cache: dict[int, Any] = {}

    def splits_for(s: int):
        if s not in cache:
            cache[s] = mnist_sample_splits(N_TRAIN, n_test=N_TEST, seed=s, flatten=True)
        return cache[s]

    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(OPTIMIZERS, start=1):
        lrs = lr_grid(name, size)
        sweep = []
        for lr in lrs:
            status(f"{label(name)} ({i}/{len(OPTIMIZERS)}): lr {lr:.3g}")
            sweep.append(
                train_one(name, lr, splits_for(seed), iterations, window, seed)
            )
        finals = [r["final"] for r in sweep]
        best = int(np.argmin(finals))
        runs = [sweep[best]]
        for s in seeds[1:]:
            status(f"{label(name)} ({i}/{len(OPTIMIZERS)}): best lr, seed {s}")
            runs.append(
                train_one(name, lrs[best], splits_for(s), iterations, window, s)
            )
        out[name] = {
            "lrs": lrs,
            "sweep_final": finals,
            "best_lr": lrs[best],
            "best_index": best,
            "at_grid_edge": best in (0, len(lrs) - 1),
            "book_lr": BOOK_LR[name],
            "seeds": seeds,
            "runs": runs,
            "test_acc": [r["test_acc"] for r in runs],
            "final_smoothed": [r["final"] for r in runs],
        }
    return out


def _plot_sweep(res: dict, size: str, out: Path) -> Path:
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(8.5, 4.8))
        finite = [v for r in res.values() for v in r["sweep_final"] if math.isfinite(v)]
        top = max(finite) * 1.6
        for name, r in res.items():
            y = [v if math.isfinite(v) else top for v in r["sweep_final"]]
            ax.plot(r["lrs"], y, "-o", ms=4, color=color(name), label=label(name))
            for lr, v in zip(r["lrs"], r["sweep_final"], strict=True):
                if not math.isfinite(v):
                    ax.plot(lr, top, "x", ms=9, mew=2, color=color(name))
            ax.plot(
                r["best_lr"],
                r["sweep_final"][r["best_index"]],
                "*",
                ms=15,
                color=color(name),
                mec="white",
                zorder=5,
            )
        ax.set(xscale="log", yscale="log", xlabel="learning rate (log scale)")
        ax.set_ylabel(f"final training loss (mean of last {WINDOW[size]} batches)")
        ax.set_title(
            f"Learning-rate sweep, {ITERATIONS[size]} iterations, seed 0 of the run; "
            "★ = chosen, × (top) = diverged",
            fontsize=10,
        )
        ax.legend(fontsize=8.5, ncol=2)
        return save_figure(fig, out, "optimizers_lr_sweep", svg=size == "full")


def _plot_compare(res: dict, size: str, out: Path) -> Path:
    iterations, window = ITERATIONS[size], WINDOW[size]
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(1.9, 1))
        it = np.arange(1, iterations + 1)
        for name, r in res.items():
            curves = np.array([run["smoothed"] for run in r["runs"]])
            ax.fill_between(
                it, curves.min(0), curves.max(0), color=color(name), alpha=0.18, lw=0
            )
            ax.plot(
                it,
                np.median(curves, 0),
                color=color(name),
                lw=1.8,
                label=f"{label(name)} (lr {fmt(r['best_lr'], 3)})",
            )
        ax.set(yscale="log", xlim=(0, iterations))
        ax.set_xlabel(f"iteration (mini-batch of {BATCH})")
        ax.set_ylabel("training loss (log scale)")
        ax.set_title(
            f"Moving average over {window} batches: median and range over "
            f"{len(next(iter(res.values()))['seeds'])} seeds",
            fontsize=10,
        )
        ax.legend(fontsize=8.5, loc="lower left")
        order = sorted(res, key=lambda n: float(np.median(res[n]["test_acc"])))
        med = [100 * float(np.median(res[n]["test_acc"])) for n in order]
        lo = [100 * min(res[n]["test_acc"]) for n in order]
        hi = [100 * max(res[n]["test_acc"]) for n in order]
        y = np.arange(len(order))
        bx.barh(y, med, color=[color(n) for n in order], alpha=0.85)
        for yi, m in zip(y, med, strict=True):
            bx.text(2, yi, f"{m:.1f} %", va="center", color="white", fontsize=9)
        bx.errorbar(
            med,
            y,
            xerr=[np.subtract(med, lo), np.subtract(hi, med)],
            fmt="none",
            ecolor="0.2",
            capsize=3,
        )
        for yi, n in zip(y, order, strict=True):
            bx.plot(
                [100 * a for a in res[n]["test_acc"]],
                [yi] * len(res[n]["test_acc"]),
                "o",
                ms=3,
                color="white",
                mec="0.2",
            )
        se = 100 * binomial_se(max(med) / 100, N_TEST)
        bx.set_yticks(y, [label(n) for n in order])
        bx.set_xlim(0, 100)
        bx.set_xlabel(f"test accuracy (%), {N_TEST:,} held-out digits")
        bx.set_title(
            f"Median, range and seeds; noise of one run ±{se:.1f} pp", fontsize=10
        )
        bx.grid(axis="y", visible=False)
        return save_figure(fig, out, NAME, svg=size == "full")


def _prose(res: dict, size: str) -> dict[str, Any]:
    med = {n: float(np.median(r["test_acc"])) for n, r in res.items()}
    best, worst = max(med, key=med.__getitem__), min(med, key=med.__getitem__)
    se = binomial_se(med[best], N_TEST)
    close = [n for n in med if med[best] - med[n] <= 2 * se]
    edge = [label(n) for n, r in res.items() if r["at_grid_edge"]]
    moved = [
        f"{label(n)} {fmt(r['book_lr'], 3)} → {fmt(r['best_lr'], 3)}"
        for n, r in res.items()
        if not math.isclose(r["best_lr"], r["book_lr"])
    ]
    n_seeds = len(res[best]["seeds"])
    early = ITERATIONS[size] // 4
    at_early = {
        n: float(np.median([run["smoothed"][early - 1] for run in r["runs"]]))
        for n, r in res.items()
    }
    fast, slow = (
        min(at_early, key=at_early.__getitem__),
        max(at_early, key=at_early.__getitem__),
    )
    sweep_text = (
        "Each curve is one optimizer's final training loss against its learning "
        f"rate after {ITERATIONS[size]} iterations (seed {res[best]['seeds'][0]}); "
        "too small a rate learns slowly, too large a rate oscillates or diverges "
        "(×). The star marks the chosen rate. "
        + (
            "Against the book's rates the sweep moves " + "; ".join(moved) + ". "
            if moved
            else "The sweep confirms the book's rates. "
        )
        + (
            f"For {', '.join(edge)} the best rate is at the edge of the grid, so a "
            "wider grid might do better still."
            if edge
            else "Every chosen rate lies inside its grid."
        )
    )
    cmp_text = (
        f"At its best rate every method is rerun on {n_seeds} seeds (split, "
        "initial weights and batch order change with the seed). The median test "
        f"accuracies run from {pct(med[worst])} ({label(worst)}) to "
        f"{pct(med[best])} ({label(best)}). One run on {N_TEST:,} digits measures "
        f"an accuracy near {pct(med[best])} only to about ±{pct(se)} (the binomial "
        f"standard error √(p(1−p)/n)), so "
        + (
            f"{', '.join(label(n) for n in close)} are not told apart by this "
            "experiment"
            if len(close) > 1
            else f"{label(best)} is ahead by more than the noise"
        )
        + f". Early in training the order is clearer: after {early} iterations "
        f"the lowest median training loss is {label(fast)}'s "
        f"({fmt(at_early[fast], 3)}), the highest {label(slow)}'s "
        f"({fmt(at_early[slow], 3)})."
    )
    return {
        "med": med,
        "best": best,
        "worst": worst,
        "se": se,
        "close": close,
        "early": early,
        "at_early": at_early,
        "sweep_text": sweep_text,
        "cmp_text": cmp_text,
    }


def _table(res: dict, med: dict) -> list[dict[str, Any]]:
    """One row per optimizer: book lr, swept grid, best lr, loss and accuracy."""
    return [
        {
            "optimizer": label(n),
            "book lr": v["book_lr"],
            "lr grid": f"{fmt(v['lrs'][0], 2)} … {fmt(v['lrs'][-1], 2)}",
            "best lr": v["best_lr"],
            "final train loss (median)": float(np.median(v["final_smoothed"])),
            "test acc (median)": med[n],
            "test acc (min–max)": f"{pct(min(v['test_acc']))}–"
            f"{pct(max(v['test_acc']))}",
        }
        for n, v in res.items()
    ]


def _captions(sweep_fig: str, cmp_fig: str, res: dict, p: dict, n_seeds: int):
    """One caption per figure, with this run's numbers."""
    return {
        sweep_fig: (
            f"Final training loss against learning rate for each optimizer; the "
            f"stars are the chosen rates (SGD's is {fmt(res['sgd']['best_lr'], 3)}, "
            f"Adam's {fmt(res['adam']['best_lr'], 3)})."
        ),
        cmp_fig: (
            f"Left: training loss at each optimizer's best rate, median and range "
            f"over {n_seeds} seeds. Right: test accuracy from 0 %, best median "
            f"{pct(p['med'][p['best']])} ({label(p['best'])}), noise of one run "
            f"±{pct(p['se'])}."
        ),
    }


@experiment(NAME)
def run(r: Run) -> dict[str, Any]:
    """Sweep the lr of each optimizer, rerun the best on several seeds, plot both.

    Result keys beyond the contract: ``iterations``, ``window``, ``noise_floor``
    (binomial standard error of the best median accuracy), and per optimizer in
    ``optimizers`` {name: {"lrs", "sweep_final", "best_lr", "best_index",
    "at_grid_edge", "book_lr", "seeds", "test_acc" (per seed),
    "final_smoothed" (per seed), "runs"}}.
    """
    res = sweep_and_rerun(r.size, r.seed)
    f_sweep = _plot_sweep(res, r.size, r.out)
    f_cmp = _plot_compare(res, r.size, r.out)
    p = _prose(res, r.size)
    table = _table(res, p["med"])
    n_seeds = len(res[p["best"]]["seeds"])
    captions = _captions(f_sweep.name, f_cmp.name, res, p, n_seeds)
    return r.result(
        [f_sweep, f_cmp],
        table,
        table_after=f_cmp.name,
        captions=captions,
        texts={f_sweep.name: p["sweep_text"], f_cmp.name: p["cmp_text"]},
        budget={
            "training digits": N_TRAIN,
            "test digits": N_TEST,
            "iterations": ITERATIONS[r.size],
            "learning rates per optimizer": len(GRID[r.size]),
            "seeds": n_seeds,
        },
        takeaways=[
            f"Optimizers at their own best learning rate: median test accuracy "
            f"{pct(p['med'][p['worst']])} ({label(p['worst'])}) to "
            f"{pct(p['med'][p['best']])} ({label(p['best'])}) after "
            f"{ITERATIONS[r.size]} iterations; differences under ±{pct(2 * p['se'])} "
            f"are noise on {N_TEST:,} test digits."
        ],
        book_figures=[
            {
                "book": "Fig. 6-9 (optimizers on MNIST, the book's code)",
                "figure": f_cmp.name,
                "note": "each method at its swept best lr, seeds with ranges, "
                f"{N_TRAIN:,} sample digits instead of 60,000",
            }
        ],
        iterations=ITERATIONS[r.size],
        window=WINDOW[r.size],
        batch_size=BATCH,
        noise_floor=p["se"],
        optimizers=res,
        final_smoothed={
            n: float(np.median(v["final_smoothed"])) for n, v in res.items()
        },
    )
