"""Experiment: the loss landscape around trained nets, and sharp vs flat minima.

A ReLU MLP 784-64-64-10 is trained with SGD at one lr twice on the same digits:
with small batches (16) and with large ones (500). Around each final point the
loss is drawn along random filter-normalized directions (Li et al. 2018; biases
zero), so that the two nets, whose weights have different scales, are compared
with the same normalization; their top Hessian eigenvalue (Lanczos, float64,
eval mode) measures the same sharpness in numbers. The small-batch run's weights
after every epoch give its trajectory, projected on its top-2 PCA directions,
drawn on the loss surface of that plane; the loss along the straight line from
the initial to the final weights (Goodfellow et al. 2015) completes the picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist_sample_splits
from ..diagnostics import (
    interpolate,
    loss_line,
    loss_surface,
    parameter_vector,
    random_direction,
    top_hessian_eigenvalues,
    trajectory_pca,
)
from ..models import MLP
from ..nn import SoftmaxCrossEntropy
from ..optim import SGD
from ..train import Callback, Trainer
from ._common import (
    SERIES_COLORS,
    Run,
    experiment,
    plot_style,
    save_figure,
    status,
)
from .api import pct

NAME = "loss_landscape"
TITLE = "Loss landscapes: filter-normalized slices, the training path, sharp vs flat"
FORMULA = (
    "f(α) = L(θ* + α d),   f(α, β) = L(θ* + α d₁ + β d₂)\n"
    "filter normalization:  d_ij ← d_ij · ‖θ*_ij‖ / ‖d_ij‖   (each output unit)\n"
    "path: PCA of θ_t − θ* over epochs t;  coordinates (θ_t − θ*)·v₁, (θ_t − θ*)·v₂\n"
    "sharpness: λ_max(∇²L(θ*)) by Lanczos;  line from init: L((1 − a) θ₀ + a θ*)"
)
EXPLANATION = (
    "A network's loss is a function of tens of thousands of weights; a slice through "
    "it along one or two random directions shows its shape near the trained "
    "weights. Raw random directions would make a net with larger weights look "
    "flatter (the same step is relatively smaller); filter normalization rescales "
    "each output unit's direction to that unit's weight norm, which removes this "
    "artefact (rescaling a ReLU layer by c and the next by 1/c leaves the "
    "normalized picture unchanged, as the tests check). The same net is trained "
    "at the same lr with small and with large batches, and the two minima are "
    "compared by these slices and by their top Hessian eigenvalue; the small-batch "
    "run's path is then drawn on the plane of its two main directions of motion, "
    "and the loss is followed along the straight line from its initial to its "
    "final weights. What this run found is said with each figure."
)

SIZES_MLP = (784, 64, 64, 10)
N_TRAIN = {"quick": 1000, "full": 4000}
N_EVAL = {"quick": 500, "full": 2000}
EPOCHS = {"quick": {16: 12, 500: 60}, "full": {16: 30, 500: 200}}
LR = 0.1
GRID = {"quick": 13, "full": 31}
POINTS = {"quick": 25, "full": 61}
DIRECTIONS = 3


class _Path(Callback):
    """The parameter vector at the start and after every epoch."""

    def on_train_begin(self, logs=None):
        self.points = [parameter_vector(self.trainer.model)]

    def on_epoch_end(self, epoch, logs=None):
        self.points.append(parameter_vector(self.trainer.model))


def _train(batch: int, epochs: int, splits, seed: int) -> tuple[Any, Any, list]:
    model = MLP(SIZES_MLP, seed=seed)
    init = MLP(SIZES_MLP, seed=seed)
    path = _Path()
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=LR),
        callbacks=[path],
        verbose=0,
        on_interrupt="raise",
    )
    trainer.fit(splits.train, epochs=epochs, batch_size=batch, seed=seed)
    return model, init, path.points


def _train_and_slice(size: str, seed: int, splits, xe, ye, alphas):
    """For each batch size: train, evaluate, slice the loss along DIRECTIONS
    filter-normalized directions and take the top Hessian eigenvalue.

    Returns dicts by batch: nets (model, init, points), lines, sharpness, train
    loss, val accuracy and steps."""
    lossf = SoftmaxCrossEntropy()
    nets, lines, sharp, train_loss, val_acc, steps = {}, {}, {}, {}, {}, {}
    for batch, epochs in EPOCHS[size].items():
        status(f"training with batch {batch}")
        model, init, points = _train(batch, epochs, splits, seed)
        nets[batch] = (model, init, points)
        steps[batch] = epochs * int(np.ceil(N_TRAIN[size] / batch))
        evaluator = Trainer(model, lossf, SGD(model.parameters(), lr=LR), verbose=0)
        train_loss[batch] = evaluator.evaluate(*splits.train)["loss"]
        val_acc[batch] = evaluator.evaluate(*splits.val)["acc"]
        status(f"slices and sharpness, batch {batch}")
        rng = np.random.default_rng(seed + 1)
        lines[batch] = np.stack(
            [
                loss_line(model, lossf, xe, ye, random_direction(model, rng), alphas)
                for _ in range(DIRECTIONS)
            ]
        )
        sharp[batch] = float(
            top_hessian_eigenvalues(
                model, lossf, xe, ye, k=1, tol=1e-3, seed=seed
            ).values[0]
        )
    return nets, lines, sharp, train_loss, val_acc, steps


def _pca_surface(model, points, lossf, xe, ye, grid: int):
    """(pca, alphas, betas, surface): the loss on the plane of the path's top-2
    PCA directions, over the path's extent padded by 30 %."""
    pca = trajectory_pca(points)
    c = pca.coords
    pad = 0.3 * (c.max(axis=0) - c.min(axis=0))
    ga = np.linspace(c[:, 0].min() - pad[0], c[:, 0].max() + pad[0], grid)
    gb = np.linspace(c[:, 1].min() - pad[1], c[:, 1].max() + pad[1], grid)
    Z = loss_surface(model, lossf, xe, ye, pca.directions[0], pca.directions[1], ga, gb)
    return pca, ga, gb, Z


