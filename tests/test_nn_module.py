"""Module, Parameter, Sequential: traversal, modes, state_dict, dtypes, contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab import nn
from descentlab.errors import CheckpointError
from descentlab.io import load_state_npz, save_state_npz


class Net(nn.Module):
    """A small custom model with named children, as a user would write it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1, rng=0)
        self.bn = nn.BatchNorm2d(2)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.head = nn.Sequential(nn.Dropout(0.5, rng=0), nn.Linear(8, 3, rng=1))

    def forward(self, x):
        for m in (self.conv1, self.bn, self.act, self.pool, self.flat, self.head):
            x = m.forward(x)
        return x

    def backward(self, dout):
        for m in (self.head, self.flat, self.pool, self.act, self.bn, self.conv1):
            dout = m.backward(dout)
        return dout


def _x(shape=(2, 1, 4, 4), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_named_parameters_order_and_names():
    """Check named_parameters() yields torch-style dotted names in definition order."""
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight",
        "0.bias",
        "2.weight",
    ]
    assert [p.shape for p in model.parameters()] == [(3, 2), (3,), (1, 3)]
    assert [p.name for p in model.parameters()] == ["weight", "bias", "weight"]
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "conv1.weight",
        "conv1.bias",
        "bn.weight",
        "bn.bias",
        "head.1.weight",
        "head.1.bias",
    ]
    assert net.num_parameters() == 2 * 9 + 2 + 2 + 2 + 8 * 3 + 3


def test_shared_parameter_listed_once():
    """Check that a module used twice lists its parameters once."""
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(model.parameters()) == 2


def test_named_modules_and_buffers():
    """Check named_modules() and named_buffers() give nested dotted names."""
    net = Net()
    names = [n for n, _ in net.named_modules()]
    assert names == [
        "",
        "conv1",
        "bn",
        "act",
        "pool",
        "flat",
        "head",
        "head.0",
        "head.1",
    ]
    assert [n for n, _ in net.named_buffers()] == [
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]


def test_train_eval_propagate_to_every_submodule():
    """Check that train()/eval() set .training on every submodule, return self."""
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.head[0].training


def test_eval_changes_dropout_and_batchnorm_behaviour():
    """Check eval(): Dropout is the identity, BN uses and keeps its running stats."""
    net = Net()
    x = _x((4, 1, 4, 4))
    net.forward(x)
    stats = {k: v for k, v in net.state_dict().items() if "running" in k}
    net.eval()
    y1, y2 = net.forward(x), net.forward(x)
    np.testing.assert_array_equal(y1, y2)  # deterministic in eval
    for k, v in net.state_dict().items():
        if k in stats:
            np.testing.assert_array_equal(v, stats[k])  # eval never updates buffers
    net.train()
    assert not np.array_equal(net.forward(x), net.forward(x))  # fresh dropout masks


def test_state_dict_round_trip():
    """Check that loading a state_dict into another model gives equal outputs."""
    a, b = Net(), Net()
    b.conv1.weight.data[...] = 0
    a.forward(_x((4, 1, 4, 4), seed=3))  # move running stats off their init
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(
        a.state_dict().items(), b.state_dict().items(), strict=True
    ):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a.forward(_x()), b.forward(_x()))


def test_state_dict_is_a_copy():
    """Check that mutating a returned state_dict does not change the model."""
    model = nn.Linear(2, 2, rng=0)
    state = model.state_dict()
    state["weight"][...] = 123.0
    assert not np.any(model.weight.data == 123.0)


def test_load_state_dict_is_in_place_and_keeps_dtype():
    """Check that load_state_dict writes in place, cast to the model's dtype."""
    model = nn.Linear(3, 2, rng=0)
    param, data = model.weight, model.weight.data
    state = {"weight": np.arange(6, dtype=np.float64).reshape(2, 3), "bias": np.ones(2)}
    model.load_state_dict(state)
    assert (
        model.weight is param and model.weight.data is data
    )  # optimizer refs stay valid
    assert data.dtype == np.float32
    np.testing.assert_array_equal(data, state["weight"])


