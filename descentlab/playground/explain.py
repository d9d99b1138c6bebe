"""What to try on each test function: the playground's "why" boxes and presets.

The numbers in the texts are computed here (curvatures from the analytic
gradients, the heavy-ball damping formulas below), not typed in.

Heavy-ball momentum on a quadratic. Along an eigen-direction with curvature
lam, SGD with momentum (b <- mu*b + g; theta <- theta - lr*b) is the linear
recurrence::

    theta_{t+1} = theta_t - lr*lam*theta_t + mu*(theta_t - theta_{t-1})

with characteristic polynomial ``r^2 - (1 + mu - lr*lam) r + mu = 0``. Its
roots are complex (the coordinate oscillates about the minimum while it
shrinks, by |r| = sqrt(mu) per step) when ``(1 + mu - lr*lam)^2 < 4 mu``, that
is for ``mu > mu_c = (1 - sqrt(lr*lam))^2`` (critical damping; for
lr*lam < 1); below mu_c both roots are real and positive and the approach is
monotone. The recurrence converges iff ``0 <= mu < 1`` and
``0 < lr*lam < 2(1 + mu)``. Polyak's best choice for curvatures in
[lam_min, lam_max] is ``lr = 4/(sqrt(lam_max) + sqrt(lam_min))^2``,
``mu = ((sqrt(k) - 1)/(sqrt(k) + 1))^2`` with k = lam_max/lam_min; the error
then shrinks by sqrt(mu) per step, against (k - 1)/(k + 1) for plain gradient
descent at its best lr 2/(lam_min + lam_max).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..functions import FUNCTIONS, Function2D

__all__ = [
    "SUGGESTED_LR",
    "critical_momentum",
    "curvatures",
    "polyak_momentum",
    "presets",
    "why",
]

#: a starting learning rate per function and optimizer that gives a readable path
SUGGESTED_LR: dict[str, dict[str, float]] = {
    "book_quadratic": dict(
        sgd=0.95, momentum=0.1, nesterov=0.1, adagrad=1.5, rmsprop=0.1, adam=0.3,
        adamw=0.3, nadam=0.3, lion=0.1, adadelta=20.0, yogi=0.5,
    ),
    "rosenbrock": dict(
        sgd=2e-3, momentum=1e-3, nesterov=1e-3, adagrad=1.5, rmsprop=0.01, adam=0.1,
        adamw=0.1, nadam=0.1, lion=0.01, adadelta=20.0, yogi=0.1,
    ),
    "rastrigin": dict(
        sgd=3e-3, momentum=7e-3, nesterov=5e-3, adagrad=0.5, rmsprop=0.03, adam=0.1,
        adamw=0.1, nadam=0.05, lion=0.02, adadelta=1.0, yogi=0.1,
    ),
    "beale": dict(
        sgd=0.01, momentum=0.01, nesterov=0.01, adagrad=1.0, rmsprop=0.1, adam=0.1,
        adamw=0.1, nadam=0.1, lion=0.02, adadelta=5.0, yogi=0.1,
    ),
    "himmelblau": dict(
        sgd=0.01, momentum=0.01, nesterov=0.01, adagrad=0.5, rmsprop=0.03, adam=0.1,
        adamw=0.1, nadam=0.1, lion=0.05, adadelta=10.0, yogi=0.1,
    ),
    "saddle": dict(
        sgd=0.05, momentum=0.01, nesterov=0.01, adagrad=0.3, rmsprop=0.03, adam=0.05,
        adamw=0.05, nadam=0.05, lion=0.05, adadelta=1.0, yogi=0.05,
    ),
}  # fmt: skip


def critical_momentum(lr: float, lam: float) -> float:
    """mu_c = (1 - sqrt(lr*lam))^2: heavy ball is critically damped along curvature lam.

    Above mu_c the coordinate oscillates; at or below it the approach is monotone.
    Defined for 0 <= lr*lam <= 1 (for lr*lam > 1 plain gradient steps already
    overshoot, so every mu >= 0 oscillates and 0.0 is returned).
    """
    s = lr * lam
    return 0.0 if s >= 1.0 else (1.0 - math.sqrt(max(s, 0.0))) ** 2


def polyak_momentum(lam_min: float, lam_max: float) -> tuple[float, float, float]:
    """(lr, mu, rate): Polyak's best heavy ball for curvatures in [min, max]."""
    k = lam_max / lam_min
    lr = 4.0 / (math.sqrt(lam_max) + math.sqrt(lam_min)) ** 2
    mu = ((math.sqrt(k) - 1.0) / (math.sqrt(k) + 1.0)) ** 2
    return lr, mu, math.sqrt(mu)


