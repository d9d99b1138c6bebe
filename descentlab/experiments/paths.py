"""Experiment 1: optimizer paths on 2-D test functions and a 1-D double well.

Every step is taken by the real optimizers of ``descentlab.optim`` on a single
float64 Parameter holding (x, y): the experiment only evaluates the analytic
gradient of the test function (``descentlab.functions``), writes it into
``p.grad`` and calls ``opt.step()``.

Learning rates. On the book's bowl f = x²/20 + y² the book's values are used
(SGD 0.95, Momentum 0.1 with mu 0.9, AdaGrad 1.5, Adam 0.3); Nesterov takes
Momentum's 0.1 with mu 0.9 and RMSProp 0.1 (its first step moves every
coordinate by about 10·lr because v starts at 0 with alpha 0.99; 0.3 throws the
path to the edge of the plot before it settles). On the other functions each
optimizer gets one hand-picked rate (``SETTINGS``) that keeps it stable, the
same at both sizes. The run is deterministic: ``seed`` is accepted for the
common signature but nothing here is random.

Sizes: both run the same steps (they take well under a second); "full" draws
the contours on a finer grid and also writes an SVG of the 1-D figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..functions import FUNCTIONS, LOCAL_MINIMUM_LOSS, Function1D, Function2D
from ..nn.module import Parameter
from ..optim import SGD, AdaGrad, Adam, RMSProp
from ._common import (
    Run,
    color,
    experiment,
    label,
    plot_style,
    save_figure,
)

NAME = "paths"
TITLE = "Optimizer paths on 2-D test functions"
FORMULA = (
    "SGD:       θ ← θ − lr·g\n"
    "Momentum:  b ← μ·b + g;  θ ← θ − lr·b            (μ = 0.9)\n"
    "Nesterov:  b ← μ·b + g;  θ ← θ − lr·(g + μ·b)\n"
    "AdaGrad:   G ← G + g²;   θ ← θ − lr·g/(√G + ε)\n"
    "RMSProp:   v ← α·v + (1−α)·g²;  θ ← θ − lr·g/(√v + ε)   (α = 0.99)\n"
    "Adam:      m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  θ ← θ − lr·m̂/(√v̂ + ε)\n"
    "Book bowl: f(x, y) = x²/20 + y², start (−7, 2), 30 steps"
)
EXPLANATION = (
    "Each panel draws one optimizer's path over the contour lines of a test function "
    "(darker = higher), with the start (black square), the end point and the minimum "
    "(star) marked. On the book's bowl x²/20 + y² the gradient points almost along "
    "y, so plain SGD zig-zags across the valley (y changes sign at every step) while "
    "creeping along x; Momentum and Nesterov build up speed along x and overshoot "
    "before settling; AdaGrad and RMSProp scale each coordinate by its own gradient "
    "history, so they move along x and y at similar rates and head almost straight "
    "for the minimum; Adam combines both ideas. The other functions show the limits "
    "of each method: Rosenbrock's flat curved valley is slow to follow (after 1000 "
    "steps only Adam and the momentum methods are within 0.02 of (1, 1)); Rastrigin "
    "traps every method in a local minimum, and only Momentum moves to a better "
    "well; on Beale, with its huge range of gradient sizes, the momentum methods get "
    "closest; on Himmelblau the plain and momentum methods end in a different one of "
    "the four minima than the adaptive ones, which move diagonally at first; on the "
    "saddle x² − y², which has no minimum, SGD and the momentum methods are first "
    "drawn towards the saddle point and escape only slowly along y, while the "
    "adaptive methods rescale the tiny y-gradient and escape at once. The 1-D double "
    "well shows why momentum helps: plain gradient descent stops in the shallow "
    "local minimum at x = −1, while Momentum and Nesterov carry enough speed over "
    "the small barrier to reach the global minimum at x = 2 (Nesterov's look-ahead "
    "points, where it evaluates the gradient, are drawn as diamonds). Table: final "
    "distance to the nearest global minimum (for the saddle: the final f)."
)

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
MU = 0.9

#: function -> (steps, {optimizer: lr}). The book's bowl uses the book's rates.
SETTINGS: dict[str, tuple[int, dict[str, float]]] = {
    "book_quadratic": (
        30,
        {
            "sgd": 0.95,
            "momentum": 0.1,
            "nesterov": 0.1,
            "adagrad": 1.5,
            "rmsprop": 0.1,
            "adam": 0.3,
        },
    ),
    "rosenbrock": (
        1000,
        {
            "sgd": 2e-3,
            "momentum": 1e-3,
            "nesterov": 1e-3,
            "adagrad": 1.5,
            "rmsprop": 0.01,
            "adam": 0.1,
        },
    ),
    "rastrigin": (
        300,
        {
            "sgd": 0.003,
            "momentum": 0.007,
            "nesterov": 0.005,
            "adagrad": 0.5,
            "rmsprop": 0.03,
            "adam": 0.1,
        },
    ),
    "beale": (
        500,
        {
            "sgd": 0.01,
            "momentum": 0.01,
            "nesterov": 0.01,
            "adagrad": 1.0,
            "rmsprop": 0.1,
            "adam": 0.1,
        },
    ),
    "himmelblau": (
        200,
        {
            "sgd": 0.01,
            "momentum": 0.01,
            "nesterov": 0.01,
            "adagrad": 0.5,
            "rmsprop": 0.03,
            "adam": 0.1,
        },
    ),
    "saddle": (
        50,
        {
            "sgd": 0.05,
            "momentum": 0.01,
            "nesterov": 0.01,
            "adagrad": 0.3,
            "rmsprop": 0.03,
            "adam": 0.05,
        },
    ),
}
#: The 1-D double well: gradient descent vs Momentum vs Nesterov at one lr.
ONE_D_LR = 0.05
ONE_D_STEPS = 60
_DIVERGED = 1e6


def make_optimizer(name: str, params: list[Parameter], lr: float):
    """descentlab.optim optimizer for ``name`` (momentum methods use mu = 0.9)."""
    if name == "sgd":
        return SGD(params, lr=lr)
    if name == "momentum":
        return SGD(params, lr=lr, momentum=MU)
    if name == "nesterov":
        return SGD(params, lr=lr, momentum=MU, nesterov=True)
    if name == "adagrad":
        return AdaGrad(params, lr=lr)
    if name == "rmsprop":
        return RMSProp(params, lr=lr)
    if name == "adam":
        return Adam(params, lr=lr)
    raise ValueError(f"paths: unknown optimizer {name!r}; choose from {OPTIMIZERS}.")


def optimize_path(
    fn: Function2D,
    name: str,
    lr: float,
    steps: int,
    start: tuple[float, float] | None = None,
) -> tuple[np.ndarray, bool]:
    """Run optimizer ``name`` on ``fn`` from ``start``; return (path, diverged).

    ``path`` has shape (k+1, 2): the start and every point reached.

    The path stops early, with ``diverged=True``, if |θ| exceeds 1e6 or is not finite.
    """
    p = Parameter(np.array(fn.start if start is None else start, dtype=np.float64))
    opt = make_optimizer(name, [p], lr)
    path = [p.data.copy()]
    for _ in range(steps):
        gx, gy = fn.grad(p.data[0], p.data[1])
        p.grad[0], p.grad[1] = gx, gy
        opt.step()
        if not np.all(np.isfinite(p.data)) or np.abs(p.data).max() > _DIVERGED:
            return np.array(path), True
        path.append(p.data.copy())
    return np.array(path), False


def descend_1d(
    loss: Function1D, name: str, lr: float, steps: int
) -> dict[str, np.ndarray]:
    """Run ``name`` ("sgd", "momentum" or "nesterov") on the 1-D ``loss``.

    Returns ``x`` (positions, steps+1) and, for Nesterov, ``lookahead``. The
    optimizer holds Nesterov's look-ahead point φ = θ + μ·v (PyTorch form, where
    the gradient is evaluated); the position θ = φ + lr·μ·b is recovered from the
    momentum buffer b = μ·b + g rebuilt from the gradients fed to the optimizer.
    """
    p = Parameter(np.array([loss.start], dtype=np.float64))
    opt = make_optimizer(name, [p], lr)
    phi, b, theta = [float(p.data[0])], 0.0, [float(p.data[0])]
    for _ in range(steps):
        g = float(loss.grad(p.data[0]))
        p.grad[0] = g
        opt.step()
        b = MU * b + g
        phi.append(float(p.data[0]))
        theta.append(phi[-1] + lr * MU * b)
    if name == "nesterov":
        return {"x": np.array(theta), "lookahead": np.array(phi)}
    return {"x": np.array(phi)}


# ----------------------------------------------------------------------- plots

#: Contour levels: log-spaced above the minimum (default) or linear.
_LINEAR_LEVELS = ("rastrigin", "saddle")


def _contour(ax, fn: Function2D, fine: bool, box=None) -> None:
    x0, x1, y0, y1 = fn.box if box is None else box
    n = 500 if fine else 250
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = fn.value(X, Y)
    if fn.name in _LINEAR_LEVELS:
        levels = np.linspace(Z.min(), Z.max(), 15)
    else:
        Z = Z - fn.min_value  # log-spaced levels above the minimum value
        lo = max(np.percentile(Z, 0.5), 1e-3 * Z.max())
        levels = np.unique(np.concatenate([[Z.min()], np.geomspace(lo, Z.max(), 18)]))
    # light grey fill: low values white, high values grey; thin lines on top
    ax.contourf(X, Y, Z, levels=levels, cmap="Greys", alpha=0.35, antialiased=False)
    if fn.name != "rastrigin":  # its many wells read better filled only
        ax.contour(X, Y, Z, levels=levels[1:], colors="0.55", linewidths=0.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _mark(ax, fn: Function2D, start) -> None:
    ax.plot(*start, "s", color="black", ms=7, zorder=5, label="start")
    if fn.minima:
        mx, my = zip(*fn.minima, strict=False)
        ax.plot(
            mx,
            my,
            "*",
            color="#F0E442",
            mec="black",
            ms=14,
            zorder=6,
            label="global minimum" if len(fn.minima) == 1 else "global minima",
        )
    else:
        ax.plot(
            0,
            0,
            "X",
            color="white",
            mec="black",
            ms=10,
            zorder=6,
            label="saddle point (no minimum)",
        )


def frame(fn: Function2D, runs: dict[str, dict]) -> tuple[tuple, list[str]]:
    """The plot box for ``fn``'s paths, and the optimizers whose path leaves it.

    The box is ``fn.box`` grown to hold every path point that lies within one box
    size of it (so end points stay in frame); paths that go further (diverging
    ones) are listed instead, and their panel says where they ended. For Rastrigin,
    whose paths stay inside one or two of its wells, the box zooms on the paths.
    """
    x0, x1, y0, y1 = fn.box
    w, h = x1 - x0, y1 - y0
    pts = np.concatenate([r["path"] for r in runs.values()])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if fn.name == "rastrigin":
        near = np.concatenate([pts, np.asarray(fn.minima or [(0.0, 0.0)])])
        lo, hi = near.min(0), near.max(0)
        pad = 0.25 * max(hi[0] - lo[0], hi[1] - lo[1], 0.5)
        return (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad), []
    inside = (
        (pts[:, 0] > x0 - w)
        & (pts[:, 0] < x1 + w)
        & (pts[:, 1] > y0 - h)
        & (pts[:, 1] < y1 + h)
    )
    keep = pts[inside]
    box = (
        min(x0, keep[:, 0].min()),
        max(x1, keep[:, 0].max()),
        min(y0, keep[:, 1].min()),
        max(y1, keep[:, 1].max()),
    )
    bx0, bx1, by0, by1 = box
    out = [
        n
        for n, r in runs.items()
        if not np.all(
            np.isfinite(r["path"])
            & (r["path"] >= (bx0, by0))
            & (r["path"] <= (bx1, by1))
        )
    ]
    return box, out


def gap_curve(fn: Function2D, path: np.ndarray) -> np.ndarray:
    """f(theta_t) - f* per step (f itself when fn has no minimum); inf if diverged."""
    v = np.array([fn.value(*p) if np.all(np.isfinite(p)) else np.inf for p in path])
    return v - fn.min_value if fn.min_value is not None else v


def _plot_function(
    fn: Function2D, runs: dict[str, dict], steps: int, out: Path, size: str
) -> Path:
    box, leave = frame(fn, runs)
    x0, x1, y0, y1 = box
    height = 3.0 * (y1 - y0) / (x1 - x0)  # each panel is about 3 inches wide
    with plot_style() as plt:
        fig = plt.figure(figsize=(15.5, 2 * (height + 0.8) + 1.2))
        gs = fig.add_gridspec(2, 4, width_ratios=(1, 1, 1, 1.25))
        first = fig.add_subplot(gs[0, 0])
        axes = [first] + [
            fig.add_subplot(gs[i // 3, i % 3], sharex=first, sharey=first)
            for i in range(1, 6)
        ]
        for ax, name in zip(axes, OPTIMIZERS, strict=True):
            _path_panel(ax, fn, name, runs[name], box, name in leave, size == "full")
        for ax in axes[3:]:
            ax.set_xlabel("x")
        for ax in (axes[0], axes[3]):
            ax.set_ylabel("y")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9
        )
        _gap_panel(fig.add_subplot(gs[:, 3]), fn, runs)
        zoom = " (frame zoomed on the paths)" if fn.name == "rastrigin" else ""
        fig.suptitle(
            f"{fn.title}:  {fn.formula}\n{steps} steps from "
            f"({fn.start[0]:g}, {fn.start[1]:g}){zoom}",
            fontsize=12,
        )
        # PNG only: contour plots make SVG files of 5-20 MB
        return save_figure(fig, out, f"paths_{fn.name}")


def _path_panel(ax, fn: Function2D, name: str, run_: dict, box, leaves, fine):
    """One optimizer's path and end point over the contours, titled with its lr
    and how it ended."""
    x0, x1, y0, y1 = box
    _contour(ax, fn, fine, box)
    path = run_["path"]
    few = len(path) <= 60
    ax.plot(
        path[:, 0],
        path[:, 1],
        "-o" if few else "-",
        color=color(name),
        ms=3.5,
        lw=1.4,
        zorder=4,
        label="optimizer path",
    )
    ax.plot(
        path[-1, 0],
        path[-1, 1],
        "o",
        color=color(name),
        mec="black",
        ms=8,
        zorder=5,
        label="end point",
    )
    _mark(ax, fn, fn.start)
    if run_["diverged"]:
        end = f"diverged after {len(path) - 1} steps"
    elif run_["distance"] is None:
        end = f"final f = {run_['value']:.3g}"
    else:
        end = f"final distance {run_['distance']:.2g}"
    if leaves:
        fin = path[np.all(np.isfinite(path), axis=1)][-1]
        end += f"\nleaves the frame, last at ({fin[0]:.3g}, {fin[1]:.3g})"
    ax.set_title(f"{label(name)}  lr={run_['lr']:g}\n{end}", fontsize=9.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.locator_params(axis="x", nbins=5)


def _gap_panel(gx, fn: Function2D, runs: dict[str, dict]) -> None:
    """f(θ_t) − f* per step for every optimizer (f itself where f has no minimum)."""
    for name in OPTIMIZERS:
        g = runs[name]["gap"]
        t = np.arange(len(g))
        if fn.min_value is None:
            gx.plot(t, g, color=color(name), label=label(name))
        else:
            gx.semilogy(t, np.maximum(g, 1e-16), color=color(name), label=label(name))
    gx.set_xlabel("step t")
    if fn.min_value is None:
        gx.set_yscale("symlog", linthresh=1e-2)
        gx.set_ylabel("f(θ_t)  (no minimum; symlog scale)")
    else:
        gx.set_ylabel("f(θ_t) − f*  (log scale, floor 1e-16)")
    gx.set_title(
        "f(θ_t) per step" if fn.min_value is None else "f(θ_t) − f* per step",
        fontsize=10,
    )
    gx.legend(fontsize=8)


_TITLES_1D = {
    "sgd": "Gradient descent",
    "momentum": "Momentum (μ = 0.9)",
    "nesterov": "Nesterov (μ = 0.9)",
}


def _plot_1d(loss: Function1D, runs: dict[str, dict], out: Path, size: str) -> Path:
    with plot_style() as plt:
        fig, axes = plt.subplots(2, 2, figsize=(12, 8))
        ylim = (
            float(loss.value(np.linspace(*loss.xlim, 600)).min()) - 0.4,
            float(loss.value(loss.start)) + 0.6,
        )
        for ax, name in zip(axes.flat, ("sgd", "momentum", "nesterov"), strict=False):
            sc = _path_1d_panel(ax, loss, name, runs[name], ylim)
            fig.colorbar(sc, ax=ax, label="step", shrink=0.8)
        _positions_panel(axes[1, 1], loss, runs)
        fig.suptitle(f"Shallow local minimum: {loss.formula}", fontsize=12)
        return save_figure(fig, out, "paths_local_minimum_1d", svg=size == "full")


def _path_1d_panel(ax, loss: Function1D, name: str, run_: dict, ylim):
    """One method's steps on the 1-D loss (Nesterov with its look-ahead points);
    returns the step scatter for the colour bar."""
    xs = np.linspace(*loss.xlim, 600)
    x = run_["x"]
    ax.plot(xs, loss.value(xs), color="0.4", lw=1.4, zorder=1, label="f(x)")
    ax.plot(x, loss.value(x), "-", color=color(name), lw=0.7, alpha=0.6, zorder=2)
    sc = ax.scatter(
        x,
        loss.value(x),
        c=np.arange(len(x)),
        cmap="viridis",
        s=26,
        zorder=3,
        edgecolors="black",
        linewidths=0.3,
        label="step θ_t",
    )
    if "lookahead" in run_:
        _lookahead_points(ax, loss, x, run_["lookahead"], color(name))
    ax.plot(
        loss.start,
        loss.value(loss.start),
        "s",
        color="black",
        ms=8,
        zorder=4,
        label="start",
    )
    for x_min, colour, which in (
        (loss.local_min, "#D55E00", "local"),
        (loss.global_min, "#009E73", "global"),
    ):
        ax.axvline(
            x_min, color=colour, ls="--", lw=0.9, label=f"{which} min x = {x_min:g}"
        )
    top = loss.value(loss.local_max)
    ax.annotate(
        f"barrier {top - loss.value(loss.local_min):.3f} high",
        xy=(loss.local_max, top),
        xytext=(loss.local_max + 0.3, top + 2.0),
        arrowprops={"arrowstyle": "->", "color": "0.3"},
        fontsize=8,
    )
    ax.set_ylim(*ylim)
    ax.set_xlim(*loss.xlim)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title(f"{_TITLES_1D[name]}, lr={ONE_D_LR:g}: ends at x = {x[-1]:.3f}")
    ax.legend(loc="upper right", fontsize=8)
    return sc


def _lookahead_points(ax, loss: Function1D, x, la, colour) -> None:
    """Nesterov's look-ahead points θ_t + μ·v_t, each joined to its step."""
    ax.scatter(
        la[1:],
        loss.value(la[1:]),
        marker="D",
        s=22,
        facecolors="none",
        edgecolors=colour,
        zorder=3,
        label="look-ahead θ_t + μ·v_t",
    )
    for a, b in zip(x[1:], la[1:], strict=False):
        ax.plot(
            [a, b],
            [loss.value(a), loss.value(b)],
            ":",
            color=colour,
            lw=0.8,
            zorder=2,
        )


