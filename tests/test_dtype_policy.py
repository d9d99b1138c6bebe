"""The float32 policy: a float32 model never produces a float64 array.

Forward activations, everything a layer caches for backward, dx, parameters,
gradients, BN buffers and every optimizer's state stay float32 through a few
training steps with a learning-rate scheduler, for each model of the zoo.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from descentlab.models import MLP, AlexNetSmall, ResNetSmall, SimpleConvNet
from descentlab.nn import Module, SoftmaxCrossEntropy
from descentlab.optim import OPTIMIZERS, make_optimizer
from descentlab.schedules import CosineAnnealing, Scheduler
from descentlab.train import Trainer

MODELS = {
    "mlp_bn_dropout": (
        lambda: MLP((784, 32, 32, 10), batchnorm=True, dropout=0.3, seed=0),
        (6, 784),
    ),
    "simplecnn": (lambda: SimpleConvNet(filters=4, hidden=16, seed=0), (4, 1, 28, 28)),
    "alexnet_small": (lambda: AlexNetSmall(width=0.125, seed=0), (4, 1, 28, 28)),
    "resnet_small": (lambda: ResNetSmall(widths=(4, 8, 8), seed=0), (4, 1, 28, 28)),
}


def _floating(obj, where: str, found: list[str]) -> None:
    """Collect the dtype of every floating array in obj (arrays, tuples, lists,
    dicts)."""
    if hasattr(obj, "dtype") and hasattr(obj, "shape"):
        if obj.dtype.kind == "f" and obj.dtype != np.float32:
            found.append(f"{where}: {obj.dtype}")
    elif isinstance(obj, (tuple, list)):
        for i, item in enumerate(obj):
            _floating(item, f"{where}[{i}]", found)
    elif isinstance(obj, dict):
        for k, item in obj.items():
            _floating(item, f"{where}[{k!r}]", found)


def _record(model: Module, found: list[str]) -> None:
    """Wrap every layer's forward and backward to check what goes out of it."""
    for name, m in model.named_modules():
        fwd, bwd = m.forward, m.backward

        def forward(x, _fwd=fwd, _name=name):
            y = _fwd(x)
            _floating(y, f"{_name or 'model'}.forward output", found)
            return y

        def backward(dout, _bwd=bwd, _name=name):
            dx = _bwd(dout)
            _floating(dx, f"{_name or 'model'}.backward dx", found)
            return dx

        object.__setattr__(m, "forward", forward)
        object.__setattr__(m, "backward", backward)


def _check_model_state(model: Module, opt, found: list[str]) -> None:
    for name, m in model.named_modules():
        _floating(m._cache, f"{name or 'model'} cache", found)
    for name, p in model.named_parameters():
        _floating(p.data, f"param {name}", found)
        _floating(p.grad, f"grad {name}", found)
    for name, buf in model.named_buffers():
        _floating(buf, f"buffer {name}", found)
    _floating(opt.state, "optimizer state", found)


def _optimizer(name: str, params):
    kw = {"lr": 1e-3}
    if "weight_decay" in inspect.signature(OPTIMIZERS[name]).parameters:
        kw["weight_decay"] = 1e-4  # exercises the L2 / decoupled-decay path
    return make_optimizer(name, params, **kw)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_float32_model_stays_float32(model_name, opt_name):
    """Check that forward, caches, backward, optimizer state and scheduler keep
    float32."""
    build, shape = MODELS[model_name]
    model = build()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, 10, shape[0])
    found: list[str] = []
    _check_model_state(model, type("NoOpt", (), {"state": {}})(), found)
    assert not found, f"freshly built {model_name}: {found}"
    opt = _optimizer(opt_name, model.parameters())
    sched = Scheduler(opt, CosineAnnealing(1e-3, 10, 1e-5), interval="step")
    loss = SoftmaxCrossEntropy()
    _record(model, found)
    for _ in range(3):
        opt.zero_grad()
        logits = model.forward(x)
        value = loss.forward(logits, y)
        dlogits = loss.backward()
        _floating(dlogits, "loss.backward", found)
        model.backward(dlogits)
        opt.step()
        sched.step()
        assert np.isfinite(value)
    _check_model_state(model, opt, found)
    assert isinstance(opt.param_groups[0]["lr"], float)
    assert not found, f"{model_name} + {opt_name}: float64 in {sorted(set(found))[:12]}"


def test_trainer_keeps_float32_with_clipping_and_validation():
    """Check that Trainer.fit (NaN guard, clipping, evaluation) leaves no float64
    behind."""
    model = MLP((784, 16, 10), batchnorm=True, dropout=0.2, seed=0)
    rng = np.random.default_rng(1)
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    opt = make_optimizer("adamw", model.parameters(), lr=1e-3)
    sched = Scheduler(opt, CosineAnnealing(1e-3, 2, 1e-5), interval="epoch")
    trainer = Trainer(
        model, SoftmaxCrossEntropy(), opt, sched, verbose=0, clip_grad_norm=1.0
    )
    trainer.fit((x, y), (x[:16], y[:16]), epochs=2, batch_size=16)
    found: list[str] = []
    _check_model_state(model, opt, found)
    assert not found, found
    assert trainer.predict(x[:8]).dtype == np.float32


def test_float64_data_runs_the_float32_model_in_float32():
    """Check float64 inputs (NumPy's default) are fed to a float32 model as float32 by
    fit (arrays and a DataLoader), evaluate and predict, and give the same weights as
    float32 data."""
    from descentlab.data import DataLoader

    rng = np.random.default_rng(0)
    x64, y = rng.random((120, 784)), rng.integers(0, 10, 120)

    def run(x, loader=False):
        model = MLP((784, 16, 10), seed=0)
        seen = []
        first, forward = model[0], model[0].forward
        first.forward = lambda xb: (seen.append(xb.dtype), forward(xb))[1]
        trainer = Trainer(
            model,
            SoftmaxCrossEntropy(),
            make_optimizer("adam", model.parameters()),
            verbose=0,
        )
        data = DataLoader(x, y, 40, seed=1) if loader else (x, y)
        trainer.fit(data, epochs=2, batch_size=40, seed=1)
        trainer.evaluate(x, y)
        trainer.predict(x)
        return model, set(seen)

    ref, seen32 = run(x64.astype(np.float32))
    for loader in (False, True):
        model, seen = run(x64, loader)
        assert seen == seen32 == {np.dtype(np.float32)}
        for (name, a), (_, b) in zip(
            model.named_parameters(), ref.named_parameters(), strict=True
        ):
            assert np.array_equal(a.data, b.data), name
