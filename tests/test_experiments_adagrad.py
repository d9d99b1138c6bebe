"""Tests for the `adagrad_step` experiment (quick size)."""

from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import adagrad_step


@pytest.fixture(scope="module")
def result(quick_run):
    return quick_run("adagrad_step")


def test_contract(result):
    """Check the contract keys, the figure file and the JSON file."""
    out = Path(result["out"])
    assert result["name"] == "adagrad_step"
    assert result["figures"] == ["adagrad_step.png"]
    assert (out / "adagrad_step.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "adagrad_step.json").is_file()
    assert [r["iteration t"] for r in result["table"]] == [1, 10, 100, 1000]


def test_adagrad_constant_gradient_follows_lr_over_sqrt_t(result):
    """Check AdaGrad's step, constant gradient: decreasing, lr/(|g| sqrt t) +-1%."""
    eta = np.asarray(result["adagrad_constant"])
    t = np.arange(1, len(eta) + 1)
    assert len(eta) == result["steps"] == 1000
    assert np.all(np.diff(eta) < 0)
    closed = result["lr"] / (abs(result["grad"]) * np.sqrt(t))
    assert np.max(np.abs(eta / closed - 1)) < 0.01


def test_rmsprop_constant_gradient_levels_off(result):
    """Check RMSProp's step with a constant gradient levels off at lr/|g|."""
    eta = np.asarray(result["rmsprop_constant"])
    level = result["lr"] / abs(result["grad"])
    assert eta[-1] == pytest.approx(level, rel=0.01)
    assert abs(eta[-1] / eta[-200] - 1) < 0.01  # flat at the end
    assert eta[0] > 5 * level  # large first steps (v starts at 0)
    assert eta[-1] > 10 * result["adagrad_constant"][-1]


def test_noisy_gradient(result):
    """Check the noisy case: AdaGrad never grows, RMSProp hovers at lr/sqrt(E g^2)."""
    ada = np.asarray(result["adagrad_noisy"])
    rms = np.asarray(result["rmsprop_noisy"])
    assert np.all(np.diff(ada) <= 0)
    level = result["lr"] / np.sqrt(result["grad"] ** 2 + result["noise"] ** 2)
    assert 0.7 * level < np.mean(rms[-300:]) < 1.4 * level
    assert ada[-1] < 0.1 * np.mean(rms[-300:])


def test_effective_steps_measures_adagrad_exactly():
    """Check the displacement-based measurement against AdaGrad's formula."""
    g = np.random.default_rng(3).normal(size=50)
    eta, _ = adagrad_step.effective_steps("adagrad", g, lr=0.5)
    expected = 0.5 / (np.sqrt(np.cumsum(g**2)) + 1e-10)
    assert np.allclose(eta, expected, rtol=1e-9)
