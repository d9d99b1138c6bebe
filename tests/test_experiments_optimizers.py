"""Tests for the `optimizers_mnist` experiment (quick size)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.experiments import optimizers_mnist


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("optimizers_mnist")
    return optimizers_mnist.run(size="quick", seed=0, out=out)


def test_contract(result):
    """Check the contract keys, the PNG figure, the JSON and one table row per optimizer."""
    out = Path(result["out"])
    assert result["name"] == "optimizers_mnist"
    assert result["figures"] == ["optimizers_mnist.png"]
    assert (out / "optimizers_mnist.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "optimizers_mnist.json").read_text())
    assert saved["final_smoothed"] == pytest.approx(result["final_smoothed"])
    assert [r["optimizer"] for r in result["table"]] == [
        "SGD",
        "Momentum",
        "Nesterov",
        "AdaGrad",
        "RMSProp",
        "Adam",
        "AdamW",
    ]
    assert len({tuple(r) for r in result["table"]}) == 1  # same columns in every row
    assert result["seconds"] > 0


def test_book_learning_rates(result):
    """Check the book's learning rates for SGD, Momentum, AdaGrad and Adam."""
    s = result["settings"]
    assert s["sgd"]["lr"] == 0.01
    assert s["momentum"] == {"lr": 0.01, "momentum": 0.9}
    assert s["adagrad"]["lr"] == 0.01
    assert s["adam"]["lr"] == 0.001


def test_runs_for_the_quick_iterations(result):
    """Check every optimizer took exactly the quick number of iterations."""
    assert result["iterations"] == 200
    for name, r in result["runs"].items():
        assert len(r["loss"]) == 200, name
        assert np.all(np.isfinite(r["loss"])), name


def test_same_initial_weights_and_batches(result):
    """Check every run starts from the same weights and batch: identical first loss."""
    first = [r["loss"][0] for r in result["runs"].values()]
    assert np.allclose(first, first[0], rtol=0, atol=1e-6)
    assert abs(first[0] - math.log(10)) < 0.5  # an untrained net is near chance


def test_adam_adagrad_momentum_beat_sgd(result):
    """Check Adam, AdaGrad and Momentum end with a smoothed loss well below SGD's."""
    f = result["final_smoothed"]
    for name in ("adam", "adagrad", "momentum"):
        assert f[name] < 0.5 * f["sgd"], (name, f)
    assert all(f[n] < f["sgd"] for n in f if n != "sgd"), f


def test_everyone_learns(result):
    """Check every optimizer lowers the loss and beats chance on the test digits."""
    for name, r in result["runs"].items():
        assert r["final_smoothed"] < 0.5 * math.log(10), name
        assert r["test_acc"] > 0.6, name
    assert result["runs"]["adam"]["test_acc"] > result["runs"]["sgd"]["test_acc"]


def test_stop_after_stops_mid_epoch():
    """Check train_for takes exactly the asked number of steps when it ends mid-epoch."""
    from descentlab.data import mnist_sample_splits
    from descentlab.models import MLP
    from descentlab.optim import SGD

    train = mnist_sample_splits(300, n_test=0, seed=1, flatten=True).train
    model = MLP((784, 16, 10), seed=1)
    trainer = optimizers_mnist.train_for(
        model, SGD(model.parameters(), lr=0.01), train, 5, batch_size=128
    )
    assert len(trainer.history.step["loss"]) == 5
    assert trainer.global_step == 5


def test_rejects_unknown_size(tmp_path):
    """Check an unknown size raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="size"):
        optimizers_mnist.run(size="huge", out=tmp_path)
