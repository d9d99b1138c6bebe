"""Experiment 10: vanishing and exploding gradients in a 20-layer MLP; clipping.

Part 1 measures, after one forward and backward pass of a batch of MNIST digits
through the softmax cross-entropy loss, the L2 norm of the gradient of every
weight matrix of 20-layer nets (784-100x19-10, 20 Linear layers): sigmoid and
tanh with LeCun init std = 1/√fan_in (the book's "Xavier"), ReLU with He init,
ReLU with He init and BatchNorm1d, a residual ReLU net and ReLU with too large
an init (std 0.17 in every layer; He would be 0.141 for 100 inputs).

The residual net is Linear(784, 100) - ReLU - 18 x Residual(Linear(100, 100) -
ReLU) - Linear(100, 10) built from ``descentlab.nn.Residual`` with identity
shortcuts, y = x + ReLU(W·x + b). Each branch's weights get He's std divided by
√18 so that the 18 added branches keep the signal's variance bounded (about
e-fold growth) instead of doubling it at every block (as in Fixup, Zhang et al.,
2019); the He-initialised first and last layers are as in the plain net.

Part 2 trains the exploding net (std 0.17) with SGD, without and with
``descentlab.optim.clip_grad_norm``. The optimizer used is SGD whose step first
calls clip_grad_norm(params, max_norm) and records the norm it returns (the norm
before clipping); max_norm = ∞ records the norm without clipping. Without
clipping the loss overflows within a few steps and the Trainer's non-finite
guard stops training.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend as B
from ..data import mnist_sample_splits
from ..models import MLP
from ..nn import Linear, Module, ReLU, Residual, Sequential, SoftmaxCrossEntropy
from ..optim import SGD, clip_grad_norm
from ..train import Trainer
from ._common import (
    SERIES_COLORS,
    Run,
    experiment,
    plot_style,
    save_figure,
)

NAME = "vanishing_gradients"
TITLE = "Vanishing and exploding gradients in a 20-layer network; gradient clipping"
FORMULA = (
    "Backprop through layer l (h_l = f(a_l), a_l = W_l·h_{l−1}):\n"
    "  ∂L/∂h_{l−1} = W_lᵀ·(f'(a_l) ⊙ ∂L/∂h_l),\n"
    "  ∂L/∂W_l = (f'(a_l) ⊙ ∂L/∂h_l)·h_{l−1}ᵀ\n"
    "  ⇒ ||∂L/∂W_1|| ∝ Π_l ||W_lᵀ·diag f'(a_l)||: sigmoid f' ≤ 1/4 shrinks it "
    "≈ 4× per layer; ReLU + He keeps it ≈ 1\n"
    "Residual block: y = x + F(x)  ⇒  ∂L/∂x = ∂L/∂y + (∂F/∂x)ᵀ·∂L/∂y  "
    "(an identity path for the gradient)\n"
    "Clipping: norm = √(Σ_i ||g_i||²);  g_i ← g_i · min(1, max_norm/(norm + 1e-6))  "
    "(clip_grad_norm returns the norm before clipping)\n"
    "Nets: 20 Linear layers, 784-100×19-10; batch of MNIST digits; SGD lr 0.01, "
    "batch 100, max_norm 20"
)
EXPLANATION = (
    "The first figure shows, on a log scale, how large the gradient of each layer's "
    "weights is after one backward pass through a 20-layer network at "
    "initialisation (layer 1 is next to the input). In the sigmoid net every layer "
    "multiplies the backward signal by the sigmoid's slope (at most 1/4) times a "
    "LeCun-scaled weight matrix, so the gradient shrinks layer by layer towards the "
    "input: the first layers do not learn (vanishing gradients). tanh (slope 1 at 0) "
    "with the same init and ReLU with He init keep the gradient norm of the same "
    "order through depth; Batch Norm makes the gradients grow towards the input, a "
    "known effect of batch normalisation in deep plain nets at initialisation (Yang "
    "et al., 2019); the residual net passes the gradient back along its identity "
    "shortcuts. Too large an init (a ReLU net with std above He's) makes the "
    "activations and the gradients grow with depth (exploding gradients). The second "
    "figure trains that net with plain SGD, without and with clip_grad_norm, which "
    "bounds every step by lr·max_norm. The paragraph before each figure gives this "
    "run's numbers."
)

DEPTH = 20
WIDTH = 100
SIZES = (784, *(WIDTH,) * (DEPTH - 1), 10)
EXPLODE_STD = 0.17
LR = 0.01
BATCH = 100
MAX_NORM = 20.0
#: key -> (label, colour index)
VARIANTS: dict[str, str] = {
    "sigmoid": "sigmoid, LeCun init (book's Xavier)",
    "tanh": "tanh, LeCun init",
    "relu_he": "ReLU, He init",
    "relu_he_bn": "ReLU, He init + BatchNorm",
    "residual": "residual ReLU (identity shortcuts)",
    "relu_large": f"ReLU, std {EXPLODE_STD:g} (too large)",
}
CONFIG = {
    "quick": {"grad_batch": 256, "grad_seeds": 1, "n_train": 1000, "epochs": 20},
    "full": {"grad_batch": 1000, "grad_seeds": 5, "n_train": 4000, "epochs": 20},
}


def residual_mlp(seed: int = 0, dtype=None) -> Sequential:
    """Linear(784,100)-ReLU - 18 x Residual(Linear(100,100)-ReLU) - Linear(100,10)."""
    rng = np.random.default_rng(seed)
    blocks = DEPTH - 2
    branch_std = math.sqrt(2.0 / WIDTH) / math.sqrt(blocks)
    layers: list[Module] = [Linear(784, WIDTH, init="he", rng=rng, dtype=dtype), ReLU()]
    for _ in range(blocks):
        layers.append(
            Residual(
                Sequential(
                    Linear(WIDTH, WIDTH, init=branch_std, rng=rng, dtype=dtype), ReLU()
                )
            )
        )
    layers.append(Linear(WIDTH, 10, init="he", rng=rng, dtype=dtype))
    return Sequential(*layers)


def build(variant: str, seed: int = 0) -> Module:
    """The 20-layer net of ``variant`` (a key of VARIANTS)."""
    if variant == "sigmoid":
        return MLP(SIZES, activation="sigmoid", init="lecun", seed=seed)
    if variant == "tanh":
        return MLP(SIZES, activation="tanh", init="lecun", seed=seed)
    if variant == "relu_he":
        return MLP(SIZES, activation="relu", init="he", seed=seed)
    if variant == "relu_he_bn":
        return MLP(SIZES, activation="relu", init="he", batchnorm=True, seed=seed)
    if variant == "residual":
        return residual_mlp(seed)
    if variant == "relu_large":
        return MLP(SIZES, activation="relu", init=EXPLODE_STD, seed=seed)
    raise ValueError(
        f"vanishing_gradients: unknown variant {variant!r}; "
        f"choose from {list(VARIANTS)}."
    )


def _weights(model: Module) -> list:
    """The weight matrices of the Linear layers, input to output."""
    return [
        p
        for name, p in model.named_parameters()
        if name.endswith("weight") and p.data.ndim == 2
    ]


def layer_grad_norms(
    model: Module, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, float]:
    """One forward/backward of (x, y) through the loss (train mode).

    Returns (||∂L/∂W_l|| for every Linear weight, input to output; the loss).
    """
    loss = SoftmaxCrossEntropy()
    model.train()
    model.zero_grad()
    value = loss.forward(model.forward(B.asarray(x)), B.asarray(y))
    model.backward(loss.backward())
    norms = np.array(
        [float(np.linalg.norm(B.to_numpy(p.grad))) for p in _weights(model)]
    )
    return norms, float(value)


class ClipRecordingSGD(SGD):
    """SGD that calls clip_grad_norm(params, max_norm) before every step.

    ``norms`` records the value clip_grad_norm returns: the total gradient norm
    before clipping. ``max_norm=math.inf`` records it without clipping.
    """

    def __init__(self, params, lr: float, max_norm: float):
        super().__init__(params, lr=lr)
        self.max_norm = max_norm
        self.norms: list[float] = []

    def step(self) -> None:
        self.norms.append(clip_grad_norm(self._all_params(), self.max_norm))
        super().step()


def train_exploding(
    train, *, max_norm: float, epochs: int, seed: int = 0
) -> dict[str, Any]:
    """Train the std-0.17 ReLU net with SGD, clipping at ``max_norm`` (∞: none)."""
    model = build("relu_large", seed)
    opt = ClipRecordingSGD(model.parameters(), LR, max_norm)
    trainer = Trainer(
        model, SoftmaxCrossEntropy(), opt, verbose=0, on_interrupt="raise"
    )
    with warnings.catch_warnings():  # the non-finite stop is expected and reported
        warnings.simplefilter("ignore", RuntimeWarning)
        hist = trainer.fit(train, epochs=epochs, batch_size=BATCH, seed=seed)
    return {
        "loss": hist.step["loss"],
        "norms": opt.norms,
        "stopped": hist.stopped,
        "nonfinite": hist.nonfinite,
        "train_acc": trainer.evaluate(*train)["acc"] if hist.stopped is None else None,
    }


def check_clip(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """On one batch of the exploding net: clip_grad_norm's return value vs the norm.

    Returns ``direct`` (√Σ||g||² computed here before clipping), ``returned``
    (what clip_grad_norm returned) and ``after`` (√Σ||g||² after clipping).
    """
    model = build("relu_large", seed)
    layer_grad_norms(model, x, y)
    params = model.parameters()

    def total() -> float:
        return math.sqrt(
            sum(
                float(np.sum(B.to_numpy(p.grad).astype(np.float64) ** 2))
                for p in params
            )
        )

    direct = total()
    returned = clip_grad_norm(params, MAX_NORM)
    return {"direct": direct, "returned": float(returned), "after": total()}


# ----------------------------------------------------------------------- plots

_STYLE = {
    "sigmoid": ("o", "-"),
    "tanh": ("s", "-"),
    "relu_he": ("^", "-"),
    "relu_he_bn": ("v", "-"),
    "residual": ("D", "-"),
    "relu_large": ("x", "--"),
}


def _plot_layers(
    norms: dict[str, np.ndarray], batch: int, seeds: int, out: Path, size: str
) -> Path:
    layers = np.arange(1, DEPTH + 1)
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(11, 5.6))
        for i, (key, lab) in enumerate(VARIANTS.items()):
            marker, ls = _STYLE[key]
            ax.semilogy(
                layers,
                norms[key],
                ls,
                marker=marker,
                ms=5,
                color=SERIES_COLORS[i],
                label=lab,
            )
        ax.set_xticks(layers)
        ax.set_xlabel("layer index l (1 = next to the input, 20 = output layer)")
        ax.set_ylabel("||∂L/∂W_l||  (L2 norm, log scale)")
        avg = "" if seeds == 1 else f", geometric mean over {seeds} inits"
        ax.set_title(
            f"Gradient norm of each layer's weights at initialisation, "
            f"20 Linear layers of width {WIDTH}\n(one backward pass of "
            f"{batch} MNIST digits through the cross-entropy loss{avg})"
        )
        fig.legend(loc="outside right upper", fontsize=9)
        return save_figure(fig, out, "vanishing_layer_norms", svg=size == "full")


def _loss_panel(ax, plain: dict, colour) -> None:
    """The unclipped run's losses written out (they leave the axes), labels."""
    losses = " → ".join(f"{v:.3g}" for v in plain["loss"])
    nf = plain["nonfinite"]
    stop = (
        (
            f"\nstep {nf['step']}: {nf['cause']} → the Trainer stops\n"
            "(keeping the last finite weights)"
        )
        if nf is not None
        else ""
    )
    ax.text(
        0.3,
        0.97,
        f"no clipping, loss per step: {losses}{stop}",
        transform=ax.transAxes,
        va="top",
        fontsize=8,
        color=colour,
    )
    ax.set_ylabel("training loss (mini-batch, log scale)")
    ax.set_title(f"Training loss of the exploding net (ReLU, std {EXPLODE_STD:g})")
    ax.legend(loc="lower left", fontsize=8)


