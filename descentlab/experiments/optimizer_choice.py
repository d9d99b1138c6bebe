"""Experiment: which optimizer should I use? A fair comparison, measured.

Runs :mod:`descentlab.compare` (equal tuning budgets from one Halton
sequence, shared coordinates, seed reruns, performance profile) and turns its
results into advice with the numbers of this run. Every sentence, legend and
caption is formatted from the comparison's results and manifest; the text
also says which conclusions the budget cannot support (the noise floor of the
test set, the number of trials and of seeds).

Quick size: five optimizers on two small MLP workloads of the shipped sample
(one with batch norm and a cosine schedule), 4 trials and 2 seeds each, so it
fits the quick report's budget. Full size: seven optimizers on the same two
workloads with 8 trials and 3 seeds (about a minute on 2 cores). The larger
comparison with SimpleConvNet is ``descentlab compare`` with its defaults.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ..compare import Workload, make_plan, run_plan
from ..compare.plots import optimizer_label, params_text
from ._common import check_size, make_result, prepare_out, status

NAME = "optimizer_choice"
TITLE = "Which optimizer? A fair comparison with equal tuning budgets"
FORMULA = (
    "tuning: trial k of every optimizer at Halton point k (shared axes: lr, β1 = μ, "
    "β2 = α)\n"
    "lr = lo·(hi/lo)^u;   β = 1 − (1 − lo)·((1 − hi)/(1 − lo))^u\n"
    "best = argmax_k final validation accuracy; rerun on fresh seeds\n"
    "r[o, w] = steps to target[o, w] / min_o' steps to target[o', w]   (inf if never, "
    "or if > 4)\n"
    "ρ_o(τ) = |{w : r[o, w] ≤ τ}| / |W|,   1 ≤ τ ≤ 4\n"
    "noise floor of a test accuracy p on n digits: SE = √(p(1 − p)/n)"
)
EXPLANATION = (
    "Every optimizer is tuned with the same number of quasi-random trials and its "
    "best setting is rerun on fresh seeds; the text below the figures is written "
    "from this run's numbers."
)

_QUICK_OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
_FULL_OPTIMIZERS = (
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
)


def _quick_workloads() -> list[Workload]:
    common = dict(
        model="mlp",
        hidden=(100,),
        steps=120,
        batch_size=64,
        eval_every=20,
        n_train=2000,
        n_val=500,
        n_test=1000,
    )
    return [
        Workload(
            name="mlp-small", target=0.91, description="ReLU MLP, constant lr", **common
        ),
        Workload(
            name="mlp-small-bn-cosine",
            batchnorm=True,
            schedule="cosine",
            target=0.93,
            description="MLP with batch norm, cosine lr decay",
            **common,
        ),
    ]


SETTINGS = {
    "quick": {"trials": 4, "seeds": 2, "workers": 2},
    "full": {"trials": 8, "seeds": 3, "workers": 2},
}


def _noise(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else math.nan


def _profile_area(prof: dict[str, Any]) -> dict[str, float]:
    """Mean of rho over the tau grid (trapezoid rule), per optimizer."""
    taus = prof["taus"]
    span = taus[-1] - taus[0]
    return {
        o: sum(
            (r0 + r1) / 2 * (t1 - t0)
            for r0, r1, t0, t1 in zip(
                rho[:-1], rho[1:], taus[:-1], taus[1:], strict=True
            )
        )
        / span
        for o, rho in prof["rho"].items()
    }


def _steps(v: float) -> str:
    return "never" if math.isinf(v) else f"{v:.0f}"


def _advice(plan: Any, results: dict[str, Any]) -> tuple[str, list[str]]:
    """The explanation paragraph and the list of caveats, from the results."""
    cells = {(c["workload"], c["optimizer"]): c for c in results["cells"]}
    prof = results["profile"]
    rho = prof["rho"]
    taus = prof["taus"]
    at = {t: taus.index(t) for t in (1.0, 4.0)}
    n_w = len(plan.workloads)
    area = _profile_area(prof)
    order = sorted(plan.optimizers, key=lambda o: -area[o])
    robust = [o for o in plan.optimizers if rho[o][at[4.0]] == 1.0]
    close = [o for o in order[1:] if area[order[0]] - area[o] <= 0.05]
    parts = [
        f"Each of {len(plan.optimizers)} optimizers had exactly {plan.trials} tuning "
        f"trials per workload at the same quasi-random points, and its best setting "
        f"was rerun on seeds {', '.join(map(str, plan.rerun_seeds))}.",
        "Ordered by the area under the performance profile (the mean of ρ(τ) over "
        "1 ≤ τ ≤ 4: higher means it reaches the targets sooner across the "
        f"{n_w} workloads): "
        + ", ".join(f"{optimizer_label(o)} {area[o]:.2f}" for o in order)
        + ".",
        f"Advice from this run: start with {optimizer_label(order[0])}"
        + (
            f" ({', '.join(optimizer_label(o) for o in close)} within 0.05 of it)"
            if close
            else ""
        )
        + "; "
        + (
            f"within 4x of the fastest on every workload: "
            f"{', '.join(optimizer_label(o) for o in robust)}."
            if robust
            else "no optimizer reached every target within 4x of the fastest."
        ),
    ]
    caveats = []
    for w in plan.workloads:
        row = [cells[w.name, o] for o in plan.optimizers]
        best = max(row, key=lambda c: c["test_acc"]["median"])
        p = best["test_acc"]["median"]
        se = _noise(p, w.n_test)
        tied = [
            c
            for c in row
            if best["test_acc"]["median"] - c["test_acc"]["median"] <= 2 * se
        ]
        quickest = min(row, key=lambda c: c["steps_to_target"]["median"])
        parts.append(
            f"On {w.name} ({w.summary()}), the best median test accuracy is "
            f"{optimizer_label(best['optimizer'])}'s {p:.3f} "
            f"({params_text(best['best_params'])}); "
            f"{len(tied)} of {len(row)} optimizers are within two standard errors "
            f"(2 × {se:.3f}) of it "
            f"({', '.join(optimizer_label(c['optimizer']) for c in tied)}), so the "
            "test set cannot rank them; the first to reach the target was "
            f"{optimizer_label(quickest['optimizer'])} after "
            f"{_steps(quickest['steps_to_target']['median'])} steps (median)."
        )
        edge = [optimizer_label(c["optimizer"]) for c in row if c["lr_at_edge"]]
        if edge:
            caveats.append(
                f"{w.name}: the best lr of {', '.join(edge)} is the smallest or "
                f"largest of its {plan.trials} trials, so a wider or denser search "
                "may find a better one."
            )
    n_test = plan.workloads[0].n_test
    caveats += [
        f"Noise floor: on {n_test:,} test digits, one binomial standard error is "
        f"{_noise(0.9, n_test):.3f} at 90% accuracy; differences below about twice "
        "that are not evidence.",
        f"{plan.trials} trials per optimizer sample a space of up to "
        f"{max(len(d) for d in plan.spaces.values())} dimensions thinly (SGD has 1, "
        "Adam 3): the adaptive methods are the more likely to be under-tuned.",
        f"{plan.seeds} seeds give a range, not a confidence interval; the ranges "
        "shown can widen with more seeds.",
        f"Steps to target are measured every {plan.workloads[0].eval_every} steps, so "
        "smaller differences do not show.",
        f"These are small networks on a few thousand digits with {n_w} workloads: "
        "they do not say which optimizer wins on large convnets or transformers.",
    ]
    return " ".join(parts), caveats


def _captions(plan: Any, results: dict[str, Any], figs: list[str]) -> dict[str, str]:
    prof = results["profile"]
    solved = {
        o: sum(math.isfinite(r) for r in prof["ratios"][o].values())
        for o in plan.optimizers
    }
    text = {
        "performance_profile.png": (
            f"Share of the {len(plan.workloads)} workloads on which each optimizer "
            f"reaches the target within τ times the fastest one's steps; at τ = 4: "
            + ", ".join(f"{optimizer_label(o)} {solved[o]}" for o in plan.optimizers)
            + "."
        ),
        "learning_curves.png": (
            f"Validation accuracy at each optimizer's best of {plan.trials} trials: "
            f"median and range over seeds {', '.join(map(str, plan.rerun_seeds))}; "
            "the dashed line is the target."
        ),
        "lr_sensitivity.png": (
            f"Final validation accuracy of every tuning trial against its learning "
            f"rate ({plan.trials} per optimizer, the selected one ringed): a flat "
            "curve forgives a badly chosen lr, a sharp peak does not."
        ),
    }
    return {f: text[Path(f).name] for f in figs}


def run(
    size: str = "quick", seed: int = 0, out: str | Path | None = None
) -> dict[str, Any]:
    """Run the comparison at ``size`` into ``out/comparison`` and write the advice.

    Result keys beyond the contract: ``settings`` (trials, seeds, optimizers,
    workloads), ``advice`` (the generated paragraph), ``caveats`` (what the
    budget cannot support), ``comparison`` (the compare results dict).
    """
    check_size(size)
    t0 = time.perf_counter()
    out = prepare_out(out, NAME)
    cfg = SETTINGS[size]
    optimizers = _QUICK_OPTIMIZERS if size == "quick" else _FULL_OPTIMIZERS
    workloads = _quick_workloads()
    plan = make_plan(
        optimizers, workloads, trials=cfg["trials"], seeds=cfg["seeds"], seed=seed
    )

    def progress(event: dict[str, Any]) -> None:
        r = event["record"]
        status(
            f"run {event['done']}/{event['total']}: {r['phase']} "
            f"{optimizer_label(r['optimizer'])} on {r['workload']}"
        )

    results = run_plan(
        plan,
        out / "comparison",
        workers=cfg["workers"],
        overwrite=True,
        resume=False,
        progress=progress,
    )
    figs = [f"comparison/{f}" for f in results["figures"]]
    advice, caveats = _advice(plan, results)
    explanation = advice + " What this budget cannot support: " + " ".join(caveats)
    table = [
        {
            "workload": c["workload"],
            "optimizer": optimizer_label(c["optimizer"]),
            "best setting": params_text(c["best_params"]),
            "val acc (median)": c["val_acc"]["median"],
            "test acc (median)": c["test_acc"]["median"],
            "test acc range": f"{c['test_acc']['min']:.3f}-{c['test_acc']['max']:.3f}",
            "steps to target (median)": _steps(c["steps_to_target"]["median"]),
            "reached": f"{c['reached']}/{len(c['seeds'])}",
        }
        for c in results["cells"]
    ]
    return make_result(
        NAME,
        out,
        t0,
        figs,
        table,
        captions=_captions(plan, results, figs),
        explanation=explanation,
        advice=advice,
        caveats=caveats,
        size=size,
        seed=seed,
        settings={
            "trials": plan.trials,
            "seeds": plan.rerun_seeds,
            "optimizers": list(plan.optimizers),
            "workloads": [w.to_dict() for w in plan.workloads],
        },
        comparison=results,
    )
