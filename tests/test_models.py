"""The model zoo (descentlab.models): shapes, sizes, gradients, options, torch."""

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.models import (
    MLP,
    AlexNetSmall,
    DeepConvNet,
    LeNet5,
    ResNetSmall,
    SimpleConvNet,
    build_model,
    needs_flat_input,
    param_groups,
)
from descentlab.nn import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Linear,
    LocalResponseNorm,
    MaxPool2d,
    ReLU,
    Sequential,
    Sigmoid,
    gradcheck,
)

MODEL_NAMES = (
    "mlp",
    "simplecnn",
    "lenet5",
    "alexnet-small",
    "deepconvnet",
    "resnet-small",
)


def _images(n=2, size=28, seed=0):
    return np.random.default_rng(seed).random((n, 1, size, size), dtype=np.float32)


def _count(model, cls):
    return sum(isinstance(m, cls) for m in model.modules())


@pytest.mark.parametrize(
    "make",
    [
        SimpleConvNet,
        LeNet5,
        lambda: LeNet5(activation="sigmoid", pool="avg"),
        AlexNetSmall,
        lambda: AlexNetSmall(lrn=False, dropout=0.0, width=0.5),
        DeepConvNet,
        ResNetSmall,
    ],
    ids=[
        "simplecnn",
        "lenet5",
        "lenet5-classic",
        "alexnet-small",
        "alexnet-small-plain",
        "deepconvnet",
        "resnet-small",
    ],
)
def test_conv_models_output_shape(make):
    """Check that every conv model maps a (2, 1, 28, 28) batch to (2, 10) logits."""
    model = make()
    y = model.forward(_images())
    assert y.shape == (2, 10)
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert not needs_flat_input(model)


def test_mlp_output_shape_and_flat_input():
    """Check that the default MLP maps (2, 784) to (2, 10) and needs flat input."""
    model = MLP()
    y = model.forward(_images().reshape(2, -1))
    assert y.shape == (2, 10)
    assert needs_flat_input(model)
    assert MLP([784, 50, 10]).forward(np.zeros((3, 784), np.float32)).shape == (3, 10)


def test_simpleconvnet_parameter_count():
    """Check SimpleConvNet's parameter count against a hand computation."""
    conv = 30 * 1 * 5 * 5 + 30  # 780
    fc1 = (30 * 12 * 12) * 100 + 100  # 24x24 conv map pooled to 12x12: 432,100
    fc2 = 100 * 10 + 10  # 1,010
    assert SimpleConvNet().num_parameters() == conv + fc1 + fc2 == 433_890


def test_lenet5_parameter_count():
    """Check LeNet5's parameter count against a hand computation (both variants)."""
    c1 = 6 * 1 * 25 + 6  # 156
    c2 = 16 * 6 * 25 + 16  # 2,416
    f1 = 16 * 5 * 5 * 120 + 120  # 48,120
    f2 = 120 * 84 + 84  # 10,164
    f3 = 84 * 10 + 10  # 850
    expected = c1 + c2 + f1 + f2 + f3
    assert expected == 61_706
    assert LeNet5().num_parameters() == expected
    assert LeNet5(activation="sigmoid", pool="avg").num_parameters() == expected


def test_state_dict_shapes_follow_torch_layout():
    """Check that SimpleConvNet's state_dict holds torch-layout weights, dotted keys."""
    sd = SimpleConvNet().state_dict()
    assert {k: v.shape for k, v in sd.items()} == {
        "0.weight": (30, 1, 5, 5),
        "0.bias": (30,),
        "4.weight": (100, 4320),
        "4.bias": (100,),
        "6.weight": (10, 100),
        "6.bias": (10,),
    }


def test_gradcheck_simpleconvnet():
    """Check SimpleConvNet's backward against central differences in float64."""
    model = SimpleConvNet(input_shape=(1, 10, 10), filters=3, hidden=8, seed=1)
    report = gradcheck(model, _images(2, 10, seed=1), max_checks=12, seed=0)
    assert model.parameters()[0].data.dtype == np.float64  # cast in place
    assert set(report) == {
        "x",
        "0.weight",
        "0.bias",
        "4.weight",
        "4.bias",
        "6.weight",
        "6.bias",
    }
    for name, err in report.items():
        assert err < 1e-6, (name, err)


