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
from pathlib import Path
from typing import Any

from ..compare import Workload, make_plan, run_plan
from ..compare.plots import optimizer_label, params_text
from ._common import Run, experiment
from .api import binomial_se, status

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
    common: dict[str, Any] = dict(
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


def _steps(v: float) -> str:
    return "never" if math.isinf(v) else f"{v:.0f}"


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


def _labels(names: Any) -> str:
    return ", ".join(optimizer_label(o) for o in names)


def _workload_sentences(plan: Any, cells: dict) -> tuple[list[str], list[str]]:
    """Per workload: who has the best median test accuracy, who is tied with it
    within two standard errors, who reached the target first; and a warning for
    every best lr at the edge of its trials."""
    per_workload, edges = [], []
    for w in plan.workloads:
        row = [cells[w.name, o] for o in plan.optimizers]
        best = max(row, key=lambda c: c["test_acc"]["median"])
        p = best["test_acc"]["median"]
        se = binomial_se(p, w.n_test)
        tied = [c["optimizer"] for c in row if p - c["test_acc"]["median"] <= 2 * se]
        quickest = min(row, key=lambda c: c["steps_to_target"]["median"])
        per_workload.append(
            f"On {w.name} ({w.summary()}), the best median test accuracy is "
            f"{optimizer_label(best['optimizer'])}'s {p:.3f} "
            f"({params_text(best['best_params'])}); {len(tied)} of {len(row)} "
            f"optimizers are within two standard errors (2 × {se:.3f}) of it "
            f"({_labels(tied)}), so the test set cannot rank them; the first to "
            f"reach the target was {optimizer_label(quickest['optimizer'])} after "
            f"{_steps(quickest['steps_to_target']['median'])} steps (median)."
        )
        edge = [c["optimizer"] for c in row if c["lr_at_edge"]]
        if edge:
            edges.append(
                f"On {w.name} the best lr of {_labels(edge)} is the smallest or "
                f"largest of its {plan.trials} trials: a wider or denser search may "
                "find a better one."
            )
    return per_workload, edges


def _caveats(plan: Any) -> list[str]:
    """What this budget cannot support, with the plan's own numbers."""
    n_w = len(plan.workloads)
    n_test = plan.workloads[0].n_test
    return [
        f"Noise floor: on {n_test:,} test digits, one binomial standard error is "
        f"{binomial_se(0.9, n_test):.3f} at 90% accuracy; differences below about "
        "twice that are not evidence.",
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


def _advice(plan: Any, results: dict[str, Any]) -> dict[str, Any]:
    """Every sentence of the section, formatted from the results."""
    cells = {(c["workload"], c["optimizer"]): c for c in results["cells"]}
    prof = results["profile"]
    n_w = len(plan.workloads)
    area = _profile_area(prof)
    order = sorted(plan.optimizers, key=lambda o: -area[o])
    robust = [o for o in plan.optimizers if prof["rho"][o][-1] == 1.0]
    close = [o for o in order[1:] if area[order[0]] - area[o] <= 0.05]
    protocol = (
        f"Each of {len(plan.optimizers)} optimizers had exactly {plan.trials} tuning "
        f"trials per workload at the same quasi-random points, and its best setting "
        f"was rerun on seeds {', '.join(map(str, plan.rerun_seeds))}."
    )
    advice = (
        f"Advice from this run: start with {optimizer_label(order[0])}"
        + (f" ({_labels(close)} within 0.05 of it)" if close else "")
        + "; "
        + (
            f"within 4x of the fastest on every workload: {_labels(robust)}."
            if robust
            else "no optimizer reached every target within 4x of the fastest."
        )
    )
    profile_text = (
        "Ordered by the area under the performance profile (the mean of ρ(τ) over "
        "1 ≤ τ ≤ 4: higher means it reaches the targets sooner across the "
        f"{n_w} workloads): "
        + ", ".join(f"{optimizer_label(o)} {area[o]:.2f}" for o in order)
        + "."
    )
    per_workload, edges = _workload_sentences(plan, cells)
    caveats = _caveats(plan)
    return {
        "protocol": protocol,
        "advice": advice,
        "profile": profile_text,
        "workloads": per_workload,
        "edges": edges,
        "caveats": edges + caveats,
    }


def _captions(plan: Any, results: dict[str, Any]) -> dict[str, str]:
    prof = results["profile"]
    solved = {
        o: sum(math.isfinite(r) for r in prof["ratios"][o].values())
        for o in plan.optimizers
    }
    return {
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


def _table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (workload, optimizer) cell of the comparison."""
    return [
        {
            "workload": c["workload"],
            "optimizer": optimizer_label(c["optimizer"]),
            "best setting": params_text(c["best_params"]),
            "val acc (median)": c["val_acc"]["median"],
            "test acc (median)": c["test_acc"]["median"],
            "test acc (min–max)": f"{c['test_acc']['min']:.3f}–"
            f"{c['test_acc']['max']:.3f}",
            "steps to target (median)": _steps(c["steps_to_target"]["median"]),
            "reached": f"{c['reached']}/{len(c['seeds'])}",
        }
        for c in results["cells"]
    ]


@experiment(NAME)
def run(r: Run) -> dict[str, Any]:
    """Run the comparison at ``size`` into ``out/comparison`` and write the advice.

    Result keys beyond the contract: ``settings`` (trials, seeds, optimizers,
    workloads), ``advice`` (the advice sentence), ``caveats`` (what the budget
    cannot support), ``comparison`` (the compare results dict).
    """
    cfg = r.pick(SETTINGS)
    optimizers = _QUICK_OPTIMIZERS if r.quick else _FULL_OPTIMIZERS
    workloads = _quick_workloads()
    plan = make_plan(
        optimizers, workloads, trials=cfg["trials"], seeds=cfg["seeds"], seed=r.seed
    )

    def progress(event: dict[str, Any]) -> None:
        rec = event["record"]
        status(
            f"run {event['done']}/{event['total']}: {rec['phase']} "
            f"{optimizer_label(rec['optimizer'])} on {rec['workload']}"
        )

    results = run_plan(
        plan,
        r.out / "comparison",
        workers=cfg["workers"],
        overwrite=True,
        resume=False,
        progress=progress,
    )
    figs = {Path(f).stem: f"comparison/{f}" for f in results["figures"]}
    text = _advice(plan, results)
    captions = {figs[Path(k).stem]: v for k, v in _captions(plan, results).items()}
    table = _table(results)
    w0 = workloads[0]
    return r.result(
        list(figs.values()),
        table,
        captions=captions,
        explanation=f"{text['protocol']} {text['advice']}",
        texts={
            figs["performance_profile"]: text["profile"],
            figs["learning_curves"]: " ".join(text["workloads"]),
            figs["lr_sensitivity"]: "What this budget cannot support: "
            + " ".join(text["caveats"]),
        },
        table_after=figs["learning_curves"],
        budget={
            "optimizers": len(plan.optimizers),
            "workloads": len(plan.workloads),
            "tuning trials per optimizer": plan.trials,
            "seeds": plan.seeds,
            "steps per run": w0.steps,
            "training digits": w0.n_train,
        },
        takeaways=[text["advice"]],
        advice=text["advice"],
        caveats=text["caveats"],
        settings={
            "trials": plan.trials,
            "seeds": plan.rerun_seeds,
            "optimizers": list(plan.optimizers),
            "workloads": [w.to_dict() for w in plan.workloads],
        },
        comparison=results,
    )
