"""Residual connection (He et al., 2016): y = f(x) + shortcut(x).

shortcut is the identity, or a projection module (e.g. 1x1 Conv2d with stride,
or Linear) when f changes the shape. Backward: dx = f.backward(dy) +
shortcut.backward(dy)."""

from __future__ import annotations

from ..errors import ShapeError
from .module import Module


class Residual(Module):
    """``Residual(body, projection=None)``: y = body(x) + (projection(x) or x)."""

    def __init__(self, body: Module, projection: Module | None = None):
        super().__init__()
        for name, m in (("body", body), ("projection", projection)):
            if m is not None and not isinstance(m, Module):
                raise TypeError(
                    f"Residual: {name!r} must be a Module. Got {type(m).__name__}."
                )
        self.body = body
        self.projection = projection

    def forward(self, x):
        fx = self.body.forward(x)
        sx = x if self.projection is None else self.projection.forward(x)
        if fx.shape != sx.shape:
            raise ShapeError(
                f"Residual.forward: body output {tuple(fx.shape)} and shortcut "
                f"{tuple(sx.shape)} differ; pass a projection module (e.g. a 1x1 "
                "Conv2d "
                "or Linear) that maps x to the body's output shape."
            )
        self._cache = True
        return fx + sx

    def backward(self, dout):
        self._need_cache()
        dx = self.body.backward(dout)
        return dx + (
            dout if self.projection is None else self.projection.backward(dout)
        )
