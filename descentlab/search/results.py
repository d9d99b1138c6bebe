"""The table of search trials, saved atomically after every trial.

``SearchResults(out=dir)`` rewrites ``dir/trials.json`` (everything, loadable)
and ``dir/trials.csv`` (one row per trial, one column per parameter) each time a
trial is added, by writing a temporary file and renaming it into place. A crash
or Ctrl-C therefore loses at most the trial that was running.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._validation import check_option, check_scalar
from ..errors import DataError
from ..io import atomic_write_json, atomic_write_text
from .space import space_from_dict, space_to_dict

STATUSES = ("complete", "failed", "pruned", "running")
_FORMAT = "descentlab.search/1"


@dataclass
class TrialRecord:
    """One trial: its parameters, final metric and what happened.

    Attributes:
        number: 0, 1, 2, ... over the whole search (all rounds).
        round: round of a multi-round search (0 for a single round).
        params: name -> value drawn from the space.
        value: the objective's return value (None when it failed).
        status: ``"complete"``, ``"failed"``, ``"pruned"`` (or ``"running"``).
        seconds: wall time of the trial.
        error: the exception (``"ValueError: ..."``) or why the value was refused.
        intermediate: ``[[step, value], ...]`` reported during the trial.
    """

    number: int
    round: int = 0
    params: dict = field(default_factory=dict)
    value: float | None = None
    status: str = "complete"
    seconds: float = 0.0
    error: str = ""
    intermediate: list = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialRecord:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


class SearchResults:
    """Every trial of a search, best-first queries, and autosave to ``out``.

    Args:
        mode: ``"max"`` if a larger value is better, ``"min"`` otherwise.
        out: directory for ``trials.json`` and ``trials.csv`` (None: memory only).
        metric: name of the value in the CSV header and in plots (e.g. ``"val_acc"``).
    """

    def __init__(
        self,
        *,
        mode: str = "max",
        out: str | os.PathLike | None = None,
        metric: str = "value",
    ) -> None:
        self.mode = check_option(mode, "mode", ("max", "min"), owner="SearchResults")
        self.out = Path(out) if out is not None else None
        self.metric = str(metric)
        self.trials: list[TrialRecord] = []
        self.spaces: list[dict] = []  # space of each round
        self.meta: dict[str, Any] = {}

    # -------------------------------------------------------------- building
    def add(self, trial: TrialRecord) -> TrialRecord:
        """Append ``trial`` and save (when ``out`` is set)."""
        check_option(trial.status, "status", STATUSES, owner="SearchResults.add")
        self.trials.append(trial)
        self.save()
        return trial

    def add_space(self, space: Mapping[str, Any]) -> None:
        """Record the space of the next round (saved with the trials)."""
        self.spaces.append(dict(space))
        self.save()

    def next_number(self) -> int:
        return 1 + max((t.number for t in self.trials), default=-1)

    # ------------------------------------------------------------- querying
    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(self.trials)

    def completed(self, round: int | None = None) -> list[TrialRecord]:
        """Trials with status ``complete`` and a finite value (optionally one round)."""
        return [
            t
            for t in self.trials
            if t.status == "complete"
            and t.value is not None
            and math.isfinite(t.value)
            and (round is None or t.round == round)
        ]

    def best(self, k: int = 1, *, round: int | None = None) -> list[TrialRecord]:
        """The ``k`` best completed trials, best first (ties: lower number first)."""
        check_scalar(k, "k", numbers.Integral, min_val=1, owner="SearchResults.best")
        sign = -1.0 if self.mode == "max" else 1.0
        done = sorted(
            self.completed(round), key=lambda t: (sign * float(t.value or 0), t.number)
        )
        return done[:k]

    def rounds(self) -> list[int]:
        return sorted({t.round for t in self.trials})

    def param_names(self) -> list[str]:
        names: dict[str, None] = {}
        for space in self.spaces:
            names.update(dict.fromkeys(space))
        for t in self.trials:
            names.update(dict.fromkeys(t.params))
        return list(names)

    # ---------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "mode": self.mode,
            "metric": self.metric,
            "meta": self.meta,
            "spaces": [space_to_dict(s) for s in self.spaces],
            "trials": [t.to_dict() for t in self.trials],
        }

    def to_csv(self) -> str:
        """A row per trial: number, round, status, metric, seconds, params..., error."""
        names = self.param_names()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(
            ["number", "round", "status", self.metric, "seconds", *names, "error"]
        )
        for t in self.trials:
            writer.writerow(
                [
                    t.number,
                    t.round,
                    t.status,
                    "" if t.value is None else repr(float(t.value)),
                    f"{t.seconds:.4f}",
                    *[t.params.get(n, "") for n in names],
                    t.error,
                ]
            )
        return buf.getvalue()

    def save(self, out: str | os.PathLike | None = None) -> None:
        """Write ``trials.json`` and ``trials.csv`` atomically (to ``out``)."""
        target = Path(out) if out is not None else self.out
        if target is None:
            return
        atomic_write_json(target / "trials.json", _finite_json(self.to_dict()))
        atomic_write_text(target / "trials.csv", self.to_csv())

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, out: str | os.PathLike | None = None
    ) -> SearchResults:
        res = cls(mode=d.get("mode", "max"), out=out, metric=d.get("metric", "value"))
        res.meta = dict(d.get("meta") or {})
        res.spaces = [space_from_dict(s) for s in d.get("spaces", [])]
        res.trials = [TrialRecord.from_dict(t) for t in d.get("trials", [])]
        return res

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, out: str | os.PathLike | None = None
    ) -> SearchResults:
        """Read ``trials.json`` (give the file or its directory).

        Raises:
            DataError: the file is missing, truncated or not a descentlab results file.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "trials.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(
                f"SearchResults.load: {str(path)!r} does not exist."
            ) from None
        except (OSError, ValueError) as exc:
            raise DataError(
                f"SearchResults.load: cannot read {str(path)!r}: {exc}."
            ) from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise DataError(
                f"SearchResults.load: {str(path)!r} is not a descentlab search results "
                f"file (expected format {_FORMAT!r})."
            )
        return cls.from_dict(data, out=out)

    def extend(self, trials: Iterable[TrialRecord]) -> None:
        self.trials.extend(trials)
        self.save()


def _finite_json(obj: Any) -> Any:
    """Replace NaN/inf floats by their string names so the JSON stays standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_json(v) for v in obj]
    return obj
