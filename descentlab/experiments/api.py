"""Public helpers of the experiments package, for the report, the CLI and tests.

Everything an experiment's *reader* needs without importing the experiments'
private plumbing (``_common``): the sizes, the progress-status hooks, the JSON
conversion of results, and number formatting shared by prose and tables, so
that a number in an explanation reads exactly as it does in its table::

    from descentlab.experiments.api import fmt, pct, binomial_se

    f"{pct(0.9731)} test accuracy"          # "97.3 %"
    fmt(0.000123)                            # "1.23e-04"
    binomial_se(0.97, 1000)                  # sqrt(p(1-p)/n) = 0.0054
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_option, check_scalar

__all__ = [
    "FULL_RESULTS",
    "full_result",
    "SIZES",
    "binomial_se",
    "check_size",
    "fmt",
    "pct",
    "status",
    "status_to",
    "to_jsonable",
]

SIZES = ("quick", "full")


def check_size(size: str) -> str:
    """Return ``size`` if it is "quick" or "full"; else raise InvalidParameterError."""
    return check_option(size, "size", SIZES, owner="experiment")


# ------------------------------------------------------------------ status

_STATUS_LISTENERS: list[Callable[[str], Any]] = []


def status(text: str) -> None:
    """Say what a running experiment is doing now (e.g. "DeepConvNet: epoch 3/10").

    Shown on the live progress line of ``descentlab report``/``run`` in a terminal;
    a no-op when nobody listens (tests, scripts).
    """
    if _STATUS_LISTENERS:
        _STATUS_LISTENERS[-1](text)


@contextlib.contextmanager
def status_to(listener: Callable[[str], Any]) -> Iterator[None]:
    """Send :func:`status` texts to ``listener`` inside the ``with`` block."""
    _STATUS_LISTENERS.append(listener)
    try:
        yield
    finally:
        _STATUS_LISTENERS.remove(listener)


# ------------------------------------------------------------------ JSON


def to_jsonable(obj: Any) -> Any:
    """Convert results to JSON types: arrays to lists, NaN/inf to None, Paths to str."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(
        f"save_results: cannot store a {type(obj).__name__} in JSON; results may hold "
        "only numbers, strings, booleans, None, arrays, lists and dicts."
    )


# ------------------------------------------------------------------ numbers


def fmt(value: Any, digits: int = 4) -> str:
    """A number as a reader wants it: ``digits`` significant figures, scientific
    outside [1e-3, 1e5); None as "—", bools as yes/no, sequences as "(a, b)"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if v != v:
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "−inf"
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.{digits}g}"
        return f"{v:.{max(0, digits - 2)}e}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(fmt(v, digits) for v in value) + ")"
    return str(value)


def pct(fraction: float | None, digits: int = 1) -> str:
    """A fraction as a percentage with ``digits`` decimals: 0.9731 -> "97.3 %"."""
    if fraction is None or not math.isfinite(float(fraction)):
        return "—"
    return f"{100 * float(fraction):.{digits}f} %"


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` independent examples:
    sqrt(p·(1 − p)/n), the noise floor below which two accuracies are not told apart.
    """
    check_scalar(p, "p", numbers.Real, min_val=0.0, max_val=1.0, owner="binomial_se")
    check_scalar(n, "n", numbers.Integral, min_val=1, owner="binomial_se")
    return math.sqrt(float(p) * (1.0 - float(p)) / int(n))


# ------------------------------------------------------------------ full size

FULL_RESULTS = Path(__file__).with_name("full_results.json")


def full_result(name: str) -> dict[str, Any]:
    """Key numbers of experiment ``name`` from a stored full-size run (shipped in
    the package as ``full_results.json``), or {} when none is stored.

    Quick-size prose quotes these, labelled "at full size", for claims that the
    quick run cannot support; each entry says how it was produced
    (``"command"``, ``"seed"``, ``"descentlab"`` version).
    """
    import json

    try:
        stored = json.loads(FULL_RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entry = stored.get(name)
    return dict(entry) if isinstance(entry, dict) else {}
