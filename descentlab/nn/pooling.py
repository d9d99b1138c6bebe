"""Max and average pooling over NCHW windows (torch semantics, floor mode).

OH = floor((H + 2P - k) / S) + 1; stride defaults to kernel_size.
MaxPool:  y = max over the window (first maximum on ties, as torch);
          dx gets dy at the arg-max position of each window (summed on overlap).
          Computed with kh*kw element-wise passes over strided views, one per
          window offset (no per-window argmax, no data-dependent branches).
AvgPool:  y = mean over the window, zero padding counted (count_include_pad=True);
          dx = dy / (kH*kW) spread over each window.
"""

from __future__ import annotations

from .. import backend as B
from .._validation import check_array, check_positive_int_pair
from ..errors import InvalidParameterError, ShapeError
from .im2col import fold, output_size, pad, windows
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = check_positive_int_pair(
            kernel_size, "kernel_size", owner=name
        )
        self.stride = (
            self.kernel_size
            if stride is None
            else check_positive_int_pair(stride, "stride", owner=name)
        )
        self.padding = check_positive_int_pair(
            padding, "padding", owner=name, min_val=0
        )
        for p, k in zip(self.padding, self.kernel_size):
            if 2 * p > k:
                raise InvalidParameterError(
                    f"{name}: 'padding' must be at most half the kernel size "
                    f"{self.kernel_size}. Got {self.padding}."
                )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def _windows(self, x, fill: float):
        name = type(self).__name__
        check_array(x, "x", owner=f"{name}.forward", floating=True)
        if x.ndim != 4:
            raise ShapeError(
                f"{name}.forward: x must have shape (N, C, H, W); got {tuple(x.shape)}."
            )
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        output_size(x.shape[2], kh, ph, sh, owner=name, dim="height")
        output_size(x.shape[3], kw, pw, sw, owner=name, dim="width")
        xp_ = pad(x, self.padding, fill)
        return windows(xp_, kh, kw, self.stride), xp_.shape

    def _unpad(self, dx):
        ph, pw = self.padding
        return dx[:, :, ph : dx.shape[2] - ph, pw : dx.shape[3] - pw]


class MaxPool2d(_Pool2d):
    """Max pooling; ``MaxPool2d(kernel_size, stride=None, padding=0)``.

    Forward: y = max_k v_k over the window offsets k = (i, j), where v_k is the
    strided view x[:, :, i::sh, j::sw] (N, C, OH, OW); first[k] marks where v_k is
    the window's first maximum (argmax's rule: the first of equal maxima, or the
    first NaN). Backward: dx[:, :, i::sh, j::sw] += dy * first[k].
    """

    def forward(self, x):
        win, padded_shape = self._windows(x, float("-inf"))
        xp = B.get_array_module(x)
        kh, kw = self.kernel_size
        views = [win[..., i, j] for i in range(kh) for j in range(kw)]
        y = views[0].copy()
        for v in views[1:]:
            xp.maximum(y, v, out=y)
        first = xp.empty((len(views), *y.shape), dtype=bool)
        nan = bool(
            xp.isnan(y).any()
        )  # maximum propagates NaN; argmax takes the first NaN
        for k, v in enumerate(views):
            hit = xp.equal(v, y, out=first[k])
            if nan:
                hit |= xp.isnan(v)
            if k == 0:
                seen = hit.copy()
            else:
                hit &= ~seen
                seen |= hit
        self._cache = (first, padded_shape)
        return y

    def backward(self, dout):
        first, padded_shape = self._need_cache()
        xp = B.get_array_module(dout)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        _, _, oh, ow = dout.shape
        dx = xp.zeros(padded_shape, dtype=dout.dtype)
        disjoint = sh >= kh and sw >= kw  # each input pixel is in at most one window
        for k in range(kh * kw):
            i, j = divmod(k, kw)
            target = dx[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            if disjoint:
                xp.multiply(dout, first[k], out=target)
            else:
                target += dout * first[k]
        return self._unpad(dx)


class AvgPool2d(_Pool2d):
    """Average pooling; ``AvgPool2d(kernel_size, stride=None, padding=0)``."""

    def forward(self, x):
        win, padded_shape = self._windows(x, 0.0)
        self._cache = padded_shape
        return win.mean(axis=(-2, -1)).astype(x.dtype, copy=False)

    def backward(self, dout):
        padded_shape = self._need_cache()
        xp = B.get_array_module(dout)
        kh, kw = self.kernel_size
        share = dout / dout.dtype.type(kh * kw)
        dwin = xp.broadcast_to(share[..., None, None], (*dout.shape, kh, kw))
        return self._unpad(fold(dwin, padded_shape[2:], self.stride))
