"""Experiment: the lr range test, and a check of its suggestion by training.

A ReLU MLP 784-100-100-10 with SGD on a subset of the shipped sample: one sweep
(``descentlab.diagnostics.lr_range_test``: lr from 1e-5 to 10 over 100 batches of
64, exponential) gives the smoothed loss-vs-lr curve and the suggested lr. Then
three fresh copies of the same network (same initial weights, same batch order)
train at the suggestion, 10x below and 10x above it, and their validation losses
and accuracies are compared. The sweep itself leaves the model untouched (it is
restored bit for bit), so the run at the suggestion starts from the very weights
the sweep started from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist_sample_splits
from ..diagnostics import lr_range_test
from ..models import MLP
from ..nn import SoftmaxCrossEntropy
from ..optim import SGD
from ..train import Trainer
from ._common import (
    SERIES_COLORS,
    Run,
    experiment,
    plot_style,
    save_figure,
    status,
)
from .api import fmt, pct

NAME = "lr_range_test"
TITLE = "The lr range test: sweep the learning rate, read off a good one, check it"
FORMULA = (
    "lr_i = lr_min · (lr_max / lr_min)^(i / (n − 1)),  one mini-batch per step\n"
    "a_i = β a_{i−1} + (1 − β) L_i,   s_i = a_i / (1 − β^(i+1))   (β = 0.98)\n"
    "stop when s_i > 4 · min_j s_j, or L_i is not finite\n"
    "suggestion: argmin_i d s̃_i / d log lr_i  (s̃: median-5 then mean-5 of L)\n"
    "valley rule, for comparison: √(lr at 10 % of the fall · lr at the minimum)"
)
EXPLANATION = (
    "One pass of training with the learning rate growing exponentially from 1e-5 "
    "to 10 traces the loss as a function of the lr: flat while the lr is too small "
    "to move the weights, then falling, then exploding once the lr exceeds what the "
    "curvature allows. The suggestion is the steepest point of the descent, where "
    "one more factor of lr buys the most loss — below the bottom of the curve, "
    "where training is still stable. The valley rule (the middle, on the log "
    "scale, of the stretch where the loss falls) is marked for comparison; it "
    "lands lower whenever the flat start is long. Both are read from a "
    "local smoothing (running median, then mean, of 5 batches) that a single bad "
    "batch cannot move, rather than from the exponential average plotted, which "
    "lags behind the raw losses. The second figure checks the suggestion: the same "
    "network trained at the suggested lr, and at 10× less and 10× more, for the "
    "same number of epochs."
)

SIZES_MLP = (784, 100, 100, 10)
N_TRAIN = {"quick": 1000, "full": 4000}
N_VAL = 500
EPOCHS = {"quick": 4, "full": 15}
BATCH = 64
SWEEP: dict[str, Any] = {"lr_min": 1e-5, "lr_max": 10.0, "steps": 100}


def _train(model, lr, splits, epochs, seed) -> dict[str, Any]:
    opt = SGD(model.parameters(), lr=lr)
    trainer = Trainer(
        model, SoftmaxCrossEntropy(), opt, verbose=0, on_interrupt="raise"
    )
    h = trainer.fit(
        splits.train, splits.val, epochs=epochs, batch_size=BATCH, seed=seed
    )
    return {
        "lr": lr,
        "val_loss": np.asarray(h.epoch["val_loss"], dtype=float),
        "val_acc": np.asarray(h.epoch["val_acc"], dtype=float),
        "train_loss": np.asarray(h.epoch["loss"], dtype=float),
    }


def _sweep(splits, seed: int):
    """The lr range test of a fresh MLP with SGD (RuntimeError without a
    suggestion)."""
    status("lr sweep")
    model = MLP(SIZES_MLP, seed=seed)
    x, y = splits.train
    sweep = lr_range_test(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.1),
        x,
        y,
        batch_size=BATCH,
        seed=seed,
        **SWEEP,
    )
    if sweep.suggestion is None:
        raise RuntimeError(f"{NAME}: the sweep gave no suggestion ({sweep.reason}).")
    assert sweep.valley is not None  # set together with the suggestion
    return sweep


def _check_runs(suggestion: float, splits, epochs: int, seed: int) -> dict:
    """Train a fresh MLP at 0.1x, 1x and 10x the suggested lr."""
    runs = {}
    for key, factor in (("lower", 0.1), ("suggested", 1.0), ("higher", 10.0)):
        status(f"training at {factor:g} x the suggestion")
        with np.errstate(over="ignore", invalid="ignore"):
            runs[key] = _train(
                MLP(SIZES_MLP, seed=seed),
                suggestion * factor,
                splits,
                epochs,
                seed,
            )
    return runs


def _captions(sweep, runs, final, acc, best, size: str) -> dict[str, str]:
    """One caption per figure, with this run's numbers."""
    return {
        "lr_range_test_sweep.png": (
            f"Loss against lr over a {len(sweep.lrs)}-step sweep "
            f"({sweep.stop_reason}). Suggested lr {sweep.suggestion:.3g}, where the "
            f"loss falls fastest; the curve's minimum is at {sweep.min_lr:.3g} and the "
            f"valley rule (middle of {sweep.valley[0]:.3g} .. {sweep.valley[1]:.3g}) "
            f"gives {sweep.valley_lr:.3g}."
        ),
        "lr_range_test_training.png": (
            f"Validation loss after {EPOCHS[size]} epochs: "
            + ", ".join(f"{final[k]:.3f} at lr {runs[k]['lr']:.3g}" for k in runs)
            + f" (accuracy {', '.join(f'{100 * acc[k]:.1f} %' for k in runs)}). "
            + (
                "The suggested lr ends lowest."
                if best == "suggested"
                else f"Here the {best} lr ends lowest: the suggestion is a start, "
                "not an optimum."
            )
        ),
    }


