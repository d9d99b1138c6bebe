"""Tests for the `regularization` experiment (quick size)."""

from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import regularization
from descentlab.experiments.api import pct
from descentlab.models import MLP, param_groups
from descentlab.optim import SGD


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("regularization")
    return regularization.run(size="quick", seed=0, out=out)


def test_contract(result):
    """Check the three figures (PNG, captioned) and one table row per variant."""
    out = Path(result["out"])
    assert result["name"] == "regularization"
    assert result["figures"] == [
        "regularization_curves.png",
        "regularization_gap.png",
        "regularization_norms.png",
    ]
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert result["captions"][fig]
    assert [r["variant"] for r in result["table"]] == list(regularization.VARIANTS)
    assert result["seeds"] == [0, 1, 2]


def test_plain_net_overfits_on_every_seed(result):
    """Check the unregularised net memorises its 300 digits with a large gap."""
    none = result["runs"]["none"]
    assert min(none["seed_train"]) >= 0.98
    assert max(none["seed_test"]) < 0.9
    assert min(none["seed_gap"]) > 0.12


def test_weight_decay_and_dropout_shrink_the_gap(result):
    """Check each regulariser alone gives a smaller median gap than none."""
    gap = result["gap"]
    assert gap["weight decay 0.1"] < gap["none"]
    assert gap["dropout 0.2"] < gap["none"]
    assert result["final_train"]["weight decay 0.1"] < result["final_train"]["none"]


def test_decay_shrinks_the_weights_by_the_decay_factor(result):
    """Check the diagnosis: with decay each hidden layer's norm ends near
    (1 - lr*lam)^steps, without it the norms hardly move, and with both the train
    accuracy declines after its peak."""
    steps = result["epochs"] * 3  # 300 digits, batch 100
    factor = (1 - 0.01 * 0.1) ** steps
    for name, run in result["runs"].items():
        ratio = np.asarray(run["layer_norms"][-1]) / np.asarray(run["layer_norms"][0])
        if run["weight_decay"]:  # hidden layers: the decay factor; output: shrunk
            assert np.all(np.abs(ratio[:-1] - factor) < 0.1 * factor), name
            assert ratio[-1] < 0.8, name
        else:
            assert np.all(np.abs(ratio - 1) < 0.15), name
    both = result["runs"]["weight decay 0.1 + dropout 0.2"]
    assert max(both["train_acc"]) > both["train_acc"][-1] + 0.03
    text = result["texts"]["regularization_norms.png"]
    assert f"{factor:.3f}" in text and pct(max(both["train_acc"])) in text


def test_curves_are_evaluated_to_the_last_epoch(result):
    """Check each run's curve starts at epoch 0 and ends at the last epoch."""
    for run in result["runs"].values():
        assert run["epochs"][0] == 0
        assert run["epochs"][-1] == result["epochs"] == 201
        assert len(run["train_acc"]) == len(run["test_acc"]) == len(run["epochs"])
        assert len(run["weight_norm"]) == len(run["epochs"])
        assert run["gap"] == pytest.approx(float(np.median(run["seed_gap"])))


def test_param_groups_decay_weights_like_the_book_penalty():
    """Check SGD weight_decay via param_groups is the gradient of 0.5*lam*||W||^2."""
    lam, lr = 0.1, 0.01
    model = MLP((6, 5, 3), seed=0)
    before = [p.data.copy() for p in model.parameters()]
    opt = SGD(param_groups(model, lam), lr=lr)
    rng = np.random.default_rng(0)
    grads = [
        rng.normal(size=p.data.shape).astype(p.data.dtype) for p in model.parameters()
    ]
    for p, g in zip(model.parameters(), grads, strict=False):
        p.grad[...] = g
    opt.step()
    for p, w, g in zip(model.parameters(), before, grads, strict=False):
        penalty_grad = lam * w if w.ndim >= 2 else 0.0  # d/dW of 0.5*lam*||W||^2
        np.testing.assert_allclose(
            p.data, w - lr * (g + penalty_grad), rtol=1e-5, atol=1e-7
        )
