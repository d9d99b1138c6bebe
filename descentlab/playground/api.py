"""The playground's JSON API, independent of HTTP: query dict in, JSON-able dict out.

Endpoints (all GET; the server maps ``/api/<name>`` to these functions):

* ``path``: ``function, optimizer`` (required), ``lr, steps, x0, y0`` (defaults:
  the optimizer's lr, 100 steps, the function's start) and the optimizer's own
  hyperparameters (``momentum, nesterov, beta1, beta2, alpha, rho, eps,
  weight_decay``) plus ``schedule`` -> ``{"path": [[x, y], ...], "loss": [...],
  "gap": [...], "grad": [[gx, gy], ...], "lr": [...], "diverged": null | {"step",
  "reason"}, ...}``; steps + 1 points unless the path diverged.
* ``functions``: every test function with its view box, domain, minima, f*,
  "why" text and presets.
* ``grid``: f on a grid over the view box (``function, nx, ny``) with levels.
* ``meta``: optimizers (colour, label, defaults), hyperparameter ranges,
  schedules and limits, so the page's sliders use the server's ranges.

Bad input raises :class:`ApiError` (HTTP 400) naming the field and what is allowed.
Non-finite numbers are sent as ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..functions import FUNCTIONS
from ..optim import OPTIMIZERS
from ..schedules import SCHEDULE_NAMES
from . import explain
from .paths import (
    DOMAIN_SCALE,
    HYPERPARAMETERS,
    MAX_STEPS,
    contour_grid,
    domain,
    optimizer_defaults,
    run_path,
)

__all__ = [
    "ApiError",
    "bool_field",
    "choice_field",
    "finite_list",
    "float_field",
    "functions",
    "grid",
    "int_field",
    "meta",
    "path",
    "reject_unknown",
]

Query = dict[str, list[str]]

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
MAX_GRID = 400


class ApiError(Exception):
    """A refused request: ``status`` (400, 404, 409, 503) and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def finite_list(a: Any) -> Any:
    """``a`` as nested lists of floats with every non-finite value replaced by None."""
    arr = np.asarray(a, dtype=np.float64)
    out = arr.tolist()
    if np.isfinite(arr).all():
        return out

    def fix(v):
        if isinstance(v, list):
            return [fix(u) for u in v]
        return v if math.isfinite(v) else None

    return fix(out)


# --- query fields: each returns None when the field is absent -------------------


def _one(q: Query, name: str) -> str | None:
    values = q.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"{name!r} is given {len(values)} times; give it once.")
    return values[0]


def float_field(q: Query, name: str, lo: float, hi: float, bounds: str = "both") -> Any:
    text = _one(q, name)
    if text is None:
        return None
    lo_b = "[" if bounds in ("both", "left") else "("
    hi_b = "]" if bounds in ("both", "right") else ")"
    allowed = f"a float in {lo_b}{lo:g}, {hi:g}{hi_b}"
    try:
        v = float(text)
    except ValueError:
        raise ApiError(400, f"{name!r} must be {allowed}. Got {text[:40]!r}.") from None
    ok = math.isfinite(v)
    ok = ok and (v >= lo if bounds in ("both", "left") else v > lo)
    ok = ok and (v <= hi if bounds in ("both", "right") else v < hi)
    if not ok:
        raise ApiError(400, f"{name!r} must be {allowed}. Got {text[:40]!r}.")
    return v


def int_field(q: Query, name: str, lo: int, hi: int) -> int | None:
    text = _one(q, name)
    if text is None:
        return None
    try:
        v = int(text.strip())
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise ApiError(
            400, f"{name!r} must be an int in [{lo}, {hi}]. Got {text[:40]!r}."
        )
    return v


def bool_field(q: Query, name: str) -> bool | None:
    text = _one(q, name)
    if text is None:
        return None
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ApiError(400, f"{name!r} must be true or false (1/0). Got {text[:40]!r}.")


def choice_field(q: Query, name: str, options, default: Any = None) -> Any:
    text = _one(q, name)
    if text is None:
        if default is None:
            raise ApiError(400, f"{name!r} is required; one of {', '.join(options)}.")
        return default
    if text not in options:
        raise ApiError(
            400, f"{name!r} must be one of {', '.join(options)}. Got {text[:40]!r}."
        )
    return text


def reject_unknown(q: Query, allowed) -> None:
    unknown = sorted(set(q) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            f"unknown parameter {unknown[0][:40]!r}; this endpoint takes "
            f"{', '.join(allowed)}.",
        )


_PATH_FIELDS = (
    "function",
    "optimizer",
    "steps",
    "x0",
    "y0",
    "schedule",
    *HYPERPARAMETERS,
)
_SCHEDULES = ("constant", *SCHEDULE_NAMES)


