"""Bad input to descentlab.nn: one table of (callable, exception, message regex).

Messages must say who complained, what is allowed and what was received, so
the regexes pin the layer name and the values.
"""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import nn
from descentlab.errors import InvalidParameterError, ShapeError


def _z(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def _fwd(factory, x):
    return lambda: factory().forward(x)


INIT_LIST = (
    "'he', 'he_normal', 'he_uniform', 'xavier', 'xavier_normal', 'xavier_uniform', "
    "'lecun', 'lecun_normal', 'sigmoid_xavier'"
)

ERROR_CASES = [
    # ---- input shapes: ShapeError (a ValueError) naming the layer and both shapes
    (
        "linear-features",
        _fwd(lambda: nn.Linear(3, 4), _z(2, 5)),
        ShapeError,
        r"^Linear\.forward: x must have shape \(N, 3\); got \(2, 5\)\.$",
    ),
    (
        "linear-rank",
        _fwd(lambda: nn.Linear(3, 4), _z(3)),
        ShapeError,
        r"^Linear\.forward: x must have shape \(N, 3\); got \(3,\)\.$",
    ),
    (
        "conv-channels",
        _fwd(lambda: nn.Conv2d(3, 4, 3), _z(8, 1, 28, 28)),
        ShapeError,
        r"^Conv2d\.forward: x must have shape \(N, 3, H, W\); got \(8, 1, 28, 28\)\.$",
    ),
    (
        "conv-rank",
        _fwd(lambda: nn.Conv2d(3, 4, 3), _z(3, 28, 28)),
        ShapeError,
        r"^Conv2d\.forward: x must have shape \(N, 3, H, W\); got \(3, 28, 28\)\.$",
    ),
    (
        "bn1d-features",
        _fwd(lambda: nn.BatchNorm1d(3), _z(4, 5)),
        ShapeError,
        r"^BatchNorm1d\.forward: x must have shape \(N, 3\); got \(4, 5\)\.$",
    ),
    (
        "bn1d-rank",
        _fwd(lambda: nn.BatchNorm1d(3), _z(4, 3, 2, 2)),
        ShapeError,
        r"^BatchNorm1d\.forward: x must have shape \(N, 3\); got \(4, 3, 2, 2\)\.$",
    ),
    (
        "bn2d-channels",
        _fwd(lambda: nn.BatchNorm2d(3), _z(2, 4, 5, 5)),
        ShapeError,
        r"^BatchNorm2d\.forward: x must have shape \(N, 3, H, W\); "
        r"got \(2, 4, 5, 5\)\.$",
    ),
    (
        "bn2d-rank",
        _fwd(lambda: nn.BatchNorm2d(3), _z(2, 3)),
        ShapeError,
        r"^BatchNorm2d\.forward: x must have shape \(N, 3, H, W\); got \(2, 3\)\.$",
    ),
    (
        "bn-one-value",
        _fwd(lambda: nn.BatchNorm1d(3), _z(1, 3)),
        ValueError,
        r"^BatchNorm1d\.forward: training needs more than 1 value per channel; "
        r"got input shape "
        r"\(1, 3\)",
    ),
    (
        "maxpool-rank",
        _fwd(lambda: nn.MaxPool2d(2), _z(2, 5, 5)),
        ShapeError,
        r"^MaxPool2d\.forward: x must have shape \(N, C, H, W\); got \(2, 5, 5\)\.$",
    ),
    (
        "avgpool-rank",
        _fwd(lambda: nn.AvgPool2d(2), _z(25)),
        ShapeError,
        r"^AvgPool2d\.forward: x must have shape \(N, C, H, W\); got \(25,\)\.$",
    ),
    (
        "lrn-rank",
        _fwd(nn.LocalResponseNorm, _z(2, 3)),
        ShapeError,
        r"^LocalResponseNorm\.forward: x must have shape \(N, C, \.\.\.\).*; "
        r"got \(2, 3\)\.$",
    ),
    (
        "flatten-rank",
        _fwd(nn.Flatten, _z(3)),
        ShapeError,
        r"^Flatten\.forward: x must have at least 2 dimensions \(N, \.\.\.\); "
        r"got \(3,\)\.$",
    ),
    (
        "residual-shapes",
        _fwd(lambda: nn.Residual(nn.Linear(2, 3)), _z(1, 2)),
        ShapeError,
        r"^Residual\.forward: body output \(1, 3\) and shortcut \(1, 2\) differ; "
        r"pass a projection",
    ),
    # ---- kernel larger than the padded input: layer, size, kernel, stride, padding
    (
        "conv-kernel-too-big",
        _fwd(lambda: nn.Conv2d(1, 1, 5, stride=2), _z(1, 1, 3, 8)),
        ValueError,
        r"^Conv2d: kernel 5 does not fit input height 3 with padding 0 and stride 2",
    ),
    (
        "conv-kernel-too-big-w",
        _fwd(lambda: nn.Conv2d(1, 1, (2, 5), 2, 1), _z(1, 1, 8, 2)),
        ValueError,
        r"^Conv2d: kernel 5 does not fit input width 2 with padding 1 and stride 2 "
        r"\(padded width 4 < kernel 5\)",
    ),
    (
        "maxpool-kernel-too-big",
        _fwd(lambda: nn.MaxPool2d(4), _z(1, 1, 3, 3)),
        ValueError,
        r"^MaxPool2d: kernel 4 does not fit input height 3 with padding 0 and stride 4",
    ),
    (
        "avgpool-kernel-too-big",
        _fwd(lambda: nn.AvgPool2d(4, 1, 1), _z(1, 1, 1, 9)),
        ValueError,
        r"^AvgPool2d: kernel 4 does not fit input height 1 with padding 1 and stride 1",
    ),
    # ---- inputs that are not floating arrays
    (
        "linear-list",
        _fwd(lambda: nn.Linear(3, 4), [[1.0, 2.0, 3.0]]),
        TypeError,
        r"^Linear\.forward: x must be an array \(numpy\.ndarray or cupy\.ndarray\); "
        r"got list\.$",
    ),
    (
        "linear-int",
        _fwd(lambda: nn.Linear(3, 4), np.zeros((2, 3), dtype=np.int64)),
        TypeError,
        r"^Linear\.forward: x must have a floating dtype \(float32 or float64\); "
        r"got int64\.$",
    ),
    (
        "conv-list",
        _fwd(lambda: nn.Conv2d(1, 1, 1), [[[[1.0]]]]),
        TypeError,
        r"^Conv2d\.forward: x must be an array .*; got list\.$",
    ),
    (
        "bn-uint8",
        _fwd(lambda: nn.BatchNorm2d(1), np.zeros((2, 1, 2, 2), np.uint8)),
        TypeError,
        r"^BatchNorm2d\.forward: x must have a floating dtype .*; got uint8\.$",
    ),
    (
        "maxpool-tuple",
        _fwd(lambda: nn.MaxPool2d(2), ((1.0,),)),
        TypeError,
        r"^MaxPool2d\.forward: x must be an array .*; got tuple\.$",
    ),
    (
        "avgpool-int",
        _fwd(lambda: nn.AvgPool2d(2), np.zeros((1, 1, 2, 2), int)),
        TypeError,
        r"^AvgPool2d\.forward: x must have a floating dtype",
    ),
    (
        "lrn-list",
        _fwd(nn.LocalResponseNorm, [1.0]),
        TypeError,
        r"^LocalResponseNorm\.forward: x must be an array",
    ),
    (
        "dropout-list",
        _fwd(nn.Dropout, [1.0, 2.0]),
        TypeError,
        r"^Dropout\.forward: x must be an array .*; got list\.$",
    ),
    (
        "flatten-scalar",
        _fwd(nn.Flatten, 3.0),
        TypeError,
        r"^Flatten\.forward: x must be an array .*; got float\.$",
    ),
    # ---- hyperparameters: InvalidParameterError (ValueError and TypeError)
    (
        "conv-stride-0",
        lambda: nn.Conv2d(1, 1, 3, stride=0),
        ValueError,
        r"^Conv2d: 'stride' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "conv-stride-neg",
        lambda: nn.Conv2d(1, 1, 3, stride=(1, -2)),
        ValueError,
        r"^Conv2d: 'stride' must be an int in \[1, inf\]\. Got -2\.$",
    ),
    (
        "conv-padding-neg",
        lambda: nn.Conv2d(1, 1, 3, padding=-1),
        ValueError,
        r"^Conv2d: 'padding' must be an int in \[0, inf\]\. Got -1\.$",
    ),
    (
        "conv-kernel-0",
        lambda: nn.Conv2d(1, 1, 0),
        ValueError,
        r"^Conv2d: 'kernel_size' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "conv-kernel-float",
        lambda: nn.Conv2d(1, 1, 3.0),
        TypeError,
        r"^Conv2d: 'kernel_size' must be an int in \[1, inf\]\. "
        r"Got 3\.0 of type float\.$",
    ),
    (
        "conv-kernel-bool",
        lambda: nn.Conv2d(1, 1, True),
        TypeError,
        r"^Conv2d: 'kernel_size' must be an int .*Got True of type bool\.$",
    ),
    (
        "conv-kernel-triple",
        lambda: nn.Conv2d(1, 1, (3, 3, 3)),
        ValueError,
        r"^Conv2d: 'kernel_size' must be an int or a pair of ints\. Got \(3, 3, 3\)\.$",
    ),
    (
        "conv-in-channels-0",
        lambda: nn.Conv2d(0, 1, 3),
        ValueError,
        r"^Conv2d: 'in_channels' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "conv-out-channels-float",
        lambda: nn.Conv2d(1, 2.0, 3),
        TypeError,
        r"^Conv2d: 'out_channels' must be an int .*Got 2\.0 of type float\.$",
    ),
    (
        "maxpool-kernel-0",
        lambda: nn.MaxPool2d(0),
        ValueError,
        r"^MaxPool2d: 'kernel_size' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "maxpool-stride-0",
        lambda: nn.MaxPool2d(2, stride=0),
        ValueError,
        r"^MaxPool2d: 'stride' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "avgpool-padding-neg",
        lambda: nn.AvgPool2d(3, padding=-1),
        ValueError,
        r"^AvgPool2d: 'padding' must be an int in \[0, inf\]\. Got -1\.$",
    ),
    (
        "maxpool-padding-too-big",
        lambda: nn.MaxPool2d(2, padding=2),
        ValueError,
        r"^MaxPool2d: 'padding' must be at most half the kernel size \(2, 2\)\. "
        r"Got \(2, 2\)\.$",
    ),
    (
        "avgpool-stride-float",
        lambda: nn.AvgPool2d(2, stride=1.5),
        TypeError,
        r"^AvgPool2d: 'stride' must be an int .*Got 1\.5 of type float\.$",
    ),
    (
        "dropout-p-1",
        lambda: nn.Dropout(1),
        ValueError,
        r"^Dropout: 'p' must be a float in \[0\.0, 1\.0\)\. Got 1\.$",
    ),
    (
        "dropout-p-neg",
        lambda: nn.Dropout(-0.1),
        ValueError,
        r"^Dropout: 'p' must be a float in \[0\.0, 1\.0\)\. Got -0\.1\.$",
    ),
    (
        "dropout-p-str",
        lambda: nn.Dropout("0.5"),
        TypeError,
        r"^Dropout: 'p' must be a float .*Got '0\.5' of type str\.$",
    ),
    (
        "dropout-p-nan",
        lambda: nn.Dropout(float("nan")),
        ValueError,
        r"^Dropout: 'p' must be a float in \[0\.0, 1\.0\)\. Got nan\.$",
    ),
    (
        "bn-eps-0",
        lambda: nn.BatchNorm1d(3, eps=0),
        ValueError,
        r"^BatchNorm1d: 'eps' must be a float in \(0\.0, inf\)\. Got 0\.$",
    ),
    (
        "bn-eps-neg",
        lambda: nn.BatchNorm2d(3, eps=-1e-5),
        ValueError,
        r"^BatchNorm2d: 'eps' must be a float in \(0\.0, inf\)\. Got -1e-05\.$",
    ),
    (
        "bn-momentum-big",
        lambda: nn.BatchNorm1d(3, momentum=1.5),
        ValueError,
        r"^BatchNorm1d: 'momentum' must be a float in \[0\.0, 1\.0\]\. Got 1\.5\.$",
    ),
    (
        "bn-features-0",
        lambda: nn.BatchNorm2d(0),
        ValueError,
        r"^BatchNorm2d: 'num_features' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "bn-features-float",
        lambda: nn.BatchNorm1d(3.0),
        TypeError,
        r"^BatchNorm1d: 'num_features' must be an int .*Got 3\.0 of type float\.$",
    ),
    (
        "linear-in-0",
        lambda: nn.Linear(0, 3),
        ValueError,
        r"^Linear: 'in_features' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "linear-out-0",
        lambda: nn.Linear(3, 0),
        ValueError,
        r"^Linear: 'out_features' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "linear-in-float",
        lambda: nn.Linear(3.0, 2),
        TypeError,
        r"^Linear: 'in_features' must be an int .*Got 3\.0 of type float\.$",
    ),
    (
        "linear-in-bool",
        lambda: nn.Linear(True, 2),
        TypeError,
        r"^Linear: 'in_features' must be an int .*Got True of type bool\.$",
    ),
    (
        "linear-init-unknown",
        lambda: nn.Linear(3, 2, init="glorot"),
        ValueError,
        r"^Linear: 'init' must be a float std >= 0 or one of "
        + INIT_LIST
        + r"\. Got 'glorot'\.$",
    ),
    (
        "linear-init-placeholder",
        lambda: nn.Linear(3, 2, init="<float std>"),
        ValueError,
        r"^Linear: 'init' must be a float std >= 0 or one of .*Got '<float std>'\.$",
    ),
    (
        "conv-init-unknown",
        lambda: nn.Conv2d(1, 1, 3, init="kaiming"),
        ValueError,
        r"^Conv2d: 'init' must be .*'he'.*'lecun_normal'.*Got 'kaiming'\.$",
    ),
    (
        "linear-init-neg-std",
        lambda: nn.Linear(3, 2, init=-0.1),
        ValueError,
        r"^Linear: 'init' must be a float in \[0\.0, inf\]\. Got -0\.1\.$",
    ),
    (
        "linear-init-bool",
        lambda: nn.Linear(3, 2, init=True),
        TypeError,
        r"^Linear: 'init' must be a float std >= 0 or one of .*Got True\.$",
    ),
    (
        "init-normal-neg",
        lambda: nn.init.normal((2, 2), -1.0),
        ValueError,
        r"^init\.normal: 'std' must be a float in \[0\.0, inf\]\. Got -1\.0\.$",
    ),
    (
        "init-fans-1d",
        lambda: nn.init.fans((3,)),
        ValueError,
        r"^fans: a weight needs at least 2 dimensions; got shape \(3,\)\.$",
    ),
    (
        "gain-unknown",
        lambda: nn.init.calculate_gain("selu"),
        ValueError,
        r"^calculate_gain: 'nonlinearity' must be one of 'linear', 'identity', "
        r"'sigmoid', 'tanh', "
        r"'relu', 'leaky_relu'\. Got 'selu'\.$",
    ),
    (
        "lrn-size-0",
        lambda: nn.LocalResponseNorm(0),
        ValueError,
        r"^LocalResponseNorm: 'size' must be an int in \[1, inf\]\. Got 0\.$",
    ),
    (
        "lrn-k-0",
        lambda: nn.LocalResponseNorm(3, k=0),
        ValueError,
        r"^LocalResponseNorm: 'k' must be a float in \(0\.0, inf\)\. Got 0\.$",
    ),
    (
        "lrn-alpha-neg",
        lambda: nn.LocalResponseNorm(3, alpha=-1.0),
        ValueError,
        r"^LocalResponseNorm: 'alpha' must be a float in \[0\.0, inf\]\. Got -1\.0\.$",
    ),
    (
        "leaky-slope-neg",
        lambda: nn.LeakyReLU(-0.1),
        ValueError,
        r"^LeakyReLU: 'negative_slope' must be a float in \[0\.0, inf\]\. Got -0\.1\.$",
    ),
    (
        "sequential-non-module",
        lambda: nn.Sequential(nn.ReLU(), 3),
        TypeError,
        r"^Sequential: argument 1 must be a Module\. Got int\.$",
    ),
    (
        "residual-non-module",
        lambda: nn.Residual(nn.ReLU(), "proj"),
        TypeError,
        r"^Residual: 'projection' must be a Module\. Got str\.$",
    ),
    # ---- losses
    (
        "ce-label-too-big",
        lambda: nn.SoftmaxCrossEntropy().forward(_z(2, 3), np.array([0, 3])),
        ValueError,
        r"^SoftmaxCrossEntropy\.forward: labels must be in \[0, 2\]; "
        r"got values from 0 to 3\.$",
    ),
    (
        "ce-label-neg",
        lambda: nn.SoftmaxCrossEntropy().forward(_z(2, 3), np.array([-1, 1])),
        ValueError,
        r"^SoftmaxCrossEntropy\.forward: labels must be in \[0, 2\]; "
        r"got values from -1 to 1\.$",
    ),
    (
        "ce-label-count",
        lambda: nn.SoftmaxCrossEntropy().forward(_z(2, 3), np.array([0, 1, 2])),
        ShapeError,
        r"^SoftmaxCrossEntropy\.forward: labels have shape \(3,\) but logits have "
        r"shape \(2, 3\); expected \(2,\) class ids or \(2, 3\) targets\.$",
    ),
    (
        "ce-float-labels",
        lambda: nn.SoftmaxCrossEntropy().forward(_z(2, 3), np.array([0.0, 1.0])),
        TypeError,
        r"^SoftmaxCrossEntropy\.forward: 1-D labels must be integer class ids; "
        r"got dtype float64\.$",
    ),
    (
        "ce-target-shape",
        lambda: nn.SoftmaxCrossEntropy().forward(_z(2, 3), _z(2, 4)),
        ShapeError,
        r"^SoftmaxCrossEntropy\.forward: targets have shape \(2, 4\) but logits have "
        r"shape \(2, 3\)",
    ),
    (
        "ce-logits-rank",
        lambda: nn.SoftmaxCrossEntropy().forward(_z(6), np.array([0])),
        ShapeError,
        r"^SoftmaxCrossEntropy\.forward: logits must have shape \(N, K\); "
        r"got \(6,\)\.$",
    ),
    (
        "ce-logits-list",
        lambda: nn.SoftmaxCrossEntropy().forward([[0.0, 1.0]], [1]),
        TypeError,
        r"^SoftmaxCrossEntropy\.forward: logits must be an array .*; got list\.$",
    ),
    (
        "mse-shapes",
        lambda: nn.MSELoss().forward(_z(2, 3), _z(3, 2)),
        ShapeError,
        r"^MSELoss\.forward: prediction shape \(2, 3\) and target shape "
        r"\(3, 2\) differ",
    ),
    (
        "mse-list",
        lambda: nn.MSELoss().forward([1.0], [1.0]),
        TypeError,
        r"^MSELoss\.forward: y must be an array .*; got list\.$",
    ),
]


@pytest.mark.parametrize(
    ("call", "exc", "regex"),
    [c[1:] for c in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_bad_input_raises_clear_error(call, exc, regex):
    """Check that bad input raises the exception with a who/what/got message."""
    with pytest.raises(exc, match=regex):
        call()


def test_shape_and_parameter_errors_are_value_errors():
    """Check ShapeError is an InvalidParameterError, ValueError and TypeError."""
    assert issubclass(ShapeError, InvalidParameterError)
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_valid_edge_values_are_accepted():
    """Check allowed edges pass: p=0, momentum 0/1, padding k/2, numpy ints."""
    assert nn.Dropout(0.0).p == 0.0
    assert nn.BatchNorm1d(2, momentum=0.0).momentum == 0.0
    assert nn.BatchNorm1d(2, momentum=1).momentum == 1.0
    assert nn.MaxPool2d(3, padding=1).padding == (1, 1)
    assert nn.Linear(np.int64(3), np.int32(2)).weight.shape == (2, 3)
    assert nn.Conv2d(1, 1, [3, 2]).kernel_size == (3, 2)
    assert nn.LeakyReLU(0).negative_slope == 0.0