def _captions(rise, sharp, small, large, n_points, ev, ga, gb, Z, inter, at_one):
    """One caption per figure, with this run's numbers."""
    return {
        "loss_landscape_lines.png": (
            f"Loss along {DIRECTIONS} filter-normalized directions around each net. At "
            f"α = ±0.5 the loss rises by {rise[small]:.3f} for batch {small} and by "
            f"{rise[large]:.3f} for batch {large}; top Hessian eigenvalue "
            f"{sharp[small]:.1f} vs {sharp[large]:.1f}."
        ),
        "loss_landscape_contour.png": (
            f"The batch-{small} run's {n_points - 1} epochs on its top-2 PCA "
            f"directions ({100 * ev[0]:.1f} % and {100 * ev[1]:.1f} % of the path's "
            f"variance), over the loss surface of that plane; the final weights sit at "
            f"(0, 0) with loss {Z[np.argmin(np.abs(gb))][np.argmin(np.abs(ga))]:.3f}."
        ),
        "loss_landscape_interpolation.png": (
            f"Loss on the straight line from the initial (a = 0, loss {inter[0]:.3f}) "
            f"to the final weights (a = 1, loss {at_one:.3f}) "
            f"of the batch-{small} run, and a little beyond."
        ),
    }


def _table(size, lines, steps, train_loss, val_acc, sharp, rise) -> list[dict]:
    """One row per batch size."""
    return [
        {
            "batch": b,
            "epochs": EPOCHS[size][b],
            "steps": steps[b],
            "train loss": train_loss[b],
            "val acc": val_acc[b],
            "λ_max": sharp[b],
            "rise at α=±0.5": rise[b],
        }
        for b in lines
    ]


