"""Turn a comparison's run records into its results: tables, profile, files.

Per (workload, optimizer) cell, over the S seed reruns of the selected
setting: median, min and max of the final validation accuracy, the test
accuracy and the steps to target (inf where a seed never reached it), how
many seeds reached it, and, under ``timing``, the seconds to target. Across
workloads, the performance profile of the median steps to target.

``results.json`` is strict JSON: inf and NaN are written as null (a null
steps-to-target means "never reached"). ``results.csv`` writes them as
``inf``/``nan``. Everything under a ``timing`` key is wall-clock time, which
varies between runs; :func:`deterministic_view` drops it, and what remains is
reproduced bit for bit by a rerun from the manifest.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write_json, atomic_write_text
from .plan import Plan, select_best
from .profile import TAU_MAX, performance_profile, performance_ratios

__all__ = [
    "deterministic_view",
    "jsonable",
    "stats",
    "summarize",
    "write_results",
]

RESULTS_FORMAT = "descentlab-compare-results"


def stats(values: Sequence[float]) -> dict[str, Any]:
    """{"median", "min", "max", "values"} of a list (inf allowed; NaN ignored)."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return {
            "median": math.nan,
            "min": math.nan,
            "max": math.nan,
            "values": list(values),
        }
    return {
        "median": float(np.median(v)),
        "min": float(v.min()),
        "max": float(v.max()),
        "values": [float(x) for x in values],
    }


def _lr_at_edge(tuning: Sequence[Mapping[str, Any]], best: int) -> str | None:
    """``"low"``/``"high"``: the best lr is the smallest/largest tried (T >= 3)."""
    lrs = [t["params"]["lr"] for t in tuning]
    if len(lrs) < 3:
        return None
    if lrs[best] == min(lrs):
        return "low"
    if lrs[best] == max(lrs):
        return "high"
    return None


def _cell(plan: Plan, records: Mapping[str, Any], w: str, o: str) -> dict[str, Any]:
    tune = [records[f"tune/{w}/{o}/{k:03d}"] for k in range(plan.trials)]
    runs = [records[f"seed/{w}/{o}/{i:03d}"] for i in range(plan.seeds)]
    best = select_best(tune)
    return {
        "workload": w,
        "optimizer": o,
        "best_trial": best,
        "best_params": dict(tune[best]["params"]),
        "lr_at_edge": _lr_at_edge(tune, best),
        "tuning": [
            {
                "trial": k,
                "params": t["params"],
                "final_val_acc": t["final_val_acc"],
                "final_val_loss": t["final_val_loss"],
                "steps_to_target": t["steps_to_target"],
                "diverged": t["diverged"] is not None,
            }
            for k, t in enumerate(tune)
        ],
        "seeds": [r["seed"] for r in runs],
        "val_acc": stats([r["final_val_acc"] for r in runs]),
        "test_acc": stats([r["test_acc"] for r in runs]),
        "steps_to_target": stats([r["steps_to_target"] for r in runs]),
        "reached": sum(math.isfinite(r["steps_to_target"]) for r in runs),
        "diverged": sum(r["diverged"] is not None for r in runs),
        "curves": [
            {"seed": r["seed"], **{k: r["curve"][k] for k in ("step", "val_acc")}}
            for r in runs
        ],
        "timing": {
            "seconds_to_target": stats(
                [r["timing"]["seconds_to_target"] for r in runs]
            ),
            "run_seconds": math.fsum(
                r["timing"]["wall_seconds"] for r in [*tune, *runs]
            ),
        },
    }


def summarize(plan: Plan, records: Mapping[str, Any]) -> dict[str, Any]:
    """The results dict of a finished comparison (records by task key)."""
    cells = [_cell(plan, records, w, o) for w, o in plan.cells()]
    by = {(c["workload"], c["optimizer"]): c for c in cells}
    wnames = [w.name for w in plan.workloads]
    costs = np.array(
        [
            [by[w, o]["steps_to_target"]["median"] for w in wnames]
            for o in plan.optimizers
        ]
    )
    costs = np.where(np.isnan(costs), np.inf, costs)
    taus, rho = performance_profile(costs, np.linspace(1.0, TAU_MAX, 61))
    ratios = performance_ratios(costs)
    return {
        "format": RESULTS_FORMAT,
        "optimizers": list(plan.optimizers),
        "workloads": wnames,
        "trials": plan.trials,
        "seeds": plan.rerun_seeds,
        "cells": cells,
        "profile": {
            "cost": "median over seeds of the steps to reach the target",
            "tau_max": TAU_MAX,
            "taus": taus.tolist(),
            "rho": {o: rho[i].tolist() for i, o in enumerate(plan.optimizers)},
            "ratios": {
                o: dict(zip(wnames, ratios[i].tolist(), strict=True))
                for i, o in enumerate(plan.optimizers)
            },
        },
    }


def jsonable(obj: Any) -> Any:
    """Strict-JSON copy: inf/NaN -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def deterministic_view(results: Any) -> Any:
    """``results`` without any ``timing`` entry (what a rerun reproduces exactly)."""
    if isinstance(results, Mapping):
        return {k: deterministic_view(v) for k, v in results.items() if k != "timing"}
    if isinstance(results, list):
        return [deterministic_view(v) for v in results]
    return results


def _fmt_params(params: Mapping[str, float]) -> str:
    return "; ".join(f"{k}={v:.4g}" for k, v in params.items())


def csv_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for c in results["cells"]:
        row: dict[str, Any] = {
            "workload": c["workload"],
            "optimizer": c["optimizer"],
            "best_params": _fmt_params(c["best_params"]),
        }
        for key in ("val_acc", "test_acc", "steps_to_target"):
            for part in ("median", "min", "max"):
                row[f"{key}_{part}"] = c[key][part]
        row["reached"] = f"{c['reached']}/{len(c['seeds'])}"
        row["seconds_to_target_median"] = c["timing"]["seconds_to_target"]["median"]
        rows.append(row)
    return rows


def write_results(out: str | Path, results: Mapping[str, Any]) -> list[Path]:
    """Write ``results.json`` and ``results.csv`` into ``out``; return their paths."""
    out = Path(out)
    atomic_write_json(out / "results.json", jsonable(results))
    rows = csv_rows(results)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: repr(v) if isinstance(v, float) else v for k, v in row.items()}
        )
    atomic_write_text(out / "results.csv", buf.getvalue())
    return [out / "results.json", out / "results.csv"]


def same_numbers(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two results agree exactly outside ``timing`` and the list of
    figures drawn (compared as strict JSON)."""

    def text(r: Mapping[str, Any]) -> str:
        kept = {k: v for k, v in r.items() if k != "figures"}
        return json.dumps(jsonable(deterministic_view(kept)), sort_keys=True)

    return text(a) == text(b)
