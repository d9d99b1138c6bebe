"""Experiment 12 (architectures): same training, different CNNs."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.experiments import architectures
from descentlab.experiments.api import pct, status_to
from descentlab.models import AlexNetSmall, LeNet5

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUICK_MODELS = [
    "lenet5-sigmoid-avg",
    "lenet5-relu-max",
    "alexnet-small",
    "alexnet-small-nolrn",
    "alexnet-small-nodropout",
    "deepconvnet",
]


@pytest.fixture(scope="module")
def statuses():
    return []


@pytest.fixture(scope="module")
def result(tmp_path_factory, statuses):
    out = tmp_path_factory.mktemp("architectures")
    with status_to(statuses.append):
        return architectures.run("quick", seed=0, out=out)


def test_status_names_each_model_and_epoch(result, statuses):
    """Check the live status names each model and seed in order and each finished
    epoch."""
    labels = [architectures.MODELS[k][0] for k in QUICK_MODELS]
    n = len(QUICK_MODELS)
    starts = [s for s in statuses if ", seed " in s]
    assert starts == [
        f"{lab} ({i}/{n}), seed {seed}"
        for seed in result["seeds"]
        for i, lab in enumerate(labels, 1)
    ]
    epochs = result["settings"]["epochs"]
    assert f"DeepConvNet: epoch {epochs}/{epochs} done" in statuses
    done = sum(s.endswith(" done") for s in statuses)
    assert done == n * epochs * len(result["seeds"])


def test_result_contract_and_files(result):
    """Check the result dict, the JSON file, the table and that both figures are PNG."""
    out = Path(result["out"])
    assert result["name"] == "architectures" and result["seconds"] > 0
    assert len(result["figures"]) == 2
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:8] == PNG_MAGIC
    saved = json.loads((out / "architectures.json").read_text())
    assert saved["test_acc"] == pytest.approx(result["test_acc"])
    assert len(result["table"]) == len(QUICK_MODELS)
    keys = set(result["table"][0])
    assert all(set(row) == keys for row in result["table"])
    assert {
        "model",
        "parameters",
        "test accuracy (median)",
        "test accuracy (min–max)",
        "s/epoch (training, median)",
    } <= keys
    for row, r in zip(result["table"], result["models"].values(), strict=True):
        lo, hi = min(r["seed_test_acc"]), max(r["seed_test_acc"])
        assert row["test accuracy (min–max)"] == f"{lo:.3f}–{hi:.3f}"
        assert row["test accuracy (median)"] == pytest.approx(
            np.median(r["seed_test_acc"])
        )


def test_quick_runs_the_required_models(result):
    """Check that quick size trains both LeNet5s, AlexNetSmall and DeepConvNet."""
    assert list(result["models"]) == QUICK_MODELS


def test_relu_models_beat_chance_clearly(result):
    """Check that every ReLU model reaches > 0.3 test accuracy after 100 quick steps."""
    for key, acc in result["test_acc"].items():
        if key != "lenet5-sigmoid-avg":
            assert acc > 0.3, (key, acc)


def test_relu_max_lenet_beats_sigmoid_avg_lenet(result):
    """Check that ReLU/max LeNet5 is far ahead of sigmoid/avg LeNet5 after 100 steps."""
    acc = result["test_acc"]
    assert acc["lenet5-relu-max"] > 0.8
    assert acc["lenet5-relu-max"] - acc["lenet5-sigmoid-avg"] > 0.5


def test_sigmoid_lenet_sits_on_the_plateau(result):
    """Check that sigmoid/avg LeNet5's loss stays at ln 10 (uniform guess) at quick."""
    r = result["models"]["lenet5-sigmoid-avg"]
    assert r["test_acc"] < 0.2
    assert np.mean(r["step_loss"][-20:]) == pytest.approx(math.log(10), abs=0.05)
    assert r["test_loss"] == pytest.approx(math.log(10), abs=0.05)


def test_dropout_slows_early_training(result):
    """Check that AlexNetSmall without dropout beats the dropout one at 100 steps."""
    acc = result["test_acc"]
    assert acc["alexnet-small-nodropout"] > acc["alexnet-small"] + 0.1


