"""Experiment: gradient descent at the edge of stability (Cohen et al. 2021).

On a quadratic f(w) = ½ Σ_i λ_i w_i², GD w ← w − lr ∇f multiplies each
coordinate by (1 − lr λ_i) per step, so it converges exactly when
lr < 2 / λ_max and diverges when lr > 2 / λ_max; the experiment runs both sides.

On a network the curvature is not fixed. Full-batch GD on a small tanh MLP
(784-32-32-10, float64, mean squared error against one-hot targets) and a few
hundred digits is run at two learning rates whose 2/lr lies below the sharpness
at initialization. Every few steps the top eigenvalue of the training-loss
Hessian (the *sharpness*, by Lanczos on Hessian-vector products, eval mode) is
measured. GD first throws the weights out of the too-sharp start region (the
sharpness drops below 2/lr), then the sharpness rises again as training goes on
(progressive sharpening) until it reaches about 2/lr, the value at which the
quadratic model says GD must diverge, and hovers there, while the loss keeps
falling — not monotonically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import mnist_sample_splits
from ..diagnostics import hessian_operator, top_hessian_eigenvalues
from ..models import MLP
from ..nn import MSELoss
from ..optim import SGD
from ._common import (
    SERIES_COLORS,
    Run,
    experiment,
    plot_style,
    save_figure,
    status,
)

NAME = "edge_of_stability"
TITLE = "Edge of stability: full-batch GD drives the sharpness to 2/lr"
FORMULA = (
    "quadratic: w ← (1 − lr λ_i) w  ⇒  converges iff |1 − lr λ_i| < 1 for all i, "
    "i.e. lr < 2/λ_max\n"
    "sharpness S(θ) = λ_max(∇²L(θ)), by Lanczos on\n"
    "    H v ≈ (∇L(θ + t v) − ∇L(θ − t v)) / 2t\n"
    "edge of stability: S(θ_t) rises to ≈ 2/lr and stays there; L(θ_t) keeps "
    "falling, not monotonically"
)
EXPLANATION = (
    "Classical analysis treats the loss near the weights as a quadratic with fixed "
    "curvature: gradient descent is stable only while the largest Hessian "
    "eigenvalue stays below 2/lr. The quadratic panel checks this exactly, just "
    "below and just above the limit. A neural network is not a quadratic: Cohen "
    "et al. (2021) found that full-batch GD drives the sharpness up as the network "
    "fits the data (progressive sharpening) until it reaches about 2/lr, and that "
    "it then hovers there instead of running away, GD oscillating along the "
    "sharpest direction while the loss keeps falling over many steps, though not "
    "at every step. The second figure shows what this run does. The sharpness is "
    "measured every few steps on the full training set (Lanczos, relative "
    "tolerance 1e-3); the dashed lines are 2/lr."
)

N_TRAIN = {"quick": 200, "full": 1000}
HIDDEN = 32
LRS = {"quick": (0.25, 0.4), "full": (0.25, 0.4)}
STEPS = {"quick": 800, "full": 4000}
EVERY = {"quick": 20, "full": 40}
QUAD_LAMBDAS = (0.5, 2.0, 10.0)
QUAD_FACTORS = (0.95, 1.05)  # lr = factor * 2 / lambda_max
QUAD_STEPS = 60
REACH = 0.98  # "reached 2/lr": the sharpness is within 2 % of it (or above)


def _quadratic(lr: float, steps: int) -> np.ndarray:
    lam = np.asarray(QUAD_LAMBDAS)
    w = np.ones_like(lam)
    f = [0.5 * float(lam @ w**2)]
    for _ in range(steps):
        w = w - lr * lam * w
        f.append(0.5 * float(lam @ w**2))
    return np.asarray(f)


def _gd(x, y, lr: float, steps: int, every: int, seed: int) -> dict:
    model = MLP(
        [784, HIDDEN, HIDDEN, 10],
        activation="tanh",
        init="xavier",
        seed=seed,
        dtype=np.float64,
    )
    lossf = MSELoss()
    opt = SGD(model.parameters(), lr=lr)
    loss, sharp_steps, sharp, vec = [], [], [], None
    for t in range(steps + 1):
        if t % every == 0:
            op = hessian_operator(model, lossf, x, y)
            eig = top_hessian_eigenvalues(
                None, None, None, None, k=1, iters=60, tol=1e-3, seed=seed, operator=op
            )
            sharp_steps.append(t)
            sharp.append(float(eig.values[0]))
            vec = eig.vectors[0]
        if t == steps:
            break
        opt.zero_grad()
        loss.append(lossf.forward(model.forward(x), y))
        model.backward(lossf.backward())
        opt.step()
        if not np.isfinite(loss[-1]):
            break
    del vec
    return {
        "lr": lr,
        "loss": np.asarray(loss),
        "sharp_steps": np.asarray(sharp_steps),
        "sharpness": np.asarray(sharp),
    }


def _summary(r: dict) -> dict:
    limit = 2.0 / r["lr"]
    s, st = r["sharpness"], r["sharp_steps"]
    low = int(np.argmin(s))
    reached = low + np.nonzero(s[low:] >= REACH * limit)[0]
    first = int(st[reached[0]]) if reached.size else None
    after = s[reached[0] :] if reached.size else s[low:]
    loss = r["loss"]
    ups = int(np.sum(np.diff(loss) > 0))
    return {
        "lr": r["lr"],
        "limit": limit,
        "initial_sharpness": float(s[0]),
        "min_sharpness": float(s[low]),
        "min_step": int(st[low]),
        "reached_step": first,
        "hover_mean": float(np.mean(after)),
        "hover_ratio": float(np.mean(after) / limit),
        "max_sharpness": float(after.max()),
        "loss_first": float(loss[0]),
        "loss_last": float(loss[-1]),
        "loss_increases": ups,
    }


def _reach(s: dict) -> str:
    """How the sharpness of one run moved relative to 2/lr, in words."""
    head = f"falls to {s['min_sharpness']:.2f} by step {s['min_step']}"
    if s["reached_step"] is None:
        return (
            f"{head} and stays below 2/lr = {s['limit']:.3g} "
            f"(max {s['max_sharpness']:.2f})"
        )
    return (
        f"{head}, climbs back to within {100 * (1 - REACH):.0f} % of 2/lr = "
        f"{s['limit']:.3g} by step "
        f"{s['reached_step']} and from then on averages {s['hover_mean']:.2f} "
        f"({100 * s['hover_ratio']:.0f} % of 2/lr, at most "
        f"{s['max_sharpness']:.2f})"
    )


def _captions(q_lrs, q_losses, lam_max, summ, size: str) -> dict[str, str]:
    """One caption per figure, with this run's numbers."""
    lams = ", ".join(f"{v:g}" for v in QUAD_LAMBDAS)
    return {
        "edge_of_stability_quadratic.png": (
            f"GD on ½ Σ λ_i w_i² with λ = {lams}: at lr {q_lrs[0]:.3g} (below "
            f"2/λ_max = {2 / lam_max:.3g}) f falls from {q_losses[0][0]:.3g} to "
            f"{q_losses[0][-1]:.2e} in {QUAD_STEPS} steps; at lr {q_lrs[1]:.3g} "
            f"(above) it grows "
            f"to {q_losses[1][-1]:.3g}."
        ),
        "edge_of_stability_gd.png": (
            f"Loss (left) and sharpness (right) of full-batch GD (MSE) on "
            f"{N_TRAIN[size]} digits at lr "
            + " and ".join(f"{x['lr']:g}" for x in summ)
            + "; the dashed lines are 2/lr = "
            + " and ".join(f"{x['limit']:.3g}" for x in summ)
            + ", which the sharpness, after its first drop, reaches again (to within "
            f"{100 * (1 - REACH):.0f} %) at step "
            + " and ".join(
                "never" if x["reached_step"] is None else str(x["reached_step"])
                for x in summ
            )
            + "."
        ),
    }


