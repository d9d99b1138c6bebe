"""Experiment 11: convolution arithmetic, receptive fields, im2col and a trained CNN.

Five parts, all on descentlab's own layers:

(a) output sizes M = floor((N + 2P - K)/S) + 1 for a few (N, K, P, S), each
    checked against the shape a real Conv2d (or MaxPool2d) produces;
(b) receptive field r and jump j after every conv/pool layer of SimpleConvNet,
    LeNet5 and AlexNetSmall (``descentlab.nn.receptive_field``), plus two tiny
    stacks that differ only in the first stride;
(c) the im2col shapes of SimpleConvNet's convolution in the book's layout
    (col (N·24·24, 25), written out in ``book_im2col`` for the illustration),
    with a check that reshape(col · Wᵀ + b) equals the library's Conv2d output;
(d) SimpleConvNet with the book's setup (all weights N(0, 0.01²), Adam lr
    1e-3, batch 100) on a stratified 4,000/1,000 split of the MNIST sample:
    loss curve and test accuracy;
(e) the 30 first-layer 5x5 filters before and after training.

Sizes: quick trains 2 epochs, full 20 (the book's run: 0.955 test accuracy on
this split). The split and the initial weights come from ``seed``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist_sample_splits
from ..models import AlexNetSmall, LeNet5, SimpleConvNet
from ..nn import (
    Conv2d,
    Linear,
    MaxPool2d,
    Module,
    Sequential,
    SoftmaxCrossEntropy,
    init,
)
from ..nn.receptive_field import layer_geometry
from ..optim import Adam
from ..train import Trainer
from ._common import (
    EpochStatus,
    Run,
    experiment,
    plot_style,
    save_figure,
    smooth,
)
from .api import full_result, pct

NAME = "cnn"
TITLE = "CNN arithmetic: output size, receptive field, im2col and learned filters"
FORMULA = (
    "Output size:      M = floor((N + 2P − K) / S) + 1\n"
    "Receptive field:  r_out = r_in + (K − 1)·j_in,   j_out = j_in·S,   "
    "r_0 = 1, j_0 = 1\n"
    "im2col:           x (N, C, H, W) → col (N·OH·OW, C·K·K);  y = col·Wᵀ + b,  "
    "W reshaped to (F, C·K·K)\n"
    "SimpleConvNet:    conv 30@5x5 → ReLU → maxpool 2 → affine 100 → ReLU → "
    "affine 10;  weights N(0, 0.01²), Adam lr 1e-3, batch 100"
)
EXPLANATION = (
    "The table first checks the output-size formula M = floor((N + 2P − K)/S) + 1 "
    "against the shapes real Conv2d/MaxPool2d layers produce (the floor drops the "
    "last positions when the stride does not divide N + 2P − K). It then lists, for "
    "every convolution and pooling layer, the map size n, the jump j (input pixels "
    "between neighbouring output units) and the receptive field r (side of the input "
    "patch one unit sees)."
)

SETTINGS: dict[str, dict[str, int]] = {
    "quick": {"n_train": 4000, "n_test": 1000, "epochs": 2, "batch_size": 100},
    "full": {"n_train": 4000, "n_test": 1000, "epochs": 20, "batch_size": 100},
}
LR = 1e-3
BOOK_INIT_STD = 0.01
BOOK_TEST_ACC = 0.955
#: (layer, N, K, P, S) checked against a real layer's output size.
OUTPUT_CASES: tuple[tuple[str, int, int, int, int], ...] = (
    ("Conv2d", 4, 3, 1, 1),
    ("Conv2d", 7, 3, 0, 2),
    ("Conv2d", 28, 5, 0, 1),
    ("Conv2d", 28, 5, 2, 1),
    ("Conv2d", 28, 3, 0, 2),
    ("Conv2d", 32, 5, 2, 3),
    ("MaxPool2d", 24, 2, 0, 2),
    ("MaxPool2d", 13, 3, 0, 2),
)
RF_MODELS = ("SimpleConvNet", "LeNet5", "AlexNetSmall")
IM2COL_BATCH = 100


# ------------------------------------------------------------------ (a) output sizes


def output_size_rows() -> list[dict[str, Any]]:
    """One row per OUTPUT_CASES entry: the formula's M and a real layer's output."""
    rows = []
    for kind, n, k, p, s in OUTPUT_CASES:
        layer = (
            Conv2d(1, 1, k, stride=s, padding=p, rng=0)
            if kind == "Conv2d"
            else MaxPool2d(k, s, p)
        )
        actual = int(layer.forward(np.zeros((1, 1, n, n), np.float32)).shape[2])
        rows.append(
            {
                "layer": kind,
                "N": n,
                "K": k,
                "P": p,
                "S": s,
                "formula": (n + 2 * p - k) // s + 1,
                "actual": actual,
            }
        )
    return rows


# --------------------------------------------------------- (b) receptive fields


def rf_models(seed: int = 0) -> dict[str, Any]:
    """The three models whose receptive fields are tabulated."""
    return {
        "SimpleConvNet": SimpleConvNet(seed=seed),
        "LeNet5": LeNet5(seed=seed),
        "AlexNetSmall": AlexNetSmall(seed=seed),
    }


def stride_demo() -> dict[str, list[dict[str, Any]]]:
    """Two 3x3 convs, the first with stride 1 or 2: stride widens the second's field."""
    return {
        f"3x3 s{s} → 3x3 s1": [
            g.as_dict()
            for g in layer_geometry(
                Sequential(Conv2d(1, 1, 3, stride=s, rng=0), Conv2d(1, 1, 3, rng=0)), 28
            )
        ]
        for s in (1, 2)
    }


