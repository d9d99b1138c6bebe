"""Experiment 8: random search for lr and weight decay, then range-narrowing rounds.

The book's setting (Deep Learning from Scratch, §6.5): 500 digits of MNIST, 20 %
of them held out for validation, an MLP 784-100x6-10 (ReLU, He init) trained
with plain SGD, batch 100, 50 epochs per trial; 100 trials with
lr = 10^U(-6, -2) and weight decay = 10^U(-8, -4); then narrow the ranges to
where the best trials lie and search again.

Everything is the library's: ``mnist_sample_objective`` builds and trains the
MLP of each trial (and reports its validation accuracy after every epoch),
``run_rounds`` samples the rounds and narrows the ranges between them with
``descentlab.search.narrow`` (documented rule: the next range spans the best
``keep`` share of the previous round in log10 scale; a side whose best trials
lie within 5 % of the range's width of its edge is widened by half the width
instead of shrunk). This module only chooses the sizes and draws the figures.

Sizes: "quick" runs 3 rounds of 16, 10, 10 trials of 30 epochs (keep 20 %);
"full" runs the book's 100 trials of 50 epochs, then 2 rounds of 50.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..search import LogUniform, mnist_sample_objective, run_rounds
from ..search.space import EDGE_TOLERANCE, WIDEN_FRACTION
from ._common import (
    SERIES_COLORS,
    Run,
    experiment,
    plot_style,
    save_figure,
    status,
)
from .api import binomial_se, fmt, pct

NAME = "hyperparameter_search"
TITLE = "Hyperparameter search: random search with range narrowing"
FORMULA = (
    "lr = 10^u, u ~ U(−6, −2);   weight decay λ = 10^v, v ~ U(−8, −4)\n"
    "trial: MLP 784-100x6-10, SGD (g + λ·W on weight matrices), batch 100; "
    "objective = validation accuracy\n"
    "narrowing, per hyperparameter in log10 scale, current range [a, b], w = b − a:\n"
    "  keep the best 20 % of the round; [e_lo, e_hi] = their smallest and largest "
    "log10 value\n"
    "  new range = [e_lo, e_hi], but a side with e_lo − a ≤ 0.05·w "
    "(or b − e_hi ≤ 0.05·w)\n"
    "  is widened to a − 0.5·w (b + 0.5·w) instead; both sides touched: range kept"
)
EXPLANATION = (
    "Random search (Bergstra & Bengio, 2012) on the book's task: each trial trains "
    "the 6-layer MLP with plain SGD on 400 digits and scores it by its accuracy on "
    "the 100 held-out validation digits. In the first round lr and weight decay "
    "are drawn log-uniformly from the book's ranges; each later round samples only "
    "the range spanned by the best 20 % of the previous round, widened on a side "
    "where those best trials touch its edge. The winner is then scored once on "
    "1,000 test digits that no trial has seen."
)

N_SAMPLES = 500
N_TEST = 1000
VAL_FRACTION = 0.2
HIDDEN = (100, 100, 100, 100, 100, 100)
BATCH_SIZE = 100
SPACE = {"lr": LogUniform(1e-6, 1e-2), "weight_decay": LogUniform(1e-8, 1e-4)}
LABELS = {"lr": "learning rate", "weight_decay": "weight decay λ"}

CONFIG: dict[str, dict[str, Any]] = {
    "quick": {"epochs": 30, "trials": (16, 10, 10), "keep": 0.2, "best_k": 12},
    "full": {"epochs": 50, "trials": (100, 50, 50), "keep": 0.2, "best_k": 20},
}


def _log_range(dim: LogUniform) -> list[float]:
    return [math.log10(dim.lo), math.log10(dim.hi)]


def _change(old: list[float], new: list[float]) -> str:
    """How narrow() moved a range: 'kept', or per side 'widened'/'narrowed'."""
    if np.allclose(old, new, rtol=0, atol=1e-9):
        return "kept"
    lo = (
        "widened"
        if new[0] < old[0] - 1e-9
        else "narrowed"
        if new[0] > old[0] + 1e-9
        else "same"
    )
    hi = (
        "widened"
        if new[1] > old[1] + 1e-9
        else "narrowed"
        if new[1] < old[1] - 1e-9
        else "same"
    )
    return f"low {lo}, high {hi}"


@experiment(NAME)
def run(ctx: Run) -> dict[str, Any]:
    """Run the search rounds; write the figures, ``trials.csv/json`` and the JSON.

    Result keys beyond the contract: ``rounds`` (per round: ``trials``,
    ``complete``, ``failed``, ``median``, ``best``, ``best_params``,
    ``log10_range`` {name: [lo, hi]}, ``change`` {name: how narrow() moved it}),
    ``values`` (per round, the completed trials' validation accuracies),
    ``best_trials`` (the best ``best_k`` overall: number, round, params, value,
    curve), ``config`` and ``space``.
    """
    size, seed, out = ctx.size, ctx.seed, ctx.out
    cfg = CONFIG[size]
    objective, results = _search(cfg, seed, out)
    rounds, values, table = _summarise_rounds(results)
    winner = results.best(1)[0]
    held_out = held_out_test(objective, dict(winner.params), cfg["epochs"], seed)
    best_trials = [
        {
            "number": t.number,
            "round": t.round,
            "params": dict(t.params),
            "value": t.value,
            "curve": [v for _, v in t.intermediate],
        }
        for t in results.best(cfg["best_k"])
    ]
    figures = [
        _plot_scatter(results, rounds, out, size),
        _plot_best(best_trials, out, cfg),
        _plot_ranges(rounds, values, results, out),
    ]
    n_val = round(VAL_FRACTION * N_SAMPLES)
    texts = _texts(rounds, winner, held_out)
    return ctx.result(
        figures,
        table,
        captions=_captions(figures, cfg, len(best_trials), n_val),
        texts={figures[0].name: texts["search"], figures[2].name: texts["ranges"]},
        table_after=figures[2].name,
        budget={
            "training digits": N_SAMPLES - n_val,
            "validation digits": n_val,
            "test digits": held_out["n_test"],
            "trials": sum(cfg["trials"]),
            "epochs per trial": cfg["epochs"],
        },
        takeaways=[texts["takeaway"]],
        book_figures=[
            {
                "book": "Fig. 6-24, §6.5.3 (random search results; the book's code)",
                "figure": figures[1].name,
                "note": "range narrowing rounds added; winner scored on test digits",
            }
        ],
        held_out=held_out,
        rounds=rounds,
        values=values,
        best_trials=best_trials,
        config={
            **cfg,
            "trials": list(cfg["trials"]),
            "n_samples": N_SAMPLES,
            "val_fraction": VAL_FRACTION,
            "hidden": list(HIDDEN),
            "batch_size": BATCH_SIZE,
            "edge_tolerance": EDGE_TOLERANCE,
            "widen_fraction": WIDEN_FRACTION,
        },
        space={n: _log_range(d) for n, d in SPACE.items()},
    )


def _search(cfg: dict, seed: int, out) -> tuple[Any, Any]:
    """(objective, results) of the narrowing rounds over SPACE."""
    objective = mnist_sample_objective(
        N_SAMPLES,
        VAL_FRACTION,
        epochs=cfg["epochs"],
        seed=seed,
        hidden=HIDDEN,
        batch_size=BATCH_SIZE,
        optimizer="sgd",
    )
    results = run_rounds(
        SPACE,
        objective,
        rounds=len(cfg["trials"]),
        trials_per_round=list(cfg["trials"]),
        keep=cfg["keep"],
        seed=seed,
        out=out,
        metric="val_acc",
        on_trial=lambda t: status(
            f"round {t.round + 1}/{len(cfg['trials'])}, "
            f"trial {t.number + 1}/{sum(cfg['trials'])}"
        ),
    )
    return objective, results


def _summarise_rounds(results) -> tuple[list[dict], list[list[float]], list[dict]]:
    """(rounds, values, table): per round its counts, median, best, sampled log10
    ranges and how narrow() moved them; the completed values; the table rows."""
    rounds: list[dict[str, Any]] = []
    values: list[list[float]] = []
    table: list[dict[str, Any]] = []
    for r, space in enumerate(results.spaces):
        trials = [t for t in results.trials if t.round == r]
        done = results.completed(r)
        vals = [float(t.value) for t in done if t.value is not None]
        best = results.best(1, round=r)[0] if done else None
        ranges = {n: _log_range(d) for n, d in space.items()}
        change = (
            {n: "initial" for n in space}
            if r == 0
            else {n: _change(rounds[-1]["log10_range"][n], ranges[n]) for n in space}
        )
        info: dict[str, Any] = {
            "round": r,
            "trials": len(trials),
            "complete": len(done),
            "failed": sum(t.status == "failed" for t in trials),
            "median": float(np.median(vals)) if vals else None,
            "best": best.value if best else None,
            "best_params": dict(best.params) if best else {},
            "log10_range": ranges,
            "change": change,
        }
        rounds.append(info)
        values.append(vals)
        table.append(_round_row(info, space))
    return rounds, values, table


def _round_row(info: dict, space) -> dict[str, Any]:
    """One round's row of the summary table."""
    return {
        "round": info["round"],
        "trials (failed)": f"{info['trials']} ({info['failed']})",
        "lr range": [space["lr"].lo, space["lr"].hi],
        "weight decay range": [space["weight_decay"].lo, space["weight_decay"].hi],
        "median val acc": info["median"],
        "best val acc": info["best"],
        "best lr": info["best_params"].get("lr"),
        "best weight decay": info["best_params"].get("weight_decay"),
    }


def _captions(figures, cfg: dict, n_best: int, n_val: int) -> dict[str, str]:
    """One caption per figure, with this run's sizes."""
    return {
        figures[0].name: (
            f"Validation accuracy of every trial vs learning rate (left) and weight "
            f"decay (middle), and lr vs weight decay coloured by accuracy (right); one "
            f"row per round, shaded band = the range that round sampled (log axes). "
            f"{N_SAMPLES - n_val} training / {n_val} validation digits, "
            f"{cfg['epochs']} epochs per trial."
        ),
        figures[1].name: (
            f"Per-epoch validation accuracy of the {n_best} best trials of "
            "the whole search (the book's 'best 20'), best first; the colour gives "
            "the round the trial ran in."
        ),
        figures[2].name: (
            "The log10 range each round sampled for lr and weight decay (bars; dots = "
            "that round's trials, star = its best), and the validation accuracy of "
            "every trial per round (median marked)."
        ),
    }


def held_out_test(objective, params: dict, epochs: int, seed: int) -> dict:
    """Retrain the winning ``params`` exactly as its trial did and score it once on
    1,000 sample digits outside the search's training and validation digits."""
    from ..data import load_mnist_sample
    from ..search import mlp_objective

    x, y = load_mnist_sample(flatten=True)
    seen = np.concatenate([objective.x_train, objective.x_val])
    used = {row.tobytes() for row in seen}
    free = np.array([i for i in range(len(x)) if x[i].tobytes() not in used])
    pick = np.random.default_rng(seed).permutation(free)[:N_TEST]
    score = mlp_objective(
        objective.x_train,
        objective.y_train,
        x[pick],
        y[pick],
        epochs=epochs,
        seed=seed,
        hidden=HIDDEN,
        batch_size=BATCH_SIZE,
        optimizer="sgd",
    )
    status("scoring the winner on the held-out test digits")
    acc = float(score(params))
    return {
        "params": params,
        "test_acc": acc,
        "n_test": int(len(pick)),
        "noise": binomial_se(acc, len(pick)),
        "overlap": int(sum(x[i].tobytes() in used for i in pick)),
    }


def _texts(rounds: list[dict], winner: Any, held_out: dict) -> dict[str, str]:
    widths = {
        n: [r["log10_range"][n][1] - r["log10_range"][n][0] for r in rounds]
        for n in ("lr", "weight_decay")
    }
    med = [r["median"] for r in rounds]
    lr_best = [r["best_params"].get("lr") for r in rounds]
    failed = sum(r["failed"] for r in rounds)

    def decades(ws: list[float]) -> str:
        return " → ".join(f"{w:.1f}" for w in ws)

    search = (
        "One row per round (colour = validation accuracy, shaded = the range that "
        "round sampled, red crosses = failed, i.e. diverged, trials): the learning "
        "rate decides almost everything; weight decay in the book's range hardly "
        "changes the result. The best trial of each round used lr "
        + ", ".join(fmt(v, 2) for v in lr_best)
        + f"; {failed} trial(s) diverged in all. The median validation accuracy per "
        "round was " + ", ".join(pct(m) for m in med) + "."
    )
    ranges = (
        f"The sampled width, in decades, of the lr range went {decades(widths['lr'])}"
        f" and of the weight-decay range {decades(widths['weight_decay'])} over the "
        "rounds: a range narrows around the best trials, and a side is widened "
        "when they touch its edge. With a handful of trials per round the best 20 % "
        "are few, so a range can collapse to the span of one or two trials; more "
        "trials per round (full size) narrow more gently. The winner (trial "
        f"{winner.number}, lr {fmt(winner.params['lr'], 3)}, weight decay "
        f"{fmt(winner.params['weight_decay'], 2)}) reached {pct(winner.value)} on "
        f"the validation digits it was chosen on and {pct(held_out['test_acc'])} "
        f"(±{pct(held_out['noise'])}) on {held_out['n_test']:,} test digits no trial "
        "saw; the gap is the optimism of picking the best of many noisy scores."
    )
    takeaway = (
        f"Hyperparameter search: the best of {sum(r['trials'] for r in rounds)} "
        f"trials scores {pct(winner.value)} on its validation digits and "
        f"{pct(held_out['test_acc'])} on held-out test digits."
    )
    return {"search": search, "ranges": ranges, "takeaway": takeaway}


# ------------------------------------------------------------------ figures


def _round_color(r: int) -> str:
    return SERIES_COLORS[r % len(SERIES_COLORS)]


def _plot_scatter(results: Any, rounds: list[dict], out: Path, size: str) -> Path:
    from matplotlib.colors import Normalize

    limits = _log_limits(rounds, ("lr", "weight_decay"))
    norm = Normalize(vmin=0.0, vmax=1.0)
    with plot_style() as plt:
        fig, axes = plt.subplots(
            len(rounds), 3, figsize=(12.5, 3.0 * len(rounds)), squeeze=False
        )
        mappable = None
        for i, info in enumerate(rounds):
            r = info["round"]
            done = results.completed(r)
            failed = [
                t for t in results.trials if t.round == r and t.status != "complete"
            ]
            for j, n in enumerate(("lr", "weight_decay")):
                mappable = _accuracy_panel(
                    axes[i][j], info, n, done, failed, limits[n], norm
                )
                if i == 0 and j == 0:
                    axes[i][j].legend(loc="upper left", fontsize=8)
            _joint_panel(plt, axes[i][2], info, done, failed, limits, norm)
        fig.colorbar(mappable, ax=axes[:, -1].tolist(), label="validation accuracy")
        fig.suptitle(
            f"Random search with range narrowing ({size}): validation "
            "accuracy per trial"
        )
        return save_figure(fig, out, "search_scatter")


def _log_limits(rounds: list[dict], names) -> dict[str, tuple[float, float]]:
    """Axis limits per hyperparameter: every round's sampled range, 3 % padding."""
    limits = {}
    for n in names:
        lo = min(r["log10_range"][n][0] for r in rounds)
        hi = max(r["log10_range"][n][1] for r in rounds)
        pad = 0.03 * (hi - lo)
        limits[n] = (10 ** (lo - pad), 10 ** (hi + pad))
    return limits


def _trial_dots(ax, xs: list, ys: list, values: list, norm, size: float):
    """Completed trials as dots coloured by validation accuracy (viridis)."""
    return ax.scatter(
        xs,
        ys,
        c=values,
        cmap="viridis",
        norm=norm,
        s=size,
        edgecolors="k",
        linewidths=0.3,
        zorder=3,
    )


def _failed_marks(ax, xs: list, ys: list, label: str | None = None) -> None:
    """Failed trials as red crosses (nothing when there are none)."""
    if xs:
        ax.scatter(xs, ys, marker="x", c="C3", s=26, zorder=3, label=label)


def _accuracy_panel(ax, info: dict, n: str, done, failed, limits, norm):
    """Validation accuracy vs hyperparameter ``n`` for one round; returns the
    scatter (for the colour bar)."""
    lo, hi = (10**v for v in info["log10_range"][n])
    ax.axvspan(lo, hi, color="0.85", zorder=0, label="range sampled")
    ys = [t.value for t in done]
    mappable = _trial_dots(ax, [t.params[n] for t in done], ys, ys, norm, 26)
    _failed_marks(ax, [t.params[n] for t in failed], [0.0] * len(failed), "failed")
    ax.set_xscale("log")
    ax.set_xlim(*limits)
    ax.set_ylim(0, 1)
    ax.set_xlabel(LABELS[n] + " (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"Round {info['round']}: accuracy vs {LABELS[n]}", fontsize=10)
    return mappable


def _joint_panel(plt, ax, info: dict, done, failed, limits, norm) -> None:
    """lr vs weight decay of one round's trials, coloured by accuracy."""
    lr = [10**v for v in info["log10_range"]["lr"]]
    wd = [10**v for v in info["log10_range"]["weight_decay"]]
    ax.add_patch(
        plt.Rectangle(
            (lr[0], wd[0]), lr[1] - lr[0], wd[1] - wd[0], color="0.85", zorder=0
        )
    )
    order = sorted(done, key=lambda t: t.value)  # best drawn on top
    _trial_dots(
        ax,
        [t.params["lr"] for t in order],
        [t.params["weight_decay"] for t in order],
        [t.value for t in order],
        norm,
        30,
    )
    _failed_marks(
        ax,
        [t.params["lr"] for t in failed],
        [t.params["weight_decay"] for t in failed],
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*limits["lr"])
    ax.set_ylim(*limits["weight_decay"])
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("weight decay λ (log scale)")
    n_failed = f" + {info['failed']} failed (×)" if info["failed"] else ""
    ax.set_title(
        f"Round {info['round']}: {info['complete']} trials{n_failed}, colour = val acc",
        fontsize=10,
    )


def _plot_best(best: list[dict], out: Path, cfg: dict) -> Path:
    k = len(best)
    ncols = 5 if k > 12 else 4
    nrows = max(1, math.ceil(k / ncols))
    with plot_style() as plt:
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(2.6 * ncols, 2.1 * nrows),
            squeeze=False,
            sharex=True,
            sharey=True,
        )
        seen = set()
        for idx, ax in enumerate(axes.flat):
            if idx >= k:
                ax.axis("off")
                continue
            t = best[idx]
            epochs = np.arange(1, len(t["curve"]) + 1)
            label = None if t["round"] in seen else f"round {t['round']}"
            seen.add(t["round"])
            ax.plot(epochs, t["curve"], color=_round_color(t["round"]), label=label)
            ax.set_ylim(0, 1)
            ax.set_title(f"Best-{idx + 1}: {t['value']:.2f}", fontsize=9)
            ax.text(
                0.97,
                0.05,
                f"lr {t['params']['lr']:.1e}\nλ {t['params']['weight_decay']:.1e}",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=7.5,
            )
            if idx % ncols == 0:
                ax.set_ylabel("val accuracy")
            if idx >= k - ncols:
                ax.set_xlabel("epoch")
                ax.tick_params(labelbottom=True)
        pairs = [
            (h, lab)
            for ax in axes.flat
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=False)
        ]
        pairs.sort(key=lambda p: p[1])
        fig.legend(
            [h for h, _ in pairs],
            [lab for _, lab in pairs],
            loc="outside lower center",
            ncols=max(1, len(pairs)),
            fontsize=8,
        )
        fig.suptitle(
            f"Validation accuracy per epoch of the {k} best trials "
            f"({cfg['epochs']} epochs each; colour = round)"
        )
        return save_figure(fig, out, "best_curves")