def _positions_panel(ax, loss: Function1D, runs: dict[str, dict]) -> None:
    """x per step of the three methods, with the minima and the barrier top."""
    for name in ("sgd", "momentum", "nesterov"):
        ax.plot(
            runs[name]["x"],
            "-o",
            ms=2.5,
            color=color(name),
            label=_TITLES_1D[name].split(" (")[0],
        )
    ax.axhline(loss.local_min, color="#D55E00", ls="--", lw=0.9, label="local min")
    ax.axhline(loss.local_max, color="0.5", ls=":", lw=0.9, label="barrier top")
    ax.axhline(loss.global_min, color="#009E73", ls="--", lw=0.9, label="global min")
    ax.set_ylim(-4.8, 3.4)
    ax.set_xlabel("step")
    ax.set_ylabel("x")
    ax.set_title("Position per step")
    ax.legend(loc="lower right", fontsize=8, ncol=2)


# ----------------------------------------------------------------------- run


def _book_rate_note() -> str:
    rates = SETTINGS["book_quadratic"][1]
    book = ", ".join(f"{label(n)} {rates[n]:g}" for n in BOOK_RATE_NAMES)
    return (
        f"The learning rates on this bowl are the book's per-method rates (its text, "
        f"§6.1: {book}), chosen to show each method's shape, not tuned to a common "
        "budget: compare the shapes of the paths, not who arrives first."
    )


