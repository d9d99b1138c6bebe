"""Figures of a search: metric vs hyperparameters per round, best-k curves.

matplotlib is imported here only, with the Agg canvas (no display needed);
PNG files are written atomically.
"""

from __future__ import annotations

import io
import math
import numbers
import os
from pathlib import Path
from typing import Any

from .._text import short
from .._validation import check_scalar
from ..errors import InvalidParameterError
from ..io import atomic_write_bytes
from .results import SearchResults
from .space import Choice, LogUniform


def _figure(nrows: int, ncols: int, size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _is_log(results: SearchResults, name: str) -> bool:
    for space in results.spaces:
        if name in space:
            return isinstance(space[name], LogUniform)
    values = [
        t.params[name] for t in results.trials if isinstance(t.params.get(name), float)
    ]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 100


def _log_axis(ax: Any, which: str, values: list[float]) -> None:
    """Log scale; a range under one decade gets a few plainly labelled ticks."""
    from matplotlib.ticker import (
        FuncFormatter,
        MaxNLocator,
        NullFormatter,
        NullLocator,
    )

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    pos = [v for v in values if v > 0]
    if pos and max(pos) / min(pos) < 10:
        axis.set_major_locator(MaxNLocator(4))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        axis.set_minor_locator(NullLocator())
    elif pos:  # one to a few decades: unlabelled minor ticks (labels would overlap)
        axis.set_minor_formatter(NullFormatter())


def _numeric_params(results: SearchResults) -> list[str]:
    names = []
    for name in results.param_names():
        if any(isinstance(s.get(name), Choice) for s in results.spaces):
            continue
        vals = [t.params.get(name) for t in results.trials if name in t.params]
        if vals and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals
        ):
            names.append(name)
    return names


def plot_trials(
    results: SearchResults,
    path: str | os.PathLike,
    *,
    params: list[str] | None = None,
    title: str | None = None,
) -> Path:
    """Scatter of the metric against each hyperparameter, one row per round.

    Each row shows the metric vs every parameter in ``params`` (default: the
    numeric ones, at most three), and, with two or more, the first two against
    each other coloured by the metric (failed trials as grey crosses). Log
    dimensions get log axes.

    Returns:
        The path written (PNG unless ``path`` has another matplotlib suffix).
    """
    if not isinstance(results, SearchResults):
        raise InvalidParameterError(
            "plot_trials: 'results' must be a SearchResults. "
            f"Got {type(results).__name__}."
        )
    names = list(params) if params is not None else _numeric_params(results)[:3]
    if not names:
        raise InvalidParameterError(
            "plot_trials: the trials have no numeric parameter to plot."
        )
    rounds = results.rounds() or [0]
    ncols = len(names) + (1 if len(names) >= 2 else 0)
    fig, axes = _figure(len(rounds), ncols, (4.0 * ncols, 3.2 * len(rounds)))
    done = results.completed()
    values = [float(t.value) for t in done if t.value is not None]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    from matplotlib.colors import Normalize

    norm = Normalize(vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-12)
    mappable = None
    for i, r in enumerate(rounds):
        ok = [t for t in done if t.round == r]
        bad = [t for t in results.trials if t.round == r and t.status == "failed"]
        drawn = [
            _metric_panel(axes[i][j], results, name, r, ok, bad, norm)
            for j, name in enumerate(names)
        ]
        if len(names) >= 2:
            drawn.append(_pair_panel(axes[i][-1], results, names[:2], ok, bad, norm))
        for m in drawn:
            if m is not None:
                mappable = m
    if mappable is not None:
        fig.colorbar(mappable, ax=axes[:, -1].tolist(), label=results.metric)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _metric_panel(
    ax: Any,
    results: SearchResults,
    name: str,
    r: int,
    ok: list[Any],
    bad: list[Any],
    norm: Any,
) -> Any:
    """The metric against ``name`` for round ``r``; returns the scatter (or None)."""
    mappable = None
    pts: list[tuple[Any, ...]] = [
        (t.params[name], t.value) for t in ok if name in t.params
    ]
    if pts:
        xs, ys = zip(*pts, strict=True)
        mappable = ax.scatter(xs, ys, c=ys, cmap="viridis", norm=norm, s=18)
    if _is_log(results, name) and pts:
        _log_axis(ax, "x", list(xs))
    ax.set_xlabel(name)
    ax.set_ylabel(results.metric)
    ax.set_title(f"round {r}: {len(ok)} done, {len(bad)} failed", fontsize=9)
    ax.grid(alpha=0.3)
    return mappable