def _plot_ranges(
    rounds: list[dict], values: list[list[float]], results: Any, out: Path
) -> Path:
    rng = np.random.default_rng(0)  # jitter of the dots only, drawn in panel order
    with plot_style() as plt:
        fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.6))
        for ax, n in zip(axes[:2], ("lr", "weight_decay"), strict=False):
            _range_panel(ax, n, rounds, results, rng)
        _values_panel(axes[2], rounds, values, rng)
        return save_figure(fig, out, "ranges")


def _range_panel(ax, n: str, rounds: list[dict], results: Any, rng) -> None:
    """The log10 range of ``n`` each round sampled (bar), its trials (dots) and
    its best (star)."""
    for info in rounds:
        r = info["round"]
        lo, hi = info["log10_range"][n]
        ax.barh(r, hi - lo, left=lo, height=0.5, color=_round_color(r), alpha=0.3)
        ax.text(
            0.5 * (lo + hi),
            r - 0.29,
            f"[{lo:.2f}, {hi:.2f}]",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        done = results.completed(r)
        ax.scatter(
            [math.log10(t.params[n]) for t in done],
            r + rng.uniform(-0.12, 0.12, len(done)),
            s=10,
            color="k",
            alpha=0.6,
            zorder=3,
        )
        if info["best_params"]:
            ax.scatter(
                math.log10(info["best_params"][n]),
                r,
                marker="*",
                s=140,
                color="#F0E442",
                edgecolors="k",
                zorder=4,
                label="best of round" if r == 0 else None,
            )
    ax.legend(loc="lower left", fontsize=8)
    ax.set_yticks([i["round"] for i in rounds], [f"round {i['round']}" for i in rounds])
    ax.set_ylim(len(rounds) - 0.55, -0.8)
    ax.set_xlabel(f"log10 {LABELS[n]}")
    ax.set_title(f"Range sampled per round: {LABELS[n]}")
    ax.grid(axis="y", visible=False)


def _values_panel(ax, rounds: list[dict], values: list[list[float]], rng) -> None:
    """Every trial's validation accuracy per round, with the round's median."""
    for info, vals in zip(rounds, values, strict=False):
        r = info["round"]
        x = r + rng.uniform(-0.15, 0.15, len(vals))
        ax.scatter(x, vals, s=16, color=_round_color(r), alpha=0.8)
        if info["median"] is not None:
            ax.hlines(
                info["median"],
                r - 0.3,
                r + 0.3,
                color="k",
                lw=2,
                label="median" if r == 0 else None,
            )
    ax.set_xticks([i["round"] for i in rounds], [f"round {i['round']}" for i in rounds])
    ax.set_ylim(0, 1)
    ax.set_ylabel("validation accuracy")
    ax.set_title("Validation accuracy of each trial")
    ax.legend(loc="upper left")
