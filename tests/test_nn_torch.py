"""Parity of descentlab.nn with PyTorch: values, grads, buffers, state_dict, init.

Skipped as a whole when torch is not installed. float64 comparisons use 1e-10,
float32 ones 1e-5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab import nn

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)

TOL = {np.float32: 1e-5, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def _np(t):
    return t.detach().numpy()


def _close(ours, theirs, dtype=np.float64):
    theirs = _np(theirs) if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=TOL[dtype], atol=TOL[dtype])


def _run_both(ours, theirs, x, seed=1):
    """Forward + backward through both with the same input and upstream gradient."""
    y = ours.forward(x)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    dx = ours.backward(dy)
    xt = _t(x, grad=True)
    yt = theirs(xt)
    yt.backward(_t(dy))
    return y, dx, yt, xt.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "c_out", "k", "s", "p"),
    [
        ((2, 3, 7, 5), 4, 3, 1, 0),
        ((2, 2, 7, 5), 3, (3, 2), 2, 1),
        ((1, 2, 8, 6), 2, 4, 3, 2),
        ((3, 1, 6, 7), 2, (2, 3), (2, 1), (1, 0)),
        ((2, 4, 5, 5), 3, 1, 1, 0),
    ],
)
def test_conv2d_matches_torch(dtype, shape, c_out, k, s, p):
    """Check Conv2d output, dx, dW and db against torch.nn.Conv2d."""
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    ours = nn.Conv2d(shape[1], c_out, k, stride=s, padding=p, rng=0, dtype=dtype)
    ours.bias.data[...] = np.linspace(-1, 1, c_out)
    theirs = torch.nn.Conv2d(shape[1], c_out, k, stride=s, padding=p).to(
        TORCH_DTYPE[dtype]
    )
    with torch.no_grad():
        theirs.weight.copy_(_t(ours.weight.data))
        theirs.bias.copy_(_t(ours.bias.data))
    y, dx, yt, dxt = _run_both(ours, theirs, x)
    assert y.dtype == dx.dtype == dtype
    _close(y, yt, dtype)
    _close(dx, dxt, dtype)
    _close(ours.weight.grad, theirs.weight.grad, dtype)
    _close(ours.bias.grad, theirs.bias.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, bias):
    """Check Linear output and gradients against torch.nn.Linear."""
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(dtype)
    ours = nn.Linear(4, 3, bias=bias, rng=0, dtype=dtype)
    theirs = torch.nn.Linear(4, 3, bias=bias).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        theirs.weight.copy_(_t(ours.weight.data))
        if bias:
            ours.bias.data[...] = [0.5, -0.25, 1.0]
            theirs.bias.copy_(_t(ours.bias.data))
    y, dx, yt, dxt = _run_both(ours, theirs, x)
    _close(y, yt, dtype)
    _close(dx, dxt, dtype)
    _close(ours.weight.grad, theirs.weight.grad, dtype)
    if bias:
        _close(ours.bias.grad, theirs.bias.grad, dtype)


POOLS = [
    # (kernel, stride, padding, shape)
    (2, None, 0, (2, 3, 6, 4)),
    (3, 2, 0, (2, 2, 7, 7)),
    (3, 2, 1, (2, 2, 8, 5)),
    (2, 2, 1, (1, 2, 5, 5)),
    ((3, 2), (2, 1), (1, 1), (1, 3, 7, 6)),
]


@pytest.mark.parametrize(("k", "s", "p", "shape"), POOLS)
def test_maxpool2d_matches_torch(k, s, p, shape):
    """Check MaxPool2d output and dx against torch (tiling, 3/2, padding)."""
    x = np.random.default_rng(0).standard_normal(shape)
    y, dx, yt, dxt = _run_both(nn.MaxPool2d(k, s, p), torch.nn.MaxPool2d(k, s, p), x)
    _close(y, yt)
    _close(dx, dxt)


def test_maxpool2d_ties_match_torch():
    """Check that on tied maxima the gradient lands where torch puts it."""
    x = np.round(np.random.default_rng(0).uniform(0, 2, (2, 2, 7, 7)))  # many ties
    y, dx, yt, dxt = _run_both(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), x)
    _close(y, yt)
    _close(dx, dxt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("k", "s", "p", "shape"), POOLS)
def test_avgpool2d_matches_torch(dtype, k, s, p, shape):
    """Check AvgPool2d output and dx against torch (count_include_pad=True)."""
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    y, dx, yt, dxt = _run_both(nn.AvgPool2d(k, s, p), torch.nn.AvgPool2d(k, s, p), x)
    assert y.dtype == dtype
    _close(y, yt, dtype)
    _close(dx, dxt, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("cls", "tcls", "shape"),
    [
        (nn.BatchNorm1d, "BatchNorm1d", (6, 3)),
        (nn.BatchNorm2d, "BatchNorm2d", (3, 2, 4, 5)),
    ],
)
def test_batchnorm_matches_torch(dtype, cls, tcls, shape):
    """Check BN train steps (y, dx, dgamma, dbeta, buffers) and eval vs torch."""
    c = shape[1]
    ours = cls(c, eps=1e-3, momentum=0.2, dtype=dtype)
    theirs = getattr(torch.nn, tcls)(c, eps=1e-3, momentum=0.2).to(TORCH_DTYPE[dtype])
    gamma = np.linspace(0.5, 1.5, c).astype(dtype)
    beta = np.linspace(-0.3, 0.3, c).astype(dtype)
    ours.weight.data[...] = gamma
    ours.bias.data[...] = beta
    with torch.no_grad():
        theirs.weight.copy_(_t(gamma))
        theirs.bias.copy_(_t(beta))
    rng = np.random.default_rng(0)
    for step in range(3):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        ours.zero_grad()
        theirs.zero_grad()
        y, dx, yt, dxt = _run_both(ours, theirs, x, seed=step)
        _close(y, yt, dtype)
        _close(dx, dxt, dtype)
        _close(ours.weight.grad, theirs.weight.grad, dtype)
        _close(ours.bias.grad, theirs.bias.grad, dtype)
        _close(ours.running_mean, theirs.running_mean, dtype)
        _close(ours.running_var, theirs.running_var, dtype)
        assert (
            int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == step + 1
        )
    ours.eval()
    theirs.eval()
    ours.zero_grad()
    theirs.zero_grad()
    x = rng.standard_normal(shape).astype(dtype)
    y, dx, yt, dxt = _run_both(ours, theirs, x)
    _close(y, yt, dtype)
    _close(dx, dxt, dtype)
    _close(ours.weight.grad, theirs.weight.grad, dtype)
    assert int(ours.num_batches_tracked) == 3  # eval does not count batches


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_local_response_norm_matches_torch(size):
    """Check LocalResponseNorm output and dx against torch for odd and even sizes."""
    x = np.random.default_rng(0).standard_normal((2, 7, 3, 4)) * 2
    ours = nn.LocalResponseNorm(size, alpha=0.5, beta=0.75, k=1.5)
    theirs = torch.nn.LocalResponseNorm(size, alpha=0.5, beta=0.75, k=1.5)
    y, dx, yt, dxt = _run_both(ours, theirs, x)
    _close(y, yt)
    _close(dx, dxt)


def test_local_response_norm_alexnet_defaults_match_torch():
    """Check the AlexNet defaults (5, 1e-4, 0.75, k=2) against torch given them.

    torch's own default k is 1.0; the AlexNet paper (and our default) uses k=2.
    """
    ours = nn.LocalResponseNorm()
    assert (ours.size, ours.alpha, ours.beta, ours.k) == (5, 1e-4, 0.75, 2.0)
    x = np.random.default_rng(1).standard_normal((2, 6, 3, 3)).astype(np.float32) * 10
    theirs = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    y, dx, yt, dxt = _run_both(ours, theirs, x)
    _close(y, yt, np.float32)
    _close(dx, dxt, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_int_labels_match_torch(dtype):
    """Check SoftmaxCrossEntropy value and dlogits vs F.cross_entropy (class ids)."""
    z = (np.random.default_rng(0).standard_normal((6, 5)) * 4).astype(dtype)
    y = np.array([0, 4, 2, 2, 1, 3])
    loss = nn.SoftmaxCrossEntropy()
    value = loss.forward(z, y)
    grad = loss.backward()
    zt = _t(z, grad=True)
    lt = F.cross_entropy(zt, _t(y))
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=TOL[dtype])
    assert grad.dtype == dtype
    _close(grad, zt.grad, dtype)


@pytest.mark.parametrize("normalised", [True, False])
def test_softmax_cross_entropy_soft_targets_match_torch(normalised):
    """Check soft/one-hot targets (rows summing to 1 or not) against F.cross_entropy."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 3))
    t = rng.uniform(0, 1, (4, 3))
    if normalised:
        t /= t.sum(axis=1, keepdims=True)
    loss = nn.SoftmaxCrossEntropy()
    value = loss.forward(z, t)
    grad = loss.backward()
    zt = _t(z, grad=True)
    lt = F.cross_entropy(zt, _t(t))
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=1e-12)
    _close(grad, zt.grad)


