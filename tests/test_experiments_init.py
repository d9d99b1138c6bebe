"""Tests for the `init_activations` and `init_mnist` experiments (quick size)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import init_activations, init_mnist
from descentlab.experiments.api import full_result


@pytest.fixture(scope="module")
def acts(tmp_path_factory):
    out = tmp_path_factory.mktemp("init_activations")
    return init_activations.run(size="quick", seed=0, out=out)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    out = tmp_path_factory.mktemp("init_mnist")
    return init_mnist.run(size="quick", seed=0, out=out)


def _layer5(acts, key, stat):
    return acts["stats"][key][stat][-1]


# ------------------------------------------------------------ init_activations


def test_activations_contract(acts):
    """Check the contract keys, the PNG figures, the JSON, one row per configuration."""
    out = Path(acts["out"])
    assert acts["name"] == "init_activations"
    assert acts["figures"] == [
        "init_activations_histograms.png",
        "init_activations_summary.png",
    ]
    for f in acts["figures"]:
        assert (out / f).read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "init_activations.json").read_text())
    assert saved["stats"]["relu_he"]["std"] == pytest.approx(
        acts["stats"]["relu_he"]["std"]
    )
    assert len(acts["table"]) == len(acts["stats"]) == 7
    for key, s in acts["stats"].items():
        assert all(len(v) == 5 for v in s.values()), key


def test_sigmoid_std1_saturates(acts):
    """Check sigmoid with std 1 puts most activations below 0.1 or above 0.9."""
    s = acts["stats"]["sigmoid_std1"]
    assert min(s["saturated"]) > 0.5
    assert s["near_zero"][-1] > 0.25 and s["near_one"][-1] > 0.25  # both ends


def test_sigmoid_std001_collapses_to_half(acts):
    """Check sigmoid with std 0.01 gives layer-5 activations within a hair of 0.5."""
    assert _layer5(acts, "sigmoid_std0.01", "std") < 0.02
    assert abs(_layer5(acts, "sigmoid_std0.01", "mean") - 0.5) < 0.01
    assert _layer5(acts, "sigmoid_std0.01", "saturated") == 0.0


def test_sigmoid_xavier_spreads(acts):
    """Check Xavier keeps a wide spread in layer 5 without saturating."""
    xavier = _layer5(acts, "sigmoid_xavier", "std")
    assert xavier > 5 * _layer5(acts, "sigmoid_std0.01", "std")
    assert xavier < _layer5(acts, "sigmoid_std1", "std")
    assert _layer5(acts, "sigmoid_xavier", "saturated") < 0.05


def test_relu_scales(acts):
    """Check ReLU std 0.01 shrinks to ~0 by layer 5, Xavier decays, He keeps scale."""
    stats = acts["stats"]
    assert _layer5(acts, "relu_std0.01", "std") < 1e-4
    he = stats["relu_he"]["std"]
    assert he[-1] > 0.3 and he[-1] / he[0] > 0.5
    xavier = stats["relu_xavier"]["std"]
    assert xavier[-1] / xavier[0] < 0.4  # about (1/sqrt 2)^4 = 0.25
    assert _layer5(acts, "relu_std0.01", "std") < xavier[-1] < he[-1]
    for key in ("relu_std0.01", "relu_xavier", "relu_he"):
        assert 0.4 < _layer5(acts, key, "exact_zero") < 0.65, key


def test_book_xavier_equals_glorot_here(acts):
    """Check 1/sqrt(n) and sqrt(2/(n_in+n_out)) coincide (0.1) for 100x100 layers."""
    assert acts["xavier_std"] == pytest.approx(0.1)
    assert acts["glorot_std"] == pytest.approx(0.1)
    assert acts["glorot_equals_xavier"] is True
    assert acts["xavier_sample_std"] == pytest.approx(0.1, rel=0.03)


# ------------------------------------------------------------------ init_mnist


def test_mnist_contract(mnist):
    """Check the contract keys, the PNG figure, the JSON and one row per init."""
    out = Path(mnist["out"])
    assert mnist["name"] == "init_mnist"
    assert mnist["figures"] == ["init_mnist.png"]
    assert (out / "init_mnist.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "init_mnist.json").read_text())
    assert saved["final_smoothed"] == pytest.approx(mnist["final_smoothed"])
    assert [r["init"].split(" ")[0] for r in mnist["table"]] == ["std", "Xavier", "He"]
    for r in mnist["runs"].values():
        assert len(r["loss"]) == mnist["iterations"] == 500


def test_he_beats_xavier_beats_std001(mnist):
    """Check the final loss orders He < Xavier < std 0.01 with clear gaps."""
    f = mnist["final_smoothed"]
    assert f["he"] < 0.7 * f["xavier"]
    assert f["xavier"] < f["std0.01"] - 0.3


def test_std001_stays_at_chance(mnist):
    """Check std 0.01 stays within 0.05 of ln 10 and at chance accuracy."""
    r = mnist["runs"]["std0.01"]
    assert abs(mnist["final_smoothed"]["std0.01"] - math.log(10)) < 0.05
    assert np.max(np.abs(np.asarray(r["smoothed"]) - math.log(10))) < 0.05
    assert mnist["test_acc"]["std0.01"] < 0.2


def test_he_learns_fastest_on_test_digits(mnist):
    """Check He reaches the best test accuracy, well above chance."""
    acc = mnist["test_acc"]
    assert acc["he"] > 0.8
    assert acc["he"] > acc["xavier"] > acc["std0.01"]


def test_mnist_prose_and_table_describe_this_run(mnist):
    """Check no iteration-1,900 column at quick size; the text and the table quote
    this run's medians and ranges over its seeds."""
    assert all(not any("1900" in k for k in row) for row in mnist["table"])
    text = mnist["texts"]["init_mnist.png"]
    for key, row in zip(("std0.01", "xavier", "he"), mnist["table"], strict=True):
        r = mnist["runs"][key]
        assert f"{mnist['final_smoothed'][key]:.3f}" in text
        lo, hi = min(r["seed_final"]), max(r["seed_final"])
        assert f"({lo:.3f}–{hi:.3f})" in text
        assert row["final loss (min–max)"] == f"{lo:.3f}–{hi:.3f}"
        assert row["test acc (median)"] == mnist["test_acc"][key]
    assert "500 iterations" in text
    assert f"median over {len(mnist['seeds'])} seeds" in text
    assert f"{len(mnist['seeds'])} seeds" in mnist["captions"]["init_mnist.png"]