#: The optimizers whose bowl rate is the book's (the others are this page's).
BOOK_RATE_NAMES = ("sgd", "momentum", "adagrad", "adam")


def _caption(fn: Function2D, runs: dict[str, dict], steps: int) -> str:
    best = _closest(fn, runs)
    what = "final f" if fn.min_value is None else "final f − f*"
    head = (
        f"{fn.title}: {steps} steps, one panel per optimizer, "
        f"{'f(θ_t)' if fn.min_value is None else 'f(θ_t) − f*'} per step on the "
        f"right; lowest {what}: {label(best)} ({runs[best]['gap'][-1]:.2g})."
    )
    return head + (
        " Rates: the book's, per method." if fn.name == "book_quadratic" else ""
    )


def _closest(fn: Function2D, runs: dict[str, dict]) -> str:
    return min(runs, key=lambda n: runs[n]["gap"][-1])


def _text(fn: Function2D, runs: dict[str, dict]) -> str:
    order = sorted(runs, key=lambda n: runs[n]["gap"][-1])
    div = [label(n) for n in runs if runs[n]["diverged"]]
    what = "f" if fn.min_value is None else "f − f*"
    ends = "; ".join(f"{label(n)} {runs[n]['gap'][-1]:.2g}" for n in order)
    text = f"{fn.note} Final {what}, best first: {ends}." + (
        f" Diverged: {', '.join(div)}." if div else ""
    )
    if fn.name == "book_quadratic":
        text = (
            "On the book's bowl x²/20 + y² the gradient points almost along y, so "
            "plain SGD zig-zags across the valley while creeping along x; Momentum "
            "and Nesterov build up speed along x and overshoot; AdaGrad and RMSProp "
            "scale each coordinate by its own gradient history and head more "
            "directly for the minimum; Adam combines both ideas. "
            + _book_rate_note()
            + " "
            + text
        )
    if fn.minima and len(fn.minima) > 1:
        which = {
            label(n): fn.minima.index(fn.nearest_minimum(runs[n]["path"][-1]))
            for n in order
            if not runs[n]["diverged"]
        }
        groups: dict[int, list[str]] = {}
        for n, k in which.items():
            groups.setdefault(k, []).append(n)
        text += (
            " End in minimum "
            + "; ".join(
                f"({fn.minima[k][0]:.2f}, {fn.minima[k][1]:.2f}): {', '.join(v)}"
                for k, v in groups.items()
            )
            + "."
        )
    return text