def _table(summ: list[dict]) -> list[dict]:
    """One row per learning rate."""
    return [
        {
            "lr": s["lr"],
            "2/lr": s["limit"],
            "initial sharpness": s["initial_sharpness"],
            "step reaching 2/lr": s["reached_step"],
            "mean sharpness after": s["hover_mean"],
            "ratio to 2/lr": s["hover_ratio"],
            "final loss": s["loss_last"],
            "steps with loss up": s["loss_increases"],
        }
        for s in summ
    ]


def _takeaway(summ: list[dict]) -> str:
    """The page's one-line takeaway, from this run."""
    edge = [x for x in summ if x["reached_step"] is not None]
    return (
        "Edge of stability: "
        + (
            "under full-batch GD the sharpness climbs back to (within "
            f"{100 * (1 - REACH):.0f} % of) 2/lr after its first drop ("
            + "; ".join(
                f"lr {x['lr']:g}: at step {x['reached_step']}, then on average "
                f"{100 * x['hover_ratio']:.0f} % of 2/lr = {x['limit']:.3g}"
                for x in edge
            )
            + ") while the loss keeps falling"
            if edge
            else "in this run full-batch GD never brings the sharpness back up to 2/lr"
        )
        + "; on a quadratic GD diverges just above lr = 2/λ_max."
    )


