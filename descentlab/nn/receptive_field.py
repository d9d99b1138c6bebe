"""Output size, jump and receptive field of every spatial layer of a model.

Walk the Conv2d / MaxPool2d / AvgPool2d layers of a descentlab model in forward
order. A layer with kernel k, stride s and padding p maps (per spatial axis)

    n_out = floor((n_in + 2p - k) / s) + 1    output size (the map shrinks)
    j_out = j_in * s                           jump: input pixels between neighbours
    r_out = r_in + (k - 1) * j_in              receptive field side, in input pixels
    c_out = c_in + ((k - 1) / 2 - p) * j_in    centre of the first output's field

starting from the image: n_0 = image size, j_0 = 1, r_0 = 1, c_0 = 0 (pixel
index coordinates). Output unit i of a layer sees input pixels
c_out + i*j_out ± (r_out - 1)/2 (clipped to the image).

So a stride *shrinks* the map but *multiplies* the jump, and every later k x k
kernel then adds (k - 1) * j pixels: striding or pooling widens the receptive
fields of all the layers after it. Element-wise layers (activations, BN, LRN,
Dropout) leave the geometry unchanged and are skipped; the walk stops at the
first Flatten or Linear, whose units see the whole image. In a Residual block
the body is followed (its field contains the shortcut's).

References: Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning", 2016; Araujo, Norris & Sim, "Computing receptive fields of
convolutional neural networks", Distill 2019.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .._validation import check_option, check_scalar
from .activations import Flatten
from .conv import Conv2d
from .im2col import output_size
from .linear import Linear
from .module import Module
from .pooling import AvgPool2d, MaxPool2d
from .residual import Residual

__all__ = ["LayerGeometry", "layer_geometry", "receptive_field", "step"]

_SPATIAL = (Conv2d, MaxPool2d, AvgPool2d)
_DENSE = (Flatten, Linear)


@dataclass(frozen=True)
class LayerGeometry:
    """Geometry of one spatial layer along one axis (all sizes in input pixels).

    Attributes:
        path: dotted module path in the model (as in ``state_dict`` keys).
        layer: short description, e.g. "Conv2d 5x5 s1 p0" or "MaxPool2d 2x2 s2".
        kernel, stride, padding: the layer's k, s, p along the axis.
        size_in, size_out: map size n before and after the layer.
        jump: j, distance in input pixels between neighbouring output units.
        rf: r, side of the receptive field of one output unit.
        start: c, centre (input pixel index) of the first output unit's field.
    """

    path: str
    layer: str
    kernel: int
    stride: int
    padding: int
    size_in: int
    size_out: int
    jump: int
    rf: int
    start: float

    def as_dict(self) -> dict:
        """The fields as a plain dict (a table row)."""
        return asdict(self)


def step(
    size: int,
    jump: int,
    rf: int,
    start: float,
    *,
    kernel: int,
    stride: int,
    padding: int,
    owner: str = "layer",
) -> tuple[int, int, int, float]:
    """One layer of the recurrence: (n, j, r, c) in -> (n, j, r, c) out.

    n_out = floor((n + 2p - k)/s) + 1;  j_out = j*s;  r_out = r + (k-1)*j;
    c_out = c + ((k-1)/2 - p)*j.  Raises ValueError (naming ``owner``) when
    the kernel does not fit the padded input.
    """
    n_out = output_size(size, kernel, padding, stride, owner=owner)
    return (
        n_out,
        jump * stride,
        rf + (kernel - 1) * jump,
        start + ((kernel - 1) / 2 - padding) * jump,
    )


def _walk(module: Module, prefix: str) -> Iterator[tuple[str, Module]]:
    """Spatial and dense leaves in forward order (Residual: its body)."""
    if isinstance(module, _SPATIAL + _DENSE):
        yield prefix, module
        return
    if isinstance(module, Residual):
        yield from _walk(module.body, f"{prefix}.body" if prefix else "body")
        return
    for name, child in module._modules.items():
        yield from _walk(child, f"{prefix}.{name}" if prefix else name)


def _describe(layer: Module, k: int, s: int, p: int) -> str:
    kind = type(layer).__name__
    text = f"{kind} {k}x{k} s{s}"
    if isinstance(layer, Conv2d):
        text = f"{kind} {layer.out_channels}@{k}x{k} s{s}"
    return f"{text} p{p}" if (p or isinstance(layer, Conv2d)) else text


def layer_geometry(
    model: Module, input_size: int = 28, *, axis: str = "height"
) -> list[LayerGeometry]:
    """Output size, jump and receptive field after every Conv2d/pool layer of ``model``.

    Args:
        model: a descentlab Module (Sequential models, nested Sequentials and
            Residual blocks are followed in forward order).
        input_size: image height (or width) in pixels.
        axis: "height" or "width" (kernels, strides and paddings may differ per axis).

    Returns:
        One :class:`LayerGeometry` per spatial layer, up to the first Flatten/Linear.

    Raises:
        TypeError: ``model`` is not a descentlab Module.
        InvalidParameterError: bad ``input_size`` or ``axis``.
        ValueError: a kernel does not fit its (padded) input.
    """
    if not isinstance(model, Module):
        raise TypeError(
            "layer_geometry: 'model' must be a descentlab Module. "
            f"Got {type(model).__name__}."
        )
    check_scalar(
        input_size, "input_size", numbers.Integral, min_val=1, owner="layer_geometry"
    )
    check_option(axis, "axis", ("height", "width"), owner="layer_geometry")
    a = 0 if axis == "height" else 1
    n, j, r, c = int(input_size), 1, 1, 0.0
    rows: list[LayerGeometry] = []
    for path, layer in _walk(model, ""):
        if isinstance(layer, _DENSE):
            break
        spatial: Any = layer  # Conv2d or a pooling layer: pairs per axis
        k, s, p = spatial.kernel_size[a], spatial.stride[a], spatial.padding[a]
        n_in = n
        n, j, r, c = step(
            n,
            j,
            r,
            c,
            kernel=k,
            stride=s,
            padding=p,
            owner=f"layer_geometry: {path} ({type(layer).__name__})",
        )
        rows.append(
            LayerGeometry(path, _describe(layer, k, s, p), k, s, p, n_in, n, j, r, c)
        )
    return rows


def receptive_field(model: Module, input_size: int = 28) -> int:
    """Receptive field side r of the last spatial layer (1 if there is none)."""
    rows = layer_geometry(model, input_size)
    return rows[-1].rf if rows else 1