# ------------------------------------------------------------------ (c) im2col


def book_im2col(x: np.ndarray, k: int) -> np.ndarray:
    """The book's im2col for stride 1, no padding: (N, C, H, W) -> (N*OH*OW, C*k*k).

    Row n*OH*OW + oh*OW + ow holds window (oh, ow) of image n, channels then
    kernel rows then kernel columns. Written out here to show the layout; the
    library's Conv2d does the same product in its own memory order.
    """
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    n, c, oh, ow = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * k * k)


def im2col_shapes(model: SimpleConvNet, x: np.ndarray) -> dict[str, Any]:
    """Shapes of SimpleConvNet's first conv as im2col + one GEMM, checked on ``x``.

    ``max_abs_diff`` compares reshape(col · Wᵀ + b) with the real Conv2d output.
    """
    conv: Any = model[0]  # the first Conv2d
    k = conv.kernel_size[0]
    col = book_im2col(x, k)
    w2 = conv.weight.data.reshape(conv.out_channels, -1)
    gemm = col @ w2.T + conv.bias.data
    n, oh, ow = x.shape[0], x.shape[2] - k + 1, x.shape[3] - k + 1
    y_gemm = gemm.reshape(n, oh, ow, conv.out_channels).transpose(0, 3, 1, 2)
    y_conv = conv.forward(x)
    return {
        "x": list(x.shape),
        "col": list(col.shape),
        "W": list(conv.weight.shape),
        "W_matrix": list(w2.shape),
        "gemm": list(gemm.shape),
        "y": list(y_conv.shape),
        "max_abs_diff": float(np.abs(y_gemm - y_conv).max()),
    }


# --------------------------------------------------------- (e) filter structure


def neighbour_correlation(filters: np.ndarray) -> float:
    """Mean over filters of the correlation of horizontally/vertically adjacent pixels.

    About 0 for i.i.d. random weights; positive for smooth (edge/blob) filters.
    """
    f = np.asarray(filters, dtype=np.float64).reshape(-1, *filters.shape[-2:])
    values = []
    for w in f:
        a = np.concatenate([w[:, :-1].ravel(), w[:-1, :].ravel()])
        b = np.concatenate([w[:, 1:].ravel(), w[1:, :].ravel()])
        values.append(np.corrcoef(a, b)[0, 1])
    return float(np.mean(values))