def curvatures(fn: Function2D, point: Any, h: float = 1e-5) -> np.ndarray:
    """Eigenvalues (ascending) of the Hessian at ``point``, by central differences
    of the analytic gradient."""
    x, y = float(point[0]), float(point[1])
    gxp, gyp = fn.grad(x + h, y)
    gxm, gym = fn.grad(x - h, y)
    hxx, hxy = (gxp - gxm) / (2 * h), (gyp - gym) / (2 * h)
    gxp, gyp = fn.grad(x, y + h)
    gxm, gym = fn.grad(x, y - h)
    hyx, hyy = (gxp - gxm) / (2 * h), (gyp - gym) / (2 * h)
    hess = np.array([[hxx, (hxy + hyx) / 2], [(hxy + hyx) / 2, hyy]], dtype=float)
    return np.linalg.eigvalsh(hess)


def _g(v: float) -> str:
    """Three significant digits, without an exponent between 1e-3 and 1e5."""
    if v != 0 and 1e-3 <= abs(v) < 1e5:
        return f"{float(f'{v:.3g}'):g}" if abs(v) < 1e3 else f"{v:.0f}"
    return f"{v:.3g}"


def _why_quadratic(fn: Function2D) -> list[str]:
    lo, hi = (float(v) for v in curvatures(fn, (0.0, 0.0)))
    k = hi / lo
    lr_gd = 2.0 / (lo + hi)
    lr_p, mu_p, rate_p = polyak_momentum(lo, hi)
    mu_x = critical_momentum(0.1, lo)
    return [
        f"The curvatures are {_g(lo)} along x and {_g(hi)} along y: the condition "
        f"number is κ = {_g(k)}. Plain SGD is stable only for "
        f"lr < 2/{_g(hi)} = {_g(2 / hi)}; its best lr, 2/(λmin + λmax) = "
        f"{_g(lr_gd)}, still shrinks the error by only (κ−1)/(κ+1) = "
        f"{_g((k - 1) / (k + 1))} per step.",
        "Momentum (heavy ball) along a direction of curvature λ obeys "
        "θₜ₊₁ = θₜ − lr·λ·θₜ + μ(θₜ − θₜ₋₁). It oscillates about the "
        "minimum when μ is above the critical damping μ_c = (1 − √(lr·λ))², and "
        "approaches it without overshoot below. At lr = 0.1 along x: "
        f"μ_c = (1 − √{_g(0.1 * lo)})² = {_g(mu_x)}, so the book's μ = 0.9 "
        "overshoots. Try μ at and below μ_c.",
        f"Polyak's best pair for this bowl, lr = 4/(√λmax + √λmin)² = {_g(lr_p)} and "
        f"μ = ((√κ−1)/(√κ+1))² = {_g(mu_p)}, shrinks the error by √μ = "
        f"{_g(rate_p)} per step: compare it with SGD's {_g((k - 1) / (k + 1))}.",
    ]


