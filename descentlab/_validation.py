"""Argument validation shared by every public entry point.

Messages follow one template: ``"{owner}: {name!r} must be {allowed}. Got {value!r}."``
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .errors import InvalidParameterError, ShapeError

_BRACKETS = {
    "both": ("[", "]"),
    "left": ("[", ")"),
    "right": ("(", "]"),
    "neither": ("(", ")"),
}


def _prefix(owner: str) -> str:
    return f"{owner}: " if owner else ""


def _type_name(target_type: Any) -> str:
    if target_type is numbers.Integral:
        return "an int"
    if target_type is numbers.Real:
        return "a float"
    if isinstance(target_type, tuple):
        return " or ".join(_type_name(t) for t in target_type)
    return f"a {getattr(target_type, '__name__', target_type)}"


def check_scalar(
    value: Any,
    name: str,
    target_type: Any = numbers.Real,
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_boundaries: str = "both",
    owner: str = "",
) -> Any:
    """Check that ``value`` is a scalar of ``target_type`` inside a range.

    Returns the value as a Python ``float`` when ``target_type`` is
    ``numbers.Real``, as a Python ``int`` when it is ``numbers.Integral`` (so a
    NumPy scalar never leaks into a config or a checkpoint), and unchanged for
    any other type. Raises InvalidParameterError naming the owner, the
    parameter, the allowed range and the value received. ``bool`` is never
    accepted as a number, and NaN is never inside a range.

    Example message: ``Adam: 'eps' must be a float in (0.0, inf]. Got -1.0.``
    """
    lo_b, hi_b = _BRACKETS[include_boundaries]
    lo = "-inf" if min_val is None else min_val
    hi = "inf" if max_val is None else max_val
    kind = _type_name(target_type)
    if min_val is None and max_val is None:
        allowed = kind
    else:
        allowed = f"{kind} in {lo_b}{lo}, {hi}{hi_b}"
    bad_type = isinstance(value, bool) or not isinstance(value, target_type)
    if bad_type:
        raise InvalidParameterError(
            f"{_prefix(owner)}{name!r} must be {allowed}. Got {value!r} "
            f"of type {type(value).__name__}."
        )
    closed_lo = include_boundaries in ("both", "left")
    closed_hi = include_boundaries in ("both", "right")
    ok = value == value  # rejects NaN
    if ok and min_val is not None:
        ok = value >= min_val if closed_lo else value > min_val
    if ok and max_val is not None:
        ok = value <= max_val if closed_hi else value < max_val
    if not ok:
        raise InvalidParameterError(
            f"{_prefix(owner)}{name!r} must be {allowed}. Got {value!r}."
        )
    if target_type is numbers.Real:
        return float(value)
    if target_type is numbers.Integral:
        return int(value)
    return value


def check_option(
    value: Any, name: str, options: Iterable[Any], *, owner: str = ""
) -> Any:
    """Check that ``value`` is one of ``options``; the message lists the choices."""
    options = list(options)
    if value not in options:
        choices = ", ".join(repr(o) for o in options)
        raise InvalidParameterError(
            f"{_prefix(owner)}{name!r} must be one of {choices}. Got {value!r}."
        )
    return value


def check_shape(
    shape: Sequence[int],
    expected: Sequence[int | None],
    name: str,
    *,
    owner: str = "",
) -> None:
    """Check an array shape against a pattern where ``None`` matches any size.

    Example message:
    ``Conv2d.forward: x must have shape (N, 3, H, W); got (8, 1, 28, 28).``
    """
    shape = tuple(int(s) for s in shape)
    ok = len(shape) == len(expected) and all(
        e is None or e == s for s, e in zip(shape, expected, strict=True)
    )
    if not ok:
        letters = "NCHWDEFG"  # positional: (None, 3, None, None) -> (N, 3, H, W)
        pattern = tuple(
            e if e is not None else letters[i % len(letters)]
            for i, e in enumerate(expected)
        )
        pat = (
            "("
            + ", ".join(str(p) for p in pattern)
            + ("," if len(pattern) == 1 else "")
            + ")"
        )
        raise ShapeError(f"{_prefix(owner)}{name} must have shape {pat}; got {shape}.")


def check_array(x: Any, name: str, *, owner: str = "", floating: bool = False) -> Any:
    """Check that ``x`` is a NumPy or CuPy array (of a floating dtype when asked).

    Returns ``x``. Example message: ``Linear.forward: x must be an array
    (numpy.ndarray or cupy.ndarray); got list.``
    """
    if not (isinstance(x, np.ndarray) or type(x).__module__.startswith("cupy")):
        raise InvalidParameterError(
            f"{_prefix(owner)}{name} must be an array (numpy.ndarray or cupy.ndarray); "
            f"got {type(x).__name__}."
        )
    if floating and x.dtype.kind != "f":
        raise InvalidParameterError(
            f"{_prefix(owner)}{name} must have a floating dtype (float32 or float64); "
            f"got {x.dtype}."
        )
    return x


def check_int_pair(
    value: Any, name: str, *, owner: str = "", min_val: int = 1
) -> tuple[int, int]:
    """Accept an int or a pair of ints, each ``>= min_val``, and return a pair.

    ``kernel_size=3`` -> ``(3, 3)``; padding passes ``min_val=0``.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidParameterError(
                f"{_prefix(owner)}{name!r} must be an int or a pair of ints. Got "
                f"{value!r}."
            )
        a, b = value
    else:
        a = b = value
    for v in (a, b):
        check_scalar(v, name, numbers.Integral, min_val=min_val, owner=owner)
    return int(a), int(b)