# ------------------------------------------------------------------ plots


def _short(row: dict) -> str:
    kind = {"Conv2d": "conv", "MaxPool2d": "maxpool", "AvgPool2d": "avgpool"}.get(
        row["layer"].split()[0], row["layer"].split()[0]
    )
    k = row["kernel"]
    return f"{kind} {k}×{k}\ns{row['stride']} p{row['padding']}"


def _field_squares(plt, ax, name: str, rows: list[dict], colours, digit) -> None:
    """The centre unit's receptive field after each layer, as squares on a digit."""
    ax.imshow(digit, cmap="gray_r", extent=(-0.5, 27.5, 27.5, -0.5))
    ax.add_patch(
        plt.Rectangle((-0.5, -0.5), 28, 28, fill=False, ec="0.5", lw=1, ls=":")
    )
    lo_min, hi_max = -0.5, 27.5
    for r, c in zip(rows, colours, strict=False):
        centre = r["start"] + (r["size_out"] - 1) // 2 * r["jump"]
        lo = centre - (r["rf"] - 1) / 2 - 0.5
        lo_min, hi_max = min(lo_min, lo), max(hi_max, lo + r["rf"])
        ax.add_patch(
            plt.Rectangle((lo, lo), r["rf"], r["rf"], fill=False, ec=c, lw=2.0)
        )
    ax.set_xlim(lo_min - 1, hi_max + 1)
    ax.set_ylim(hi_max + 1, lo_min - 1)
    ax.set_aspect("equal")
    ax.grid(False)
    ax.set_title(f"{name}: field of the centre unit")
    ax.set_xlabel("input column (pixels; dotted: the 28×28 image)")
    ax.set_ylabel("input row (pixels)")


def _field_bars(ax, name: str, rows: list[dict], colours) -> None:
    """Receptive field r (bars) and map size n (line) per layer, with r and j."""
    x = np.arange(len(rows))
    ax.bar(
        x,
        [r["rf"] for r in rows],
        0.6,
        color=colours,
        label="receptive field r (colour = square above)",
    )
    ax.plot(
        x,
        [r["size_out"] for r in rows],
        "o-",
        color="#D55E00",
        label="map size n after the layer",
    )
    for xi, r in zip(x, rows, strict=False):
        ax.annotate(
            f"r={r['rf']}\nj={r['jump']}",
            (xi, r["rf"]),
            ha="center",
            va="bottom",
            fontsize=7.5,
        )
    ax.set_xticks(
        x,
        [_short(r) for r in rows],
        fontsize=7.5,
        rotation=0 if len(rows) < 5 else 35,
        ha="center" if len(rows) < 5 else "right",
    )
    ax.set_ylabel("pixels")
    ax.set_ylim(0, max(max(r["rf"] for r in rows), 28) * 1.3)
    ax.set_title(f"{name}: n shrinks, r grows")
    ax.legend(fontsize=7.5, loc="upper left")


def _plot_receptive_fields(
    geoms: dict[str, list[dict]], digit: np.ndarray, out: Path
) -> Path:
    with plot_style() as plt:
        fig, axes = plt.subplots(
            2, 3, figsize=(13.5, 8.4), gridspec_kw={"height_ratios": [1.1, 1]}
        )
        cmap = plt.get_cmap("viridis")
        for col, name in enumerate(RF_MODELS):
            rows = geoms[name]
            colours = [cmap(0.85 * i / max(len(rows) - 1, 1)) for i in range(len(rows))]
            _field_squares(plt, axes[0, col], name, rows, colours, digit)
            _field_bars(axes[1, col], name, rows, colours)
        fig.suptitle(
            "Receptive field r_out = r_in + (K−1)·j_in and jump "
            "j_out = j_in·S "
            "after each conv/pool layer (28×28 input)",
            fontsize=12,
        )
        return save_figure(fig, out, "cnn_receptive_fields")


