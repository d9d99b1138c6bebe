"""2-D convolution by im2col and one GEMM."""

from __future__ import annotations

import numbers

import numpy as np

from .. import backend as B
from .._validation import (
    check_array,
    check_int_pair,
    check_scalar,
    check_shape,
)
from . import conv_shifted
from .im2col import col2im, im2col, output_size, pad
from .init import as_rng, init_weight
from .module import Module, Parameter
from .parallel import batch_chunks, fast_paths_enabled, run_chunks, sum_in_order


class Conv2d(Module):
    """Cross-correlation y[n, o] = Σ_c W[o, c] ⋆ x[n, c] + b[o] (torch's Conv2d,
    groups=1).

    x: (N, C_in, H, W) -> y: (N, C_out, OH, OW), OH = floor((H + 2P - kH)/S) + 1.
    W: (C_out, C_in, kH, kW); b: (C_out,).
    Forward: col = im2col(pad(x)) (N, C_in*kH*kW, OH*OW);  y[n] = W col[n] + b,
    one batched GEMM whose (N, C_out, OH*OW) result is NCHW without a transpose.
    Backward (dy[n] as (C_out, OH*OW)): dW = Σ_n dy[n] col[n]ᵀ;  db = Σ dy;
    dx = col2im(Wᵀ dy[n]), padding cropped.

    Args:
        in_channels, out_channels: channel counts (>= 1).
        kernel_size, stride, padding: int or (h, w) pair; stride >= 1, padding >= 0.
        bias, init, rng, dtype: as for Linear (fan_in = C_in*kH*kW).

    Attribute ``input_grad`` (default True): False skips dx in backward (returns
    None), for a first layer fed with data; see Linear.

    Fast path (NumPy backend, see ``descentlab.nn.parallel``): the same products
    per chunk of the batch on a thread pool, dW and db summed over chunks in chunk
    order; for stride 1 (and padding <= kernel - 1) dx is itself a correlation,
    dx[n] = Wᶠ im2col(pad(dy[n], k - 1 - P)) with Wᶠ[c, o, i, j] = W[o, c, k-1-i,
    k-1-j] as a (C_in, C_out*kH*kW) matrix: one contiguous copy instead of the
    kH*kW strided adds of col2im. Stride-1 convolutions with 8-32 input channels
    on large outputs (>= 400 pixels, e.g. 16 channels at 28x28) skip the patch
    matrix altogether: kH*kW shifted GEMMs on a padded, flattened copy of each
    chunk (``descentlab.nn.conv_shifted``).
    """

    input_grad = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        bias: bool = True,
        init: str | float = "he",
        *,
        rng=None,
        dtype=None,
    ):
        super().__init__()
        check_scalar(
            in_channels, "in_channels", numbers.Integral, min_val=1, owner="Conv2d"
        )
        check_scalar(
            out_channels, "out_channels", numbers.Integral, min_val=1, owner="Conv2d"
        )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = check_int_pair(kernel_size, "kernel_size", owner="Conv2d")
        self.stride = check_int_pair(stride, "stride", owner="Conv2d")
        self.padding = check_int_pair(padding, "padding", owner="Conv2d", min_val=0)
        kh, kw = self.kernel_size
        self.weight = Parameter(
            init_weight(
                init,
                (self.out_channels, self.in_channels, kh, kw),
                rng=as_rng(rng),
                dtype=dtype,
                owner="Conv2d",
            )
        )
        if bias:
            self.bias: Parameter | None = Parameter(
                B.xp().zeros(self.out_channels, dtype=self.weight.dtype)
            )
        else:
            self.bias = None

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        """(OH, OW) for an input of size (h, w); ValueError if the kernel does not
        fit."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (
            output_size(h, kh, ph, sh, owner="Conv2d", dim="height"),
            output_size(w, kw, pw, sw, owner="Conv2d", dim="width"),
        )

    def forward(self, x):
        check_array(x, "x", owner="Conv2d.forward", floating=True)
        check_shape(
            x.shape, (None, self.in_channels, None, None), "x", owner="Conv2d.forward"
        )
        if fast_paths_enabled():
            out_hw = self.output_shape(*x.shape[2:])
            if conv_shifted.applies(self.in_channels, self.stride, out_hw):
                return self._forward_shifted(x)
            return self._forward_chunked(x)
        n, _, h, w = x.shape
        oh, ow = self.output_shape(h, w)
        kh, kw = self.kernel_size
        xp_ = pad(x, self.padding)
        col = im2col(xp_, kh, kw, self.stride)
        y = self.weight.data.reshape(self.out_channels, -1) @ col
        if self.bias is not None:
            y += self.bias.data[:, None]
        self._cache = (col, xp_.shape)
        return y.reshape(n, self.out_channels, oh, ow)

    def backward(self, dout):
        cache = self._need_cache()
        if isinstance(cache, _ShiftedCache):
            return self._backward_shifted(dout, cache)
        if isinstance(cache, _ChunkedCache):
            return self._backward_chunked(dout, cache)
        col, padded_shape = cache
        kh, kw = self.kernel_size
        dmat = dout.reshape(dout.shape[0], self.out_channels, -1)
        dw = (dmat @ col.transpose(0, 2, 1)).sum(axis=0)
        self.weight.grad += dw.reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += dmat.sum(axis=(0, 2))
        if not self.input_grad:
            return None
        dcol = self.weight.data.reshape(self.out_channels, -1).T @ dmat
        dx = col2im(dcol, padded_shape, kh, kw, self.stride)
        ph, pw = self.padding
        return dx[:, :, ph : dx.shape[2] - ph, pw : dx.shape[3] - pw]

    # ------------------------------------------------------------ fast paths
    def _forward_shifted(self, x):
        n = x.shape[0]
        g = conv_shifted.Geometry(x.shape[2:], self.padding, self.kernel_size)
        w4 = self.weight.data
        dtype = np.result_type(w4.dtype, x.dtype)
        slices = conv_shifted.kernel_slices(w4)
        y = np.empty((n, self.out_channels, g.oh, g.ow), dtype=dtype)
        bias = None if self.bias is None else self.bias.data
        chunks = batch_chunks(
            n,
            g.sample_bytes(self.in_channels, np.dtype(dtype).itemsize),
            chunk_bytes=conv_shifted.CHUNK_BYTES,
        )

        def forward_chunk(sl):
            buf = conv_shifted.pack(x[sl], g, dtype)
            conv_shifted.forward(buf, slices, g, y[sl], bias)
            return buf

        bufs = run_chunks(forward_chunk, chunks)
        self._cache = _ShiftedCache(bufs, chunks, g, slices)
        return y

    def _backward_shifted(self, dout, cache: _ShiftedCache):
        n = dout.shape[0]
        g, w4, slices = cache.geometry, self.weight.data, cache.slices
        dx = None
        if self.input_grad:
            dx = np.empty(
                (n, self.in_channels, g.h, g.w), dtype=np.result_type(w4, dout)
            )

        def backward_chunk(item):
            sl, buf = item
            out = None if dx is None else dx[sl]
            return conv_shifted.backward(buf, slices, g, dout[sl], out)

        parts = run_chunks(
            backward_chunk, list(zip(cache.chunks, cache.bufs, strict=True))
        )
        self.weight.grad += sum_in_order(parts)
        if self.bias is not None:
            self.bias.grad += dout.sum(axis=(0, 2, 3))
        return dx

    def _forward_chunked(self, x):
        n, c, h, w = x.shape
        oh, ow = self.output_shape(h, w)
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        w2 = self.weight.data.reshape(self.out_channels, -1)
        dtype = np.result_type(w2.dtype, x.dtype)
        hp, wp = h + 2 * ph, w + 2 * pw
        padded = ph or pw
        xp_ = np.zeros((n, c, hp, wp), dtype=x.dtype) if padded else x
        y = np.empty((n, self.out_channels, oh * ow), dtype=dtype)
        bias = None if self.bias is None else self.bias.data[:, None]
        chunks = batch_chunks(n, c * kh * kw * oh * ow * x.itemsize)

        def forward_chunk(sl):
            if padded:
                xp_[sl, :, ph : ph + h, pw : pw + w] = x[sl]
            col = im2col(xp_[sl], kh, kw, self.stride)
            np.matmul(w2, col, out=y[sl])
            if bias is not None:
                y[sl] += bias
            return col

        cols = run_chunks(forward_chunk, chunks)
        self._cache = _ChunkedCache(cols, chunks, (h, w))
        return y.reshape(n, self.out_channels, oh, ow)

    def _backward_chunked(self, dout, cache: _ChunkedCache):
        n = dout.shape[0]
        cout, cin = self.out_channels, self.in_channels
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        h, w = cache.hw
        dmat = dout.reshape(n, cout, -1)
        w4 = self.weight.data
        want_dx = self.input_grad
        as_correlation = (sh, sw) == (1, 1) and ph <= kh - 1 and pw <= kw - 1
        if want_dx and as_correlation:
            # Wᶠ (C_in, C_out*kh*kw): kernel flipped in space, channels swapped
            wflip = np.ascontiguousarray(
                w4[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            ).reshape(cin, -1)
        w2t = w4.reshape(cout, -1).T
        oh, ow = dout.shape[2:]
        qh, qw = kh - 1 - ph, kw - 1 - pw  # dy's padding for dx as a correlation
        dyp = dout
        if want_dx and as_correlation and (qh or qw):  # zero border, filled per chunk
            dyp = np.zeros((n, cout, oh + 2 * qh, ow + 2 * qw), dtype=dout.dtype)
        dx = (
            np.empty((n, cin, h, w), dtype=np.result_type(w4.dtype, dout.dtype))
            if want_dx
            else None
        )
        with_bias = self.bias is not None

        def backward_chunk(item):
            sl, col = item
            d = dmat[sl]
            dw = (d @ col.transpose(0, 2, 1)).sum(axis=0)
            db = d.sum(axis=(0, 2)) if with_bias else None
            if want_dx:
                if as_correlation:
                    if dyp is dout:
                        dcol = im2col(dout[sl], kh, kw, (1, 1))
                    else:
                        dyp[sl, :, qh : qh + oh, qw : qw + ow] = dout[sl]
                        dcol = im2col(dyp[sl], kh, kw, (1, 1))
                    np.matmul(wflip, dcol, out=dx[sl].reshape(d.shape[0], cin, -1))
                else:
                    dcol = w2t @ d
                    hp, wp = h + 2 * ph, w + 2 * pw
                    full = col2im(dcol, (d.shape[0], cin, hp, wp), kh, kw, (sh, sw))
                    dx[sl] = full[:, :, ph : ph + h, pw : pw + w]
            return dw, db

        parts = run_chunks(
            backward_chunk, list(zip(cache.chunks, cache.cols, strict=True))
        )
        self.weight.grad += sum_in_order([p[0] for p in parts]).reshape(w4.shape)
        if with_bias:
            assert self.bias is not None
            self.bias.grad += sum_in_order([p[1] for p in parts])
        return dx


class _ShiftedCache:
    """What the shifted-GEMM forward keeps for backward: packed chunks, chunks,
    geometry and the kernel as kh*kw matrices (the weights do not change in
    between)."""

    __slots__ = ("bufs", "chunks", "geometry", "slices")

    def __init__(self, bufs, chunks, geometry, slices):
        self.bufs, self.chunks = bufs, chunks
        self.geometry, self.slices = geometry, slices


class _ChunkedCache:
    """What the chunked forward keeps: patch matrices, chunks, input (H, W)."""

    __slots__ = ("cols", "chunks", "hw")

    def __init__(self, cols, chunks, hw):
        self.cols, self.chunks, self.hw = cols, chunks, hw