def test_state_dict_round_trip_through_npz(tmp_path):
    """Check save_state_npz/load_state_npz keep a state_dict exactly."""
    a, b = Net(), Net()
    a.forward(_x((4, 1, 4, 4)))
    path = tmp_path / "model.npz"
    save_state_npz(path, a.state_dict())
    state, _ = load_state_npz(path)
    assert list(state) == list(a.state_dict())
    b.load_state_dict(state)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
        assert b.state_dict()[k].dtype == v.dtype
    assert int(b.bn.num_batches_tracked) == 1


def test_load_state_dict_refuses_missing_key():
    """Check that a missing key raises CheckpointError naming it."""
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    state = model.state_dict()
    del state["1.running_var"]
    with pytest.raises(
        CheckpointError, match=r"Missing: \['1\.running_var'\]; unexpected: none"
    ):
        model.load_state_dict(state)


def test_load_state_dict_refuses_unexpected_key():
    """Check an unexpected key raises CheckpointError naming it (not strict=False)."""
    model = nn.Sequential(nn.Linear(2, 2))
    state = model.state_dict()
    state["0.extra"] = np.zeros(1)
    with pytest.raises(
        CheckpointError, match=r"Missing: none; unexpected: \['0\.extra'\]"
    ):
        model.load_state_dict(state)
    state["0.weight"] = np.full((2, 2), 7.0)
    model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model[0].weight.data, 7.0)


def test_load_state_dict_refuses_wrong_shape():
    """Check a shape mismatch raises CheckpointError naming key and both shapes."""
    model = nn.Sequential(nn.Linear(3, 2))
    state = model.state_dict()
    state["0.weight"] = np.zeros((3, 2))
    with pytest.raises(
        CheckpointError,
        match=r"'0\.weight' has shape \(3, 2\) in the state but \(2, 3\) in the model",
    ):
        model.load_state_dict(state)


def test_buffers_stay_registered_in_place_after_training_step():
    """Check BN buffers keep their state_dict keys and order after updates."""
    bn = nn.BatchNorm1d(3)
    keys = list(bn.state_dict())
    assert keys == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    bn.forward(_x((4, 3)))
    assert list(bn.state_dict()) == keys
    bn.running_mean = np.full(3, 0.5, dtype=np.float32)  # plain reassignment, too
    assert list(bn.state_dict()) == keys
    np.testing.assert_array_equal(bn.state_dict()["running_mean"], 0.5)


def test_num_batches_tracked_counts_training_forwards():
    """Check that num_batches_tracked counts training forward passes only, as torch."""
    bn = nn.BatchNorm2d(2)
    for _ in range(3):
        bn.forward(_x((2, 2, 3, 3)))
    bn.eval().forward(_x((2, 2, 3, 3)))
    assert bn.num_batches_tracked.dtype == np.int64
    assert int(bn.num_batches_tracked) == 3


def _every_layer():
    """(name, factory, input shape) for every layer, float32 by default."""
    return [
        ("Linear", lambda: nn.Linear(4, 3), (2, 4)),
        ("Conv2d", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5)),
        ("MaxPool2d", lambda: nn.MaxPool2d(3, 2, 1), (2, 2, 5, 5)),
        ("AvgPool2d", lambda: nn.AvgPool2d(3, 2, 1), (2, 2, 5, 5)),
        ("BatchNorm1d", lambda: nn.BatchNorm1d(4), (3, 4)),
        ("BatchNorm2d", lambda: nn.BatchNorm2d(2), (2, 2, 3, 3)),
        ("BatchNorm2d-eval", lambda: nn.BatchNorm2d(2).eval(), (2, 2, 3, 3)),
        ("Dropout", lambda: nn.Dropout(0.5, rng=0), (3, 4)),
        ("LocalResponseNorm", lambda: nn.LocalResponseNorm(3, alpha=0.5), (2, 4, 3, 3)),
        ("ReLU", nn.ReLU, (3, 4)),
        ("LeakyReLU", nn.LeakyReLU, (3, 4)),
        ("Sigmoid", nn.Sigmoid, (3, 4)),
        ("Tanh", nn.Tanh, (3, 4)),
        ("Flatten", nn.Flatten, (2, 3, 2)),
        ("Identity", nn.Identity, (3, 4)),
        (
            "Residual",
            lambda: nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.ReLU())),
            (3, 4),
        ),
        (
            "Residual-proj",
            lambda: nn.Residual(
                nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.Conv2d(2, 3, 1, stride=2)
            ),
            (2, 2, 5, 5),
        ),
        (
            "Sequential",
            lambda: nn.Sequential(
                nn.Conv2d(1, 2, 3),
                nn.BatchNorm2d(2),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(2, 3),
            ),
            (2, 1, 4, 4),
        ),
    ]