@experiment(NAME)
def run(r: Run) -> dict:
    """Quadratic on both sides of 2/λ_max; GD on the MLP at two lrs with sharpness.

    Result keys beyond the contract: ``quadratic`` {"lambdas", "lrs", "losses",
    "converged"}, ``runs`` [{lr, loss, sharp_steps, sharpness}], ``summary``
    [{lr, limit, initial_sharpness, reached_step, hover_mean, hover_ratio,
    max_sharpness, loss_first, loss_last, loss_increases}].
    """
    size, seed, out = r.size, r.seed, r.out
    lam_max = max(QUAD_LAMBDAS)
    q_lrs = [f * 2.0 / lam_max for f in QUAD_FACTORS]
    q_losses = [_quadratic(lr, QUAD_STEPS) for lr in q_lrs]
    q_conv = [bool(f[-1] < f[0] * 1e-3) for f in q_losses]
    splits = mnist_sample_splits(
        N_TRAIN[size], n_val=0, n_test=0, seed=seed, flatten=True, one_hot=True
    )
    x, y = (a.astype(np.float64) for a in splits.train)
    runs = []
    for lr in LRS[size]:
        status(f"full-batch GD at lr {lr:g}")
        with np.errstate(over="ignore", invalid="ignore"):
            runs.append(_gd(x, y, lr, STEPS[size], EVERY[size], seed))
    summ = [_summary(r) for r in runs]
    figs = [
        _plot_quadratic(q_lrs, q_losses, lam_max, out, size),
        _plot_gd(runs, out, size),
    ]

    captions = _captions(q_lrs, q_losses, lam_max, summ, size)
    texts = _texts(summ, q_lrs, q_losses, q_conv, lam_max, _reach)
    return r.result(
        figs,
        _table(summ),
        captions=captions,
        texts=texts,
        table_after="edge_of_stability_gd.png",
        budget={
            "training digits": N_TRAIN[size],
            "GD steps (full batch)": STEPS[size],
            "sharpness every (steps)": EVERY[size],
            "learning rates": len(LRS[size]),
            "seeds": 1,
        },
        takeaways=[_takeaway(summ)],
        book_figures=[],  # the edge of stability is not in the book
        quadratic={
            "lambdas": QUAD_LAMBDAS,
            "lrs": q_lrs,
            "losses": q_losses,
            "converged": q_conv,
        },
        runs=runs,
        summary=summ,
        n_train=N_TRAIN[size],
        steps=STEPS[size],
        every=EVERY[size],
    )


