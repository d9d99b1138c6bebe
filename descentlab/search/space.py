"""Search spaces: dimensions, sampling, parsing from the command line, narrowing.

A *space* is a plain ``dict`` mapping a hyperparameter name to a dimension::

    space = {"lr": LogUniform(1e-6, 1e-2), "weight_decay": LogUniform(1e-8, 1e-4),
             "activation": Choice(["relu", "tanh"])}
    params = sample_space(space, np.random.default_rng(0))

Dimensions:

- ``LogUniform(lo, hi)``: ``exp(U(log lo, log hi))``, ``0 < lo < hi`` (learning
  rates, weight decay: ``10^U(-6, -2)`` is ``LogUniform(1e-6, 1e-2)``).
- ``Uniform(lo, hi)``: ``U(lo, hi)``, ``lo < hi``.
- ``IntUniform(lo, hi)``: an integer in ``[lo, hi]``, both ends included.
- ``Choice(options)``: one of a non-empty list of JSON scalars.

``narrow(space, trials, keep)`` returns the space of the next round of a
random search with range narrowing (see its docstring for the exact rule).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_option, check_scalar
from ..errors import InvalidParameterError

#: Share of a range (in the dimension's own scale) within which the best
#: trials count as lying "at the edge".
EDGE_TOLERANCE = 0.05
#: A range whose best trials lie at one edge is extended past that edge by
#: this fraction of its width (in its own scale).
WIDEN_FRACTION = 0.5
#: A narrowed range is never narrower than this fraction of the current width.
MIN_WIDTH_FRACTION = 0.1


def _check_bounds(
    owner: str, lo: Any, hi: Any, kind: Any = numbers.Real, positive: bool = False
) -> None:
    check_scalar(lo, "lo", kind, owner=owner)
    check_scalar(hi, "hi", kind, owner=owner)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidParameterError(
            f"{owner}: 'lo' and 'hi' must be finite. Got lo={lo!r}, hi={hi!r}."
        )
    if positive and lo <= 0:
        raise InvalidParameterError(
            f"{owner}: 'lo' must be > 0 (a log scale needs positive bounds). "
            f"Got lo={lo!r}."
        )
    if not lo < hi:
        raise InvalidParameterError(
            f"{owner}: 'lo' must be less than 'hi'. Got lo={lo!r}, hi={hi!r}."
        )


def _check_limits(
    owner: str, lo: float, hi: float, limits: tuple[float | None, float | None]
) -> tuple:
    if not (isinstance(limits, (tuple, list)) and len(limits) == 2):
        raise InvalidParameterError(
            f"{owner}: 'limits' must be a pair (low, high) of floats or None. "
            f"Got {limits!r}."
        )
    a, b = limits
    if (a is not None and a > lo) or (b is not None and b < hi):
        raise InvalidParameterError(
            f"{owner}: 'limits' must contain the range [{lo}, {hi}]. "
            f"Got {tuple(limits)!r}."
        )
    return (a, b)


@dataclass(frozen=True)
class LogUniform:
    """``x = exp(u)``, ``u ~ U(log lo, log hi)``; requires ``0 < lo < hi``.

    Narrowing works on ``log10(x)``, so the narrowed range is again log-uniform.
    """

    lo: float
    hi: float
    kind = "log"

    def __post_init__(self) -> None:
        _check_bounds("LogUniform", self.lo, self.hi, positive=True)

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))

    def to_unit(self, x: float) -> float:
        return math.log10(x)

    def from_unit(self, u: float) -> float:
        return float(10.0**u)

    def spec(self) -> str:
        return f"log:{self.lo!r}:{self.hi!r}"


@dataclass(frozen=True)
class Uniform:
    """``x ~ U(lo, hi)``; requires ``lo < hi``.

    ``limits=(low, high)`` bounds how far :func:`narrow` may widen the range
    (``None`` = unbounded). Default: a range starting at ``lo >= 0`` never goes
    below 0 (dropout, momentum and counts stay non-negative).
    """

    lo: float
    hi: float
    limits: tuple | None = field(default=None, compare=False)
    kind = "uniform"

    def __post_init__(self) -> None:
        _check_bounds("Uniform", self.lo, self.hi)
        lim = (
            self.limits
            if self.limits is not None
            else (0.0 if self.lo >= 0 else None, None)
        )
        object.__setattr__(
            self, "limits", _check_limits("Uniform", self.lo, self.hi, lim)
        )

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lo, self.hi))

    def to_unit(self, x: float) -> float:
        return float(x)

    def from_unit(self, u: float) -> float:
        return float(u)

    def spec(self) -> str:
        return f"uniform:{self.lo!r}:{self.hi!r}"


@dataclass(frozen=True)
class IntUniform:
    """An integer uniform on ``{lo, lo+1, ..., hi}`` (both ends included); ``lo < hi``.

    ``limits`` as for :class:`Uniform` (default: ``lo >= 0`` keeps ``lo >= 0``).
    """

    lo: int
    hi: int
    limits: tuple | None = field(default=None, compare=False)
    kind = "int"

    def __post_init__(self) -> None:
        _check_bounds("IntUniform", self.lo, self.hi, numbers.Integral)
        object.__setattr__(self, "lo", int(self.lo))
        object.__setattr__(self, "hi", int(self.hi))
        lim = (
            self.limits
            if self.limits is not None
            else (0 if self.lo >= 0 else None, None)
        )
        object.__setattr__(
            self, "limits", _check_limits("IntUniform", self.lo, self.hi, lim)
        )

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.lo, self.hi + 1))

    def to_unit(self, x: float) -> float:
        return float(x)

    def from_unit(self, u: float) -> float:
        return float(u)

    def spec(self) -> str:
        return f"int:{self.lo}:{self.hi}"


@dataclass(frozen=True)
class Choice:
    """One of ``options`` (str, int, float, bool or None), drawn uniformly."""

    options: tuple
    kind = "choice"

    def __post_init__(self) -> None:
        opts = self.options
        if isinstance(opts, (str, bytes)) or not isinstance(opts, Iterable):
            raise InvalidParameterError(
                f"Choice: 'options' must be a list of values. Got {opts!r}."
            )
        opts = tuple(opts)
        if not opts:
            raise InvalidParameterError("Choice: 'options' must not be empty. Got [].")
        for o in opts:
            if not (o is None or isinstance(o, (str, bool, numbers.Real))):
                raise InvalidParameterError(
                    f"Choice: each option must be a str, int, float, bool or None. "
                    f"Got {o!r} of type {type(o).__name__}."
                )
        if len(set(map(repr, opts))) != len(opts):
            raise InvalidParameterError(
                f"Choice: options must be distinct. Got {list(opts)!r}."
            )
        object.__setattr__(self, "options", opts)

    def sample(self, rng: np.random.Generator) -> Any:
        value = self.options[int(rng.integers(len(self.options)))]
        return value.item() if isinstance(value, np.generic) else value

    def spec(self) -> str:
        return "choice:" + ",".join(str(o) for o in self.options)


Dimension = LogUniform | Uniform | IntUniform | Choice
Space = dict  # name -> Dimension
_NUMERIC = (LogUniform, Uniform, IntUniform)
_KINDS = {"log": LogUniform, "uniform": Uniform, "int": IntUniform, "choice": Choice}


def check_space(space: Any, *, owner: str = "search") -> dict[str, Dimension]:
    """Check that ``space`` is a non-empty mapping of str names to dimensions."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidParameterError(
            f"{owner}: 'space' must be a non-empty dict of name -> dimension "
            f"(LogUniform, Uniform, IntUniform, Choice). Got {space!r}."
        )
    for name, dim in space.items():
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(
                f"{owner}: space names must be non-empty strings. Got {name!r}."
            )
        if not isinstance(dim, (LogUniform, Uniform, IntUniform, Choice)):
            raise InvalidParameterError(
                f"{owner}: space[{name!r}] must be a LogUniform, Uniform, IntUniform "
                f"or Choice. Got {dim!r}."
            )
    return dict(space)


