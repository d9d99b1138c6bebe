"""Tests for the `regularization` experiment (quick size)."""

from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import regularization
from descentlab.models import MLP, param_groups
from descentlab.optim import SGD


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("regularization")
    return regularization.run(size="quick", seed=0, out=out)


def test_contract(result):
    """Check the contract keys, the PNG figures, the JSON file and the table."""
    out = Path(result["out"])
    assert result["name"] == "regularization"
    assert result["figures"] == ["regularization_curves.png", "regularization_gap.png"]
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:4] == b"\x89PNG"
    assert (out / "regularization.json").is_file()
    assert [r["variant"] for r in result["table"]] == list(regularization.VARIANTS)


def test_plain_net_overfits(result):
    """Check the unregularised net fits its 300 digits but tests well below that."""
    assert result["final_train"]["none"] >= 0.98
    assert result["final_test"]["none"] < 0.9
    assert result["gap"]["none"] > 0.12


def test_weight_decay_and_dropout_shrink_the_gap(result):
    """Check the train-test gap with weight decay, and with dropout, is below none's."""
    gap = result["gap"]
    assert gap["weight decay 0.1"] < gap["none"] - 0.02
    assert gap["dropout 0.2"] < gap["none"] - 0.02
    assert result["final_train"]["weight decay 0.1"] < result["final_train"]["none"]


def test_curves_are_evaluated_to_the_last_epoch(result):
    """Check each run's curve starts at epoch 0 and ends at the last epoch."""
    for run in result["runs"].values():
        assert run["epochs"][0] == 0
        assert run["epochs"][-1] == result["epochs"] == 201
        assert len(run["train_acc"]) == len(run["test_acc"]) == len(run["epochs"])
        assert run["gap"] == pytest.approx(run["train_acc"][-1] - run["test_acc"][-1])


def test_param_groups_decay_weights_like_the_book_penalty():
    """Check SGD weight_decay via param_groups equals the gradient of 0.5*lam*||W||^2."""
    lam, lr = 0.1, 0.01
    model = MLP((6, 5, 3), seed=0)
    before = [p.data.copy() for p in model.parameters()]
    opt = SGD(param_groups(model, lam), lr=lr)
    rng = np.random.default_rng(0)
    grads = [
        rng.normal(size=p.data.shape).astype(p.data.dtype) for p in model.parameters()
    ]
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
    opt.step()
    for p, w, g in zip(model.parameters(), before, grads):
        penalty_grad = lam * w if w.ndim >= 2 else 0.0  # d/dW of 0.5*lam*||W||^2
        np.testing.assert_allclose(
            p.data, w - lr * (g + penalty_grad), rtol=1e-5, atol=1e-7
        )