@pytest.mark.parametrize(
    ("name", "factory", "shape"), _every_layer(), ids=[c[0] for c in _every_layer()]
)
def test_float32_stays_float32(name, factory, shape):
    """Check that a float32 layer keeps float32 in its output, dx, grads and buffers."""
    layer = factory()
    x = _x(shape)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == np.float32, name
    assert dx.dtype == np.float32 and dx.shape == x.shape, name
    for pname, p in layer.named_parameters():
        assert p.data.dtype == p.grad.dtype == np.float32, pname
    for bname, b in layer.named_buffers():
        assert b.dtype in (np.float32, np.int64), bname


@pytest.mark.parametrize(
    ("name", "factory", "shape"), _every_layer(), ids=[c[0] for c in _every_layer()]
)
def test_float64_layer_stays_float64(name, factory, shape):
    """Check that a layer cast with astype(float64) computes in float64 end to end."""
    layer = factory().astype(np.float64)
    y = layer.forward(_x(shape, dtype=np.float64))
    assert y.dtype == layer.backward(np.ones_like(y)).dtype == np.float64
    assert all(p.grad.dtype == np.float64 for p in layer.parameters())


def test_losses_keep_float32():
    """Check that both losses return float32 gradients for float32 predictions."""
    z = _x((4, 3))
    ce = nn.SoftmaxCrossEntropy()
    ce.forward(z, np.array([0, 1, 2, 0]))
    assert ce.backward().dtype == np.float32
    ce.forward(z, np.eye(3)[[0, 1, 2, 0]])  # float64 one-hot targets
    assert ce.backward().dtype == np.float32
    mse = nn.MSELoss()
    mse.forward(z, np.zeros((4, 3)))
    assert mse.backward().dtype == np.float32


_CACHING = [c for c in _every_layer() if c[0] not in ("Identity", "Sequential")]


@pytest.mark.parametrize(
    ("name", "factory", "shape"), _CACHING, ids=[c[0] for c in _CACHING]
)
def test_backward_before_forward_raises(name, factory, shape):
    """Check that backward() before forward() is a RuntimeError naming the layer."""
    layer = factory()
    cls = type(layer).__name__
    with pytest.raises(
        RuntimeError, match=rf"^{cls}\.backward\(\) called before forward\(\)"
    ):
        layer.backward(np.ones(shape, dtype=np.float32))


@pytest.mark.parametrize("loss", [nn.SoftmaxCrossEntropy(), nn.MSELoss()])
def test_loss_backward_before_forward_raises(loss):
    """Check a loss's backward() before forward() is a RuntimeError naming it."""
    with pytest.raises(
        RuntimeError, match=rf"{type(loss).__name__}\.backward\(\) called before"
    ):
        loss.backward()


def test_astype_casts_parameters_grads_and_float_buffers():
    """Check astype casts params, grads, float buffers (not int ones); returns self."""
    net = Net()
    net.forward(_x((2, 1, 4, 4)))
    assert net.astype(np.float64) is net
    for p in net.parameters():
        assert p.data.dtype == p.grad.dtype == np.float64
    assert net.bn.running_mean.dtype == net.bn.running_var.dtype == np.float64
    assert net.bn.num_batches_tracked.dtype == np.int64
    with pytest.raises(RuntimeError, match="called before forward"):
        net.conv1.backward(np.ones((2, 2, 4, 4)))  # stale float32 caches were dropped
    net.astype(np.float32)
    assert net.forward(_x()).dtype == np.float32


def test_backward_accumulates_into_grad():
    """Check that backward adds into .grad (+=) and zero_grad resets it."""
    layer = nn.Linear(3, 2, rng=0)
    x = _x((4, 3))
    layer.forward(x)
    layer.backward(np.ones((4, 2), dtype=np.float32))
    once = layer.weight.grad.copy()
    layer.forward(x)
    layer.backward(np.ones((4, 2), dtype=np.float32))
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_parameter_keeps_dtype_and_has_matching_grad():
    """Check Parameter keeps its dtype, makes lists float32, and grad matches."""
    p = nn.Parameter(np.ones((2, 3), dtype=np.float64), name="w")
    assert p.dtype == p.grad.dtype == np.float64
    assert p.shape == p.grad.shape == (2, 3) and p.size == 6
    assert not p.grad.any()
    assert "w" in repr(p)
    q = nn.Parameter([1.0, 2.0])
    assert q.dtype == np.float32