def sample_space(
    space: Mapping[str, Dimension], rng: np.random.Generator
) -> dict[str, Any]:
    """One draw of every dimension, in the space's order (plain Python values)."""
    return {name: dim.sample(rng) for name, dim in space.items()}


# ----------------------------------------------------------------- parsing


def _parse_number(text: str, what: str, spec: str, integer: bool = False) -> Any:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise InvalidParameterError(
            f"parse_dimension: {what} of {spec!r} must be {kind}. Got {text!r}."
        ) from None


def _parse_option(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_dimension(spec: str) -> Dimension:
    """Parse ``"log:1e-6:1e-2"``, ``"uniform:0:1"``, ``"int:1:5"``, ``"choice:a,b"``.

    Choice options that read as int or float become numbers, ``true``/``false``
    booleans and ``none`` None; anything else stays a string.

    Raises:
        InvalidParameterError: unknown kind, wrong number of fields, a bound that is
            not a number, or bounds a dimension rejects (e.g. ``lo >= hi``).
    """
    if not isinstance(spec, str):
        raise InvalidParameterError(
            "parse_dimension: the spec must be a string like 'log:1e-6:1e-2'. "
            f"Got {spec!r}."
        )
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in _KINDS:
        raise InvalidParameterError(
            f"parse_dimension: {spec!r} must start with one of 'log:', 'uniform:', "
            f"'int:', 'choice:' (e.g. 'log:1e-6:1e-2', 'int:1:5', 'choice:relu,tanh')."
        )
    if kind == "choice":
        items = [s.strip() for s in rest.split(",")]
        if not rest.strip() or any(not s for s in items):
            raise InvalidParameterError(
                f"parse_dimension: {spec!r} must list non-empty options separated by "
                f"commas, e.g. 'choice:relu,tanh'."
            )
        return Choice(tuple(_parse_option(s) for s in items))
    parts = rest.split(":")
    if len(parts) != 2:
        raise InvalidParameterError(
            f"parse_dimension: {spec!r} must have the form '{kind}:LO:HI'."
        )
    lo = _parse_number(parts[0].strip(), "LO", spec, integer=kind == "int")
    hi = _parse_number(parts[1].strip(), "HI", spec, integer=kind == "int")
    return _KINDS[kind](lo, hi)


def parse_space(specs: Iterable[str]) -> dict[str, Dimension]:
    """Parse ``["lr=log:1e-6:1e-2", "activation=choice:relu,tanh"]`` into a space.

    Raises:
        InvalidParameterError: an item without ``NAME=``, an empty or repeated name,
            or a bad dimension spec (the message names the item).
    """
    if isinstance(specs, str):
        specs = [specs]
    space: dict[str, Dimension] = {}
    for item in specs:
        name, sep, dim = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidParameterError(
                f"parse_space: {item!r} must have the form NAME=SPEC, "
                f"e.g. 'lr=log:1e-6:1e-2'."
            )
        if name in space:
            raise InvalidParameterError(f"parse_space: {name!r} is given twice.")
        try:
            space[name] = parse_dimension(dim)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"parse_space: in {item!r}: {exc}") from None
    if not space:
        raise InvalidParameterError("parse_space: give at least one NAME=SPEC item.")
    return space