def _pair_panel(
    ax: Any,
    results: SearchResults,
    pair: list[str],
    ok: list[Any],
    bad: list[Any],
    norm: Any,
) -> Any:
    """The first two parameters against each other, coloured by the metric, with
    failed trials as grey crosses; returns the scatter (or None)."""
    mappable = None
    a, b = pair
    pts = [
        (t.params[a], t.params[b], t.value)
        for t in ok
        if a in t.params and b in t.params
    ]
    if pts:
        xs, ys, cs = zip(*pts, strict=True)
        mappable = ax.scatter(xs, ys, c=cs, cmap="viridis", norm=norm, s=22)
    fx = [(t.params[a], t.params[b]) for t in bad if a in t.params and b in t.params]
    if fx:
        ax.scatter(*zip(*fx, strict=True), marker="x", c="0.6", s=18, label="failed")
        ax.legend(fontsize=8, loc="best")
    every = [
        (t.params[a], t.params[b]) for t in ok + bad if a in t.params and b in t.params
    ]
    if _is_log(results, a) and every:
        _log_axis(ax, "x", [p[0] for p in every])
    if _is_log(results, b) and every:
        _log_axis(ax, "y", [p[1] for p in every])
    ax.set_xlabel(a)
    ax.set_ylabel(b)
    ax.grid(alpha=0.3)
    return mappable


def plot_best_curves(
    results: SearchResults,
    path: str | os.PathLike,
    *,
    k: int = 20,
    title: str | None = None,
) -> Path:
    """Intermediate values (e.g. val accuracy per epoch) of the ``k`` best trials.

    Left: one curve per trial, best in the darkest colour, the five best
    labelled with their parameters. Right: best value so far vs trial number,
    with the round boundaries marked.
    """
    check_scalar(k, "k", numbers.Integral, min_val=1, owner="plot_best_curves")
    fig, axes = _figure(1, 2, (11.0, 4.0))
    ax = axes[0][0]
    best = results.best(k)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for rank, t in enumerate(best):
        if not t.intermediate:
            continue
        steps, vals = zip(*t.intermediate, strict=True)
        label = None
        if rank < 5:
            desc = ", ".join(f"{n}={short(v, 2)}" for n, v in t.params.items())
            label = f"#{rank + 1} {t.value:.3g} ({desc})"
        ax.plot(
            steps,
            vals,
            color=cmap(rank / max(1, len(best) - 1) * 0.85),
            lw=1.2,
            label=label,
        )
    ax.set_xlabel("step (epoch)")
    ax.set_ylabel(results.metric)
    ax.set_title(f"best {len(best)} trials", fontsize=10)
    ax.grid(alpha=0.3)
    if best and any(t.intermediate for t in best):
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[0][1]
    sign = 1.0 if results.mode == "max" else -1.0
    xs, ys, cur = [], [], -math.inf
    for t in sorted(results.trials, key=lambda t: t.number):
        if t.status == "complete" and t.value is not None and math.isfinite(t.value):
            cur = max(cur, sign * t.value)
        if math.isfinite(cur):
            xs.append(t.number)
            ys.append(sign * cur)
    ax.step(xs, ys, where="post", color="C0")
    for r in results.rounds()[1:]:
        first = min(t.number for t in results.trials if t.round == r)
        ax.axvline(first - 0.5, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {results.metric} so far")
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
