"""The library of 2-D test landscapes: loss surfaces with analytic gradients.

Optimizers are drawn on these surfaces (experiment ``paths``, the playground);
nothing here is a neural network, so the module sits beside ``nn`` rather than
in it.

Two-dimensional functions (``FUNCTIONS``) are :class:`Function2D` objects::

    f = get_function("book_quadratic")      # f(x, y) = x^2/20 + y^2
    f.value(x, y)                            # vectorised: x, y may be grids
    gx, gy = f.grad(x, y)                    # analytic partial derivatives
    f.start, f.minima, f.box                 # default start, minima, plot limits

``LOCAL_MINIMUM_LOSS`` is a 1-D quartic with a shallow local minimum left of a
deep global one; plain gradient descent started on the left stops in the local
minimum while momentum rolls over the small barrier (experiment ``paths``).

Every gradient is checked against central differences in ``tests/test_functions.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import check_option

__all__ = [
    "Function1D",
    "Function2D",
    "FUNCTIONS",
    "LOCAL_MINIMUM_LOSS",
    "get_function",
]

_Pair = tuple[float, float]


def _f64(a: Any) -> Any:
    return np.asarray(a, dtype=np.float64)


@dataclass(frozen=True)
class Function2D:
    """A scalar function of (x, y) with its analytic gradient and known minima.

    Attributes:
        name: registry key (lower case, e.g. ``"rosenbrock"``).
        title: human-readable name for plots.
        formula: the definition in plain text.
        minima: global minima as (x, y) points; empty when there is none.
        start: default starting point for optimizer paths.
        box: plot limits ``(xmin, xmax, ymin, ymax)``.
        note: one sentence on what the function tests.
        min_value: f at the minima (None when there is no minimum).
    """

    name: str
    title: str
    formula: str
    _value: Callable[[Any, Any], Any] = field(repr=False)
    _grad: Callable[[Any, Any], tuple[Any, Any]] = field(repr=False)
    minima: tuple[_Pair, ...]
    start: _Pair
    box: tuple[float, float, float, float]
    note: str = ""
    min_value: float | None = 0.0

    def value(self, x: Any, y: Any) -> Any:
        """f(x, y); broadcasts over NumPy arrays (use with ``np.meshgrid``)."""
        return self._value(_f64(x), _f64(y))

    def grad(self, x: Any, y: Any) -> tuple[Any, Any]:
        """(df/dx, df/dy) at (x, y); broadcasts like :meth:`value`."""
        return self._grad(_f64(x), _f64(y))

    def nearest_minimum(self, point: Any) -> _Pair | None:
        """The minimum closest to ``point`` (None when the function has no minimum)."""
        if not self.minima:
            return None
        p = np.asarray(point, dtype=np.float64)
        return min(self.minima, key=lambda m: float(np.hypot(*(p - np.asarray(m)))))

    def distance_to_minimum(self, point: Any) -> float | None:
        """Euclidean distance from ``point`` to the nearest minimum (None if none)."""
        m = self.nearest_minimum(point)
        if m is None:
            return None
        p = np.asarray(point, dtype=np.float64)
        return float(np.hypot(p[0] - m[0], p[1] - m[1]))


# --- the book's elongated bowl -------------------------------------------------


def _book_value(x, y):
    return x**2 / 20.0 + y**2


def _book_grad(x, y):
    return x / 10.0, 2.0 * y


# --- Rosenbrock: a curved, flat-bottomed valley -----------------------------------


def _rosen_value(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def _rosen_grad(x, y):
    r = y - x**2
    return -2.0 * (1.0 - x) - 400.0 * x * r, 200.0 * r


# --- Rastrigin: a bowl covered in a regular grid of local minima -------------------

_TAU = 2.0 * np.pi


def _rastrigin_value(x, y):
    return 20.0 + x**2 - 10.0 * np.cos(_TAU * x) + y**2 - 10.0 * np.cos(_TAU * y)


def _rastrigin_grad(x, y):
    gx = 2.0 * x + 10.0 * _TAU * np.sin(_TAU * x)
    gy = 2.0 * y + 10.0 * _TAU * np.sin(_TAU * y)
    return gx, gy


# --- Beale: flat plateaus and steep walls ----------------------------------------


def _beale_terms(x, y):
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y**2
    c = 2.625 - x + x * y**3
    return a, b, c


def _beale_value(x, y):
    a, b, c = _beale_terms(x, y)
    return a**2 + b**2 + c**2


def _beale_grad(x, y):
    a, b, c = _beale_terms(x, y)
    gx = 2.0 * a * (y - 1.0) + 2.0 * b * (y**2 - 1.0) + 2.0 * c * (y**3 - 1.0)
    gy = 2.0 * a * x + 4.0 * b * x * y + 6.0 * c * x * y**2
    return gx, gy


# --- Himmelblau: four equal global minima ----------------------------------------


def _himmelblau_value(x, y):
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def _himmelblau_grad(x, y):
    p = x**2 + y - 11.0
    q = x + y**2 - 7.0
    return 4.0 * x * p + 2.0 * q, 2.0 * p + 4.0 * y * q


# --- saddle: no minimum at all ------------------------------------------------------


def _saddle_value(x, y):
    return x**2 - y**2


def _saddle_grad(x, y):
    return 2.0 * x, -2.0 * y


FUNCTIONS: dict[str, Function2D] = {
    f.name: f
    for f in (
        Function2D(
            "book_quadratic",
            "Elongated bowl (the book's example)",
            "f(x, y) = x^2/20 + y^2",
            _book_value,
            _book_grad,
            minima=((0.0, 0.0),),
            start=(-7.0, 2.0),
            box=(-10.0, 10.0, -5.0, 5.0),
            note="Curvature differs 20x between x and y: the gradient points mostly "
            "along y, so plain SGD zig-zags.",
        ),
        Function2D(
            "rosenbrock",
            "Rosenbrock",
            "f(x, y) = (1 - x)^2 + 100 (y - x^2)^2",
            _rosen_value,
            _rosen_grad,
            minima=((1.0, 1.0),),
            start=(-1.5, 2.0),
            box=(-2.0, 2.0, -1.0, 3.0),
            note="A narrow curved valley with a nearly flat floor: easy to reach, "
            "slow to follow to the minimum at (1, 1).",
        ),
        Function2D(
            "rastrigin",
            "Rastrigin",
            "f(x, y) = 20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)",
            _rastrigin_value,
            _rastrigin_grad,
            minima=((0.0, 0.0),),
            start=(-2.3, 1.8),
            box=(-3.0, 3.0, -3.0, 3.0),
            note="A bowl covered by a grid of local minima; only momentum-like "
            "methods have a chance of hopping between them.",
        ),
        Function2D(
            "beale",
            "Beale",
            "f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            _beale_value,
            _beale_grad,
            minima=((3.0, 0.5),),
            start=(0.5, 1.5),
            box=(-1.0, 4.5, -1.5, 2.0),
            note="Gradients range over many orders of magnitude between the steep "
            "walls and the flat valley floor, so one learning rate rarely suits "
            "the whole path.",
        ),
        Function2D(
            "himmelblau",
            "Himmelblau",
            "f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            _himmelblau_value,
            _himmelblau_grad,
            minima=(
                (3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.2831859912861696),
                (3.5844283403304917, -1.8481265269644034),
            ),
            start=(0.0, -1.0),
            box=(-5.0, 5.0, -5.0, 5.0),
            note="Four global minima with f = 0; which one an optimizer finds "
            "depends on its path, not only on the start.",
        ),
        Function2D(
            "saddle",
            "Saddle",
            "f(x, y) = x^2 - y^2",
            _saddle_value,
            _saddle_grad,
            minima=(),
            start=(-2.0, 0.01),
            box=(-2.5, 2.5, -2.5, 2.5),
            note="No minimum: (0, 0) is a saddle point and f is unbounded below "
            "along y. Started almost on the ridge y = 0, an optimizer is "
            "pulled towards the saddle before the tiny y component grows.",
            min_value=None,
        ),
    )
}


def get_function(name: str) -> Function2D:
    """Look up a 2-D test function by name (see ``FUNCTIONS`` for the choices)."""
    check_option(name, "name", FUNCTIONS, owner="get_function")
    return FUNCTIONS[name]


@dataclass(frozen=True)
class Function1D:
    """A 1-D loss with a shallow local minimum left of a deep global minimum.

    Attributes:
        name, formula: identification.
        local_min, local_max, global_min: critical points (exact).
        start: default start, left of ``local_min``.
        xlim: plot limits.
    """

    name: str
    formula: str
    _value: Callable[[Any], Any] = field(repr=False)
    _grad: Callable[[Any], Any] = field(repr=False)
    local_min: float
    local_max: float
    global_min: float
    start: float
    xlim: tuple[float, float]

    def value(self, x: Any) -> Any:
        """f(x), vectorised."""
        return self._value(np.asarray(x, dtype=np.float64))

    def grad(self, x: Any) -> Any:
        """f'(x), vectorised."""
        return self._grad(np.asarray(x, dtype=np.float64))


def _quartic_value(x):
    return x**4 / 4.0 - x**3 / 6.0 - 1.25 * x**2 - x


def _quartic_grad(x):
    return (x + 1.0) * (x + 0.5) * (x - 2.0)


#: f(x) = x^4/4 - x^3/6 - 5x^2/4 - x, with f'(x) = (x + 1)(x + 1/2)(x - 2).
#: Local minimum x = -1 (f = 1/6), local maximum x = -1/2 (f = 43/192), so the
#: barrier is only 11/192 ~ 0.057 high; global minimum x = 2 (f = -13/3).
#: From x0 = -2.5, gradient descent with lr 0.05 settles at -1; momentum 0.9
#: with the same lr carries enough speed over the barrier and settles at 2.
LOCAL_MINIMUM_LOSS = Function1D(
    name="shallow_local_minimum",
    formula="f(x) = x^4/4 - x^3/6 - 5x^2/4 - x,  f'(x) = (x + 1)(x + 1/2)(x - 2)",
    _value=_quartic_value,
    _grad=_quartic_grad,
    local_min=-1.0,
    local_max=-0.5,
    global_min=2.0,
    start=-2.5,
    xlim=(-2.8, 3.1),
)