def test_gradcheck_resnet_small():
    """Check a tiny ResNetSmall (BN, residual, projection, global pool) by gradcheck."""
    model = ResNetSmall(widths=(4, 8, 8), input_size=8, seed=2)
    report = gradcheck(model, _images(3, 8, seed=2), max_checks=6, seed=0)
    assert any(".projection." in name for name in report)
    worst = max(report.values())
    assert worst < 1e-5, {k: v for k, v in report.items() if v >= 1e-5}


@pytest.mark.parametrize(
    "name, cls",
    [
        ("mlp", MLP),
        ("simplecnn", SimpleConvNet),
        ("lenet5", LeNet5),
        ("alexnet-small", AlexNetSmall),
        ("deepconvnet", DeepConvNet),
        ("resnet-small", ResNetSmall),
    ],
)
def test_build_model_names(name, cls):
    """Check that build_model maps each CLI name to its class and passes keywords on."""
    model = build_model(name, seed=3)
    assert type(model) is cls


def test_build_model_forwards_options():
    """Check that build_model passes constructor options through."""
    model = build_model("lenet5", activation="sigmoid", pool="avg")
    assert _count(model, Sigmoid) == 4 and _count(model, AvgPool2d) == 2


def test_build_model_unknown_name_lists_valid_names():
    """Check that an unknown model name raises an error naming it and the valid ones."""
    with pytest.raises(InvalidParameterError) as info:
        build_model("vgg16")
    message = str(info.value)
    assert "vgg16" in message
    for name in MODEL_NAMES:
        assert name in message


def test_mlp_plain_has_no_bn_or_dropout():
    """Check that the default MLP is Linear/ReLU only: no BatchNorm, no Dropout."""
    model = MLP([784, 20, 20, 10])
    assert _count(model, Linear) == 3 and _count(model, ReLU) == 2
    assert _count(model, BatchNorm1d) == 0 and _count(model, Dropout) == 0


def test_mlp_batchnorm_and_dropout_layers_in_order():
    """Check that MLP hidden layers are Linear -> BatchNorm1d -> act -> Dropout(p)."""
    model = MLP([784, 20, 30, 10], activation="tanh", batchnorm=True, dropout=0.25)
    kinds = [type(m).__name__ for m in model]
    assert kinds == [
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Dropout",
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Dropout",
        "Linear",
    ]
    bns = [m for m in model if isinstance(m, BatchNorm1d)]
    assert [bn.weight.shape for bn in bns] == [(20,), (30,)]
    assert all(m.p == 0.25 for m in model if isinstance(m, Dropout))


def test_mlp_rejects_bad_options():
    """Check that MLP refuses fewer than two sizes and dropout outside [0, 1)."""
    with pytest.raises(InvalidParameterError, match="sizes"):
        MLP([784])
    with pytest.raises(InvalidParameterError, match="dropout"):
        MLP([784, 10], dropout=1.0)


