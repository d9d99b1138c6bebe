"""Fully connected (affine) layer."""

from __future__ import annotations

import numbers

from .. import backend as B
from .._validation import check_array, check_scalar, check_shape
from .init import as_rng, init_weight
from .module import Module, Parameter


class Linear(Module):
    """y = x Wᵀ + b;  x: (N, in_features) -> y: (N, out_features).

    W: (out_features, in_features) as in torch; b: (out_features,).
    Backward: dW = dyᵀ x;  db = Σ_N dy;  dx = dy W.

    Args:
        in_features, out_features: sizes (>= 1).
        bias: add a learnable bias (zero-initialised).
        init: "he" (default), "xavier", "lecun", ... or a float std (see nn.init).
        rng: Generator or seed for the initial weights.
        dtype: parameter dtype (default: backend.default_dtype(), float32).

    Attribute ``input_grad`` (default True): set it to False on a first layer fed
    with data, and backward fills the parameter gradients but skips dx (returns
    None), as torch does for an input that does not require grad. The Trainer
    does this for the first layer of a Sequential model while it trains.
    """

    input_grad = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str | float = "he",
        *,
        rng=None,
        dtype=None,
    ):
        super().__init__()
        check_scalar(
            in_features, "in_features", numbers.Integral, min_val=1, owner="Linear"
        )
        check_scalar(
            out_features, "out_features", numbers.Integral, min_val=1, owner="Linear"
        )
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(
            init_weight(
                init,
                (self.out_features, self.in_features),
                rng=as_rng(rng),
                dtype=dtype,
                owner="Linear",
            )
        )
        self.bias: Parameter | None
        if bias:
            self.bias = Parameter(
                B.xp().zeros(self.out_features, dtype=self.weight.dtype)
            )
        else:
            self.bias = None

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"

    def forward(self, x):
        check_array(x, "x", owner="Linear.forward", floating=True)
        check_shape(x.shape, (None, self.in_features), "x", owner="Linear.forward")
        self._cache = x
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, dout):
        x = self._need_cache()
        self.weight.grad += dout.T @ x
        if self.bias is not None:
            self.bias.grad += dout.sum(axis=0)
        return dout @ self.weight.data if self.input_grad else None
