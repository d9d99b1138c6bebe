"""Inverted dropout (Srivastava et al., 2014).

train: mask ~ Bernoulli(1 - p) / (1 - p);  y = x * mask;  dx = dy * mask
eval:  y = x;  dx = dy
"""

from __future__ import annotations

import numbers

from .. import backend as B
from .._validation import check_array, check_scalar
from .init import as_rng
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training and scale the rest by 1/(1-p).

    Args:
        p: drop probability in [0, 1).
        rng: Generator or seed for the masks (saved with checkpoints for exact resume).
    """

    def __init__(self, p: float = 0.5, *, rng=None):
        super().__init__()
        check_scalar(
            p,
            "p",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="left",
            owner="Dropout",
        )
        self.p = float(p)
        self.rng = as_rng(rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x):
        check_array(x, "x", owner="Dropout.forward")
        if not self.training or self.p == 0.0:
            self._cache = 1
            return x
        keep = self.rng.random(x.shape) >= self.p
        mask = B.get_array_module(x).asarray(keep, dtype=x.dtype) * x.dtype.type(
            1.0 / (1.0 - self.p)
        )
        self._cache = mask
        return x * mask

    def backward(self, dout):
        mask = self._need_cache()
        return dout if isinstance(mask, int) else dout * mask