@experiment(NAME)
def run(r: Run) -> dict:
    """Train small- and large-batch nets; slice, contour and measure their minima.

    Result keys beyond the contract: ``alphas``, ``lines`` {batch: (DIRECTIONS,
    len(alphas)) losses}, ``sharpness`` {batch: top eigenvalue}, ``train_loss``,
    ``val_acc`` {batch: value}, ``pca`` (coords, explained variance, grid and
    surface of the small-batch run), ``interpolation`` (from init to final).
    """
    size, seed, out = r.size, r.seed, r.out
    splits = mnist_sample_splits(
        N_TRAIN[size], n_val=500, n_test=0, seed=seed, flatten=True
    )
    assert splits.val is not None  # n_val=500
    xe, ye = splits.train[0][: N_EVAL[size]], splits.train[1][: N_EVAL[size]]
    lossf = SoftmaxCrossEntropy()
    alphas = np.linspace(-1.0, 1.0, POINTS[size])
    nets, lines, sharp, train_loss, val_acc, steps = _train_and_slice(
        size, seed, splits, xe, ye, alphas
    )
    small = min(EPOCHS[size])
    large = max(EPOCHS[size])
    status("loss surface on the PCA plane")
    model, init, points = nets[small]
    pca, ga, gb, Z = _pca_surface(model, points, lossf, xe, ye, GRID[size])
    c = pca.coords
    inter_a = np.linspace(0.0, 1.2, 25)
    inter = interpolate(init, model, inter_a, lossf, xe, ye)
    mid = POINTS[size] // 2
    rise = {
        b: float(np.mean(lines[b][:, [mid // 2, mid + mid // 2]]) - lines[b][0, mid])
        for b in lines
    }
    figs = [
        _plot_lines(alphas, lines, sharp, out, size),
        _plot_contour(ga, gb, Z, c, pca.explained_variance_ratio, out, size),
        _plot_interpolation(inter_a, inter, out, size),
    ]
    ev = pca.explained_variance_ratio
    at_one = inter[np.argmin(np.abs(inter_a - 1))]
    captions = _captions(
        rise, sharp, small, large, len(points), ev, ga, gb, Z, inter, at_one
    )
    table = _table(size, lines, steps, train_loss, val_acc, sharp, rise)
    texts = _texts(sharp, rise, train_loss, val_acc, small, large, ev, inter_a, inter)
    flatter = sharp[small] < sharp[large] and rise[small] < rise[large]
    return r.result(
        figs,
        table,
        captions=captions,
        texts=texts,
        table_after="loss_landscape_lines.png",
        budget={
            "training digits": N_TRAIN[size],
            "digits for slices and Hessian": N_EVAL[size],
            f"epochs (batch {small} / {large})": f"{EPOCHS[size][small]} / "
            f"{EPOCHS[size][large]}",
            "random directions": DIRECTIONS,
            "seeds": 1,
        },
        takeaways=[
            f"Sharp vs flat: trained at the same lr, the batch-{small} net ends with "
            f"top Hessian eigenvalue {sharp[small]:.1f}, the batch-{large} net with "
            f"{sharp[large]:.1f}; "
            + (
                "the small-batch minimum is the flatter one by both the eigenvalue "
                "and the filter-normalized slices (one seed)."
                if flatter
                else "the two measures do not agree on which is flatter here."
            )
        ],
        book_figures=[],  # loss landscapes are not in the book
        alphas=alphas,
        lines={str(b): v for b, v in lines.items()},
        sharpness={str(b): v for b, v in sharp.items()},
        rise={str(b): v for b, v in rise.items()},
        train_loss={str(b): v for b, v in train_loss.items()},
        val_acc={str(b): v for b, v in val_acc.items()},
        small_batch=small,
        large_batch=large,
        lr=LR,
        pca={
            "coords": c,
            "explained_variance_ratio": ev,
            "alphas": ga,
            "betas": gb,
            "surface": Z,
        },
        interpolation={"alphas": inter_a, "losses": inter},
    )


def _texts(sharp, rise, train_loss, val_acc, small, large, ev, a, inter) -> dict:
    """The paragraphs before each figure, formatted from this run."""
    by_eig = sharp[small] < sharp[large]
    by_rise = rise[small] < rise[large]
    lines = (
        f"Around the batch-{small} net the loss rises by {rise[small]:.3f} at "
        f"α = ±0.5 along the filter-normalized directions, around the "
        f"batch-{large} net by {rise[large]:.3f}; their top Hessian eigenvalues "
        f"are {sharp[small]:.1f} and {sharp[large]:.1f}. "
        + (
            "By both measures the small-batch net sits in the wider, flatter "
            "basin, as the gradient noise of small batches is expected to keep SGD "
            "out of sharp regions (Keskar et al. 2017). "
            if by_eig and by_rise
            else "The large-batch net is the flatter one by both measures here. "
            if not (by_eig or by_rise)
            else "The two measures disagree on which net is flatter in this run. "
        )
        + f"The two nets are not at the same point of training: training loss "
        f"{train_loss[small]:.3f} vs {train_loss[large]:.3f}, validation accuracy "
        f"{pct(val_acc[small])} vs {pct(val_acc[large])}; one seed and a few "
        "random directions, so the numbers show one instance, not a law."
    )
    within = a <= 1.0 + 1e-12
    seg = np.asarray(inter)[within]
    bump = float(np.max(np.diff(seg), initial=0.0))
    contour = (
        f"The first PCA direction carries {100 * ev[0]:.1f} % of the variance of "
        f"the batch-{small} run's path and the second {100 * ev[1]:.1f} %"
        + (": most of the motion is along the first." if ev[0] > 0.5 else ".")
    )
    interp = (
        f"On the straight line from the initial weights to the final ones the loss "
        f"goes from {seg[0]:.3f} to {seg[-1]:.3f} "
        + (
            "and falls at every one of the sampled points, without a bump."
            if bump <= 0
            else f"but not monotonically: it rises by up to {bump:.3g} between "
            "two sampled points."
        )
    )
    return {
        "loss_landscape_lines.png": lines,
        "loss_landscape_contour.png": contour,
        "loss_landscape_interpolation.png": interp,
    }


def _plot_lines(alphas, lines, sharp, out, size) -> Path:
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(6.8, 4.2))
        for i, (b, curves) in enumerate(lines.items()):
            color = SERIES_COLORS[(0, 3)[i % 2]]
            for j, curve in enumerate(curves):
                ax.plot(
                    alphas,
                    curve,
                    color=color,
                    lw=1.6 if j == 0 else 0.9,
                    alpha=1.0 if j == 0 else 0.6,
                    label=f"batch {b} (λ_max {sharp[b]:.1f})" if j == 0 else None,
                )
        ax.set_yscale("log")
        ax.set_xlabel("α (filter-normalized direction)")
        ax.set_ylabel("training loss")
        ax.set_title("Sharp vs flat: small vs large batch, same lr")
        ax.legend()
        return save_figure(fig, out, "loss_landscape_lines", svg=size == "full")


def _plot_contour(ga, gb, Z, c, ev, out, size) -> Path:
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(6.4, 5.2))
        levels = np.geomspace(Z.min(), np.percentile(Z, 98), 16)
        cs = ax.contourf(
            ga, gb, np.minimum(Z, levels[-1]), levels=levels, cmap="viridis"
        )
        ax.contour(ga, gb, Z, levels=levels, colors="white", linewidths=0.4, alpha=0.6)
        fig.colorbar(cs, ax=ax, label="training loss", format="%.2g")
        ax.plot(
            c[:, 0],
            c[:, 1],
            "o-",
            color=SERIES_COLORS[3],
            ms=3.5,
            lw=1.5,
            label="path (one dot per epoch)",
        )
        ax.plot(
            c[0, 0],
            c[0, 1],
            "s",
            color="white",
            mec=SERIES_COLORS[3],
            ms=7,
            label="initial weights",
        )
        ax.plot(
            0, 0, "*", color=SERIES_COLORS[3], mec="white", ms=14, label="final weights"
        )
        ax.set_xlabel(f"PC 1 ({100 * ev[0]:.1f} % of variance)")
        ax.set_ylabel(f"PC 2 ({100 * ev[1]:.1f} % of variance)")
        ax.set_title("Training path on its top-2 PCA directions")
        ax.grid(False)
        ax.legend(loc="best", fontsize=8)
        return save_figure(fig, out, "loss_landscape_contour", svg=size == "full")


def _plot_interpolation(a, losses, out, size) -> Path:
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
        ax.plot(a, losses, "o-", ms=3, color=SERIES_COLORS[0])
        ax.axvline(1.0, color="#999999", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("a:  θ = (1 − a) θ₀ + a θ*")
        ax.set_ylabel("training loss")
        ax.set_title("From the initial to the final weights in a straight line")
        return save_figure(fig, out, "loss_landscape_interpolation", svg=size == "full")