def test_mse_loss_matches_torch():
    """Check MSELoss value and gradient against F.mse_loss (mean reduction)."""
    rng = np.random.default_rng(2)
    yhat, t = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    loss = nn.MSELoss()
    value = loss.forward(yhat, t)
    grad = loss.backward()
    yt = _t(yhat, grad=True)
    lt = F.mse_loss(yt, _t(t))
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=1e-12)
    _close(grad, yt.grad)


def test_dropout_scaling_matches_torch():
    """Check dropout statistics as torch: keep 1-p, kept x/(1-p), eval identity."""
    p = 0.3
    x = np.random.default_rng(5).uniform(1.0, 2.0, (200, 250)).astype(np.float32)
    ours = nn.Dropout(p, rng=0)
    theirs = torch.nn.Dropout(p)
    torch.manual_seed(0)
    y_ours = ours.forward(x)
    for y in (y_ours, _np(theirs(_t(x)))):
        kept = y != 0
        assert kept.mean() == pytest.approx(1 - p, abs=0.01)
        np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
        assert y.mean() == pytest.approx(x.mean(), rel=0.01)
    dx = ours.backward(np.ones_like(x))  # the mask itself: 0 or 1/(1-p)
    np.testing.assert_allclose(dx, y_ours / x, rtol=1e-6)
    np.testing.assert_allclose(np.unique(dx), [0.0, 1 / (1 - p)], rtol=1e-6)
    ours.eval()
    theirs.eval()
    np.testing.assert_array_equal(ours.forward(x), x)
    np.testing.assert_array_equal(_np(theirs(_t(x))), x)


