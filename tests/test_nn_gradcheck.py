"""Central-difference gradient checks (float64) for every layer and loss in nn.

Each check asserts a relative error below 1e-6 for the input and for every
parameter; ``gradcheck`` reports ||a - n|| / (||a|| + ||n||).
"""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import nn
from descentlab.nn import gradcheck, numerical_grad

TOL = 1e-6


def _randn(shape, seed=42):
    # not gradcheck's seed 0: an x equal to gradcheck's R makes BN's dx vanish
    return np.random.default_rng(seed).standard_normal(shape)


def _away_from_zero(shape, seed=42):
    """Random values with |x| >= 0.1, so a 1e-6 step never crosses the kink at 0."""
    u = _randn(shape, seed)
    return np.sign(u) * (0.1 + np.abs(u))


def _distinct(shape, seed=42):
    """Values 1e-2 apart in random order: no near-ties inside a pooling window."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) * 1e-2 - size * 5e-3).reshape(shape)


def _rel_error(a, b):
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


def _randomize(module, seed=1):
    """Give every parameter non-trivial values (BN starts at gamma=1, beta=0)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1.0, 1.0], p.shape)
    return module


def assert_grads_ok(module, x, **kwargs):
    report = gradcheck(module, x, **kwargs)
    expected = {"x"} | {name for name, _ in module.named_parameters()}
    assert set(report) == expected
    bad = {k: v for k, v in report.items() if not v < TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"
    for name, p in module.named_parameters():
        assert np.any(p.grad != 0), (
            f"gradient of {name} is all zero; the check is vacuous"
        )
    return report


def test_gradcheck_detects_a_wrong_backward():
    """Check that gradcheck reports a large error for a deliberately broken backward."""

    class BrokenLinear(nn.Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.weight.grad *= 1.1
            return dx * 0.9

    report = gradcheck(BrokenLinear(3, 2, rng=0), _randn((4, 3)))
    assert report["x"] > 1e-3
    assert report["weight"] > 1e-3
    assert report["bias"] < TOL


@pytest.mark.parametrize(
    ("n", "d_in", "d_out", "bias"),
    [(4, 5, 3, True), (4, 5, 3, False), (1, 3, 2, True), (1, 1, 1, False)],
)
def test_linear_gradcheck(n, d_in, d_out, bias):
    """Check Linear's dx, dW, db numerically (with/without bias, batch 1)."""
    layer = nn.Linear(d_in, d_out, bias=bias, rng=0)
    report = assert_grads_ok(layer, _randn((n, d_in)))
    assert ("bias" in report) is bias


@pytest.mark.parametrize(
    "layer",
    [
        nn.ReLU(),
        nn.LeakyReLU(0.1),
        nn.LeakyReLU(0.0),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Identity(),
    ],
    ids=["relu", "leaky_relu", "leaky_relu_0", "sigmoid", "tanh", "identity"],
)
def test_activation_gradcheck(layer):
    """Check that each activation's backward matches central differences."""
    assert_grads_ok(layer, _away_from_zero((3, 4, 2)))


def test_flatten_gradcheck():
    """Check that Flatten's backward reshapes the gradient back to the input layout."""
    assert_grads_ok(nn.Flatten(), _randn((2, 3, 4, 5)))


CONV_GEOMETRY = [
    # (N, C_in, C_out, H, W, kernel, stride, padding)
    (2, 2, 3, 7, 5, 3, 1, 0),
    (1, 1, 1, 5, 5, 3, 1, 1),
    (2, 3, 2, 6, 6, 1, 1, 0),
    (2, 1, 2, 4, 6, 2, 2, 0),  # windows tile the image (fold's reshape path)
    (1, 2, 3, 8, 6, 4, 3, 2),
    (2, 2, 2, 6, 7, (2, 3), (2, 1), (1, 0)),
]


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_conv2d_gradcheck_stride_padding(stride, padding):
    """Check Conv2d gradients for stride 1/2/3 x padding 0/1/2 on an odd 7x5 input."""
    layer = nn.Conv2d(2, 3, (3, 2), stride=stride, padding=padding, rng=0)
    assert_grads_ok(layer, _randn((2, 2, 7, 5)))


@pytest.mark.parametrize(("n", "c_in", "c_out", "h", "w", "k", "s", "p"), CONV_GEOMETRY)
def test_conv2d_gradcheck_geometry(n, c_in, c_out, h, w, k, s, p):
    """Check Conv2d gradients: batch 1, 1x1 and non-square kernels, tiling, pairs."""
    layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p, rng=0)
    assert_grads_ok(layer, _randn((n, c_in, h, w)))


def test_conv2d_without_bias_gradcheck():
    """Check Conv2d gradients when the layer has no bias."""
    layer = nn.Conv2d(2, 2, 3, padding=1, bias=False, rng=0)
    report = assert_grads_ok(layer, _randn((1, 2, 4, 5)))
    assert set(report) == {"x", "weight"}


POOL_CASES = [
    # (kernel, stride, padding, input shape)
    (2, None, 0, (2, 2, 4, 6)),  # tiling 2x2
    (3, 2, 0, (2, 2, 7, 7)),  # overlapping 3/2
    (3, 2, 1, (1, 2, 6, 5)),  # overlapping with padding 1
    (2, 2, 1, (2, 1, 5, 5)),  # tiling kernel with padding 1
    ((3, 2), (1, 2), (1, 1), (1, 2, 5, 6)),
]


@pytest.mark.parametrize(("k", "s", "p", "shape"), POOL_CASES)
def test_maxpool2d_gradcheck(k, s, p, shape):
    """Check MaxPool2d's backward numerically: tiling, overlapping 3/2, padding."""
    assert_grads_ok(nn.MaxPool2d(k, s, p), _distinct(shape))


@pytest.mark.parametrize(("k", "s", "p", "shape"), POOL_CASES)
def test_avgpool2d_gradcheck(k, s, p, shape):
    """Check AvgPool2d's backward numerically: tiling, overlapping 3/2, padding."""
    assert_grads_ok(nn.AvgPool2d(k, s, p), _randn(shape))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm1d_gradcheck(training):
    """Check BatchNorm1d gradients in train mode (batch stats) and eval mode."""
    layer = _randomize(nn.BatchNorm1d(3, dtype=np.float64))
    layer.running_mean[...] = [0.3, -0.2, 0.1]
    layer.running_var[...] = [0.5, 2.0, 1.5]
    layer.train(training)
    assert_grads_ok(layer, _randn((5, 3)) * 2 + 1)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm2d_gradcheck(training):
    """Check BatchNorm2d gradients in train mode and eval mode."""
    layer = _randomize(nn.BatchNorm2d(2, dtype=np.float64))
    layer.running_mean[...] = [0.4, -0.3]
    layer.running_var[...] = [0.7, 1.8]
    layer.train(training)
    assert_grads_ok(layer, _randn((2, 2, 3, 4)) * 2 - 1)


def test_dropout_gradcheck_with_fixed_mask():
    """Check Dropout's backward with the mask fixed by reseeding before forward."""
    layer = nn.Dropout(0.4)

    def reseed():
        layer.rng = np.random.default_rng(7)

    x = _randn((4, 6))
    reseed()
    y = layer.forward(x)
    assert np.any(y == 0) and np.any(y != 0)  # the mask really drops something
    assert_grads_ok(layer, x, before_forward=reseed)


def test_dropout_eval_gradcheck():
    """Check that Dropout in eval mode passes gradients through unchanged."""
    assert_grads_ok(nn.Dropout(0.5).eval(), _randn((3, 4)))


@pytest.mark.parametrize("size", [3, 4, 5, 1])
def test_local_response_norm_gradcheck(size):
    """Check LocalResponseNorm gradients for odd and even sizes, large alpha."""
    layer = nn.LocalResponseNorm(size, alpha=0.5, beta=0.75, k=1.0)
    assert_grads_ok(layer, _randn((2, 6, 3, 2)) * 1.5)


def test_residual_identity_gradcheck():
    """Check Residual gradients with the identity shortcut."""
    block = nn.Residual(nn.Sequential(nn.Linear(4, 4, rng=0), nn.Tanh()))
    assert_grads_ok(block, _randn((3, 4)))


def test_residual_conv_projection_gradcheck():
    """Check Residual gradients with a 1x1 stride-2 Conv2d projection shortcut."""
    body = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0), nn.Tanh())
    block = nn.Residual(body, nn.Conv2d(2, 3, 1, stride=2, rng=1))
    report = assert_grads_ok(block, _randn((2, 2, 5, 5)))
    assert "projection.weight" in report