def test_lrn_and_dropout_are_ablated_separately_and_reported(result):
    """Check both one-change variants ran and the prose quotes their numbers."""
    m = result["models"]
    assert m["alexnet-small-nolrn"]["params"] == m["alexnet-small"]["params"]
    text = result["texts"]["architectures_accuracy.png"]
    for key in ("alexnet-small", "alexnet-small-nolrn", "alexnet-small-nodropout"):
        assert pct(m[key]["test_acc"]) in text
    assert "ResNetSmall runs only at full size" in text
    assert "resnet-small" not in m  # neither in the figure nor in the table
    assert not any("ResNet" in row["model"] for row in result["table"])
    lenet = m["lenet5-relu-max"]["seconds_per_epoch"]
    slow = max(m[k]["seconds_per_epoch"] for k in m if not k.startswith("lenet"))
    assert f"{slow / lenet:.0f} times" in text
    assert "dropout on" in result["captions"]["architectures_curves.png"]


def test_curves_and_timing(result):
    """Check the validation curves (epoch 0 = chance) and positive per-epoch times."""
    epochs = result["settings"]["epochs"]
    steps = epochs * result["settings"]["n_train"] // result["settings"]["batch_size"]
    n_seeds = len(result["seeds"])
    for key, r in result["models"].items():
        assert len(r["val_acc"]) == epochs + 1
        assert max(v[0] for v in r["seed_val_acc"]) < 0.25, key
        assert len(r["step_loss"]) == steps
        assert np.shape(r["seed_step_loss"]) == (n_seeds, steps)
        assert len(r["epoch_seconds"]) == epochs * n_seeds
        assert r["seconds_per_epoch"] > 0
    models = result["models"]
    assert (
        models["deepconvnet"]["seconds_per_epoch"]
        > models["lenet5-relu-max"]["seconds_per_epoch"]
    )


def test_seeds_recorded_and_band_holds_every_seed(result):
    """Check 2 seeds are run and saved, they differ, and the drawn band (min-max)
    and the median hold each seed's validation curve and test accuracy."""
    saved = json.loads((Path(result["out"]) / "architectures.json").read_text())
    assert saved["seeds"] == result["seeds"] == [0, 1]
    assert result["budget"]["seeds"] == 2
    differ = 0
    for key, r in result["models"].items():
        val = np.asarray(r["seed_val_acc"])
        lo, hi, med = (
            np.asarray(r[k]) for k in ("val_acc_lo", "val_acc_hi", "val_acc")
        )
        assert val.shape == (2, result["settings"]["epochs"] + 1)
        assert np.all(lo <= val) and np.all(val <= hi), key
        assert np.all(lo <= med) and np.all(med <= hi), key
        a, b = r["test_acc_range"]
        assert a <= r["test_acc"] <= b
        assert [a, b] == [min(r["seed_test_acc"]), max(r["seed_test_acc"])]
        differ += not np.allclose(r["seed_step_loss"][0], r["seed_step_loss"][1])
    assert differ == len(result["models"])  # each seed its own weights and batches


def test_text_quotes_medians_ranges_and_noise(result):
    """Check the summary text gives each quoted model's median and seed range, and
    the noise floor of this run."""
    text = result["texts"]["architectures_accuracy.png"]
    m = result["models"]
    for key in ("lenet5-sigmoid-avg", "lenet5-relu-max", "alexnet-small"):
        lo, hi = m[key]["test_acc_range"]
        assert f"{pct(m[key]['test_acc'])} ({pct(lo)}–{pct(hi)}" in text
    assert f"±{pct(result['noise'])}" in text
    assert f"trained on {len(result['seeds'])} seeds" in text
    assert "2 seeds" in result["captions"]["architectures_curves.png"]


def test_parameter_counts(result):
    """Check the reported parameter counts against the models built directly."""
    params = {k: r["params"] for k, r in result["models"].items()}
    assert params["lenet5-relu-max"] == params["lenet5-sigmoid-avg"] == 61_706
    assert params["alexnet-small"] == AlexNetSmall(width=0.5).num_parameters()
    assert params["alexnet-small-nodropout"] == params["alexnet-small"]


def test_build_uses_size_width():
    """Check that build() gives AlexNetSmall width 0.5 at quick and 1.0 at full size."""
    quick = architectures.build("alexnet-small", "quick")
    full = architectures.build("alexnet-small", "full")
    assert quick.num_parameters() == AlexNetSmall(width=0.5).num_parameters()
    assert full.num_parameters() == AlexNetSmall().num_parameters()
    assert isinstance(architectures.build("lenet5-sigmoid-avg", "quick"), LeNet5)
    full_keys = [k for k, spec in architectures.MODELS.items() if "full" in spec[3]]
    assert len(full_keys) == 7 and set(QUICK_MODELS) < set(full_keys)


def test_unknown_size_is_refused(tmp_path):
    """Check that a size other than quick/full raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="size"):
        architectures.run("tiny", out=tmp_path)
