"""Conv2d and pooling against naive Python loops over n, c, oh, ow, i, j.

The loops are written here, independently of im2col/col2im, so a wrong stride,
padding or window order in the vectorised code shows up as a mismatch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab import nn


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad(x, ph, pw, value=0.0):
    n, c, h, w = x.shape
    out = np.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def conv2d_naive(x, weight, bias, stride, padding):
    """y[n, o, a, b] = b[o] + sum_{c,i,j} xpad[n, c, a*sh+i, b*sw+j] W[o, c, i, j]."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    n_, c_, h, w = x.shape
    o_, _, kh, kw = weight.shape
    xp = _pad(x, ph, pw)
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n_, o_, oh, ow))
    for n in range(n_):
        for o in range(o_):
            for a in range(oh):
                for b in range(ow):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(c_):
                        for i in range(kh):
                            for j in range(kw):
                                total += (
                                    xp[n, c, a * sh + i, b * sw + j]
                                    * weight[o, c, i, j]
                                )
                    y[n, o, a, b] = total
    return y


def conv2d_naive_backward(x, weight, dy, stride, padding):
    """dx, dW, db of conv2d_naive by the same loops, scattering dy[n, o, a, b]."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    n_, c_, h, w = x.shape
    o_, _, kh, kw = weight.shape
    xp = _pad(x, ph, pw)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(weight)
    db = np.zeros(o_)
    for n in range(n_):
        for o in range(o_):
            for a in range(dy.shape[2]):
                for b in range(dy.shape[3]):
                    g = dy[n, o, a, b]
                    db[o] += g
                    for c in range(c_):
                        for i in range(kh):
                            for j in range(kw):
                                dxp[n, c, a * sh + i, b * sw + j] += (
                                    g * weight[o, c, i, j]
                                )
                                dw[o, c, i, j] += g * xp[n, c, a * sh + i, b * sw + j]
    return dxp[:, :, ph : ph + h, pw : pw + w], dw, db


def maxpool_naive(x, kernel, stride, padding):
    """Max over each window (padding is -inf); first maximum in row-major order wins."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    n_, c_, h, w = x.shape
    xp = _pad(x, ph, pw, -np.inf)
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n_, c_, oh, ow))
    arg = np.zeros((n_, c_, oh, ow, 2), dtype=int)
    for n in range(n_):
        for c in range(c_):
            for a in range(oh):
                for b in range(ow):
                    best, where = -np.inf, None
                    for i in range(kh):
                        for j in range(kw):
                            v = xp[n, c, a * sh + i, b * sw + j]
                            if where is None or v > best:
                                best, where = v, (a * sh + i, b * sw + j)
                    y[n, c, a, b] = best
                    arg[n, c, a, b] = where
    return y, arg


def maxpool_naive_backward(x_shape, arg, dy, padding):
    ph, pw = _pair(padding)
    n_, c_, h, w = x_shape
    dxp = np.zeros((n_, c_, h + 2 * ph, w + 2 * pw))
    for n in range(n_):
        for c in range(c_):
            for a in range(dy.shape[2]):
                for b in range(dy.shape[3]):
                    r, s = arg[n, c, a, b]
                    dxp[n, c, r, s] += dy[n, c, a, b]
    return dxp[:, :, ph : ph + h, pw : pw + w]


def avgpool_naive(x, kernel, stride, padding):
    """Mean over each window with zero padding counted (count_include_pad=True)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    n_, c_, h, w = x.shape
    xp = _pad(x, ph, pw)
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n_, c_, oh, ow))
    for n in range(n_):
        for c in range(c_):
            for a in range(oh):
                for b in range(ow):
                    total = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            total += xp[n, c, a * sh + i, b * sw + j]
                    y[n, c, a, b] = total / (kh * kw)
    return y


def avgpool_naive_backward(x_shape, dy, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    n_, c_, h, w = x_shape
    dxp = np.zeros((n_, c_, h + 2 * ph, w + 2 * pw))
    for n in range(n_):
        for c in range(c_):
            for a in range(dy.shape[2]):
                for b in range(dy.shape[3]):
                    for i in range(kh):
                        for j in range(kw):
                            dxp[n, c, a * sh + i, b * sw + j] += dy[n, c, a, b] / (
                                kh * kw
                            )
    return dxp[:, :, ph : ph + h, pw : pw + w]


CONV_CASES = [
    # (x shape, C_out, kernel, stride, padding)
    ((2, 2, 7, 5), 3, 3, 1, 0),
    ((2, 2, 7, 5), 3, (3, 2), 2, 1),
    ((1, 3, 6, 7), 2, (2, 3), (2, 1), (1, 2)),
    ((2, 1, 8, 8), 2, 4, 3, 2),
    ((1, 2, 4, 4), 3, 2, 2, 0),
    ((2, 2, 5, 5), 2, 1, 1, 0),
]


@pytest.mark.parametrize(("shape", "c_out", "k", "s", "p"), CONV_CASES)
def test_conv2d_forward_matches_loops(shape, c_out, k, s, p):
    """Check that Conv2d.forward equals the naive six-loop cross-correlation."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = nn.Conv2d(shape[1], c_out, k, stride=s, padding=p, rng=1, dtype=np.float64)
    layer.bias.data[...] = rng.standard_normal(c_out)
    y = layer.forward(x)
    ref = conv2d_naive(x, layer.weight.data, layer.bias.data, s, p)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("shape", "c_out", "k", "s", "p"), CONV_CASES)
