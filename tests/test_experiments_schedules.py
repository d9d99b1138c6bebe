"""Experiment 9 (schedules): lr curves and training under each schedule, quick size."""

import numpy as np
import pytest

from descentlab.experiments import schedules


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return schedules.run("quick", seed=0, out=tmp_path_factory.mktemp("schedules"))


def test_curves_match_the_worked_examples(result):
    """Check that the plotted curves hold the GUIDE's worked values."""
    c = result["curves"]
    assert c["step"][25] == pytest.approx(0.025)
    assert c["cosine"][0] == pytest.approx(0.1)
    assert c["cosine"][25] == pytest.approx(0.0505)
    assert c["poly"][25] == pytest.approx((0.1 - 0.001) * 0.25 + 0.001)
    assert c["exp"][10] == pytest.approx(0.1 * 0.95**10)
    assert c["warmup-cosine"][0] < c["warmup-cosine"][4] < 0.1 + 1e-12


def test_trainer_used_the_schedule_lr_in_every_epoch(result):
    """Check that the Trainer ran each epoch at exactly the schedule's closed-form lr."""
    for name, r in result["training"].items():
        assert np.allclose(r["lr_used"], r["lr_expected"], rtol=1e-12, atol=0), name
        assert len(r["lr_used"]) == result["train_epochs"]


def test_every_schedule_trains_the_net(result):
    """Check that every schedule brings the net well above chance and lowers the loss."""
    for name, r in result["training"].items():
        assert r["test_acc"][-1] > 0.8, name
        assert r["train_loss"][-1] < 0.25 * r["train_loss"][0], name
    # decaying schedules end with a (much) smaller lr than the constant one
    assert (
        result["training"]["cosine"]["lr_used"][-1]
        < 0.1 * result["training"]["constant"]["lr_used"][-1]
    )


def test_figures_are_pngs(result, tmp_path):
    """Check that both figures exist and are PNG files."""
    from pathlib import Path

    assert len(result["figures"]) == 2
    for f in result["figures"]:
        assert (Path(result["out"]) / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