def test_quick_text_quotes_the_stored_full_size_result(mnist):
    """Check the iteration-1,900 losses of the quick text are the stored full-size
    run's, labelled as such with its seeds."""
    stored = full_result("init_mnist")
    text = mnist["texts"]["init_mnist.png"]
    assert stored["iterations"] == 2000 and len(stored["seeds"]) > 1
    seeds = stored["seeds"]
    assert (
        f"At full size (see `descentlab report --full`; stored run, seeds "
        f"{seeds[0]}–{seeds[-1]}, median)" in text
    )
    quoted = " / ".join(f"{stored['loss_at_1900'][k]:.2f}" for k in mnist["runs"])
    assert f"iteration 1900 are {quoted} against" in text


def test_mnist_seeds_recorded_and_band_holds_every_seed(mnist):
    """Check 3 distinct seeds are run and saved, and the drawn band (min-max) and
    median contain each seed's smoothed loss and accuracy curve."""
    saved = json.loads((Path(mnist["out"]) / "init_mnist.json").read_text())
    assert saved["seeds"] == mnist["seeds"] == [0, 1, 2]
    assert saved["budget"]["seeds"] == 3
    for key, r in mnist["runs"].items():
        curves = np.asarray(r["seed_smoothed"])
        assert curves.shape == (3, mnist["iterations"])
        assert not np.allclose(curves[0], curves[1]), key  # the seeds differ
        lo, hi, med = (
            np.asarray(r[k]) for k in ("smoothed_lo", "smoothed_hi", "smoothed")
        )
        assert np.all(lo <= curves) and np.all(curves <= hi), key
        assert np.all(lo <= med) and np.all(med <= hi), key
        acc = np.asarray(r["seed_acc_curve"])
        assert acc.shape == (3, len(r["epoch_steps"]) + 1)
        assert np.all(np.asarray(r["acc_curve_lo"]) <= acc)
        assert np.all(acc <= np.asarray(r["acc_curve_hi"]))
        assert r["seed_final"] == pytest.approx(list(curves[:, -1]))
        assert mnist["final_smoothed"][key] == pytest.approx(np.median(curves[:, -1]))
        assert mnist["final_range"][key] == [min(r["seed_final"]), max(r["seed_final"])]


def test_he_beats_xavier_on_every_seed(mnist):
    """Check the ranking He < Xavier < std 0.01 holds seed by seed, as the text says."""
    he, xa, small = (
        mnist["runs"][k]["seed_final"] for k in ("he", "xavier", "std0.01")
    )
    assert all(h < x < s for h, x, s in zip(he, xa, small, strict=True))
    assert "on every one of the 3 seeds" in mnist["texts"]["init_mnist.png"]
