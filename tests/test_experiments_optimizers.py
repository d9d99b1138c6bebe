"""Tests for the `optimizers_mnist` experiment (quick size): sweep, best lr, seeds."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import optimizers_mnist
from descentlab.experiments.api import binomial_se, pct


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("optimizers_mnist")
    return optimizers_mnist.run(size="quick", seed=0, out=out)


def test_contract_figures_captions_and_json(result):
    """Check the figures exist with captions, and the JSON holds the same numbers."""
    out = Path(result["out"])
    assert result["figures"] == ["optimizers_lr_sweep.png", "optimizers_mnist.png"]
    for f in result["figures"]:
        assert (out / f).read_bytes()[:4] == b"\x89PNG"
        assert result["captions"][f] and result["texts"][f]
    saved = json.loads((out / "optimizers_mnist.json").read_text())
    assert saved["final_smoothed"] == pytest.approx(result["final_smoothed"])
    assert [r["optimizer"] for r in result["table"]] == [
        "SGD",
        "Momentum",
        "Nesterov",
        "AdaGrad",
        "RMSProp",
        "Adam",
    ]


def test_each_optimizer_is_compared_at_the_argmin_of_its_log_sweep(result):
    """Check the chosen lr is the argmin of the sweep over a log grid."""
    for name, r in result["optimizers"].items():
        lrs = np.asarray(r["lrs"])
        assert len(lrs) >= 5
        ratios = lrs[1:] / lrs[:-1]
        assert np.allclose(ratios, ratios[0]) and ratios[0] > 1  # log-spaced
        assert r["best_lr"] == lrs[int(np.argmin(r["sweep_final"]))], name
        assert r["book_lr"] in [pytest.approx(v) for v in lrs] or name == "sgd"
        # the sweep shows a real minimum: some rate is clearly worse than the best
        assert max(r["sweep_final"]) > 1.5 * min(r["sweep_final"]), name


def test_best_settings_rerun_on_three_seeds_from_the_same_start(result):
    """Check 3+ seeds per optimizer, the seed-0 run shared with the sweep."""
    firsts = []
    for name, r in result["optimizers"].items():
        assert r["seeds"] == [0, 1, 2]
        assert len(r["test_acc"]) == 3 and all(0.0 < a <= 1.0 for a in r["test_acc"])
        assert r["runs"][0]["final"] == r["sweep_final"][r["best_index"]], name
        assert all(len(run["loss"]) == result["iterations"] for run in r["runs"])
        firsts.append([run["loss"][0] for run in r["runs"]])
    # same initial weights and first batch for every optimizer on a given seed
    assert np.allclose(np.asarray(firsts), np.asarray(firsts)[0])


def test_tuned_methods_learn_and_sgd_is_slowest_early(result):
    """Check every tuned method is far above chance, and plain SGD trails early."""
    res = result["optimizers"]
    for name, r in res.items():
        assert min(r["test_acc"]) > 0.85, name
    early = result["iterations"] // 4
    at = {
        n: np.median([run["smoothed"][early - 1] for run in r["runs"]])
        for n, r in res.items()
    }
    assert at["sgd"] == max(at.values())
    assert at["adam"] < 0.7 * at["sgd"]


def test_prose_and_table_quote_the_runs_numbers(result):
    """Check the noise floor is sqrt(p(1-p)/n) of the best median, printed as such."""
    res = result["optimizers"]
    med = {n: float(np.median(r["test_acc"])) for n, r in res.items()}
    best = max(med, key=med.get)
    se = binomial_se(med[best], 1000)
    assert result["noise_floor"] == pytest.approx(se)
    assert math.isclose(se, math.sqrt(med[best] * (1 - med[best]) / 1000))
    caption = result["captions"]["optimizers_mnist.png"]
    assert f"±{pct(se)}" in caption and pct(med[best]) in caption
    for row, (name, r) in zip(result["table"], res.items(), strict=True):
        assert row["best lr"] == r["best_lr"]
        assert row["test acc (median)"] == med[name]
    assert pct(med[best]) in result["texts"]["optimizers_mnist.png"]