def dimension_to_dict(dim: Dimension) -> dict[str, Any]:
    """JSON form of a dimension: ``{"kind": "log", "lo": ..., "hi": ...}``."""
    if isinstance(dim, Choice):
        return {"kind": "choice", "options": list(dim.options)}
    out: dict[str, Any] = {"kind": dim.kind, "lo": dim.lo, "hi": dim.hi}
    if isinstance(dim, (Uniform, IntUniform)):
        out["limits"] = list(dim.limits or ())
    return out


def dimension_from_dict(d: Mapping[str, Any]) -> Dimension:
    """Inverse of :func:`dimension_to_dict`."""
    kind = check_option(
        d.get("kind"), "kind", list(_KINDS), owner="dimension_from_dict"
    )
    if kind == "choice":
        return Choice(d["options"])
    if kind == "log":
        return LogUniform(d["lo"], d["hi"])
    limits = tuple(d["limits"]) if d.get("limits") is not None else None
    return _KINDS[kind](d["lo"], d["hi"], limits=limits)


def space_to_dict(space: Mapping[str, Dimension]) -> dict[str, Any]:
    return {name: dimension_to_dict(dim) for name, dim in space.items()}


def space_from_dict(d: Mapping[str, Any]) -> dict[str, Dimension]:
    return {name: dimension_from_dict(v) for name, v in d.items()}


# ---------------------------------------------------------------- narrowing


def _completed(trials: Any) -> list[tuple[float, int, dict]]:
    items = getattr(trials, "trials", trials)
    out = []
    for i, t in enumerate(items):
        get = (
            t.get
            if isinstance(t, Mapping)
            else (lambda k, d=None, t=t: getattr(t, k, d))
        )
        value = get("value")
        if get("status", "complete") != "complete" or value is None:
            continue
        if not math.isfinite(float(value)):
            continue
        out.append((float(value), int(get("number", i)), dict(get("params") or {})))
    return out


def _narrow_numeric(dim: Any, xs: Sequence[float]) -> Any:
    a, b = dim.to_unit(dim.lo), dim.to_unit(dim.hi)
    width = b - a
    us = [dim.to_unit(x) for x in xs]
    e_lo, e_hi = min(us), max(us)
    at_lo = e_lo - a <= EDGE_TOLERANCE * width
    at_hi = b - e_hi <= EDGE_TOLERANCE * width
    if at_lo and at_hi:
        return dim
    new_lo = a - WIDEN_FRACTION * width if at_lo else e_lo
    new_hi = b + WIDEN_FRACTION * width if at_hi else e_hi
    min_width = MIN_WIDTH_FRACTION * width
    if new_hi - new_lo < min_width:
        centre = 0.5 * (new_lo + new_hi)
        new_lo, new_hi = centre - 0.5 * min_width, centre + 0.5 * min_width
    if isinstance(dim, LogUniform):
        return LogUniform(dim.from_unit(new_lo), dim.from_unit(new_hi))
    low_limit, high_limit = dim.limits
    if low_limit is not None:
        new_lo = max(new_lo, low_limit)
    if high_limit is not None:
        new_hi = min(new_hi, high_limit)
    if isinstance(dim, IntUniform):
        lo, hi = math.floor(new_lo + 1e-9), math.ceil(new_hi - 1e-9)
        if hi <= lo:
            if high_limit is None or lo + 1 <= high_limit:
                hi = lo + 1
            else:
                lo = hi - 1
        return IntUniform(lo, hi, limits=dim.limits)
    return Uniform(new_lo, new_hi, limits=dim.limits)


