"""Optimizer paths on the 2-D test functions, as the playground draws them.

Every point comes from the real optimizers: one float64 Parameter holds
theta = (x, y); each step writes the analytic gradient of the test function
(``descentlab.functions``) into ``p.grad`` and calls ``opt.step()``, then
``scheduler.step()`` when a schedule is chosen (it spans the path's steps)::

    r = run_path("book_quadratic", "momentum", lr=0.1, steps=30, start=(-7, 2))
    r.path      # (k+1, 2): theta_0 = start, theta_1, ..., theta_k
    r.loss      # (k+1,):   f(theta_t)
    r.grad      # (k+1, 2): grad f(theta_t)
    r.lr        # (k,):     the lr used by step t = 1..k
    r.diverged  # None, or (step, reason)

k = steps, unless the path diverges: when theta_t is not finite or leaves the
function's domain (``domain(fn)``: its plot box widened ``DOMAIN_SCALE`` times
about its centre) the path ends with that point (k = t) and ``diverged`` says
which step and why. Nothing is clipped.
"""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_option, check_scalar
from ..errors import InvalidParameterError
from ..functions import FUNCTIONS, Function2D
from ..nn.module import Parameter
from ..optim import OPTIMIZERS
from ..schedules import SCHEDULE_NAMES, Scheduler, make_schedule

__all__ = [
    "DOMAIN_SCALE",
    "MAX_STEPS",
    "HYPERPARAMETERS",
    "HyperParameter",
    "PathResult",
    "contour_grid",
    "domain",
    "optimizer_defaults",
    "run_path",
]

#: the domain is the plot box widened this many times about its centre
DOMAIN_SCALE = 10.0
#: the most steps one path may take
MAX_STEPS = 2000


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter of the path API: its range and which optimizers take it.

    ``kind`` is "float" or "bool"; ``bounds`` says which ends of [lo, hi] are
    included (as in ``check_scalar``); ``log`` suggests a log-scale slider.
    """

    name: str
    label: str
    kind: str
    lo: float
    hi: float
    bounds: str
    optimizers: tuple[str, ...]
    log: bool = False
    slider: tuple[float, float] | None = None  # narrower range for a page slider

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true or false"
        lo_b = "[" if self.bounds in ("both", "left") else "("
        hi_b = "]" if self.bounds in ("both", "right") else ")"
        return f"a float in {lo_b}{self.lo:g}, {self.hi:g}{hi_b}"


_ALL = tuple(OPTIMIZERS)
_ADAM_LIKE = ("adam", "adamw", "nadam", "lion", "yogi")

#: hyperparameters the path API accepts (beta1/beta2 make the ``betas`` tuple)
HYPERPARAMETERS: dict[str, HyperParameter] = {
    h.name: h
    for h in (
        HyperParameter(
            "lr", "learning rate", "float", 0.0, 100.0, "both", _ALL, True, (1e-4, 10)
        ),
        HyperParameter(
            "momentum",
            "momentum μ",
            "float",
            0.0,
            1.0,
            "left",
            ("sgd", "momentum", "nesterov", "rmsprop"),
            slider=(0.0, 0.99),
        ),
        HyperParameter("nesterov", "Nesterov", "bool", 0, 1, "both", ("sgd",)),
        HyperParameter(
            "beta1", "β1", "float", 0.0, 1.0, "left", _ADAM_LIKE, slider=(0.0, 0.99)
        ),
        HyperParameter(
            "beta2",
            "β2",
            "float",
            0.0,
            1.0,
            "left",
            _ADAM_LIKE,
            slider=(0.5, 0.9999),
        ),
        HyperParameter(
            "alpha", "α (decay)", "float", 0.0, 1.0, "left", ("rmsprop",), False
        ),
        HyperParameter(
            "rho", "ρ (decay)", "float", 0.0, 1.0, "left", ("adadelta",), False
        ),
        HyperParameter(
            "eps",
            "ε",
            "float",
            0.0,
            1.0,
            "right",
            ("adagrad", "rmsprop", "adam", "adamw", "nadam", "adadelta", "yogi"),
            True,
            (1e-10, 1.0),
        ),
        HyperParameter(
            "weight_decay",
            "weight decay",
            "float",
            0.0,
            10.0,
            "both",
            _ALL,
            slider=(0.0, 1.0),
        ),
    )
}


def optimizer_defaults(optimizer: str) -> dict[str, Any]:
    """The class defaults of ``optimizer`` for the hyperparameters it takes here."""
    check_option(optimizer, "optimizer", OPTIMIZERS, owner="optimizer_defaults")
    sig = inspect.signature(OPTIMIZERS[optimizer]).parameters
    out: dict[str, Any] = {}
    for name, h in HYPERPARAMETERS.items():
        if optimizer not in h.optimizers:
            continue
        if name in ("beta1", "beta2"):
            out[name] = float(sig["betas"].default[0 if name == "beta1" else 1])
        elif h.kind == "bool":
            out[name] = bool(sig[name].default)
        else:
            out[name] = float(sig[name].default)
    return out


def domain(fn: Function2D) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax): the plot box widened DOMAIN_SCALE times."""
    x0, x1, y0, y1 = fn.box
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    s = DOMAIN_SCALE
    return (cx - s * hx, cx + s * hx, cy - s * hy, cy + s * hy)


