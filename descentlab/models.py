"""Model zoo: the networks of the material, built from descentlab.nn layers.

All models take NCHW images (N, 1, 28, 28) except MLP, which takes (N, 784)
(or whatever ``sizes[0]`` says). ``seed`` fixes the initial weights.

============== =========================================================================
MLP            sizes[0] - (Linear [BN] act [Dropout]) x hidden - Linear(sizes[-1])
SimpleConvNet  conv 30@5x5 s1 p0 - ReLU - maxpool 2 - affine 100 - ReLU - affine 10
LeNet5         conv 6@5x5 p2 - act - pool 2 - conv 16@5x5 - act - pool 2 - 120 - 84 - 10
AlexNetSmall   AlexNet's ideas at 28x28: ReLU, LRN, overlapping max-pool 3/2,
               dropout 0.5 in the classifier
DeepConvNet    3x3 convs 16,16 | 32,32 | 64,64, max-pool after each pair, affine 50,
               dropout 0.5, affine 10; He init (Deep Learning from Scratch, ch. 8)
ResNetSmall    conv 16 - BN - ReLU - 3 residual stages (16, 32/2, 64/2) - global
               average pool - affine 10
============== =========================================================================
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from ._validation import check_option, check_scalar
from .errors import InvalidParameterError
from .nn import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    LocalResponseNorm,
    MaxPool2d,
    Module,
    ReLU,
    Residual,
    Sequential,
)
from .nn.activations import ACTIVATIONS
from .nn.im2col import output_size


def _act(name: str, owner: str) -> Module:
    check_option(name, "activation", tuple(ACTIVATIONS), owner=owner)
    return ACTIVATIONS[name]()


class MLP(Sequential):
    """Multi-layer perceptron ``MLP(sizes=[784, 100, 100, 10], activation="relu",
    ...)``.

    Each hidden layer is Linear -> [BatchNorm1d] -> activation -> [Dropout(p)].
    ``init`` is a name ("he", "xavier", "lecun", ...) or a float std.
    """

    def __init__(
        self,
        sizes: Sequence[int] = (784, 100, 100, 100, 100, 10),
        *,
        activation: str = "relu",
        init: str | float = "he",
        batchnorm: bool = False,
        dropout: float = 0.0,
        seed: int | None = 0,
        dtype=None,
    ):
        if len(sizes) < 2:
            raise InvalidParameterError(
                "MLP: 'sizes' must list at least an input and an output size. Got "
                f"{list(sizes)}."
            )
        check_scalar(
            dropout,
            "dropout",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="left",
            owner="MLP",
        )
        rng = np.random.default_rng(seed)
        layers: list[Module] = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(Linear(d_in, d_out, init=init, rng=rng, dtype=dtype))
            if i < len(sizes) - 2:
                if batchnorm:
                    layers.append(BatchNorm1d(d_out, dtype=dtype))
                layers.append(_act(activation, "MLP"))
                if dropout > 0:
                    layers.append(Dropout(dropout, rng=rng.integers(2**32)))
        super().__init__(*layers)
        self.sizes = list(sizes)


def _conv_stack_out(h: int, specs: Sequence[tuple[int, int, int]]) -> int:
    for k, p, s in specs:
        h = output_size(h, k, p, s)
    return h


class SimpleConvNet(Sequential):
    """conv 30@5x5 - ReLU - maxpool 2 - affine 100 - ReLU - affine 10 (the book's
    CNN)."""

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        *,
        filters: int = 30,
        kernel_size: int = 5,
        hidden: int = 100,
        num_classes: int = 10,
        seed: int | None = 0,
        dtype=None,
    ):
        rng = np.random.default_rng(seed)
        c, h, w = input_shape
        oh = output_size(h, kernel_size, 0, 1, owner="SimpleConvNet") // 2
        ow = output_size(w, kernel_size, 0, 1, owner="SimpleConvNet") // 2
        super().__init__(
            Conv2d(c, filters, kernel_size, rng=rng, dtype=dtype),
            ReLU(),
            MaxPool2d(2),
            Flatten(),
            Linear(filters * oh * ow, hidden, rng=rng, dtype=dtype),
            ReLU(),
            Linear(hidden, num_classes, rng=rng, dtype=dtype),
        )


class LeNet5(Sequential):
    """LeNet-5 (LeCun et al., 1998) at 28x28: sigmoid/avg (classic) or relu/max
    (modern)."""

    def __init__(
        self,
        *,
        activation: str = "relu",
        pool: str = "max",
        num_classes: int = 10,
        in_channels: int = 1,
        seed: int | None = 0,
        dtype=None,
    ):
        check_option(pool, "pool", ("max", "avg"), owner="LeNet5")
        rng = np.random.default_rng(seed)
        init = "he" if activation in ("relu", "leaky_relu") else "xavier"
        pool_cls = MaxPool2d if pool == "max" else AvgPool2d
        super().__init__(
            Conv2d(in_channels, 6, 5, padding=2, init=init, rng=rng, dtype=dtype),
            _act(activation, "LeNet5"),
            pool_cls(2),
            Conv2d(6, 16, 5, init=init, rng=rng, dtype=dtype),
            _act(activation, "LeNet5"),
            pool_cls(2),
            Flatten(),
            Linear(16 * 5 * 5, 120, init=init, rng=rng, dtype=dtype),
            _act(activation, "LeNet5"),
            Linear(120, 84, init=init, rng=rng, dtype=dtype),
            _act(activation, "LeNet5"),
            Linear(84, num_classes, init=init, rng=rng, dtype=dtype),
        )


class AlexNetSmall(Sequential):
    """AlexNet's ideas scaled to 28x28 (Krizhevsky et al., 2012).

    conv 32@5x5 p2 - ReLU - [LRN] - maxpool 3/2 (28->13) -
    conv 64@5x5 p2 - ReLU - [LRN] - maxpool 3/2 (13->6) -
    conv 96@3x3 p1 - ReLU - conv 96@3x3 p1 - ReLU - conv 64@3x3 p1 - ReLU -
    maxpool 3/2 (6->2) - [Dropout] - affine 256 - ReLU - [Dropout] - affine 10.
    """

    def __init__(
        self,
        *,
        lrn: bool = True,
        dropout: float = 0.5,
        width: float = 1.0,
        num_classes: int = 10,
        in_channels: int = 1,
        seed: int | None = 0,
        dtype=None,
    ):
        rng = np.random.default_rng(seed)
        c1, c2, c3, c4, c5 = (
            max(4, int(round(c * width))) for c in (32, 64, 96, 96, 64)
        )

        def conv(i, o, k, p):
            return Conv2d(i, o, k, padding=p, rng=rng, dtype=dtype)

        def norm():
            return [LocalResponseNorm(5, 1e-4, 0.75, 2.0)] if lrn else []

        def drop():
            return [Dropout(dropout, rng=rng.integers(2**32))] if dropout > 0 else []

        super().__init__(
            conv(in_channels, c1, 5, 2),
            ReLU(),
            *norm(),
            MaxPool2d(3, 2),
            conv(c1, c2, 5, 2),
            ReLU(),
            *norm(),
            MaxPool2d(3, 2),
            conv(c2, c3, 3, 1),
            ReLU(),
            conv(c3, c4, 3, 1),
            ReLU(),
            conv(c4, c5, 3, 1),
            ReLU(),
            MaxPool2d(3, 2),
            Flatten(),
            *drop(),
            Linear(c5 * 2 * 2, 256, rng=rng, dtype=dtype),
            ReLU(),
            *drop(),
            Linear(256, num_classes, rng=rng, dtype=dtype),
        )


class DeepConvNet(Sequential):
    """The book's deep CNN.

    conv3x3 16,16 | pool | 32,32 | pool | 64,64 | pool | affine 50 | dropout | 10.

    As in the book, the fourth conv uses padding 2 (14 -> 16), giving 64x4x4 features.
    """

    def __init__(
        self,
        *,
        dropout: float = 0.5,
        num_classes: int = 10,
        in_channels: int = 1,
        seed: int | None = 0,
        dtype=None,
    ):
        rng = np.random.default_rng(seed)

        def conv(i, o, p=1):
            return Conv2d(i, o, 3, padding=p, init="he", rng=rng, dtype=dtype)

        drop = [Dropout(dropout, rng=rng.integers(2**32))] if dropout > 0 else []
        super().__init__(
            conv(in_channels, 16),
            ReLU(),
            conv(16, 16),
            ReLU(),
            MaxPool2d(2),
            conv(16, 32),
            ReLU(),
            conv(32, 32, 2),
            ReLU(),
            MaxPool2d(2),
            conv(32, 64),
            ReLU(),
            conv(64, 64),
            ReLU(),
            MaxPool2d(2),
            Flatten(),
            Linear(64 * 4 * 4, 50, rng=rng, dtype=dtype),
            ReLU(),
            *drop,
            Linear(50, num_classes, rng=rng, dtype=dtype),
        )


def _basic_block(c_in: int, c_out: int, stride: int, rng, dtype) -> Sequential:
    body = Sequential(
        Conv2d(
            c_in, c_out, 3, stride=stride, padding=1, bias=False, rng=rng, dtype=dtype
        ),
        BatchNorm2d(c_out, dtype=dtype),
        ReLU(),
        Conv2d(c_out, c_out, 3, padding=1, bias=False, rng=rng, dtype=dtype),
        BatchNorm2d(c_out, dtype=dtype),
    )
    proj = None
    if stride != 1 or c_in != c_out:
        proj = Sequential(
            Conv2d(c_in, c_out, 1, stride=stride, bias=False, rng=rng, dtype=dtype),
            BatchNorm2d(c_out, dtype=dtype),
        )
    return Sequential(Residual(body, proj), ReLU())


class ResNetSmall(Sequential):
    """A small ResNet (He et al., 2016) for 28x28: stem 16, stages 16, 32/2, 64/2, GAP,
    affine."""

    def __init__(
        self,
        *,
        widths: Sequence[int] = (16, 32, 64),
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        seed: int | None = 0,
        dtype=None,
    ):
        rng = np.random.default_rng(seed)
        layers: list[Module] = [
            Conv2d(
                in_channels, widths[0], 3, padding=1, bias=False, rng=rng, dtype=dtype
            ),
            BatchNorm2d(widths[0], dtype=dtype),
            ReLU(),
        ]
        c, size = widths[0], input_size
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(_basic_block(c, w, stride, rng, dtype))
            size = output_size(size, 3, 1, stride, owner="ResNetSmall")
            c = w
        layers += [
            AvgPool2d(size),
            Flatten(),
            Linear(c, num_classes, rng=rng, dtype=dtype),
        ]
        super().__init__(*layers)


MODELS = {
    "mlp": MLP,
    "simplecnn": SimpleConvNet,
    "lenet5": LeNet5,
    "alexnet-small": AlexNetSmall,
    "deepconvnet": DeepConvNet,
    "resnet-small": ResNetSmall,
}


def build_model(name: str, **kwargs) -> Module:
    """Build a model by its CLI name (``mlp``, ``simplecnn``, ``lenet5``, ...)."""
    check_option(name, "model", tuple(MODELS), owner="build_model")
    return MODELS[name](**kwargs)


def needs_flat_input(model: Module) -> bool:
    """True for models whose first layer is Linear (they take (N, D) input)."""
    first = next(iter(model.children()), None)
    return isinstance(first, Linear)


def param_groups(model: Module, weight_decay: float) -> list[dict]:
    """Two groups: weights (ndim >= 2) decayed by ``weight_decay``; biases and BN
    none."""
    decay = [p for p in model.parameters() if p.data.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.data.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups
