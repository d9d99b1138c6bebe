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
     = gamma/sqrt(var+eps) (dy - dbeta/n - x̂ dgamma/n)   (the form the fast path uses)

Fast path (BatchNorm2d, NumPy backend; see ``descentlab.nn.parallel``): the same
formulas over chunks of the batch on a thread pool, the per-channel sums taken
per chunk and added in chunk order, each element-wise pass written in place into
one output array (no full-size temporaries besides x̂ and the output).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import backend as B
from .._validation import check_array, check_scalar
from ..errors import ShapeError
from .module import Module, Parameter
from .parallel import batch_chunks, fast_paths_enabled, run_chunks, sum_in_order


class _BatchNorm(Module):
    _ndim = 2
    # buffers, set through register_buffer in __init__
    running_mean: Any
    running_var: Any
    num_batches_tracked: Any

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
            want = pattern.replace("C", str(self.num_features))
            raise ShapeError(
                f"{name}.forward: x must have shape {want}; got {tuple(x.shape)}."
            )
        axes = (0,) if self._ndim == 2 else (0, 2, 3)
        shape = (1, -1) if self._ndim == 2 else (1, -1, 1, 1)
        return axes, shape

    def forward(self, x):
        axes, shape = self._layout(x)
        n = x.size // self.num_features
        xp = B.get_array_module(x)
        if self.training and n < 2:
            raise ValueError(
                f"{type(self).__name__}.forward: training needs more than 1 value per "
                f"channel; got input shape {tuple(x.shape)}. "
                "Use eval() or a larger batch."
            )
        if self._ndim == 4 and fast_paths_enabled():
            return self._forward_chunked(x, n)
        if self.training:
            mu = x.mean(axis=axes)
            xc = x - mu.reshape(shape)
            var = (xc * xc).mean(axis=axes)
            self._update_running(mu, var, n)
        else:
            xc = x - self.running_mean.reshape(shape)
            var = self.running_var
        inv = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        xhat = xc * inv.reshape(shape)
        self._cache = (xhat, inv, axes, shape, n, self.training)
        return xhat * self.weight.data.reshape(shape) + self.bias.data.reshape(shape)

    def _update_running(self, mu, var, n: int) -> None:
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mu
        self.running_var *= 1 - m
        self.running_var += (m * n / (n - 1)) * var
        self.num_batches_tracked += 1

    def _forward_chunked(self, x, n: int):
        """Training: mu and var by two passes of per-chunk sums; x̂ and y in place."""
        c = self.num_features
        x3 = x.reshape(x.shape[0], c, -1)
        chunks = batch_chunks(x.shape[0], 3 * x3[0].nbytes)
        xhat = np.empty(x3.shape, dtype=x.dtype)
        if self.training:
            mu = sum_in_order(run_chunks(lambda sl: x3[sl].sum(axis=(0, 2)), chunks))
            mu = (mu / n).astype(x.dtype, copy=False)
            mu3 = mu[:, None]

            def centre(sl):
                xc = np.subtract(x3[sl], mu3, out=xhat[sl])
                return np.einsum("nci,nci->c", xc, xc)

            var = sum_in_order(run_chunks(centre, chunks))
            var = (var / n).astype(x.dtype, copy=False)
            self._update_running(mu, var, n)
        else:
            mu3, var = self.running_mean[:, None], self.running_var
        inv = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        inv3, gamma3 = inv[:, None], self.weight.data[:, None]
        beta3 = self.bias.data[:, None]
        y = np.empty(x3.shape, dtype=np.result_type(x.dtype, gamma3.dtype))
        training = self.training

        def normalise(sl):
            if not training:
                np.subtract(x3[sl], mu3, out=xhat[sl])
            xhat[sl] *= inv3
            np.multiply(xhat[sl], gamma3, out=y[sl])
            y[sl] += beta3

        run_chunks(normalise, chunks)
        self._cache = _ChunkedBN(xhat, inv, chunks, n, training, x.shape)
        return y.reshape(x.shape)

    def _backward_chunked(self, dout, cache: _ChunkedBN):
        d3 = dout.reshape(cache.xhat.shape)
        xhat, chunks = cache.xhat, cache.chunks

        def sums(sl):
            return d3[sl].sum(axis=(0, 2)), np.einsum("nci,nci->c", d3[sl], xhat[sl])

        parts = run_chunks(sums, chunks)
        dbeta = sum_in_order([p[0] for p in parts])
        dgamma = sum_in_order([p[1] for p in parts])
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        k3 = (self.weight.data * cache.inv)[:, None]
        dx = np.empty(d3.shape, dtype=np.result_type(d3.dtype, k3.dtype))
        if cache.training:
            a3 = (dbeta / cache.n).astype(dx.dtype, copy=False)[:, None]
            b3 = (dgamma / cache.n).astype(dx.dtype, copy=False)[:, None]

        def input_grad(sl):
            out = dx[sl]
            if cache.training:  # k (dy - a - x̂ b)
                np.multiply(xhat[sl], b3, out=out)
                np.subtract(d3[sl], out, out=out)
                out -= a3
                out *= k3
            else:  # k dy
                np.multiply(d3[sl], k3, out=out)

        run_chunks(input_grad, chunks)
        return dx.reshape(cache.shape)

    def backward(self, dout):
        cache = self._need_cache()
        if isinstance(cache, _ChunkedBN):
            return self._backward_chunked(dout, cache)
        xhat, inv, axes, shape, n, training = cache
        self.weight.grad += (dout * xhat).sum(axis=axes)
        self.bias.grad += dout.sum(axis=axes)
        dxhat = dout * self.weight.data.reshape(shape)
        if not training:
            return dxhat * inv.reshape(shape)
        s1 = dxhat.sum(axis=axes).reshape(shape)
        s2 = (dxhat * xhat).sum(axis=axes).reshape(shape)
        return (inv.reshape(shape) / n) * (n * dxhat - s1 - xhat * s2)


class _ChunkedBN:
    """What the chunked forward keeps for backward."""

    __slots__ = ("xhat", "inv", "chunks", "n", "training", "shape")

    def __init__(self, xhat, inv, chunks, n, training, shape):
        self.xhat, self.inv, self.chunks = xhat, inv, chunks
        self.n, self.training, self.shape = n, training, shape


class BatchNorm1d(_BatchNorm):
    """Batch norm over features of x: (N, C)."""

    _ndim = 2


class BatchNorm2d(_BatchNorm):
    """Batch norm per channel of x: (N, C, H, W), statistics over N, H, W."""

    _ndim = 4