def _plot_im2col(
    digit: np.ndarray, col_digit: np.ndarray, shapes: dict, out: Path
) -> Path:
    k, ow = 5, 24
    picks = [(2, 3), (10, 12), (18, 8)]
    colours = ["#D55E00", "#009E73", "#CC79A7"]
    with plot_style() as plt:
        fig = plt.figure(figsize=(12.5, 6.0))
        grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.6], height_ratios=[1.3, 1])
        ax = fig.add_subplot(grid[0, 0])
        ax.imshow(digit, cmap="gray_r")
        for (i, j), c in zip(picks, colours, strict=False):
            ax.add_patch(
                plt.Rectangle((j - 0.5, i - 0.5), k, k, fill=False, ec=c, lw=2)
            )
        ax.set_title("one digit (28×28) and three 5×5 windows")
        ax.set_xlabel("column (pixels)")
        ax.set_ylabel("row (pixels)")
        ax.grid(False)

        ax = fig.add_subplot(grid[0, 1])
        ax.axis("off")
        n = shapes["x"][0]
        entries = [
            ("x", shapes["x"], f"input batch, N = {n}"),
            ("col", shapes["col"], "im2col(x): N·24·24 rows (positions), 1·5·5 cols"),
            ("W", shapes["W"], "30 filters of 1×5×5"),
            ("W2", shapes["W_matrix"], "W.reshape(30, −1): one filter per row"),
            ("col·W2ᵀ + b", shapes["gemm"], "one matrix product (GEMM)"),
            ("y", shapes["y"], "reshape (N, 24, 24, 30), transpose (0, 3, 1, 2)"),
        ]
        lines = [f"{a:<12}{str(tuple(b)):<19}{c}" for a, b, c in entries]
        diff = shapes["max_abs_diff"]
        lines += ["", f"max |reshape(col·W2ᵀ + b) − Conv2d(x)| = {diff:.1e}"]
        ax.text(
            0.0,
            0.95,
            "\n".join(lines),
            family="monospace",
            fontsize=9,
            va="top",
            transform=ax.transAxes,
        )
        ax.set_title("SimpleConvNet's convolution as im2col + GEMM", loc="left")

        ax = fig.add_subplot(grid[1, :])
        ax.imshow(col_digit.T, cmap="gray_r", aspect="auto", interpolation="nearest")
        for (i, j), c in zip(picks, colours, strict=False):
            ax.axvline(i * ow + j, color=c, lw=2.2, alpha=0.6)
        ax.set_xlabel("row of col = output position oh·24 + ow (576 for one digit)")
        ax.set_ylabel("window pixel\n(5·row + col)")
        ax.set_title(
            "col for this digit, transposed: each column is one 5×5 window "
            "(coloured lines: the three windows above)"
        )
        ax.grid(False)
        return save_figure(fig, out, "cnn_im2col")


def _plot_training(res: dict, out: Path, settings: dict) -> Path:
    with plot_style() as plt:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
        loss = np.asarray(res["step_loss"])
        it = np.arange(1, loss.size + 1)
        ax1.plot(it, loss, color="#0072B2", alpha=0.3, lw=0.9, label="per batch")
        ax1.plot(it, smooth(loss, 10), color="#0072B2", label="moving average (10)")
        ax1.set_yscale("log")
        ax1.set_xlabel(f"iteration (batch of {settings['batch_size']})")
        ax1.set_ylabel("training cross-entropy loss (log scale)")
        ax1.set_title("SimpleConvNet training loss (Adam, lr 1e-3)")
        ax1.legend()
        ep = np.arange(len(res["test_acc_curve"]))
        ax2.plot(
            ep,
            res["test_acc_curve"],
            "o-",
            color="#D55E00",
            label="test (1,000 digits)",
        )
        ax2.plot(
            ep[1:],
            res["train_acc_curve"],
            "s--",
            color="#0072B2",
            label="training (running mean over the epoch)",
        )
        ax2.axhline(
            BOOK_TEST_ACC,
            color="0.4",
            ls=":",
            lw=1.2,
            label=f"book, 20 epochs: {BOOK_TEST_ACC}",
        )
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("accuracy")
        ax2.set_ylim(0, 1.0)
        ax2.set_xticks(ep)
        ax2.set_title(f"Accuracy; final test {res['test_acc']:.3f}")
        ax2.legend(loc="lower right")
        fig.suptitle(
            f"SimpleConvNet on {settings['n_train']:,} training digits, "
            f"{settings['epochs']} epochs",
            fontsize=12,
        )
        return save_figure(fig, out, "cnn_training")