def path(q: Query) -> dict[str, Any]:
    """``GET /api/path``: one optimizer's path (see the module docstring)."""
    reject_unknown(q, _PATH_FIELDS)
    name = choice_field(q, "function", tuple(FUNCTIONS))
    optimizer = choice_field(q, "optimizer", tuple(OPTIMIZERS))
    fn = FUNCTIONS[name]
    steps = int_field(q, "steps", 0, MAX_STEPS)
    xmin, xmax, ymin, ymax = domain(fn)
    x0 = float_field(q, "x0", xmin, xmax)
    y0 = float_field(q, "y0", ymin, ymax)
    schedule = choice_field(q, "schedule", _SCHEDULES, default="constant")
    hp = _hyperparameter_fields(q, optimizer)
    start = (
        fn.start[0] if x0 is None else x0,
        fn.start[1] if y0 is None else y0,
    )
    try:
        r = run_path(
            name,
            optimizer,
            steps=100 if steps is None else steps,
            start=start,
            schedule=schedule,
            **hp,
        )
    except InvalidParameterError as exc:  # e.g. nesterov without momentum
        raise ApiError(400, str(exc).removeprefix("run_path: ")) from None
    return _path_response(r, schedule, fn.min_value, start)


def _hyperparameter_fields(q: Query, optimizer: str) -> dict[str, Any]:
    """The hyperparameters the query gives; 400 for one the optimizer lacks."""
    takes = optimizer_defaults(optimizer)
    hp: dict[str, Any] = {}
    for key, h in HYPERPARAMETERS.items():
        if key not in q:
            continue
        if key not in takes:
            raise ApiError(
                400,
                f"{key!r} does not apply to {optimizer}; it takes {', '.join(takes)}.",
            )
        v = (
            bool_field(q, key)
            if h.kind == "bool"
            else float_field(q, key, h.lo, h.hi, h.bounds)
        )
        hp[key] = v
    return hp


def _path_response(
    r: Any, schedule: str, f_star: Any, start: tuple[float, float]
) -> dict[str, Any]:
    """The JSON body of ``/api/path`` for the path ``r`` (``schedule`` as asked)."""
    gap = None if f_star is None else finite_list(r.loss - f_star)
    return {
        "function": r.function,
        "optimizer": r.optimizer,
        "hyperparameters": r.hyperparameters,
        "schedule": schedule,
        "steps": r.steps,
        "start": list(start),
        "f_star": f_star,
        "path": finite_list(r.path),
        "loss": finite_list(r.loss),
        "gap": gap,
        "grad": finite_list(r.grad),
        "lr": finite_list(r.lr),
        "diverged": None
        if r.diverged is None
        else {"step": r.diverged[0], "reason": r.diverged[1]},
    }


def grid(q: Query) -> dict[str, Any]:
    """``GET /api/grid``: f on an nx x ny grid over the view box, with levels."""
    reject_unknown(q, ("function", "nx", "ny"))
    name = choice_field(q, "function", tuple(FUNCTIONS))
    nx = int_field(q, "nx", 2, MAX_GRID) or 160
    ny = int_field(q, "ny", 2, MAX_GRID) or 120
    g = contour_grid(name, nx, ny)
    return {
        "function": name,
        "box": list(FUNCTIONS[name].box),
        "x": finite_list(g["x"]),
        "y": finite_list(g["y"]),
        "z": finite_list(g["z"]),
        "levels": finite_list(g["levels"]),
    }


def functions(q: Query) -> dict[str, Any]:
    """``GET /api/functions``: the test functions, with what to try on each."""
    reject_unknown(q, ())
    out = []
    for name, fn in FUNCTIONS.items():
        out.append(
            {
                "name": name,
                "title": fn.title,
                "formula": fn.formula,
                "note": fn.note,
                "box": list(fn.box),
                "domain": list(domain(fn)),
                "start": list(fn.start),
                "minima": [list(m) for m in fn.minima],
                "f_star": fn.min_value,
                "curvatures": None
                if not fn.minima
                else finite_list(explain.curvatures(fn, fn.minima[0])),
                "why": explain.why(name),
                "presets": explain.presets(name),
                "suggested_lr": explain.SUGGESTED_LR[name],
            }
        )
    return {"functions": out, "domain_scale": DOMAIN_SCALE}


def _colors_and_labels() -> tuple[dict[str, str], dict[str, str]]:
    """One colour and display name per optimizer, from the project's palette."""
    from .. import palette

    return (
        {n: palette.optimizer_color(n) for n in OPTIMIZERS},
        {n: palette.optimizer_label(n) for n in OPTIMIZERS},
    )


def meta(q: Query) -> dict[str, Any]:
    """``GET /api/meta``: optimizers, hyperparameter ranges, schedules and limits."""
    reject_unknown(q, ())
    from .training import TRAIN_FIELDS, TRAIN_MODELS, TRAIN_SCHEDULES

    colors, labels = _colors_and_labels()
    return {
        "optimizers": [
            {
                "name": name,
                "label": labels[name],
                "color": colors[name],
                "defaults": optimizer_defaults(name),
            }
            for name in OPTIMIZERS
        ],
        "hyperparameters": [
            {
                "name": h.name,
                "label": h.label,
                "kind": h.kind,
                "lo": h.lo,
                "hi": h.hi,
                "bounds": h.bounds,
                "log": h.log,
                "slider": list(h.slider or (h.lo, h.hi)),
                "allowed": h.allowed(),
            }
            for h in HYPERPARAMETERS.values()
        ],
        "schedules": list(_SCHEDULES),
        "max_steps": MAX_STEPS,
        "train": {
            "models": list(TRAIN_MODELS),
            "schedules": list(TRAIN_SCHEDULES),
            "fields": TRAIN_FIELDS,
        },
    }