@experiment(NAME)
def run(r: Run) -> dict:
    """Sweep, then train at the suggestion and at 10x either side.

    Result keys beyond the contract: ``suggestion``, ``steepest_lr``, ``valley``,
    ``min_lr``, ``divergence_lr``, ``sweep`` (the LRRangeResult as a dict), ``runs``
    {"lower"|"suggested"|"higher": {"lr", "val_loss", "val_acc", "train_loss"}} and
    ``suggested_best`` (the suggested lr ends with the lowest validation loss).
    """
    size, seed, out = r.size, r.seed, r.out
    splits = mnist_sample_splits(
        N_TRAIN[size], n_val=N_VAL, n_test=0, seed=seed, flatten=True
    )
    sweep = _sweep(splits, seed)
    runs = _check_runs(sweep.suggestion, splits, EPOCHS[size], seed)
    final = {k: float(r["val_loss"][-1]) for k, r in runs.items()}
    finite = {k: v for k, v in final.items() if np.isfinite(v)}
    best = min(finite, key=finite.get) if finite else None  # type: ignore[arg-type]
    figs = [_plot_sweep(sweep, out, size), _plot_training(runs, out, size)]
    acc = {k: float(r["val_acc"][-1]) for k, r in runs.items()}
    captions = _captions(sweep, runs, final, acc, best, size)
    table = [
        {
            "run": k,
            "lr": runs[k]["lr"],
            "final val loss": final[k],
            "final val acc": acc[k],
        }
        for k in runs
    ]
    texts = _texts(sweep, runs, final, best, size)
    trio = " / ".join(fmt(final[k], 3) for k in ("lower", "suggested", "higher"))
    return r.result(
        figs,
        table,
        captions=captions,
        texts=texts,
        table_after="lr_range_test_training.png",
        budget={
            "training digits": N_TRAIN[size],
            "validation digits": N_VAL,
            "sweep batches": len(sweep.lrs),
            "epochs per check run": EPOCHS[size],
            "seeds": 1,
        },
        takeaways=[
            f"lr range test: one {len(sweep.lrs)}-batch sweep suggests lr "
            f"{sweep.suggestion:.3g} for SGD on a small MLP; trained for "
            f"{EPOCHS[size]} epochs at 0.1×, 1× and 10× that lr the validation "
            f"losses are {trio}"
            + (
                ", lowest at the suggestion."
                if best == "suggested"
                else f": the {best} lr ends lowest, so the suggestion is a start, "
                "not an optimum."
            )
        ],
        book_figures=[],  # the lr range test is not in the book
        suggestion=sweep.suggestion,
        steepest_lr=sweep.steepest_lr,
        valley=sweep.valley,
        valley_lr=sweep.valley_lr,
        min_lr=sweep.min_lr,
        divergence_lr=sweep.divergence_lr,
        sweep=sweep.to_dict(),
        runs=runs,
        final_val_loss=final,
        final_val_acc=acc,
        suggested_best=best == "suggested",
        epochs=EPOCHS[size],
        n_train=N_TRAIN[size],
    )


