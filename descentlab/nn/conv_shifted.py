"""Stride-1 convolution as kh*kw shifted GEMMs, without a patch matrix.

The fast path of ``Conv2d`` for few-channel convolutions on large images (say 16
channels at 28x28), where im2col's patch matrix (kh*kw times the input) costs
more memory traffic than the GEMM that reads it.

Layout: a chunk of n samples is copied once, zero-padded, into a buffer
``buf`` of shape (C, n*Hp*Wp + tail), channels first and every sample's padded
image flattened after the previous one (tail = (kh-1)*Wp + kw-1 zeros). With the
output computed on the whole padded grid (q = flat index in it), a stride-1
correlation is

    y[:, q] = Σ_(i,j) W[:, :, i, j] @ buf[:, q + i*Wp + j]

one (C_out, C_in) @ (C_in, n*Hp*Wp) GEMM per kernel offset on a shifted,
zero-copy view. Grid points with row >= OH or column >= OW are junk (they mix
neighbouring rows or samples) and are dropped; backward gives them zero
gradient, so they contribute nothing:

    dW[:, :, i, j] = dy_grid @ buf[:, q + off]ᵀ,   db = Σ dy,
    dbuf[:, q + off] += W[:, :, i, j]ᵀ @ dy_grid,   dx = dbuf's interior.

Every buffer is a per-chunk scratch of a few hundred KB that stays in cache; the
cost is the junk columns, (Hp*Wp)/(OH*OW) - 1 extra work (15 % at 28x28, p=1),
which is why the layer uses this path only on large images.
"""

from __future__ import annotations

import numpy as np

#: per-chunk buffer size the chunking aims for (cache-sized: the kh*kw GEMMs
#: re-read the buffer)
CHUNK_BYTES = 256 << 10
#: the path is used when the output has at least this many pixels ...
MIN_OUTPUT_PIXELS = 400
#: ... and at most this many input channels (beyond, the im2col GEMM is
#: efficient enough that the junk columns do not pay off)
MAX_IN_CHANNELS = 32
#: ... and at least this many (with one or two channels each GEMM is an outer
#: product)
MIN_IN_CHANNELS = 8


def applies(
    in_channels: int,
    stride: tuple[int, int],
    out_hw: tuple[int, int],
) -> bool:
    """Whether a convolution with these settings takes the shifted-GEMM path."""
    return (
        stride == (1, 1)
        and MIN_IN_CHANNELS <= in_channels <= MAX_IN_CHANNELS
        and out_hw[0] * out_hw[1] >= MIN_OUTPUT_PIXELS
    )


class Geometry:
    """Sizes of one layer call: input (H, W), padding, kernel, grid and offsets."""

    __slots__ = ("h", "w", "ph", "pw", "kh", "kw", "hp", "wp", "oh", "ow", "offsets")

    def __init__(self, hw, padding, kernel):
        self.h, self.w = hw
        self.ph, self.pw = padding
        self.kh, self.kw = kernel
        self.hp, self.wp = self.h + 2 * self.ph, self.w + 2 * self.pw
        self.oh, self.ow = self.hp - self.kh + 1, self.wp - self.kw + 1
        self.offsets = [i * self.wp + j for i in range(self.kh) for j in range(self.kw)]

    @property
    def tail(self) -> int:
        return (self.kh - 1) * self.wp + self.kw - 1

    def sample_bytes(self, channels: int, itemsize: int) -> int:
        return channels * self.hp * self.wp * itemsize


def kernel_slices(weight) -> list[np.ndarray]:
    """W (C_out, C_in, kh, kw) as kh*kw contiguous (C_out, C_in) matrices."""
    kh, kw = weight.shape[2:]
    return [
        np.ascontiguousarray(weight[:, :, i, j]) for i in range(kh) for j in range(kw)
    ]


def pack(x, g: Geometry, dtype) -> np.ndarray:
    """x (n, C, H, W) -> zero-padded buffer (C, n*Hp*Wp + tail)."""
    n, c = x.shape[:2]
    size = n * g.hp * g.wp
    buf = np.zeros((c, size + g.tail), dtype=dtype)
    grid = buf[:, :size].reshape(c, n, g.hp, g.wp)
    grid[:, :, g.ph : g.ph + g.h, g.pw : g.pw + g.w] = x.transpose(1, 0, 2, 3)
    return buf


def forward(buf, slices, g: Geometry, out, bias=None) -> None:
    """out (n, C_out, OH, OW) = correlation of the packed chunk with the kernel."""
    n = out.shape[0]
    size = n * g.hp * g.wp
    cout = slices[0].shape[0]
    acc = np.empty((cout, size), dtype=out.dtype)
    tmp = np.empty_like(acc)
    for k, off in enumerate(g.offsets):
        view = buf[:, off : off + size]
        if k == 0:
            np.matmul(slices[0], view, out=acc)
        else:
            np.matmul(slices[k], view, out=tmp)
            acc += tmp
    grid = acc.reshape(cout, n, g.hp, g.wp)[:, :, : g.oh, : g.ow]
    out[...] = grid.transpose(1, 0, 2, 3)
    if bias is not None:
        out += bias[:, None, None]


def backward(buf, slices, g: Geometry, dout, dx_out=None):
    """dW (C_out, C_in, kh, kw) of one chunk; dx (n, C_in, H, W) into ``dx_out``
    unless it is None."""
    n, cout = dout.shape[:2]
    cin = buf.shape[0]
    size = n * g.hp * g.wp
    dgrid = np.zeros((cout, n, g.hp, g.wp), dtype=dout.dtype)
    dgrid[:, :, : g.oh, : g.ow] = dout.transpose(1, 0, 2, 3)
    dflat = dgrid.reshape(cout, size)
    dw = np.empty((g.kh * g.kw, cout, cin), dtype=np.result_type(buf, dout))
    for k, off in enumerate(g.offsets):
        np.matmul(dflat, buf[:, off : off + size].T, out=dw[k])
    dw = dw.transpose(1, 2, 0).reshape(cout, cin, g.kh, g.kw)
    if dx_out is None:
        return dw
    dbuf = np.zeros_like(buf)
    tmp = np.empty((cin, size), dtype=dbuf.dtype)
    for k, off in enumerate(g.offsets):
        np.matmul(slices[k].T, dflat, out=tmp)
        dbuf[:, off : off + size] += tmp
    grid = dbuf[:, :size].reshape(cin, n, g.hp, g.wp)
    dx_out[...] = grid[:, :, g.ph : g.ph + g.h, g.pw : g.pw + g.w].transpose(1, 0, 2, 3)
    return dw