def _small_cnn_pair():
    ours = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=0),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * 4 * 4, 3, rng=1),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1),
        torch.nn.BatchNorm2d(2),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 4 * 4, 3),
    )
    return ours, theirs


def test_state_dict_keys_equal_torch():
    """Check that state_dict keys, order and shapes equal the torch model's."""
    ours, theirs = _small_cnn_pair()
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for key, value in theirs_sd.items():
        assert ours_sd[key].shape == tuple(value.shape), key
    assert [n for n, _ in ours.named_parameters()] == [
        n for n, _ in theirs.named_parameters()
    ]


def test_torch_weights_load_into_ours():
    """Check that torch's weights and BN buffers load into ours, same outputs."""
    ours, theirs = _small_cnn_pair()
    rng = np.random.default_rng(0)
    for _ in range(3):  # make weights and running stats non-trivial (plain SGD)
        theirs.zero_grad()
        x = _t(rng.standard_normal((4, 1, 4, 4)).astype(np.float32))
        theirs(x).square().mean().backward()
        with torch.no_grad():
            for p in theirs.parameters():
                p -= 0.1 * p.grad
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())
    x = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(_t(x))
    _close(ours.forward(x), expected, np.float32)
    ours.train()
    theirs.train()
    with torch.no_grad():
        expected = theirs(_t(x))
    _close(ours.forward(x), expected, np.float32)