def _texts(sweep, runs: dict, final: dict, best: str | None, size: str) -> dict:
    """The paragraphs before each figure, formatted from this run."""
    ratio = sweep.min_lr / sweep.suggestion
    sweep_text = (
        f"The sweep used {len(sweep.lrs)} of its {SWEEP['steps']} planned batches "
        f"of {BATCH} (lr {sweep.lrs[0]:.2g} to {sweep.lrs[-1]:.2g}; "
        f"{sweep.stop_reason}). The smoothed loss is lowest at lr "
        f"{sweep.min_lr:.3g}; the suggestion, {sweep.suggestion:.3g}, is "
        f"{ratio:.1f}× below that minimum, where the loss still falls fastest "
        f"per factor of lr, and the valley rule gives {sweep.valley_lr:.3g}."
    )
    higher = runs["higher"]
    diverged = not np.isfinite(final["higher"])
    train_text = (
        f"The three check runs start from the weights the sweep started from and "
        f"see the same batches for {EPOCHS[size]} epochs (one seed, so a "
        "difference of a few thousandths in loss is not a ranking). "
        + (
            f"At 10× the suggestion (lr {higher['lr']:.3g}) training diverges. "
            if diverged
            else f"At 10× the suggestion (lr {higher['lr']:.3g}) the validation "
            f"accuracy ends at {pct(float(higher['val_acc'][-1]))}. "
        )
        + (
            "The suggested lr ends with the lowest validation loss of the three: "
            "it is in the right decade, though rates between the three were not "
            "tried."
            if best == "suggested"
            else f"The {best} lr ends with the lowest validation loss: the "
            "suggestion is a starting point for a search, not its result."
        )
    )
    return {
        "lr_range_test_sweep.png": sweep_text,
        "lr_range_test_training.png": train_text,
    }


def _plot_sweep(res, out: Path, size: str) -> Path:
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(7.5, 4.4))
        ok = np.isfinite(res.raw_losses)
        ax.plot(
            res.lrs[ok],
            res.raw_losses[ok],
            ".",
            color="#999999",
            ms=3,
            label="batch loss",
        )
        ax.plot(
            res.lrs,
            res.losses,
            color=SERIES_COLORS[0],
            label="EMA, bias-corrected (β = 0.98)",
        )
        ax.plot(
            res.lrs,
            res.local_losses,
            "--",
            color=SERIES_COLORS[2],
            lw=1.2,
            label="local smoothing (median 5, mean 5)",
        )
        ax.axvspan(*res.valley, color=SERIES_COLORS[2], alpha=0.1, label="valley")
        ax.axvline(
            res.valley_lr,
            color=SERIES_COLORS[1],
            ls=":",
            lw=2,
            label=f"valley rule, {res.valley_lr:.2g}",
        )
        ax.axvline(
            res.suggestion,
            color=SERIES_COLORS[3],
            lw=2,
            label=f"suggestion (steepest), {res.suggestion:.2g}",
        )
        lo = float(np.nanmin(res.local_losses))
        ax.set_ylim(lo - 0.1, float(res.raw_losses[0]) * 1.4)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (SGD)")
        ax.set_ylabel("training loss (cross-entropy)")
        ax.set_title("lr range test: MLP 784-100-100-10, batch 64")
        ax.legend(loc="lower left", fontsize=8)
        return save_figure(fig, out, "lr_range_test_sweep", svg=size == "full")


def _plot_training(runs, out: Path, size: str) -> Path:
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
        for i, (key, r) in enumerate(runs.items()):
            ep = np.arange(1, len(r["val_loss"]) + 1)
            lab = f"{key}: lr {r['lr']:.2g}"
            ax.plot(
                ep, r["val_loss"], "o-", color=SERIES_COLORS[(0, 3, 1)[i]], label=lab
            )
            bx.plot(
                ep,
                100 * r["val_acc"],
                "o-",
                color=SERIES_COLORS[(0, 3, 1)[i]],
                label=lab,
            )
        ax.set(xlabel="epoch", ylabel="validation loss", title="Validation loss")
        bx.set(
            xlabel="epoch",
            ylabel="validation accuracy (%)",
            title="Validation accuracy",
            ylim=(0, 100),
        )
        ax.legend(fontsize=8)
        bx.legend(fontsize=8, loc="center right")
        return save_figure(fig, out, "lr_range_test_training", svg=size == "full")
