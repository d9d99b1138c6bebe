"""Sliding windows over NCHW images: im2col with one copy, col2im by strided adds.

``windows(xp_, kh, kw, s)`` is a zero-copy view (N, C, OH, OW, kh, kw) of a padded
input; conv copies it once into a (N, C*kh*kw, OH*OW) patch matrix (torch's
``unfold`` layout), so that ``W (C_out, C*kh*kw) @ col`` is a batch of GEMMs whose
output is already NCHW. ``fold(dwin, padded_hw, s)`` is the adjoint: it adds window
gradients (N, C, OH, OW, kh, kw) back onto the padded image with kh*kw strided
adds (one reshape when the windows tile the image), never a per-pixel loop.

Output size: M = floor((N + 2P - K) / S) + 1.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B


def output_size(
    n: int, k: int, p: int, s: int, *, owner: str = "conv", dim: str = "size"
) -> int:
    """M = floor((n + 2p - k) / s) + 1, or a ValueError naming the layer and sizes."""
    m = (n + 2 * p - k) // s + 1
    if n + 2 * p < k or m < 1:
        raise ValueError(
            f"{owner}: kernel {k} does not fit input {dim} {n} with padding {p} and "
            f"stride {s} (padded {dim} {n + 2 * p} < kernel {k}); "
            f"output size floor((N + 2P - K)/S) + 1 would be {m}."
        )
    return m


def pad(x, p: tuple[int, int], value: float = 0.0):
    """Pad H and W of an NCHW array (no copy when p == (0, 0))."""
    ph, pw = p
    if ph == 0 and pw == 0:
        return x
    xp_ = B.get_array_module(x)
    return xp_.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def windows(x, kh: int, kw: int, s: tuple[int, int]):
    """View (N, C, OH, OW, kh, kw) of padded x (N, C, H, W); no copy."""
    xp_ = B.get_array_module(x)
    n, c, h, w = x.shape
    sh, sw = s
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    st = x.strides
    shape = (n, c, oh, ow, kh, kw)
    strides = (st[0], st[1], st[2] * sh, st[3] * sw, st[2], st[3])
    if xp_ is np:  # read-only guards against writes through overlapping windows
        return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return xp_.lib.stride_tricks.as_strided(x, shape, strides)  # CuPy: no 'writeable'


def tiles(h: int, w: int, kh: int, kw: int, s: tuple[int, int]) -> bool:
    """True when windows tile the image exactly (stride == kernel, sizes divide)."""
    return s == (kh, kw) and h % kh == 0 and w % kw == 0


def im2col(x, kh: int, kw: int, s: tuple[int, int]):
    """(N, C*kh*kw, OH*OW) patches of padded x (one copy); rows (c, i, j), cols (oh,
    ow)."""
    win = windows(x, kh, kw, s)
    n, c, oh, ow = win.shape[:4]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)


def fold(dwin, hw: tuple[int, int], s: tuple[int, int]):
    """Adjoint of ``windows``: sum (N, C, OH, OW, kh, kw) into (N, C, H, W)."""
    xp_ = B.get_array_module(dwin)
    n, c, oh, ow, kh, kw = dwin.shape
    h, w = hw
    sh, sw = s
    if tiles(h, w, kh, kw, s) and oh * kh == h and ow * kw == w:
        return dwin.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
    out = xp_.zeros((n, c, h, w), dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += dwin[
                :, :, :, :, i, j
            ]
    return out


def col2im(
    col, shape_nchw: tuple[int, int, int, int], kh: int, kw: int, s: tuple[int, int]
):
    """Adjoint of ``im2col``: (N, C*kh*kw, OH*OW) onto a padded image (N, C, H, W)."""
    n, c, h, w = shape_nchw
    oh, ow = (h - kh) // s[0] + 1, (w - kw) // s[1] + 1
    dwin = col.reshape(n, c, kh, kw, oh, ow).transpose(0, 1, 4, 5, 2, 3)
    return fold(dwin, (h, w), s)