def _takeaway(final_distance: dict[str, dict]) -> str:
    ros = final_distance["rosenbrock"]
    near = [label(n) for n, d in ros.items() if d is not None and d < 0.02]
    return (
        "Paths: on the book's bowl each method has its own shape (SGD zig-zags, "
        "momentum overshoots, adaptive methods go straight); on Rosenbrock "
        + (
            f"{', '.join(near)} end within 0.02 of the minimum."
            if near
            else "no method ends within 0.02 of the minimum."
        )
    )


def _run_optimizers(fn: Function2D, rates: dict, steps: int) -> dict[str, dict]:
    """Every optimizer's path on ``fn`` at its rate, with how it ended."""
    runs: dict[str, dict[str, Any]] = {}
    for name in OPTIMIZERS:
        path, diverged = optimize_path(fn, name, rates[name], steps)
        end = path[-1]
        runs[name] = {
            "path": path,
            "diverged": diverged,
            "lr": rates[name],
            "distance": None if diverged else fn.distance_to_minimum(end),
            "value": float(fn.value(*end)),
            "gap": gap_curve(fn, path),
        }
    return runs


def _function_row(fn: Function2D, fname: str, steps: int, runs: dict) -> dict:
    """The table row of one function: final distance (or f) per optimizer."""
    quantity = (
        "distance to nearest global minimum" if fn.minima else "final f (no minimum)"
    )
    row: dict[str, Any] = {"function": fname, "quantity": quantity, "steps": steps}
    for n, r in runs.items():
        value = r["distance"] if fn.minima else r["value"]
        row[label(n)] = "diverged" if r["diverged"] else value
    return row


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Run all paths; write the figures and ``paths.json`` into ``out``; return results.

    Result keys beyond the contract: ``final_distance`` {function: {optimizer:
    distance or None}}, ``final_point`` (same layout, [x, y]), ``lr`` (same
    layout), ``book_paths`` {optimizer: (31, 2) list}, ``one_d`` {optimizer:
    {"x": positions, "final": x_end[, "lookahead": ...]}}.
    """
    size, out = ctx.size, ctx.out
    figures, table, captions, texts, gaps = [], [], {}, {}, {}
    final_distance: dict[str, dict] = {}
    final_point: dict[str, dict] = {}
    lrs: dict[str, dict] = {}
    book_paths: dict[str, Any] = {}
    for fname, (steps, rates) in SETTINGS.items():
        fn = FUNCTIONS[fname]
        runs = _run_optimizers(fn, rates, steps)
        figures.append(_plot_function(fn, runs, steps, out, size))
        final_distance[fname] = {n: r["distance"] for n, r in runs.items()}
        final_point[fname] = {n: r["path"][-1] for n, r in runs.items()}
        lrs[fname] = dict(rates)
        if fname == "book_quadratic":
            book_paths = {n: r["path"] for n, r in runs.items()}
        captions[figures[-1].name] = _caption(fn, runs, steps)
        texts[figures[-1].name] = _text(fn, runs)
        gaps[fname] = {n: r["gap"] for n, r in runs.items()}
        table.append(_function_row(fn, fname, steps, runs))

    loss = LOCAL_MINIMUM_LOSS
    one_d = {
        n: descend_1d(loss, n, ONE_D_LR, ONE_D_STEPS)
        for n in ("sgd", "momentum", "nesterov")
    }
    figures.append(_plot_1d(loss, one_d, out, size))
    captions[figures[-1].name] = (
        f"1-D loss {loss.formula}: gradient descent (lr {ONE_D_LR:g}) stops in the "
        "shallow local minimum at x = -1; Momentum and Nesterov (mu 0.9, same lr) roll "
        "over the barrier to the global minimum at x = 2. Colour = step number."
    )
    table.append(
        {
            "function": "1-D double well",
            "quantity": "distance to global minimum x=2",
            "steps": ONE_D_STEPS,
            **{
                label(n): abs(float(r["x"][-1]) - loss.global_min)
                for n, r in one_d.items()
            },
        }
    )
    for r in table:  # the same columns in every row
        for n in OPTIMIZERS:
            r.setdefault(label(n), None)

    return ctx.result(
        figures,
        table,
        captions=captions,
        texts=texts,
        table_after=figures[-2].name,
        budget={"2-D functions": len(SETTINGS), "optimizers": len(OPTIMIZERS)},
        takeaways=[_takeaway(final_distance)],
        book_figures=[
            {
                "book": "Fig. 6-3, 6-5, 6-6, 6-7, 6-8 (§6.1; paths on x²/20 + y², "
                "the book's rates from its text)",
                "figure": figures[0].name,
                "note": "same rates and start; Nesterov, RMSProp and f − f* added",
            }
        ],
        gap=gaps,
        final_distance=final_distance,
        final_point=final_point,
        lr=lrs,
        book_paths=book_paths,
        one_d={n: {**r, "final": float(r["x"][-1])} for n, r in one_d.items()},
        one_d_lr=ONE_D_LR,
        momentum=MU,
    )