def _plot_filters(
    before: np.ndarray, after: np.ndarray, corr: tuple[float, float, float], out: Path
) -> Path:
    panels = (
        ("before training (N(0, 0.01²))", before),
        ("after training", after),
        ("change: after − before", after - before),
    )
    with plot_style() as plt:
        fig = plt.figure(figsize=(14, 4.9))
        subs = fig.subfigures(1, 3, wspace=0.03)
        for sub, (title, w), c in zip(subs, panels, corr, strict=False):
            axes = sub.subplots(5, 6, gridspec_kw={"wspace": 0.08, "hspace": 0.08})
            for i, ax in enumerate(axes.flat):
                ax.imshow(w[i, 0], cmap="gray", interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for spine in ax.spines.values():
                    spine.set_visible(False)
            sub.suptitle(
                f"{title}\nneighbour-pixel correlation {c:+.2f}", fontsize=10.5
            )
        fig.suptitle(
            "SimpleConvNet's 30 first-layer 5×5 filters, same layout in each "
            "panel "
            "(grey scale: each filter stretched from its min = black to its "
            "max = white)",
            fontsize=11,
        )
        return save_figure(fig, out, "cnn_filters")


def _plot_feature_maps(maps: np.ndarray, digit: np.ndarray, out: Path) -> Path:
    """The digit and the 30 maps of the trained first conv layer (before ReLU)."""
    with plot_style() as plt:
        fig = plt.figure(figsize=(13, 4.6))
        left, right = fig.subfigures(1, 2, width_ratios=(1, 3.2), wspace=0.02)
        ax = left.subplots()
        ax.imshow(digit, cmap="gray_r", interpolation="nearest")
        ax.set_title("input digit (28×28)", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        axes = right.subplots(3, 10, gridspec_kw={"wspace": 0.06, "hspace": 0.06})
        lim = float(np.abs(maps).max())
        for i, a in enumerate(axes.flat):
            a.imshow(
                maps[i], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest"
            )
            a.set_xticks([])
            a.set_yticks([])
            a.grid(False)
            for spine in a.spines.values():
                spine.set_visible(False)
        right.suptitle(
            "the 30 feature maps (24×24) of the trained first conv layer, before ReLU "
            "(red > 0 > blue, one shared scale)",
            fontsize=10,
        )
        return save_figure(fig, out, "cnn_feature_maps")


# ------------------------------------------------------------------ run


def book_init(model: Module, seed: int, std: float = BOOK_INIT_STD) -> Module:
    """Redraw every Conv2d/Linear weight from N(0, std²) (the book's SimpleConvNet).

    Biases stay zero. With std 0.01 the trained first-layer filters are almost
    entirely what training put there (with He init, std 0.28, they keep most of
    their initial noise after 20 epochs).
    """
    rng = np.random.default_rng(seed)
    for layer in model.modules():
        if isinstance(layer, (Conv2d, Linear)):
            layer.weight.data[...] = init.normal(
                layer.weight.shape, std, rng=rng, dtype=layer.weight.dtype
            )
    return model


def train_simple_convnet(size: str, seed: int) -> dict[str, Any]:
    """Train SimpleConvNet with Adam on the split; return curves, accuracy, filters."""
    cfg = SETTINGS[size]
    splits = mnist_sample_splits(cfg["n_train"], 0, cfg["n_test"], seed=seed)
    (x, y), (xt, yt) = splits.train, splits.test
    model: Any = book_init(SimpleConvNet(seed=seed), seed)
    before = model[0].weight.data.copy()
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        Adam(model.parameters(), lr=LR),
        callbacks=[EpochStatus("training SimpleConvNet")],
        verbose=0,
        eval_batch_size=100,
        on_interrupt="raise",
    )
    start = trainer.evaluate(xt, yt)
    t = time.perf_counter()
    history = trainer.fit(
        (x, y),
        val=(xt, yt),
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        seed=seed,
    )
    train_seconds = time.perf_counter() - t
    after = model[0].weight.data.copy()
    return {
        "model": model,
        "step_loss": history.step["loss"],
        "test_acc_curve": [start["acc"], *history.epoch["val_acc"]],
        "test_loss_curve": [start["loss"], *history.epoch["val_loss"]],
        "train_acc_curve": history.epoch["acc"],
        "test_acc": history.epoch["val_acc"][-1],
        "test_loss": history.epoch["val_loss"][-1],
        "train_seconds": train_seconds,
        "filters_before": before,
        "filters_after": after,
        "x_test": xt,
    }


def _full_size_note(cfg: dict) -> str:
    """At quick size, the stored full-size run's accuracy, labelled as such."""
    stored = full_result(NAME)
    if not stored or cfg["epochs"] >= stored["epochs"]:
        return ""
    return (
        f" At full size (see `descentlab report --full`; stored run, seed "
        f"{stored['seed']}) descentlab's SimpleConvNet reaches "
        f"{pct(stored['test_acc'])} after {stored['epochs']} epochs; this quick run "
        f"stops after {cfg['epochs']}."
    )


def _texts(geoms, demo, res, cfg, corr, cosine, active, figures) -> dict[str, str]:
    s1, s2 = demo["3x3 s1 → 3x3 s1"][-1], demo["3x3 s2 → 3x3 s1"][-1]
    lenet_conv2 = [r for r in geoms["LeNet5"] if r["layer"].startswith("Conv")][1]
    alex_last = geoms["AlexNetSmall"][-1]
    curve = res["test_acc_curve"]
    return {
        figures[0].name: (
            "Stride shrinks the feature map but WIDENS the receptive fields of all "
            "later layers: j is multiplied by the stride, and each later K×K kernel "
            "then adds (K − 1)·j pixels instead of K − 1. The source material gets "
            "this backwards, as if a stride narrowed what later layers see; the two "
            f"'stride demo' rows show the opposite: two 3×3 convolutions see "
            f"{s1['rf']}×{s1['rf']} pixels with stride 1 but {s2['rf']}×{s2['rf']} "
            f"when the first has stride 2, while the map drops from "
            f"{s1['size_out']} to {s2['size_out']}. So LeNet5's second 5×5 conv, "
            f"after one 2×2 pool, sees {lenet_conv2['rf']}×{lenet_conv2['rf']} "
            f"pixels, and AlexNetSmall's last pool sees {alex_last['rf']}×"
            f"{alex_last['rf']} (more than the 28×28 image, thanks to padding). The "
            "figure draws the receptive field of the centre unit after each layer "
            "on a digit."
        ),
        figures[1].name: (
            "im2col turns one digit into a matrix with one row per 5×5 patch; the "
            "whole convolution is then one matrix product with the 30 filters "
            "flattened to rows."
        ),
        figures[2].name: (
            f"SimpleConvNet, trained as in the book (weights N(0, 0.01²), Adam lr "
            f"1e-3, batch {cfg['batch_size']}) on {cfg['n_train']:,} digits, goes "
            f"from a test accuracy of {pct(curve[0])} before training to "
            f"{pct(curve[-1])} after {cfg['epochs']} epochs (the book's code run on "
            f"this split for 20 epochs: {pct(BOOK_TEST_ACC)})." + _full_size_note(cfg)
        ),
        figures[3].name: (
            "Its 30 first-layer filters start as uncorrelated noise; after "
            "training the correlation between neighbouring filter pixels is "
            f"{corr[1]:+.2f} (before: {corr[0]:+.2f}; of the change itself: "
            f"{corr[2]:+.2f}), i.e. the filters have become smooth edge, stroke and "
            "blob detectors. Some keep a trace of their random start: from such "
            "small weights part of each update scales the existing pattern up (the "
            f"mean cosine between each filter before and after training is "
            f"{cosine:+.2f})."
        ),
        figures[4].name: (
            "As in the book's chapter 7.6, the filters can be read by what they "
            "respond to: each map is one filter slid over the digit, bright where "
            "the digit has that filter's edge or stroke orientation."
        ),
    }


def filter_stats(before, after) -> tuple[float, tuple[float, float, float], float]:
    """(relative Frobenius change, neighbour-pixel correlation of before / after /
    after - before, mean cosine similarity of each filter before and after)."""
    change = float(np.linalg.norm(after - before) / np.linalg.norm(before))
    corr = (
        neighbour_correlation(before),
        neighbour_correlation(after),
        neighbour_correlation(after - before),
    )
    b2, a2 = before.reshape(len(before), -1), after.reshape(len(after), -1)
    cosine = float(
        np.mean(
            (a2 * b2).sum(1) / np.linalg.norm(a2, axis=1) / np.linalg.norm(b2, axis=1)
        )
    )
    return change, corr, cosine


def _table(sizes, geoms, demo) -> list[dict[str, Any]]:
    """Rows of part (a) (output sizes) and of the receptive-field and stride demos."""
    table: list[dict[str, Any]] = [
        {
            "part": "output size",
            "layer": r["layer"],
            "input n": r["N"],
            "K": r["K"],
            "S": r["S"],
            "P": r["P"],
            "output n": r["formula"],
            "real layer": r["actual"],
            "r": None,
            "j": None,
        }
        for r in sizes
    ]
    groups = [(f"receptive field: {name}", geoms[name]) for name in RF_MODELS]
    groups += [(f"stride demo: {label_}", rows) for label_, rows in demo.items()]
    for part, rows in groups:
        table += [
            {
                "part": part,
                "layer": r["layer"],
                "input n": r["size_in"],
                "K": r["kernel"],
                "S": r["stride"],
                "P": r["padding"],
                "output n": r["size_out"],
                "real layer": None,
                "r": r["rf"],
                "j": r["jump"],
            }
            for r in rows
        ]

    return table


def _captions(figures, shapes, res, cfg, change, corr, active) -> dict[str, str]:
    """One caption per figure, with this run's numbers."""
    epochs, batch = cfg["epochs"], cfg["batch_size"]
    return {
        figures[0].name: "Receptive field of the centre unit after each conv/pool "
        "layer, drawn on a test digit (top), and r, n, j per layer "
        "(bottom).",
        figures[1].name: f"im2col: x {tuple(shapes['x'])} → col "
        f"{tuple(shapes['col'])}, GEMM with W "
        f"{tuple(shapes['W_matrix'])} → {tuple(shapes['gemm'])} → "
        f"y {tuple(shapes['y'])}.",
        figures[2].name: f"SimpleConvNet, {cfg['n_train']:,} training digits, "
        f"{epochs} epochs, batch {batch}: test accuracy "
        f"{res['test_acc']:.3f} (the book's code on this split, 20 epochs: "
        f"{BOOK_TEST_ACC}).",
        figures[3].name: f"First-layer filters before/after training; relative change "
        f"{change:.2f}; neighbour-pixel correlation {corr[0]:+.2f} "
        f"before, {corr[1]:+.2f} after, {corr[2]:+.2f} for the "
        "change.",
        figures[4].name: f"What the trained first layer computes on one test digit: "
        f"each filter's map lights up where its pattern (an edge or stroke "
        f"direction) occurs; {pct(active)} of the map values are positive, i.e. "
        "pass the ReLU.",
    }


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Run parts (a)-(e); write four figures and ``cnn.json`` into ``out``.

    Result keys beyond the contract: ``output_sizes`` (rows of part a),
    ``receptive_fields`` (model -> rows of ``LayerGeometry.as_dict``),
    ``stride_demo``, ``im2col`` (shapes and the GEMM-vs-conv difference),
    ``test_acc``, ``test_loss``, ``test_acc_curve`` (epoch 0 = before training),
    ``train_acc_curve``, ``step_loss``, ``filter_change`` (relative Frobenius
    change),
    ``filter_corr_before``/``filter_corr_after``/``filter_corr_change``
    (neighbour_correlation of the filters and of after − before),
    ``filter_cosine`` (mean cosine similarity of each filter before/after),
    ``filters_before``/``filters_after`` (30, 1, 5, 5), ``settings``.
    """
    size, seed, out = ctx.size, ctx.seed, ctx.out
    cfg = SETTINGS[size]

    sizes = output_size_rows()
    geoms = {
        name: [g.as_dict() for g in layer_geometry(m, 28)]
        for name, m in rf_models(seed).items()
    }
    demo = stride_demo()

    res = train_simple_convnet(size, seed)
    model, xt = res.pop("model"), res.pop("x_test")
    digit = xt[0, 0]
    model.eval()
    shapes = im2col_shapes(model, xt[:IM2COL_BATCH])
    col_digit = book_im2col(xt[:1], 5)

    before, after = res["filters_before"], res["filters_after"]
    change, corr, cosine = filter_stats(before, after)

    maps = model[0].forward(xt[:1])[0]
    figures = [
        _plot_receptive_fields(geoms, digit, out),
        _plot_im2col(digit, col_digit, shapes, out),
        _plot_training(res, out, cfg),
        _plot_filters(before, after, corr, out),
        _plot_feature_maps(maps, digit, out),
    ]
    active = float(np.mean(maps > 0))
    texts = _texts(geoms, demo, res, cfg, corr, cosine, active, figures)

    table = _table(sizes, geoms, demo)
    captions = _captions(figures, shapes, res, cfg, change, corr, active)
    return ctx.result(
        figures,
        table,
        captions=captions,
        texts=texts,
        budget={
            "training digits": cfg["n_train"],
            "epochs": cfg["epochs"],
            "seeds": 1,
        },
        takeaways=[
            f"CNN: stride widens later receptive fields (two 3×3 convs see "
            f"{demo['3x3 s1 → 3x3 s1'][-1]['rf']}×{demo['3x3 s1 → 3x3 s1'][-1]['rf']} "
            f"pixels, {demo['3x3 s2 → 3x3 s1'][-1]['rf']}×"
            f"{demo['3x3 s2 → 3x3 s1'][-1]['rf']} when the first has stride 2); "
            f"SimpleConvNet reaches {pct(res['test_acc'])} in {cfg['epochs']} epochs."
        ],
        book_figures=[
            {
                "book": "Fig. 7-24, §7.6.1 (first-layer filters before/after; "
                "the book's code)",
                "figure": figures[3].name,
                "note": "same init N(0, 0.01²); change panel added",
            },
            {
                "book": "Fig. 7-25, §7.6.1 (what the first layer responds to; text)",
                "figure": figures[4].name,
                "note": "feature maps of the trained layer on one test digit",
            },
        ],
        feature_maps=maps,
        feature_maps_positive=active,
        settings=cfg,
        output_sizes=sizes,
        receptive_fields=geoms,
        stride_demo=demo,
        im2col=shapes,
        filter_change=change,
        filter_corr_before=corr[0],
        filter_corr_after=corr[1],
        filter_corr_change=corr[2],
        filter_cosine=cosine,
        book_test_acc=BOOK_TEST_ACC,
        **res,
    )
