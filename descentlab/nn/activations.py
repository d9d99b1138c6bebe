"""Element-wise activations and Flatten.

ReLU: y = max(0, x),                 dx = dy * [x > 0]
LeakyReLU: y = x if x > 0 else a*x,  dx = dy * (1 if x > 0 else a)
Sigmoid: y = 1 / (1 + e^-x),         dx = dy * y (1 - y)
Tanh: y = tanh(x),                   dx = dy * (1 - y^2)
Flatten: (N, d1, d2, ...) -> (N, d1*d2*...), dx = dy reshaped back.
"""

from __future__ import annotations

import numbers

from .. import backend as B
from .._validation import check_array, check_scalar
from ..errors import ShapeError
from .module import Module


class Identity(Module):
    """y = x."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


class ReLU(Module):
    """y = max(0, x); dx = dy * [x > 0]."""

    def forward(self, x):
        mask = x > 0
        self._cache = mask
        return B.get_array_module(x).maximum(x, 0)  # not x * mask: -inf * 0 is NaN

    def backward(self, dout):
        return dout * self._need_cache()


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        check_scalar(
            negative_slope,
            "negative_slope",
            numbers.Real,
            min_val=0.0,
            owner="LeakyReLU",
        )
        self.negative_slope = float(negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def forward(self, x):
        xp = B.get_array_module(x)
        scale = xp.where(x > 0, x.dtype.type(1), x.dtype.type(self.negative_slope))
        self._cache = scale
        return x * scale

    def backward(self, dout):
        return dout * self._need_cache()


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x)) (overflow-free); dx = dy * y * (1 - y)."""

    def forward(self, x):
        xp = B.get_array_module(x)
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self._cache = y
        return y

    def backward(self, dout):
        y = self._need_cache()
        return dout * y * (1 - y)


class Tanh(Module):
    """y = tanh(x); dx = dy * (1 - y^2)."""

    def forward(self, x):
        y = B.get_array_module(x).tanh(x)
        self._cache = y
        return y

    def backward(self, dout):
        y = self._need_cache()
        return dout * (1 - y * y)


class Flatten(Module):
    """(N, ...) -> (N, prod(...)); backward reshapes dy to the input shape."""

    def forward(self, x):
        check_array(x, "x", owner="Flatten.forward")
        if x.ndim < 2:
            raise ShapeError(
                "Flatten.forward: x must have at least 2 dimensions (N, ...); got "
                f"{tuple(x.shape)}."
            )
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self._need_cache())


ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
}