def _norm_panel(bx, plain: dict, clipped: dict, colour) -> None:
    """max_norm's line, where the unclipped norm overflows, labels and limits."""
    bx.axhline(
        MAX_NORM,
        color="0.3",
        ls=":",
        lw=1.2,
        label=f"max_norm: larger norms are scaled down to {MAX_NORM:g}",
    )
    bad = [i + 1 for i, v in enumerate(plain["norms"]) if not math.isfinite(v)]
    if bad:
        last = len(plain["norms"]) - len(bad)
        bx.annotate(
            f"step {bad[0]}: Σg² overflows float32 (norm = inf)",
            xy=(last, plain["norms"][last - 1]),
            xytext=(12, -4),
            textcoords="offset points",
            fontsize=8,
            color=colour,
        )
    bx.set_ylabel("total gradient norm before clipping (log scale)")
    bx.set_title("Gradient norm returned by clip_grad_norm")
    finite = [v for v in clipped["norms"] if math.isfinite(v)]
    if finite:  # room for the legend below the curves
        bx.set_ylim(bottom=min(finite) / 20)
    bx.legend(loc="lower left", fontsize=8)


def _plot_clipping(runs: dict[str, dict], n_train: int, out: Path, size: str) -> Path:
    plain, clipped = runs["no clipping"], runs["clipped"]
    c_plain, c_clip = SERIES_COLORS[3], SERIES_COLORS[0]
    top = 1e4  # the unclipped loss leaves the axes; its values are written out
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.8))
        for axis, key in ((ax, "loss"), (bx, "norms")):
            steps = np.arange(1, len(clipped[key]) + 1)
            axis.loglog(
                steps,
                clipped[key],
                "-",
                color=c_clip,
                lw=1.3,
                label=f"clip_grad_norm, max_norm = {MAX_NORM:g}",
            )
            values = np.asarray(plain[key], dtype=float)
            k = np.arange(1, len(values) + 1)
            axis.loglog(
                k,
                np.where(np.isfinite(values), values, np.nan),
                "-o",
                color=c_plain,
                ms=5,
                label="no clipping",
            )
            axis.set_xlabel("optimizer step (log scale)")
        ax.set_ylim(top=top)
        _loss_panel(ax, plain, c_plain)
        _norm_panel(bx, plain, clipped, c_plain)
        fig.suptitle(
            f"Gradient clipping on a 20-layer ReLU net with too large an init: "
            f"SGD lr {LR:g}, batch {BATCH}, {n_train:,} MNIST digits",
            fontsize=12,
        )
        return save_figure(fig, out, "vanishing_clipping", svg=size == "full")