def test_conv2d_backward_matches_loops(shape, c_out, k, s, p):
    """Check that Conv2d.backward's dx, dW and db equal the naive scatter loops."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    layer = nn.Conv2d(shape[1], c_out, k, stride=s, padding=p, rng=3, dtype=np.float64)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_dx, ref_dw, ref_db = conv2d_naive_backward(x, layer.weight.data, dy, s, p)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ref_dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, ref_db, rtol=1e-12, atol=1e-12)


POOL_CASES = [
    # (x shape, kernel, stride, padding)
    ((2, 2, 4, 6), 2, None, 0),
    ((2, 2, 7, 7), 3, 2, 0),
    ((1, 2, 6, 5), 3, 2, 1),
    ((2, 1, 5, 5), 2, 2, 1),
    ((1, 2, 5, 6), (3, 2), (1, 2), (1, 1)),
    ((1, 1, 5, 5), 3, 1, 1),
]


@pytest.mark.parametrize(("shape", "k", "s", "p"), POOL_CASES)
def test_maxpool2d_matches_loops(shape, k, s, p):
    """Check MaxPool2d forward/backward (scatter to the arg-max) against loops."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    layer = nn.MaxPool2d(k, s, p)
    y = layer.forward(x)
    ref, arg = maxpool_naive(x, k, k if s is None else s, p)
    np.testing.assert_array_equal(y, ref)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        layer.backward(dy),
        maxpool_naive_backward(x.shape, arg, dy, p),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("shape", "k", "s", "p"), [((1, 2, 4, 4), 2, 2, 0), ((1, 1, 5, 5), 3, 2, 1)]
)
def test_maxpool2d_ties_first_maximum_wins(shape, k, s, p):
    """Check that on tied maxima the first in the window gets the gradient."""
    x = np.ones(shape)  # every window is one big tie
    layer = nn.MaxPool2d(k, s, p)
    y = layer.forward(x)
    ref, arg = maxpool_naive(x, k, s, p)
    np.testing.assert_array_equal(y, ref)
    dy = np.arange(1.0, y.size + 1).reshape(y.shape)
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dx, maxpool_naive_backward(x.shape, arg, dy, p))
    assert np.count_nonzero(dx) <= y[0, 0].size * shape[1]


def test_maxpool2d_tie_goes_to_top_left_of_window():
    """Check on a 2x2 window that the first of the equal maxima gets the gradient."""
    x = np.array([[[[1.0, 5.0], [5.0, 5.0]]]])
    layer = nn.MaxPool2d(2)
    assert layer.forward(x)[0, 0, 0, 0] == 5.0
    dx = layer.backward(np.array([[[[2.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 2.0], [0.0, 0.0]]]])


@pytest.mark.parametrize(("shape", "k", "s", "p"), POOL_CASES)
def test_avgpool2d_matches_loops(shape, k, s, p):
    """Check AvgPool2d forward/backward, zero padding counted, against loops."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    layer = nn.AvgPool2d(k, s, p)
    s = k if s is None else s
    y = layer.forward(x)
    np.testing.assert_allclose(y, avgpool_naive(x, k, s, p), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        layer.backward(dy),
        avgpool_naive_backward(x.shape, dy, k, s, p),
        rtol=1e-12,
        atol=1e-12,
    )


OUTPUT_SIZE_TABLE = [
    # (N, K, P, S, M) with M = floor((N + 2P - K) / S) + 1
    (28, 5, 0, 1, 24),
    (28, 5, 2, 1, 28),
    (28, 3, 1, 1, 28),
    (24, 2, 0, 2, 12),
    (7, 3, 0, 2, 3),
    (7, 3, 1, 2, 4),
    (5, 3, 0, 3, 1),
    (6, 3, 0, 3, 2),
    (8, 4, 2, 3, 3),
    (4, 4, 0, 1, 1),
    (3, 5, 1, 1, 1),
    (10, 3, 0, 4, 2),
    (227, 11, 0, 4, 55),
    (224, 11, 2, 4, 55),
]


@pytest.mark.parametrize(("n", "k", "p", "s", "m"), OUTPUT_SIZE_TABLE)
def test_conv_output_size_table(n, k, p, s, m):
    """Check M = floor((N + 2P - K) / S) + 1 vs conv_output_size and real shapes."""
    assert math.floor((n + 2 * p - k) / s) + 1 == m
    assert nn.conv_output_size(n, k, p, s) == m
    conv = nn.Conv2d(1, 1, (k, 1), stride=(s, 1), padding=(p, 0), rng=0)
    assert conv.output_shape(n, 3) == (m, 3)
    assert conv.forward(np.zeros((1, 1, n, 3), dtype=np.float32)).shape == (1, 1, m, 3)
    if 2 * p <= k:
        for pool in (
            nn.MaxPool2d((1, k), (1, s), (0, p)),
            nn.AvgPool2d((1, k), (1, s), (0, p)),
        ):
            assert pool.forward(np.zeros((1, 1, 2, n), dtype=np.float32)).shape == (
                1,
                1,
                2,
                m,
            )


@pytest.mark.parametrize(
    ("n", "k", "p", "s"), [(3, 4, 0, 1), (2, 7, 2, 2), (1, 4, 1, 1)]
)
def test_conv_output_size_rejects_kernel_larger_than_padded_input(n, k, p, s):
    """Check that a kernel larger than the padded input is a ValueError."""
    with pytest.raises(
        ValueError,
        match=rf"kernel {k} does not fit input size {n} with "
        rf"padding {p} and stride {s}",
    ):
        nn.conv_output_size(n, k, p, s)