def _texts(summ, q_lrs, q_losses, q_conv, lam_max, reach) -> dict:
    """The paragraphs before each figure, formatted from this run."""
    quad = (
        f"At lr {q_lrs[0]:.3g} ({q_lrs[0] * lam_max / 2:.2f} × 2/λ_max) f goes from "
        f"{q_losses[0][0]:.3g} to {q_losses[0][-1]:.2e}, at lr {q_lrs[1]:.3g} "
        f"({q_lrs[1] * lam_max / 2:.2f} × 2/λ_max) to {q_losses[1][-1]:.3g}"
        + (
            ": converged below the limit, diverged above it, as the quadratic model "
            "says."
            if q_conv == [True, False]
            else "."
        )
    )
    above = all(x["initial_sharpness"] > x["limit"] for x in summ)
    a, b = summ[0], summ[-1]
    gd = (
        (
            "Both learning rates start GD where the sharpness is above 2/lr; "
            "instead of diverging, the first steps throw the weights into a "
            "flatter region. "
            if above
            else ""
        )
        + " ".join(f"At lr {x['lr']:g} the sharpness {reach(x)}." for x in summ)
        + (
            f" The larger lr ends in the flatter place (mean sharpness "
            f"{b['hover_mean']:.2f} at lr {b['lr']:g} against {a['hover_mean']:.2f} "
            f"at lr {a['lr']:g}): the step size sets the sharpness."
            if len(summ) > 1 and b["lr"] > a["lr"] and b["hover_mean"] < a["hover_mean"]
            else ""
        )
        + " The loss keeps falling overall ("
        + "; ".join(
            f"lr {x['lr']:g}: {x['loss_first']:.3f} to {x['loss_last']:.3f}, up in "
            f"{x['loss_increases']} steps"
            for x in summ
        )
        + (
            "), not monotonically."
            if all(x["loss_increases"] > 0 for x in summ)
            else ")."
        )
    )
    return {"edge_of_stability_quadratic.png": quad, "edge_of_stability_gd.png": gd}


def _plot_quadratic(lrs, losses, lam_max, out, size) -> Path:
    with plot_style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        for i, (lr, f) in enumerate(zip(lrs, losses, strict=True)):
            side = "<" if lr < 2 / lam_max else ">"
            ax.semilogy(
                f,
                "o-",
                ms=2.5,
                color=SERIES_COLORS[(0, 3)[i]],
                label=f"lr = {lr:.3g} {side} 2/λ_max = {2 / lam_max:.3g}",
            )
        ax.set_xlabel("step")
        ax.set_ylabel("f(w_t)")
        ax.set_title("GD on a quadratic: stable iff lr < 2/λ_max")
        ax.legend()
        return save_figure(fig, out, "edge_of_stability_quadratic", svg=size == "full")


def _plot_gd(runs, out, size) -> Path:
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.0))
        for i, r in enumerate(runs):
            color = SERIES_COLORS[(0, 3, 1)[i % 3]]
            ax.semilogy(
                np.arange(len(r["loss"])),
                r["loss"],
                color=color,
                lw=1.2,
                label=f"lr {r['lr']:g}",
            )
            bx.plot(
                r["sharp_steps"],
                r["sharpness"],
                "o-",
                ms=3,
                color=color,
                label=f"sharpness, lr {r['lr']:g}",
            )
            bx.axhline(
                2 / r["lr"],
                color=color,
                ls="--",
                lw=1.2,
                label=f"2/lr = {2 / r['lr']:g}",
            )
        ax.set(xlabel="step", ylabel="training loss (full batch)", title="Loss")
        bx.set(xlabel="step", ylabel="top Hessian eigenvalue", title="Sharpness")
        ax.legend()
        bx.legend(fontsize=8)
        return save_figure(fig, out, "edge_of_stability_gd", svg=size == "full")