def narrow(
    space: Mapping[str, Dimension],
    trials: Any,
    keep: float = 0.2,
    metric_mode: str = "max",
) -> dict[str, Dimension]:
    """The space of the next round, spanning the best ``keep`` share of the trials.

    Rule (each numeric dimension works in its own scale ``u``: ``log10(x)`` for
    LogUniform, ``x`` for Uniform and IntUniform; ``[a, b]`` is the current
    range in that scale and ``w = b - a``):

    1. Only trials with status ``"complete"`` and a finite value count. The best
       ``n = min(len, max(2, ceil(keep * len)))`` of them are kept (highest values
       for ``metric_mode="max"``, lowest for ``"min"``; ties by trial number).
    2. Envelope: ``[e_lo, e_hi]`` = smallest and largest ``u`` among the best.
    3. Edges: the envelope touches the lower edge if ``e_lo - a <= 0.05 w``
       (upper: ``b - e_hi <= 0.05 w``). A touched side is *widened* instead of
       shrunk: the new bound is ``a - 0.5 w`` (``b + 0.5 w``); an untouched side
       moves in to the envelope. If both sides are touched, the best trials span
       the whole range and the dimension is kept as it is.
    4. Minimum width: a new range narrower than ``0.1 w`` (e.g. all the best
       trials share one value) is widened symmetrically about its centre to
       ``0.1 w``.
    5. Uniform and IntUniform bounds are clipped to the dimension's ``limits``;
       IntUniform bounds are rounded outwards to integers and span at least 1.
       LogUniform stays LogUniform (the new bounds are ``10**u``, always > 0).
    6. Choice keeps the options that occur among the best trials, in their
       original order.

    Dimensions the kept trials do not mention are returned unchanged. With no
    completed trial at all the space is returned unchanged (with a warning).

    Args:
        space: the current space (name -> dimension).
        trials: a :class:`~descentlab.search.results.SearchResults`, or a list of
            trial records / dicts with ``params``, ``value``, ``status``.
        keep: share of the completed trials that defines the new ranges, in (0, 1].
        metric_mode: ``"max"`` if larger values are better, ``"min"`` otherwise.

    Returns:
        A new space (a dict of new dimension objects).

    Example:
        >>> old = {"lr": LogUniform(1e-6, 1e-2)}
        >>> best = [{"params": {"lr": 1e-4}, "value": 0.9},
        ...         {"params": {"lr": 1e-3}, "value": 0.8}]
        >>> narrow(old, best, keep=1.0)["lr"]
        LogUniform(lo=0.0001, hi=0.001)
    """
    space = check_space(space, owner="narrow")
    check_scalar(
        keep,
        "keep",
        numbers.Real,
        min_val=0.0,
        max_val=1.0,
        include_boundaries="right",
        owner="narrow",
    )
    check_option(metric_mode, "metric_mode", ("max", "min"), owner="narrow")
    done = _completed(trials)
    if not done:
        warnings.warn(
            "narrow: no completed trial with a finite value; the space is "
            "kept unchanged.",
            RuntimeWarning,
            stacklevel=2,
        )
        return dict(space)
    best = _best_params(done, keep, metric_mode)
    new: dict[str, Dimension] = {}
    for name, dim in space.items():
        values = [p[name] for p in best if name in p]
        new[name] = _narrow_dimension(dim, values) if values else dim
    return new


def _best_params(done: list[Any], keep: float, metric_mode: str) -> list[Any]:
    """The params of the best ``keep`` share (at least 2) of the completed trials."""
    sign = -1.0 if metric_mode == "max" else 1.0
    done.sort(key=lambda r: (sign * r[0], r[1]))
    n_best = min(len(done), max(2, math.ceil(keep * len(done))))
    return [params for _, _, params in done[:n_best]]


def _narrow_dimension(dim: Dimension, values: list[Any]) -> Dimension:
    """One dimension narrowed to the best trials' ``values`` (rules 2-6)."""
    if isinstance(dim, Choice):
        seen = {repr(v) for v in values}
        return Choice(tuple(o for o in dim.options if repr(o) in seen) or dim.options)
    if isinstance(dim, LogUniform):
        values = [v for v in values if v > 0]
    return _narrow_numeric(dim, [float(v) for v in values]) if values else dim