def why(name: str) -> list[str]:
    """Paragraphs of plain text for the function's "why" box."""
    fn = FUNCTIONS[name]
    if name == "book_quadratic":
        return _why_quadratic(fn)
    if name == "rosenbrock":
        lo, hi = (float(v) for v in curvatures(fn, (1.0, 1.0)))
        return [
            f"At the minimum (1, 1) the curvatures are {_g(hi)} across the valley and "
            f"{_g(lo)} along it (κ ≈ {_g(hi / lo)}). SGD must keep lr below "
            f"2/{_g(hi)} ≈ {_g(2 / hi)} or it bounces out of the valley, and at "
            "such a small lr it crawls along the flat floor.",
            "Momentum keeps the speed it gathers along the floor; Adam and RMSProp "
            "divide each coordinate by its own gradient size, so they take "
            "similar-sized steps across and along the valley. Watch the "
            "f(θ) − f* curve: long flat stretches are the crawl.",
        ]
    if name == "rastrigin":
        return [
            "The local minima sit near every point with integer coordinates, "
            "separated by barriers about 10 high in f. Every method is trapped in the "
            "first well it falls into unless its steps are long enough to jump: "
            "raise Momentum's μ or Adam's lr and watch which well it ends in.",
            "Plain SGD needs lr < 2/(2 + 40π²) ≈ "
            f"{_g(2 / (2 + 40 * math.pi**2))} to be stable inside a well.",
        ]
    if name == "beale":
        return [
            "A learning rate that is safe on the steep walls is far too small on the "
            "long, almost flat valley floor that leads to the minimum at (3, 0.5).",
            "Adaptive methods (AdaGrad, RMSProp, Adam) rescale each step by the "
            "gradient's recent size, which is exactly what this function asks for.",
        ]
    if name == "himmelblau":
        return [
            "Which minimum an optimizer ends in depends on the direction of its "
            "first steps: SGD follows the gradient, while the "
            "adaptive methods first move diagonally (each coordinate by about lr). "
            "Click to move the start and watch the basins change.",
        ]
    return [
        "SGD first slides towards the saddle point along x (shrinking by "
        "1 − 2·lr per step) and escapes only as the tiny y component grows by "
        "1 + 2·lr per step; momentum makes both faster. Every path that escapes "
        "leaves the domain: f has no lower bound.",
        "Adaptive methods divide the tiny y gradient by its own size, so they "
        "escape at once. The plot shows f(θ) itself (there is no f*).",
    ]


def _book_quadratic_presets() -> list[dict[str, Any]]:
    """The book's quadratic: its four optimizers, critical damping, Polyak's
    optimum and an lr just past SGD's limit (a table)."""
    lo, hi = (float(v) for v in curvatures(FUNCTIONS["book_quadratic"], (0.0, 0.0)))
    lr_p, mu_p, _ = polyak_momentum(lo, hi)
    mu_c = critical_momentum(0.1, lo)
    return [
        {
            "label": "The book's four",
            "steps": 30,
            "optimizers": [
                {"name": "sgd", "lr": 0.95},
                {"name": "momentum", "lr": 0.1, "momentum": 0.9},
                {"name": "adagrad", "lr": 1.5},
                {"name": "adam", "lr": 0.3},
            ],
        },
        {
            "label": f"Critical damping μ_c = {_g(mu_c)}",
            "steps": 100,
            "optimizers": [
                {"name": "momentum", "lr": 0.1, "momentum": 0.9},
                {"name": "momentum", "lr": 0.1, "momentum": round(mu_c, 4)},
                {"name": "momentum", "lr": 0.1, "momentum": 0.5},
            ],
        },
        {
            "label": "Polyak's optimum vs best SGD",
            "steps": 40,
            "optimizers": [
                {"name": "sgd", "lr": round(2 / (lo + hi), 4)},
                {
                    "name": "momentum",
                    "lr": round(lr_p, 4),
                    "momentum": round(mu_p, 4),
                },
            ],
        },
        {
            "label": "Too large: SGD lr 1.05",
            "steps": 60,
            "optimizers": [{"name": "sgd", "lr": 1.05}],
        },
    ]


def presets(name: str) -> list[dict[str, Any]]:
    """Clickable "try this" settings: {label, steps, optimizers: [{name, ...hp}]}."""
    lr = SUGGESTED_LR[name]
    if name == "book_quadratic":
        return _book_quadratic_presets()
    four = ("sgd", "momentum", "rmsprop", "adam")
    steps = {"rosenbrock": 1000, "rastrigin": 300, "beale": 500}.get(name, 200)
    return [
        {
            "label": "SGD, Momentum, RMSProp, Adam",
            "steps": steps,
            "optimizers": [{"name": o, "lr": lr[o]} for o in four],
        },
        {
            "label": "Adam, AdamW, NAdam, Yogi, Lion",
            "steps": steps,
            "optimizers": [
                {"name": o, "lr": lr[o]}
                for o in ("adam", "adamw", "nadam", "yogi", "lion")
            ],
        },
    ]
