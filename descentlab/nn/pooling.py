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
from .._validation import check_array, check_int_pair
from ..errors import InvalidParameterError, ShapeError
from .im2col import fold, output_size, pad, windows
from .module import Module
from .parallel import batch_chunks, fast_paths_enabled, run_chunks


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = check_int_pair(kernel_size, "kernel_size", owner=name)
        self.stride = (
            self.kernel_size
            if stride is None
            else check_int_pair(stride, "stride", owner=name)
        )
        self.padding = check_int_pair(padding, "padding", owner=name, min_val=0)
        for p, k in zip(self.padding, self.kernel_size, strict=False):
            if 2 * p > k:
                raise InvalidParameterError(
                    f"{name}: 'padding' must be at most half the kernel size "
                    f"{self.kernel_size}. Got {self.padding}."
                )

    def extra_repr(self) -> str:
        k, s, p = self.kernel_size, self.stride, self.padding
        return f"kernel_size={k}, stride={s}, padding={p}"

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
        y = xp.empty(win.shape[:4], dtype=x.dtype)
        first = xp.empty((kh * kw, *y.shape), dtype=bool)

        def pool(sl):
            self._max_first(win[sl], y[sl], first[:, sl])

        if fast_paths_enabled():  # chunks of the batch on the thread pool
            run_chunks(pool, batch_chunks(x.shape[0], win[0, ..., 0, 0].nbytes * 4))
        else:
            pool(slice(None))
        self._cache = (first, padded_shape)
        return y

    @staticmethod
    def _max_first(win, y, first) -> None:
        """y = max over the window offsets of ``win``; first[k] marks offset k where
        it is the window's first maximum (first NaN when there is one)."""
        xp = B.get_array_module(win)
        kh, kw = win.shape[-2:]
        views = [win[..., i, j] for i in range(kh) for j in range(kw)]
        y[...] = views[0]
        for v in views[1:]:
            xp.maximum(y, v, out=y)
        # maximum propagates NaN; argmax takes the first NaN
        nan = bool(xp.isnan(y).any())
        for k, v in enumerate(views):
            hit = xp.equal(v, y, out=first[k])
            if nan:
                hit |= xp.isnan(v)
            if k == 0:
                seen = hit.copy()
            else:
                hit &= ~seen
                seen |= hit

    def backward(self, dout):
        first, padded_shape = self._need_cache()
        xp = B.get_array_module(dout)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        _, _, oh, ow = dout.shape
        disjoint = sh >= kh and sw >= kw  # each input pixel is in at most one window
        dx = (xp.empty if disjoint and fast_paths_enabled() else xp.zeros)(
            padded_shape, dtype=dout.dtype
        )

        def scatter(sl):
            if disjoint and fast_paths_enabled():
                dx[sl] = 0  # on the pool: pixels outside every window stay 0
            d = dout[sl]
            for k in range(kh * kw):
                i, j = divmod(k, kw)
                target = dx[sl, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
                if disjoint:
                    xp.multiply(d, first[k, sl], out=target)
                else:
                    target += d * first[k, sl]

        if fast_paths_enabled():
            run_chunks(scatter, batch_chunks(dout.shape[0], dx[0].nbytes * 2))
        else:
            scatter(slice(None))
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
