"""Batch Normalization (Ioffe & Szegedy, 2015) with torch's conventions.

Per feature/channel c over the batch (and H, W for 2-D):
  train: mu = mean(x), var = mean((x - mu)^2) (biased),
         x̂ = (x - mu) / sqrt(var + eps),  y = gamma x̂ + beta,
         running_mean ← (1 - m) running_mean + m mu,
         running_var  ← (1 - m) running_var + m var·n/(n-1) (unbiased)
         num_batches_tracked ← num_batches_tracked + 1   (torch's third buffer)
  eval:  x̂ = (x - running_mean) / sqrt(running_var + eps)
Backward (train), n values per channel:
  dgamma = Σ dy x̂;  dbeta = Σ dy;  dx̂ = dy gamma
  dx = (1/n)(1/sqrt(var+eps)) (n dx̂ - Σ dx̂ - x̂ Σ dx̂ x̂)
"""

from __future__ import annotations

import numbers

from .. import backend as B
from .._validation import check_array, check_scalar
from ..errors import ShapeError
from .module import Module, Parameter


class _BatchNorm(Module):
    _ndim = 2

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype=None
    ):
        super().__init__()
        name = type(self).__name__
        check_scalar(
            num_features, "num_features", numbers.Integral, min_val=1, owner=name
        )
        check_scalar(
            eps,
            "eps",
            numbers.Real,
            min_val=0.0,
            include_boundaries="neither",
            owner=name,
        )
        check_scalar(
            momentum, "momentum", numbers.Real, min_val=0.0, max_val=1.0, owner=name
        )
        self.num_features, self.eps, self.momentum = (
            int(num_features),
            float(eps),
            float(momentum),
        )
        xp, dt = B.xp(), dtype or B.default_dtype()
        self.weight = Parameter(xp.ones(self.num_features, dtype=dt))
        self.bias = Parameter(xp.zeros(self.num_features, dtype=dt))
        self.register_buffer("running_mean", xp.zeros(self.num_features, dtype=dt))
        self.register_buffer("running_var", xp.ones(self.num_features, dtype=dt))
        # torch's third buffer: training passes seen (keeps state_dict keys equal)
        self.register_buffer("num_batches_tracked", xp.zeros((), dtype=xp.int64))

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"

    def _layout(self, x):
        name = type(self).__name__
        pattern = "(N, C)" if self._ndim == 2 else "(N, C, H, W)"
        check_array(x, "x", owner=f"{name}.forward", floating=True)
        if x.ndim != self._ndim or x.shape[1] != self.num_features:
            raise ShapeError(
                f"{name}.forward: x must have shape {pattern.replace('C', str(self.num_features))}; "
                f"got {tuple(x.shape)}."
            )
        axes = (0,) if self._ndim == 2 else (0, 2, 3)
        shape = (1, -1) if self._ndim == 2 else (1, -1, 1, 1)
        return axes, shape

    def forward(self, x):
        axes, shape = self._layout(x)
        n = x.size // self.num_features
        xp = B.get_array_module(x)
        if self.training:
            if n < 2:
                raise ValueError(
                    f"{type(self).__name__}.forward: training needs more than 1 value per "
                    f"channel; got input shape {tuple(x.shape)}. Use eval() or a larger batch."
                )
            mu = x.mean(axis=axes)
            xc = x - mu.reshape(shape)
            var = (xc * xc).mean(axis=axes)
            m = self.momentum
            self.running_mean *= 1 - m
            self.running_mean += m * mu
            self.running_var *= 1 - m
            self.running_var += (m * n / (n - 1)) * var
            self.num_batches_tracked += 1
        else:
            xc = x - self.running_mean.reshape(shape)
            var = self.running_var
        inv = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        xhat = xc * inv.reshape(shape)
        self._cache = (xhat, inv, axes, shape, n, self.training)
        return xhat * self.weight.data.reshape(shape) + self.bias.data.reshape(shape)

    def backward(self, dout):
        xhat, inv, axes, shape, n, training = self._need_cache()
        self.weight.grad += (dout * xhat).sum(axis=axes)
        self.bias.grad += dout.sum(axis=axes)
        dxhat = dout * self.weight.data.reshape(shape)
        if not training:
            return dxhat * inv.reshape(shape)
        s1 = dxhat.sum(axis=axes).reshape(shape)
        s2 = (dxhat * xhat).sum(axis=axes).reshape(shape)
        return (inv.reshape(shape) / n) * (n * dxhat - s1 - xhat * s2)


class BatchNorm1d(_BatchNorm):
    """Batch norm over features of x: (N, C)."""

    _ndim = 2


class BatchNorm2d(_BatchNorm):
    """Batch norm per channel of x: (N, C, H, W), statistics over N, H, W."""

    _ndim = 4