def test_residual_linear_projection_gradcheck():
    """Check Residual gradients with a Linear projection shortcut."""
    block = nn.Residual(
        nn.Sequential(nn.Linear(4, 3, rng=0), nn.Sigmoid()), nn.Linear(4, 3, rng=1)
    )
    assert_grads_ok(block, _randn((3, 4)))


def test_small_cnn_end_to_end_gradcheck():
    """Check a Sequential CNN (conv-BN-ReLU-pool-LRN-flatten-linear) end to end."""
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, bias=False, rng=0),  # BN cancels a conv bias
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.LocalResponseNorm(3, alpha=0.3),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 4, rng=1),
        nn.Tanh(),
    )
    assert_grads_ok(model, _randn((2, 1, 6, 6)), max_checks=40)


def _check_loss(loss, z, target):
    loss.forward(z, target)
    analytic = loss.backward()
    numeric = numerical_grad(lambda: loss.forward(z, target), z)
    assert analytic.shape == z.shape
    assert _rel_error(analytic, numeric) < TOL


def test_softmax_cross_entropy_int_labels_gradcheck():
    """Check SoftmaxCrossEntropy's dlogits with integer labels numerically."""
    z = _randn((5, 4)) * 3
    _check_loss(nn.SoftmaxCrossEntropy(), z, np.array([0, 3, 1, 1, 2]))


