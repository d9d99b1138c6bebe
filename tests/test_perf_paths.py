"""The fast paths give the same numbers as the straightforward ones.

MaxPool2d's per-offset passes against a per-window argmax (ties, NaN, overlap,
padding); a data layer without dx (``input_grad = False``) against one with it;
Trainer.fit with and without skipping the first layer's dx.
"""

from __future__ import annotations

import numpy as np
import pytest

import descentlab.train.trainer as trainer_mod
from descentlab.models import MLP, ResNetSmall, SimpleConvNet
from descentlab.nn import (
    Conv2d,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Residual,
    Sequential,
    SoftmaxCrossEntropy,
)
from descentlab.optim import Adam
from descentlab.train import Callback, Trainer


def _argmax_pool(x, k, s, p):
    """Reference max pool: per-window argmax (first maximum, first NaN), scatter
    back."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.empty((n, c, oh, ow), x.dtype)
    arg = np.empty((n, c, oh, ow), int)
    for a in range(oh):
        for b in range(ow):
            win = xp[:, :, a * s : a * s + k, b * s : b * s + k].reshape(n, c, -1)
            arg[:, :, a, b] = win.argmax(axis=-1)
            y[:, :, a, b] = np.take_along_axis(win, arg[:, :, a, b, None], -1)[..., 0]

    def backward(dy):
        dxp = np.zeros_like(xp)
        for a in range(oh):
            for b in range(ow):
                i, j = np.divmod(arg[:, :, a, b], k)
                nn_, cc = np.indices((n, c))
                np.add.at(dxp, (nn_, cc, a * s + i, b * s + j), dy[:, :, a, b])
        return dxp[:, :, p : p + h, p : p + w]

    return y, backward


@pytest.mark.parametrize(
    "k, s, p, shape",
    [
        (2, 2, 0, (3, 2, 8, 8)),  # windows tile the input
        (2, 2, 0, (2, 2, 7, 9)),  # odd sizes: last row/column dropped
        (3, 2, 0, (2, 3, 13, 13)),  # overlapping (AlexNet)
        (3, 2, 1, (2, 2, 10, 10)),  # overlapping with padding
        (2, 3, 0, (2, 2, 11, 11)),  # gaps between windows
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_matches_argmax_reference(k, s, p, shape, dtype):
    """Check MaxPool2d against a per-window argmax, with ties, inf and NaN windows."""
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal(shape), 0).astype(dtype)  # many tied zeros
    x[0, 0, 0, :3] = np.nan
    x[0, 1, 2, :] = -np.inf
    x[1, 0, 1, 1] = np.inf
    pool = MaxPool2d(k, s, p)
    y = pool.forward(x)
    y_ref, backward_ref = _argmax_pool(x, k, s, p)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = pool.backward(dy)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)
    # overlapping windows add in another order than the reference: rounding only
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(dx, backward_ref(dy), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: Linear(6, 4, rng=0), (5, 6)),
        (lambda: Conv2d(2, 3, 3, stride=2, padding=1, rng=0), (2, 2, 7, 7)),
    ],
)
def test_input_grad_false_skips_dx_only(make, shape):
    """Check that input_grad=False returns None and leaves the parameter grads
    unchanged."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape, dtype=np.float32)
    full, lean = make(), make()
    lean.input_grad = False
    dy = rng.standard_normal(full.forward(x).shape, dtype=np.float32)
    lean.forward(x)
    assert full.backward(dy) is not None
    assert lean.backward(dy) is None
    for (name, a), (_, b) in zip(
        full.named_parameters(), lean.named_parameters(), strict=True
    ):
        np.testing.assert_array_equal(a.grad, b.grad, err_msg=name)


class _Custom(Module):
    def __init__(self):
        super().__init__()
        self.lin = Linear(4, 2)

    def forward(self, x):
        return self.lin.forward(x * 2)

    def backward(self, dout):
        return self.lin.backward(dout) * 2


@pytest.mark.parametrize(
    "model, expected",
    [
        (MLP((8, 4, 2)), "0"),
        (SimpleConvNet(filters=2, hidden=4), "0"),
        (ResNetSmall(widths=(2, 2, 2)), "0"),
        (Sequential(Sequential(Linear(4, 3), ReLU()), Linear(3, 2)), "0.0"),
        (Sequential(Residual(Sequential(Linear(4, 4))), Linear(4, 2)), None),
        (_Custom(), None),
        (Linear(4, 2), ""),
    ],
)
def test_data_layer(model, expected):
    """Check which layer the Trainer lets skip dx (only where it surely sees the
    data)."""
    layer = trainer_mod._data_layer(model)
    names = {id(m): name for name, m in model.named_modules()}
    assert (None if layer is None else names[id(layer)]) == expected


def _fit(monkeypatch, skip: bool):
    if not skip:
        monkeypatch.setattr(trainer_mod, "_data_layer", lambda model: None)
    rng = np.random.default_rng(2)
    x = rng.random((60, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 60)
    model = SimpleConvNet(filters=3, hidden=8, seed=0)
    seen = set()

    class Spy(Callback):
        def on_train_batch_end(self, step, logs):
            seen.add(model[0].input_grad)

    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        Adam(model.parameters()),
        callbacks=[Spy()],
        verbose=0,
    )
    history = trainer.fit((x, y), (x[:20], y[:20]), epochs=2, batch_size=20, seed=1)
    monkeypatch.undo()
    assert seen == {not skip}
    return model, history


def test_fit_without_first_dx_is_bit_identical(monkeypatch):
    """Check that skipping the data layer's dx changes nothing and is undone after
    fit."""
    ref, h_ref = _fit(monkeypatch, skip=False)
    fast, h_fast = _fit(monkeypatch, skip=True)
    for (k, a), (_, b) in zip(
        ref.state_dict().items(), fast.state_dict().items(), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert h_ref.epoch["loss"] == h_fast.epoch["loss"]
    assert h_ref.epoch["val_acc"] == h_fast.epoch["val_acc"]
    assert fast[0].input_grad is True