def test_sequential_container_behaviour():
    """Check Sequential's len, indexing, iteration, append, forward and backward."""
    seq = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh())
    assert (
        len(seq) == 2 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Tanh)
    )
    seq.append(nn.Linear(3, 1, rng=1))
    assert len(seq) == 3 and [type(m).__name__ for m in seq] == [
        "Linear",
        "Tanh",
        "Linear",
    ]
    assert [n for n, _ in seq.named_parameters()][-1] == "2.bias"
    x = _x((4, 2))
    y = seq.forward(x)
    manual = seq[2].forward(seq[1].forward(seq[0].forward(x)))
    np.testing.assert_allclose(y, manual, rtol=1e-6)
    assert seq.backward(np.ones_like(y)).shape == x.shape


def test_module_needs_super_init():
    """Check that attributes set before super().__init__() raise RuntimeError."""

    class Bad(nn.Module):
        def __init__(self):
            self.w = 1

    with pytest.raises(
        RuntimeError, match=r"Bad\.__init__ must call super\(\)\.__init__\(\)"
    ):
        Bad()


def test_layers_create_float32_weights_and_zero_biases():
    """Check layers default to float32 weights, zero biases; honour dtype=, rng=."""
    lin = nn.Linear(5, 4)
    assert lin.weight.shape == (4, 5) and lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.bias.data, 0)
    conv = nn.Conv2d(3, 6, (3, 2), dtype=np.float64)
    assert conv.weight.shape == (6, 3, 3, 2) and conv.weight.dtype == np.float64
    assert conv.bias.dtype == np.float64
    np.testing.assert_array_equal(
        nn.Linear(5, 4, rng=3).weight.data, nn.Linear(5, 4, rng=3).weight.data
    )
    assert not np.array_equal(
        nn.Linear(5, 4, rng=3).weight.data, nn.Linear(5, 4, rng=4).weight.data
    )


@pytest.mark.parametrize(
    ("init", "std"),
    [
        ("he", math.sqrt(2 / 400)),
        ("he_normal", math.sqrt(2 / 400)),
        ("xavier", math.sqrt(2 / 600)),
        ("lecun", math.sqrt(1 / 400)),
        (0.01, 0.01),
    ],
)
def test_linear_init_names_give_expected_std(init, std):
    """Check each init name (and a float std) gives the documented std."""
    w = nn.Linear(400, 200, init=init, rng=0).weight.data
    assert w.std() == pytest.approx(std, rel=0.03)


def test_uniform_init_names_give_expected_bounds():
    """Check he_uniform and xavier_uniform give the documented bounds for Linear."""
    he = nn.Linear(300, 200, init="he_uniform", rng=0).weight.data
    xa = nn.Linear(300, 200, init="xavier_uniform", rng=0).weight.data
    assert np.abs(he).max() <= math.sqrt(6 / 300) and he.std() == pytest.approx(
        math.sqrt(2 / 300), rel=0.03
    )
    assert np.abs(xa).max() <= math.sqrt(6 / 500) and xa.std() == pytest.approx(
        math.sqrt(2 / 500), rel=0.03
    )


def test_relu_of_minus_infinity_is_zero():
    """Check ReLU maps -inf to 0 (not NaN) and propagates NaN, as torch does."""
    y = nn.ReLU().forward(
        np.array([[-np.inf, -1.0, 2.0, np.inf, np.nan]], dtype=np.float32)
    )
    np.testing.assert_array_equal(y[0, :4], [0.0, 0.0, 2.0, np.inf])
    assert np.isnan(y[0, 4])


def test_accuracy_with_ids_and_one_hot():
    """Check accuracy() counts arg-max hits for class ids and one-hot labels."""
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0], [1.0, 2.0]])
    assert nn.accuracy(logits, np.array([0, 1, 1, 1])) == 0.75
    assert nn.accuracy(logits, np.eye(2)[[0, 1, 1, 1]]) == 0.75
