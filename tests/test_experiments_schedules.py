"""Experiment 9 (schedules): lr of the trained horizon, warmup per step, seeds."""

import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import schedules
from descentlab.experiments.api import pct


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return schedules.run("quick", seed=0, out=tmp_path_factory.mktemp("schedules"))


def test_curves_are_the_closed_forms_over_the_trained_horizon(result):
    """Check each plotted curve against its formula at T = the trained steps."""
    T = result["total_steps"]
    assert T == result["train_epochs"] * result["steps_per_epoch"] == 100
    c = {k: np.asarray(v) for k, v in result["curves"].items()}
    assert all(len(v) == T for v in c.values())
    t = np.arange(T)
    assert np.allclose(c["step"], 0.1 * 0.5 ** (t // (T // 5)))
    assert np.allclose(c["cosine"], 0.001 + 0.099 * (1 + np.cos(np.pi * t / T)) / 2)
    assert np.allclose(c["exp"], 0.1 * (0.95 ** (50 / T)) ** t)
    assert np.allclose(c["poly"], 0.099 * (1 - t / T) ** 2 + 0.001)


def test_warmup_starts_above_zero_and_is_stepped_every_iteration(result):
    """Check the warmup's first lr is lr/W > 0 and rises at each of its W steps."""
    W = result["total_steps"] // 10
    used = np.asarray(result["training"]["warmup-cosine"]["lr_used"])
    assert used[0] == pytest.approx(0.1 / W) and used[0] > 0
    assert np.all(np.diff(used[:W]) > 0)  # changes every step, not every epoch
    assert used[W] == pytest.approx(0.1)
    # the warmup run learns in its first epoch (it stood still when lr(0) was 0)
    assert np.median(result["training"]["warmup-cosine"]["epoch1_acc"]) > 0.3


def test_trainer_used_the_schedule_lr_in_every_step(result):
    """Check that the Trainer ran each step at exactly the schedule's closed-form lr."""
    for name, r in result["training"].items():
        assert np.allclose(r["lr_used"], r["lr_expected"], rtol=1e-12, atol=0), name
        assert len(r["lr_used"]) == result["total_steps"]


def test_every_schedule_trains_the_net_on_every_seed(result):
    """Check every schedule and seed ends well above chance with a lower loss."""
    n_seeds = len(result["seeds"])
    assert n_seeds >= 3
    for name, r in result["training"].items():
        acc, loss = np.asarray(r["test_acc"]), np.asarray(r["train_loss"])
        assert acc.shape == (n_seeds, result["train_epochs"])
        assert acc[:, -1].min() > 0.8, name
        assert np.all(loss[:, -1] < 0.25 * loss[:, 0]), name


def test_table_and_prose_quote_the_results(result):
    """Check the table's lr columns and the caption's numbers are the run's own."""
    T = result["total_steps"]
    row = next(r for r in result["table"] if r["schedule"].startswith("warmup"))
    assert row["lr step 0"] == result["curves"]["warmup-cosine"][0]
    assert row[f"lr step {T - 1}"] == result["curves"]["warmup-cosine"][-1]
    med = {n: float(np.median(r["final_acc"])) for n, r in result["training"].items()}
    caption = result["captions"]["schedules_training.png"]
    assert pct(max(med.values())) in caption and pct(min(med.values())) in caption
    se = math.sqrt(max(med.values()) * (1 - max(med.values())) / 1000)
    assert f"±{pct(se)}" in caption
    for f in result["figures"]:
        assert (Path(result["out"]) / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert result["captions"][f]