# ----------------------------------------------------------------------- run


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Measure per-layer gradient norms; train with/without clipping; write figures.

    Result keys beyond the contract: ``layer_norms`` {variant: 20 norms, input
    to output}, ``initial_loss`` {variant: loss}, ``clip_check`` {"direct",
    "returned", "after"}, ``clipping`` {"no clipping"|"clipped": {"loss" per
    step, "norms" pre-clip norm per step, "stopped", "nonfinite",
    "train_acc"}}, ``final_loss_clipped`` and ``final_loss_unclipped`` (mean of
    the last 10 recorded step losses), ``unclipped_stopped_nonfinite``,
    ``max_norm``.
    """
    size, seed, out = ctx.size, ctx.seed, ctx.out
    cfg = CONFIG[size]
    splits = mnist_sample_splits(cfg["n_train"], n_test=0, seed=seed, flatten=True)
    x, y = splits.train
    layer_norms, initial_loss = _gradient_norms(
        x[: cfg["grad_batch"]], y[: cfg["grad_batch"]], seed, cfg["grad_seeds"]
    )
    clip_check = check_clip(x[:BATCH], y[:BATCH], seed)
    runs = {
        "no clipping": train_exploding(
            splits.train, max_norm=math.inf, epochs=cfg["epochs"], seed=seed
        ),
        "clipped": train_exploding(
            splits.train, max_norm=MAX_NORM, epochs=cfg["epochs"], seed=seed
        ),
    }
    figures = [
        _plot_layers(layer_norms, cfg["grad_batch"], cfg["grad_seeds"], out, size),
        _plot_clipping(runs, cfg["n_train"], out, size),
    ]
    plain, clipped = runs["no clipping"], runs["clipped"]
    texts = _texts(layer_norms, initial_loss, runs)
    return ctx.result(
        figures,
        _table(layer_norms, initial_loss, runs, clip_check),
        layer_norms=layer_norms,
        initial_loss=initial_loss,
        clip_check=clip_check,
        clipping=runs,
        final_loss_clipped=_last_loss(clipped["loss"]),
        final_loss_unclipped=_last_loss(plain["loss"]),
        unclipped_stopped_nonfinite=plain["stopped"] == "nonfinite",
        max_norm=MAX_NORM,
        lr=LR,
        batch_size=BATCH,
        explode_std=EXPLODE_STD,
        depth=DEPTH,
        width=WIDTH,
        captions={
            "vanishing_layer_norms.png": "Per-layer weight-gradient norm at "
            f"initialisation (log scale), one line per network; batch of "
            f"{cfg['grad_batch']}, geometric mean over {cfg['grad_seeds']} seed(s).",
            "vanishing_clipping.png": "Training the exploding net without and "
            "with gradient clipping: loss per step (left) and the gradient norm "
            "before clipping (right).",
        },
        texts={
            "vanishing_layer_norms.png": texts["layers"],
            "vanishing_clipping.png": texts["clipping"],
        },
        budget={
            "gradient batch": cfg["grad_batch"],
            "init seeds": cfg["grad_seeds"],
            "training digits": cfg["n_train"],
            "epochs": cfg["epochs"],
        },
        takeaways=[texts["takeaway"]],
    )


def _gradient_norms(xb, yb, seed: int, seeds: int) -> tuple[dict, dict]:
    """({variant: per-layer gradient norm, geometric mean over seeds},
    {variant: mean initial loss})."""
    layer_norms, initial_loss = {}, {}
    for key in VARIANTS:
        per_seed, losses = [], []
        for s in range(seed, seed + seeds):
            norms, value = layer_grad_norms(build(key, s), xb, yb)
            per_seed.append(norms)
            losses.append(value)
        layer_norms[key] = np.exp(np.mean(np.log(per_seed), axis=0))
        initial_loss[key] = float(np.mean(losses))
    return layer_norms, initial_loss


def _table(layer_norms, initial_loss, runs, clip_check) -> list[dict[str, Any]]:
    """Rows: each network at initialisation, the two training runs, the clip check."""
    empty = dict.fromkeys(
        ("‖∂L/∂W‖ layer 1", "layer 10", "layer 20", "layer 1 / layer 20")
    )
    table = []
    for key, lab in VARIANTS.items():
        n = [float(v) for v in layer_norms[key]]
        table.append(
            {
                "network / run": lab,
                "‖∂L/∂W‖ layer 1": n[0],
                "layer 10": n[9],
                "layer 20": n[-1],
                "layer 1 / layer 20": n[0] / n[-1],
                "loss": initial_loss[key],
                "note": "at initialisation",
            }
        )
    for name, r in runs.items():
        if r["nonfinite"] is not None:
            note = (
                f"stopped by the Trainer at step {r['nonfinite']['step']}: "
                f"{r['nonfinite']['cause']}"
            )
        else:
            note = f"{len(r['loss'])} steps, training accuracy {r['train_acc']:.3f}"
        table.append(
            {
                "network / run": f"exploding net, {name}",
                **empty,
                "loss": _last_loss(r["loss"]),
                "note": f"{note}; pre-clip norm {r['norms'][0]:.3g} at step 1, "
                f"{r['norms'][-1]:.3g} at the last step",
            }
        )
    table.append(
        {
            "network / run": "clip_grad_norm on one batch",
            **empty,
            "loss": None,
            "note": f"total norm {clip_check['direct']:.6g}; returned "
            f"{clip_check['returned']:.6g}; after clipping "
            f"{clip_check['after']:.6g} (max_norm {MAX_NORM:g})",
        }
    )
    return table


def _per_layer(norms) -> float:
    """Geometric mean factor from layer 20 to layer 1: (n_1 / n_20)^(1/19)."""
    return float((norms[0] / norms[-1]) ** (1.0 / (len(norms) - 1)))


def _texts(layer_norms: dict, initial_loss: dict, runs: dict) -> dict[str, str]:
    """The paragraphs before each figure and the takeaway, from this run's numbers."""
    sig = layer_norms["sigmoid"]
    orders = math.log10(sig[-1] / sig[0])
    bn, res = layer_norms["relu_he_bn"], layer_norms["residual"]
    blow = np.asarray(layer_norms["relu_large"]) / np.asarray(layer_norms["relu_he"])
    steady = {k: layer_norms[k] for k in ("tanh", "relu_he")}
    spread = max(float(max(v) / min(v)) for v in steady.values())
    layers = (
        f"Sigmoid: layer 1's gradient is {sig[0]:.2g}, layer 20's {sig[-1]:.2g}, "
        f"{orders:.1f} orders of magnitude apart (a factor "
        f"{1 / _per_layer(sig):.1f} per layer). With tanh and with ReLU + He the "
        f"largest and smallest of the 20 layers' norms are within a factor "
        f"{spread:.1f}. With Batch Norm the "
        f"gradient grows by {_per_layer(bn):.2f}x per layer towards the input "
        f"({bn[-1]:.2g} at layer 20, {bn[0]:.2g} at layer 1); the residual net's "
        f"first layer gets {res[0] / res[-1]:.2f} times its last layer's gradient. "
        f"With std {EXPLODE_STD:g} the initial loss is "
        f"{initial_loss['relu_large']:.1f} instead of {initial_loss['relu_he']:.1f} "
        f"(He), and every layer's gradient is {blow.min():.0f}-{blow.max():.0f} "
        "times the He-initialised net's."
    )
    plain, clipped = runs["no clipping"], runs["clipped"]
    if plain["nonfinite"] is not None:
        unclipped = (
            f"Without clipping the Trainer's non-finite guard stops training at step "
            f"{plain['nonfinite']['step']} ({plain['nonfinite']['cause']}), keeping "
            "the last finite weights."
        )
    else:
        unclipped = (
            f"Without clipping the run stays finite here; its last losses average "
            f"{_last_loss(plain['loss']):.3g}."
        )
    norms = np.asarray(clipped["norms"])
    below = np.flatnonzero(norms < MAX_NORM)
    settle = (
        f"falls below max_norm = {MAX_NORM:g} at step {int(below[0]) + 1}"
        if below.size
        else f"stays above max_norm = {MAX_NORM:g} throughout"
    )
    clipping = (
        f"{unclipped} With clip_grad_norm (max_norm {MAX_NORM:g}) the gradient norm "
        f"before clipping starts at {norms[0]:.3g} and {settle}; the loss goes from "
        f"{clipped['loss'][0]:.3g} to {_last_loss(clipped['loss']):.3g} (mean of the "
        f"last 10 steps) over {len(clipped['loss'])} steps."
    )
    stopped = (
        f"stops at step {plain['nonfinite']['step']}"
        if plain["nonfinite"] is not None
        else "stays finite"
    )
    takeaway = (
        f"Depth: a 20-layer sigmoid net's first-layer gradient is {orders:.0f} orders "
        f"of magnitude below its last; He init, Batch Norm or shortcuts keep it "
        f"alive, and clipping turns an exploding run (unclipped it {stopped}) into "
        f"one that trains to loss {_last_loss(clipped['loss']):.2f}."
    )
    return {"layers": layers, "clipping": clipping, "takeaway": takeaway}


def _last_loss(losses: list[float], k: int = 10) -> float:
    """Mean of the last ``k`` recorded step losses (NaN if none)."""
    return float(np.mean(losses[-k:])) if losses else math.nan
