"""The search space of every optimizer, declared once in :data:`SPACES`.

Each hyperparameter is a :class:`Dim` that maps a quasi-random coordinate
u in [0, 1) to a value:

- ``"log"``:       v = lo * (hi / lo) ** u                    (learning rates, decay)
- ``"one_minus"``: 1 - v = (1 - lo) * ((1 - hi) / (1 - lo)) ** u   (momentum, betas:
  log-uniform in 1 - v, so 0.9, 0.99 and 0.999 are equally likely decades)

Every dimension names an *axis*, the coordinate of the shared Halton point it
reads. Dimensions that mean the same thing in different rules share one axis:
``lr`` everywhere; the first-moment decay (Momentum's mu, Adam's beta1) on
``beta1``; the second-moment decay (RMSProp's alpha, Adam's beta2) on
``beta2``. So trial k of every optimizer sits at the same relative place in
each shared dimension, and the optimizers differ only in the rule.

Learning-rate ranges span four decades around each rule's usual scale
(plain SGD needs about 100x the lr of Adam); the lr-sensitivity figure shows
whether a best lr lies at an edge of its range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameterError

__all__ = [
    "AXES",
    "DEFAULT_OPTIMIZERS",
    "Dim",
    "SPACES",
    "check_optimizers",
    "optimizer_kwargs",
    "values_at",
]

#: The shared coordinates, in the order of the Halton dimensions (axis j uses
#: the j-th prime base).
AXES: tuple[str, ...] = ("lr", "beta1", "beta2", "weight_decay")


@dataclass(frozen=True)
class Dim:
    """One hyperparameter: its name, the shared axis it reads, its range and scale."""

    name: str
    axis: str
    lo: float
    hi: float
    scale: str = "log"

    def value(self, u: float) -> float:
        """The hyperparameter value at coordinate ``u`` in [0, 1)."""
        if self.scale == "log":
            return float(math.exp(math.log(self.lo) + u * math.log(self.hi / self.lo)))
        gap_lo, gap_hi = 1.0 - self.lo, 1.0 - self.hi
        return float(1.0 - math.exp(math.log(gap_lo) + u * math.log(gap_hi / gap_lo)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "axis": self.axis,
            "lo": self.lo,
            "hi": self.hi,
            "scale": self.scale,
        }


def _lr(lo: float, hi: float) -> Dim:
    return Dim("lr", "lr", lo, hi)


_MU = Dim("momentum", "beta1", 0.5, 0.99, "one_minus")
_BETA1 = Dim("beta1", "beta1", 0.5, 0.99, "one_minus")
_BETA2 = Dim("beta2", "beta2", 0.9, 0.9999, "one_minus")

#: optimizer name (as in ``descentlab.optim.make_optimizer``) -> its dimensions.
SPACES: dict[str, tuple[Dim, ...]] = {
    "sgd": (_lr(1e-3, 10.0),),
    "momentum": (_lr(1e-4, 1.0), _MU),
    "nesterov": (_lr(1e-4, 1.0), _MU),
    "adagrad": (_lr(1e-4, 1.0),),
    "rmsprop": (_lr(1e-5, 1e-1), Dim("alpha", "beta2", 0.9, 0.9999, "one_minus")),
    "adam": (_lr(1e-5, 1e-1), _BETA1, _BETA2),
    "adamw": (
        _lr(1e-5, 1e-1),
        _BETA1,
        _BETA2,
        Dim("weight_decay", "weight_decay", 1e-4, 1.0),
    ),
    "nadam": (_lr(1e-5, 1e-1), _BETA1, _BETA2),
    "lion": (_lr(1e-6, 1e-2), _BETA1, _BETA2),
}

DEFAULT_OPTIMIZERS: tuple[str, ...] = (
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
)


def check_optimizers(names: Sequence[str], *, owner: str = "compare") -> list[str]:
    """Return ``names`` if each has a search space and none repeats; else raise."""
    names = list(names)
    if not names:
        raise InvalidParameterError(f"{owner}: give at least one optimizer.")
    for name in names:
        if name not in SPACES:
            raise InvalidParameterError(
                f"{owner}: unknown optimizer {name!r}; optimizers with a search "
                f"space: {', '.join(SPACES)}."
            )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidParameterError(
            f"{owner}: optimizer {dup[0]!r} is listed twice; list each once."
        )
    return names


def values_at(optimizer: str, point: Mapping[str, float]) -> dict[str, float]:
    """Hyperparameter values of ``optimizer`` at a point {axis: u}."""
    return {d.name: d.value(float(point[d.axis])) for d in SPACES[optimizer]}


def optimizer_kwargs(params: Mapping[str, float]) -> dict[str, Any]:
    """Keyword arguments of ``make_optimizer`` for hyperparameter values.

    ``beta1``/``beta2`` become ``betas=(beta1, beta2)``; the rest pass as named.
    """
    kw: dict[str, Any] = {
        k: v for k, v in params.items() if k not in ("beta1", "beta2")
    }
    if "beta1" in params or "beta2" in params:
        kw["betas"] = (params.get("beta1", 0.9), params.get("beta2", 0.999))
    return kw
