"""Weight initialisation.

fan_in = in_features for a Linear weight (out, in), C_in*kH*kW for a Conv2d
weight (out, in, kH, kW); fan_out = out_features or C_out*kH*kW.

- normal(std):      W ~ N(0, std^2)
- xavier_normal:    std = gain * sqrt(2 / (fan_in + fan_out))  (Glorot & Bengio, 2010)
- xavier_uniform:   U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))
- lecun_normal:     std = 1 / sqrt(fan_in)  (Deep Learning from Scratch's "Xavier")
- he_normal:        std = sqrt(2 / fan_in)                     (He et al., 2015)
- he_uniform:       U(-a, a), a = sqrt(6 / fan_in)

Gains (calculate_gain): linear/sigmoid 1, tanh 5/3, relu sqrt(2),
leaky_relu sqrt(2 / (1 + a^2)). Biases start at zero.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import backend as B
from .._validation import check_option, check_scalar
from ..errors import InvalidParameterError

INIT_NAMES = (
    "he",
    "he_normal",
    "he_uniform",
    "xavier",
    "xavier_normal",
    "xavier_uniform",
    "lecun",
    "lecun_normal",
    "sigmoid_xavier",
)


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A Generator from a Generator, a seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain for an activation (torch's values)."""
    check_option(
        nonlinearity,
        "nonlinearity",
        ("linear", "identity", "sigmoid", "tanh", "relu", "leaky_relu"),
        owner="calculate_gain",
    )
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + a * a))
    return 1.0


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out, in) or Conv2d (out, in, kH, kW) weight."""
    if len(shape) < 2:
        raise ValueError(
            f"fans: a weight needs at least 2 dimensions; got shape {shape}."
        )
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _finish(w: np.ndarray, dtype: Any) -> Any:
    return B.asarray(w, dtype=B.default_dtype() if dtype is None else dtype)


def normal(shape, std: float, *, rng=None, dtype=None):
    """W ~ N(0, std^2)."""
    check_scalar(std, "std", numbers.Real, min_val=0.0, owner="init.normal")
    return _finish(as_rng(rng).standard_normal(shape) * std, dtype)


def xavier_normal(shape, gain: float = 1.0, *, rng=None, dtype=None):
    fan_in, fan_out = fans(tuple(shape))
    return normal(
        shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng, dtype=dtype
    )


def xavier_uniform(shape, gain: float = 1.0, *, rng=None, dtype=None):
    fan_in, fan_out = fans(tuple(shape))
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _finish(as_rng(rng).uniform(-a, a, size=shape), dtype)


def lecun_normal(shape, *, rng=None, dtype=None):
    fan_in, _ = fans(tuple(shape))
    return normal(shape, 1.0 / math.sqrt(fan_in), rng=rng, dtype=dtype)


def he_normal(shape, *, rng=None, dtype=None):
    fan_in, _ = fans(tuple(shape))
    return normal(shape, math.sqrt(2.0 / fan_in), rng=rng, dtype=dtype)


def he_uniform(shape, *, rng=None, dtype=None):
    fan_in, _ = fans(tuple(shape))
    a = math.sqrt(6.0 / fan_in)
    return _finish(as_rng(rng).uniform(-a, a, size=shape), dtype)


def init_weight(init: str | float, shape, *, rng=None, dtype=None, owner: str = "init"):
    """Dispatch by name ("he", "xavier", "lecun", ... see INIT_NAMES) or a float std."""
    if isinstance(init, numbers.Real) and not isinstance(init, bool):
        check_scalar(init, "init", numbers.Real, min_val=0.0, owner=owner)
        return normal(shape, float(init), rng=rng, dtype=dtype)
    if not isinstance(init, str) or init not in INIT_NAMES:
        choices = ", ".join(repr(n) for n in INIT_NAMES)
        raise InvalidParameterError(
            f"{owner}: 'init' must be a float std >= 0 or one of {choices}. "
            f"Got {init!r}."
        )
    if init in ("he", "he_normal"):
        return he_normal(shape, rng=rng, dtype=dtype)
    if init == "he_uniform":
        return he_uniform(shape, rng=rng, dtype=dtype)
    if init in ("xavier", "xavier_normal"):
        return xavier_normal(shape, rng=rng, dtype=dtype)
    if init == "xavier_uniform":
        return xavier_uniform(shape, rng=rng, dtype=dtype)
    return lecun_normal(
        shape, rng=rng, dtype=dtype
    )  # "lecun", "lecun_normal", "sigmoid_xavier"