@dataclass
class PathResult:
    """The points an optimizer visits (see the module docstring for the shapes)."""

    function: str
    optimizer: str
    hyperparameters: dict[str, Any]
    schedule: str | None
    steps: int
    path: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    lr: np.ndarray
    diverged: tuple[int, str] | None


def _optimizer_kwargs(optimizer: str, hp: dict[str, Any]) -> dict[str, Any]:
    kw = {k: v for k, v in hp.items() if k not in ("beta1", "beta2")}
    if "beta1" in hp:
        kw["betas"] = (hp["beta1"], hp["beta2"])
    return kw


def _check_hyperparameters(optimizer: str, given: dict[str, Any]) -> dict[str, Any]:
    owner = "run_path"
    hp = optimizer_defaults(optimizer)
    for name, value in given.items():
        if name not in hp:
            takes = ", ".join(hp)
            raise InvalidParameterError(
                f"{owner}: {name!r} does not apply to {optimizer}; it takes {takes}."
            )
        h = HYPERPARAMETERS[name]
        if h.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidParameterError(
                    f"{owner}: {name!r} must be true or false. Got {value!r}."
                )
            hp[name] = bool(value)
        else:
            check_scalar(
                value,
                name,
                numbers.Real,
                min_val=h.lo,
                max_val=h.hi,
                include_boundaries=h.bounds,
                owner=owner,
            )
            hp[name] = float(value)
    return hp


def run_path(
    function: str,
    optimizer: str,
    *,
    steps: int,
    start: tuple[float, float] | None = None,
    schedule: str | None = None,
    **hyperparameters: Any,
) -> PathResult:
    """Run ``optimizer`` for ``steps`` steps on the test function ``function``.

    Args:
        function: a name in ``descentlab.functions.FUNCTIONS``.
        optimizer: a name in ``descentlab.optim.OPTIMIZERS``.
        steps: 0..MAX_STEPS.
        start: theta_0 inside ``domain(fn)``; default the function's own start.
        schedule: None/"constant" or a ``descentlab.schedules`` name; it runs
            from lr at step 0 over ``steps`` steps (per optimizer step).
        **hyperparameters: lr, momentum, nesterov, beta1, beta2, alpha, rho,
            eps, weight_decay (see ``HYPERPARAMETERS``); the optimizer's
            defaults fill the rest.

    Raises:
        InvalidParameterError: an unknown name, a hyperparameter the optimizer
            does not take, or a value out of range (the message names it).
    """
    owner = "run_path"
    check_option(function, "function", FUNCTIONS, owner=owner)
    check_option(optimizer, "optimizer", OPTIMIZERS, owner=owner)
    check_scalar(
        steps, "steps", numbers.Integral, min_val=0, max_val=MAX_STEPS, owner=owner
    )
    fn = FUNCTIONS[function]
    start = _checked_start(fn, start, owner)
    if schedule == "constant":
        schedule = None
    if schedule is not None:
        check_option(schedule, "schedule", SCHEDULE_NAMES, owner=owner)
    hp = _check_hyperparameters(optimizer, hyperparameters)
    p, opt, sched = _make_optimizer(optimizer, hp, start, schedule, int(steps))
    points, grads, lrs, loss, diverged = _descend(fn, p, opt, sched, int(steps))
    return PathResult(
        function=function,
        optimizer=optimizer,
        hyperparameters=hp,
        schedule=schedule,
        steps=int(steps),
        path=points,
        loss=np.asarray(loss, dtype=np.float64),
        grad=grads,
        lr=lrs,
        diverged=diverged,
    )