@pytest.mark.parametrize(
    ("name", "param"),
    [
        ("linear", None),
        ("identity", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 0.0),
    ],
)
def test_calculate_gain_matches_torch(name, param):
    """Check that init.calculate_gain equals torch's for each activation."""
    torch_name = "linear" if name == "identity" else name
    assert nn.init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(torch_name, param), rel=1e-12
    )


@pytest.mark.parametrize("shape", [(200, 300), (64, 8, 3, 3), (32, 3, 5, 2)])
def test_init_std_matches_formula_and_torch(shape):
    """Check he/xavier(gain)/lecun normal std against the formula and torch."""
    fan_in = shape[1] * int(np.prod(shape[2:]))
    fan_out = shape[0] * int(np.prod(shape[2:]))
    assert nn.init.fans(shape) == (fan_in, fan_out)
    gain = 5.0 / 3.0
    cases = [
        (
            nn.init.he_normal(shape, rng=0),
            math.sqrt(2.0 / fan_in),
            torch.nn.init.kaiming_normal_(torch.empty(shape), nonlinearity="relu"),
        ),
        (
            nn.init.xavier_normal(shape, gain, rng=0),
            gain * math.sqrt(2.0 / (fan_in + fan_out)),
            torch.nn.init.xavier_normal_(torch.empty(shape), gain=gain),
        ),
        (
            nn.init.lecun_normal(shape, rng=0),
            1.0 / math.sqrt(fan_in),
            torch.nn.init.kaiming_normal_(torch.empty(shape), nonlinearity="linear"),
        ),
    ]
    torch.manual_seed(0)
    for ours, std, theirs in cases:
        assert ours.shape == shape
        assert ours.dtype == np.float32
        assert abs(ours.mean()) < 0.1 * std
        assert ours.std() == pytest.approx(std, rel=0.05)
        assert ours.std() == pytest.approx(float(theirs.std()), rel=0.1)


@pytest.mark.parametrize("shape", [(200, 300), (64, 8, 3, 3)])
def test_uniform_inits_match_torch_bounds(shape):
    """Check he_uniform and xavier_uniform bounds equal torch's uniform inits."""
    fan_in, fan_out = nn.init.fans(shape)
    he = nn.init.he_uniform(shape, rng=0)
    xa = nn.init.xavier_uniform(shape, rng=0)
    he_t = torch.nn.init.kaiming_uniform_(torch.empty(shape), nonlinearity="relu")
    xa_t = torch.nn.init.xavier_uniform_(torch.empty(shape))
    for ours, theirs, bound in (
        (he, he_t, math.sqrt(6.0 / fan_in)),
        (xa, xa_t, math.sqrt(6.0 / (fan_in + fan_out))),
    ):
        assert np.abs(ours).max() <= bound
        assert np.abs(ours).max() == pytest.approx(bound, rel=0.02)
        assert float(theirs.abs().max()) <= bound * (1 + 1e-6)
        assert ours.std() == pytest.approx(bound / math.sqrt(3.0), rel=0.05)


def test_conv2d_default_init_uses_conv_fan_in():
    """Check that Conv2d's default He init has std sqrt(2 / (C_in*kH*kW))."""
    layer = nn.Conv2d(16, 64, (3, 5), rng=0)
    assert layer.weight.data.std() == pytest.approx(
        math.sqrt(2.0 / (16 * 3 * 5)), rel=0.05
    )
    np.testing.assert_array_equal(layer.bias.data, 0)
