"""Local Response Normalization across channels (Krizhevsky et al., 2012), as torch.

s_c = k + (alpha / n) Σ_{c' ∈ W(c)} x_{c'}^2, W(c) = [c - n//2, c + (n-1)//2] ∩ channels
y_c = x_c · s_c^(-beta)
dx_j = dy_j s_j^(-beta) - (2 alpha beta / n) x_j Σ_{c: j ∈ W(c)} dy_c x_c s_c^(-beta-1)
"""

from __future__ import annotations

import numbers

from .. import backend as B
from .._validation import check_array, check_scalar
from ..errors import ShapeError
from .module import Module


def _window_sum(z, before: int, after: int):
    """Σ over channels c-before .. c+after (clipped) of z: (N, C, ...), via cumsum."""
    xp = B.get_array_module(z)
    c = z.shape[1]
    widths = [(0, 0)] * z.ndim
    widths[1] = (before + 1, after)
    cs = xp.cumsum(xp.pad(z, widths), axis=1)
    return cs[:, before + 1 + after : before + 1 + after + c] - cs[:, :c]


class LocalResponseNorm(Module):
    """LRN over channels of x: (N, C, ...); defaults as AlexNet (n=5, k=2,
    beta=0.75)."""

    def __init__(
        self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
    ):
        super().__init__()
        check_scalar(
            size, "size", numbers.Integral, min_val=1, owner="LocalResponseNorm"
        )
        check_scalar(
            alpha, "alpha", numbers.Real, min_val=0.0, owner="LocalResponseNorm"
        )
        check_scalar(beta, "beta", numbers.Real, min_val=0.0, owner="LocalResponseNorm")
        check_scalar(
            k,
            "k",
            numbers.Real,
            min_val=0.0,
            include_boundaries="neither",
            owner="LocalResponseNorm",
        )
        self.size, self.alpha, self.beta, self.k = (
            int(size),
            float(alpha),
            float(beta),
            float(k),
        )

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

    def forward(self, x):
        check_array(x, "x", owner="LocalResponseNorm.forward", floating=True)
        if x.ndim < 3:
            raise ShapeError(
                "LocalResponseNorm.forward: x must have shape (N, C, ...) with at "
                "least 3 "
                f"dimensions; got {tuple(x.shape)}."
            )
        n = self.size
        s = self.k + (self.alpha / n) * _window_sum(x * x, n // 2, (n - 1) // 2)
        scale = s ** (-self.beta)
        self._cache = (x, s, scale)
        return x * scale

    def backward(self, dout):
        x, s, scale = self._need_cache()
        n = self.size
        t = dout * x * scale / s
        back = _window_sum(t, (n - 1) // 2, n // 2)
        return dout * scale - (2.0 * self.alpha * self.beta / n) * x * back