def test_softmax_cross_entropy_one_hot_gradcheck():
    """Check SoftmaxCrossEntropy's dlogits with one-hot targets."""
    z = _randn((5, 4))
    _check_loss(nn.SoftmaxCrossEntropy(), z, np.eye(4)[[2, 0, 3, 3, 1]])


def test_softmax_cross_entropy_soft_targets_gradcheck():
    """Check SoftmaxCrossEntropy's dlogits with soft targets, normalised or not."""
    z = _randn((4, 3))
    t = np.random.default_rng(3).uniform(0.1, 1.0, (4, 3))
    _check_loss(nn.SoftmaxCrossEntropy(), z, t / t.sum(axis=1, keepdims=True))
    _check_loss(
        nn.SoftmaxCrossEntropy(), z, t
    )  # rows not summing to 1 (torch allows it)


def test_softmax_cross_entropy_large_logits_gradcheck():
    """Check that the stable softmax gives correct gradients for logits near 1e3."""
    z = _randn((3, 4)) + 1000.0
    loss = nn.SoftmaxCrossEntropy()
    assert np.isfinite(loss.forward(z, np.array([0, 1, 2])))
    _check_loss(loss, z, np.array([0, 1, 2]))


def test_mse_loss_gradcheck():
    """Check MSELoss's gradient 2 (y - t) / numel against central differences."""
    _check_loss(nn.MSELoss(), _randn((3, 4, 2)), _randn((3, 4, 2), seed=5))


def test_gradcheck_projection_differs_from_an_input_drawn_with_the_same_seed():
    """Check gradcheck's random projection is not x itself when x comes from
    default_rng(0): BatchNorm's dx would then be ~0 and the check pure roundoff."""
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 7))
    errs = nn.gradcheck(nn.BatchNorm2d(3, dtype=np.float64), x)
    assert max(errs.values()) < 1e-7
