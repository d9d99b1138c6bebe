"""2-D convolution by im2col and one GEMM."""

from __future__ import annotations

import numbers

from .. import backend as B
from .._validation import (
    check_array,
    check_positive_int_pair,
    check_scalar,
    check_shape,
)
from .im2col import col2im, im2col, output_size, pad
from .init import as_rng, init_weight
from .module import Module, Parameter


class Conv2d(Module):
    """Cross-correlation y[n, o] = Σ_c W[o, c] ⋆ x[n, c] + b[o] (torch's Conv2d, groups=1).

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
        self.kernel_size = check_positive_int_pair(
            kernel_size, "kernel_size", owner="Conv2d"
        )
        self.stride = check_positive_int_pair(stride, "stride", owner="Conv2d")
        self.padding = check_positive_int_pair(
            padding, "padding", owner="Conv2d", min_val=0
        )
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
            self.bias = Parameter(
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
        """(OH, OW) for an input of size (h, w); ValueError if the kernel does not fit."""
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
        col, padded_shape = self._need_cache()
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