def _checked_start(fn: Any, start: Any, owner: str) -> tuple[float, float]:
    """theta_0: ``start`` or the function's own, checked to lie in its domain."""
    xmin, xmax, ymin, ymax = domain(fn)
    start = fn.start if start is None else start
    for name, v, lo, hi in (("x0", start[0], xmin, xmax), ("y0", start[1], ymin, ymax)):
        check_scalar(v, name, numbers.Real, min_val=lo, max_val=hi, owner=owner)
    return start


def _make_optimizer(
    optimizer: str,
    hp: dict[str, Any],
    start: tuple[float, float],
    schedule: str | None,
    steps: int,
) -> tuple[Parameter, Any, Scheduler | None]:
    """(theta, optimizer, scheduler or None) for a path from ``start``."""
    p = Parameter(np.array([float(start[0]), float(start[1])], dtype=np.float64))
    opt = OPTIMIZERS[optimizer]([p], **_optimizer_kwargs(optimizer, hp))
    sched = None
    if schedule is not None:
        sched = Scheduler(
            opt, make_schedule(schedule, hp["lr"], max(steps, 2)), interval="step"
        )
    return p, opt, sched


def _descend(
    fn: Any, p: Parameter, opt: Any, sched: Scheduler | None, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any, tuple[int, str] | None]:
    """Step until ``steps`` or divergence: (path, grads, lrs, loss, diverged),
    path and grads with one row per point reached."""
    xmin, xmax, ymin, ymax = domain(fn)
    points = np.empty((steps + 1, 2))
    grads = np.empty((steps + 1, 2))
    lrs = np.empty(steps)
    points[0] = p.data
    diverged: tuple[int, str] | None = None
    k = 0
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            gx, gy = fn.grad(p.data[0], p.data[1])
            grads[t - 1] = gx, gy
            p.grad[0], p.grad[1] = gx, gy
            lrs[t - 1] = opt.param_groups[0]["lr"]
            opt.step()
            if sched is not None:
                sched.step()
            points[t] = p.data
            k = t
            x, y = float(p.data[0]), float(p.data[1])
            if not (math.isfinite(x) and math.isfinite(y)):
                diverged = (t, "not finite")
                break
            if not (xmin <= x <= xmax and ymin <= y <= ymax):
                diverged = (
                    t,
                    f"left the domain [{xmin:g}, {xmax:g}] x [{ymin:g}, {ymax:g}]",
                )
                break
        grads[k] = fn.grad(points[k, 0], points[k, 1])
        loss = fn.value(points[: k + 1, 0], points[: k + 1, 1])
    return points[: k + 1].copy(), grads[: k + 1].copy(), lrs[:k].copy(), loss, diverged


def contour_grid(
    function: str, nx: int = 160, ny: int = 120, n_levels: int = 16
) -> dict[str, Any]:
    """f on a regular grid over the plot box, plus contour levels for drawing.

    Returns ``{"x": (nx,), "y": (ny,), "z": (ny, nx), "levels": (L,)}`` with
    ``z[i, j] = f(x[j], y[i])``. The levels are quantiles of z spaced
    quadratically (q = (i/n_levels)^2), so the valley floor gets as many
    contour lines as the steep walls, whatever the function's range.
    """
    owner = "contour_grid"
    check_option(function, "function", FUNCTIONS, owner=owner)
    check_scalar(nx, "nx", numbers.Integral, min_val=2, max_val=600, owner=owner)
    check_scalar(ny, "ny", numbers.Integral, min_val=2, max_val=600, owner=owner)
    check_scalar(
        n_levels, "n_levels", numbers.Integral, min_val=2, max_val=60, owner=owner
    )
    fn = FUNCTIONS[function]
    x0, x1, y0, y1 = fn.box
    x, y = np.linspace(x0, x1, int(nx)), np.linspace(y0, y1, int(ny))
    z = fn.value(*np.meshgrid(x, y))
    q = (np.arange(1, int(n_levels)) / int(n_levels)) ** 2
    levels = np.unique(np.quantile(z, q))
    return {"x": x, "y": y, "z": z, "levels": levels}