def test_param_groups_split_weights_from_biases_and_bn():
    """Check that param_groups decays only weights with ndim >= 2 (not biases/BN)."""
    model = MLP([784, 20, 10], batchnorm=True)
    groups = param_groups(model, 0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert all(p.data.ndim >= 2 for p in groups[0]["params"])
    assert all(p.data.ndim == 1 for p in groups[1]["params"])
    decayed = {id(p) for p in groups[0]["params"]}
    plain = {id(p) for p in groups[1]["params"]}
    assert not decayed & plain
    assert decayed | plain == {id(p) for p in model.parameters()}
    assert len(groups[0]["params"]) == 2  # two Linear weights
    assert len(groups[1]["params"]) == 4  # two biases, BN gamma and beta


def test_param_groups_without_small_params_is_one_group():
    """Check that a model with no 1-D parameters gives a single decayed group."""
    model = Sequential(Linear(4, 3, bias=False), ReLU(), Linear(3, 2, bias=False))
    groups = param_groups(model, 0.5)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.5


def test_lenet5_variants_layers():
    """Check LeNet5's layers: ReLU/MaxPool by default, Sigmoid/AvgPool when classic."""
    modern = LeNet5()
    assert _count(modern, ReLU) == 4 and _count(modern, MaxPool2d) == 2
    assert _count(modern, Sigmoid) == 0 and _count(modern, AvgPool2d) == 0
    classic = LeNet5(activation="sigmoid", pool="avg")
    assert _count(classic, Sigmoid) == 4 and _count(classic, AvgPool2d) == 2
    assert _count(classic, ReLU) == 0 and _count(classic, MaxPool2d) == 0
    convs = [m for m in classic.modules() if isinstance(m, Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (6, (5, 5), (2, 2)),
        (16, (5, 5), (0, 0)),
    ]
    with pytest.raises(InvalidParameterError, match="pool"):
        LeNet5(pool="median")


def test_alexnet_small_options():
    """Check that AlexNetSmall's lrn/dropout/width options add or drop layers."""
    full = AlexNetSmall()
    assert _count(full, LocalResponseNorm) == 2 and _count(full, Dropout) == 2
    plain = AlexNetSmall(lrn=False, dropout=0.0)
    assert _count(plain, LocalResponseNorm) == 0 and _count(plain, Dropout) == 0
    half = AlexNetSmall(width=0.5)
    assert [m.out_channels for m in half.modules() if isinstance(m, Conv2d)] == [
        16,
        32,
        48,
        48,
        32,
    ]
    assert half.num_parameters() < full.num_parameters()


def test_resnet_small_has_bn_and_projections():
    """Check that ResNetSmall has BatchNorm2d and projection shortcuts at stride 2."""
    model = ResNetSmall()
    assert _count(model, BatchNorm2d) >= 7
    strided = [
        m for m in model.modules() if isinstance(m, Conv2d) and m.stride == (2, 2)
    ]
    assert len(strided) == 4  # two body convs + two 1x1 projections


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLP([784, 30, 30, 10], dropout=0.5, batchnorm=True),
        DeepConvNet,
        lambda: AlexNetSmall(width=0.25),
    ],
    ids=["mlp-dropout-bn", "deepconvnet", "alexnet-small"],
)
def test_eval_mode_is_deterministic(make):
    """Check that with dropout, eval mode repeats its output and train mode does not."""
    model = make()
    x = _images(4, seed=5)
    if needs_flat_input(model):
        x = x.reshape(4, -1)
    a = model.forward(x)
    b = model.forward(x)
    assert not np.allclose(a, b)  # fresh dropout masks
    model.eval()
    c = model.forward(x)
    d = model.forward(x)
    np.testing.assert_array_equal(c, d)
    model.train()
    assert model.training and all(m.training for m in model.modules())


def test_same_seed_same_weights():
    """Check that ``seed`` fixes the initial weights and different seeds differ."""
    a, b, c = LeNet5(seed=7), LeNet5(seed=7), LeNet5(seed=8)
    states = (a.state_dict().items(), b.state_dict().items(), c.state_dict().items())
    for (ka, va), (kb, vb), (_, vc) in zip(*states, strict=True):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
        if ka.endswith("weight"):
            assert not np.array_equal(va, vc)


def test_simpleconvnet_matches_torch():
    """Check that SimpleConvNet's weights load into a torch twin with equal logits."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = SimpleConvNet(seed=4)
    ref = nn.Sequential(
        nn.Conv2d(1, 30, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4320, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )
    sd = model.state_dict()
    ref_sd = ref.state_dict()
    assert list(sd) == list(ref_sd)
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        k: tuple(v.shape) for k, v in ref_sd.items()
    }
    ref.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}
    )
    x = _images(5, seed=6)
    ours = model.forward(x)
    with torch.no_grad():
        theirs = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
