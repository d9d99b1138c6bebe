"""Reading a stored study: a SearchResults table, counts and the best trials."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._validation import check_scalar
from ..errors import DataError, InvalidParameterError
from .results import SearchResults, TrialRecord
from .space import space_from_dict
from .storage import (
    describe_storage,
    open_storage,
    optuna_module,
    quiet_optuna,
    storage_spec,
)

#: error of queued trials that a stopped search never started (counted as "not run")
NOT_RUN = "not run: the search stopped before this trial"

_STATUS = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
}


def trial_record(ft: Any) -> TrialRecord:
    """A finished or running Optuna ``FrozenTrial`` as a TrialRecord."""
    status = _STATUS.get(ft.state.name, "running")
    value = ft.value if ft.state.name in ("COMPLETE", "PRUNED") else None
    if value is not None and not math.isfinite(value):
        value = None
    seconds = ft.user_attrs.get("seconds")
    if seconds is None:
        seconds = ft.duration.total_seconds() if ft.duration is not None else 0.0
    params = dict(ft.params) or dict(ft.user_attrs.get("dl_config") or {})
    return TrialRecord(
        number=ft.number,
        round=0,
        params=params,
        value=value,
        status=status,
        seconds=float(seconds),
        error=str(ft.user_attrs.get("error", "")),
        intermediate=[
            [int(s), float(v)] for s, v in sorted(ft.intermediate_values.items())
        ],
    )


def study_results(
    study: Any, *, metric: str = "value", out: str | os.PathLike | None = None
) -> SearchResults:
    """All trials of an Optuna study (except queued ones) as a SearchResults table."""
    optuna = optuna_module()
    mode = "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"
    res = SearchResults(mode=mode, out=None, metric=metric)
    res.meta.update(kind="optuna", study_name=study.study_name)
    space = study.user_attrs.get("descentlab_space")
    if space:
        res.spaces = [space_from_dict(space)]
    res.trials = [
        trial_record(ft)
        for ft in study.get_trials(deepcopy=False)
        if ft.state.name != "WAITING"
    ]
    if out is not None:
        res.save(out)
    return res


def load_study(
    storage: str | os.PathLike, study_name: str, *, journal_lock: str = "auto"
) -> Any:
    """Open an existing study read/write; clear errors for a missing file or name."""
    optuna = optuna_module()
    owner = "study_summary"
    spec = storage_spec(storage, None)
    if spec[0] == "journal" and not Path(spec[1]).is_file():
        raise DataError(f"{owner}: journal file {spec[1]!r} does not exist.")
    opened = open_storage(spec[1], journal_lock=journal_lock)
    with quiet_optuna():
        names = optuna.get_all_study_names(storage=opened)
        if study_name not in names:
            raise InvalidParameterError(
                f"{owner}: no study {study_name!r} in {describe_storage(spec)}; it "
                f"holds {', '.join(repr(n) for n in names) or 'no study'}."
            )
        return optuna.load_study(study_name=study_name, storage=opened)


def study_summary(
    storage: str | os.PathLike, study_name: str, k: int = 10
) -> dict[str, Any]:
    """Counts by state and the ``k`` best completed trials of a stored study.

    Returns:
        ``{"study_name", "direction", "n_trials", "states": {"complete": n, ...},
        "best": [{"number", "value", "params", "seconds"}, ...]}`` (best first).
    """
    check_scalar(k, "k", numbers.Integral, min_val=1, owner="study_summary")
    study = load_study(storage, study_name)
    res = study_results(study)
    counts: dict[str, int] = {}
    for ft in study.get_trials(deepcopy=False):
        key = _STATUS.get(ft.state.name, ft.state.name.lower())
        if key == "failed" and ft.user_attrs.get("error") == NOT_RUN:
            key = "not run"
        counts[key] = counts.get(key, 0) + 1
    return {
        "study_name": study_name,
        "direction": study.direction.name.lower(),
        "n_trials": sum(counts.values()),
        "states": counts,
        "best": [
            {
                "number": t.number,
                "value": t.value,
                "params": t.params,
                "seconds": round(t.seconds, 3),
            }
            for t in res.best(k)
        ],
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """Plain-text table of :func:`study_summary`'s result (for the CLI)."""
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["states"].items()))
    head = (
        f"study {summary['study_name']!r} ({summary['direction']}): "
        f"{summary['n_trials']} trials ({states or 'none'})"
    )
    lines = [head]
    if not summary["best"]:
        lines.append("no completed trial yet")
        return "\n".join(lines)
    names = list(dict.fromkeys(n for row in summary["best"] for n in row["params"]))
    header = ["rank", "trial", "value", *names, "seconds"]
    rows = [
        [
            str(i + 1),
            str(r["number"]),
            f"{r['value']:.6g}",
            *[_fmt(r["params"].get(n, "")) for n in names],
            f"{r['seconds']:.2f}",
        ]
        for i, r in enumerate(summary["best"])
    ]
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
    for row in [header, *rows]:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
