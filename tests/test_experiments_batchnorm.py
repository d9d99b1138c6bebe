"""Tests for the `batchnorm` experiment (quick size)."""

import json
from pathlib import Path

import numpy as np
import pytest

from descentlab.data import mnist_sample_splits
from descentlab.experiments import batchnorm
from descentlab.experiments.api import pct
from descentlab.models import MLP
from descentlab.nn import SoftmaxCrossEntropy
from descentlab.optim import SGD
from descentlab.train import Trainer


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("batchnorm")
    return batchnorm.run(size="quick", seed=0, out=out)


def test_contract(result):
    """Check the contract keys, the PNG figures and the JSON file."""
    out = Path(result["out"])
    assert result["name"] == "batchnorm"
    assert result["figures"] == [
        "batchnorm_grid.png",
        "batchnorm_summary.png",
        "batchnorm_output_norm.png",
    ]
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:4] == b"\x89PNG"
        assert result["captions"][fig]
    assert (out / "batchnorm.json").is_file()
    assert len(result["table"]) == 16 + 2
    assert all(set(r) == set(result["table"][0]) for r in result["table"])


def test_sixteen_scales_logspace(result):
    """Check the 16 scales are logspace(0, -4, 16); every curve starts at epoch 0."""
    np.testing.assert_allclose(result["stds"], np.logspace(0, -4, 16))
    assert len(result["acc_bn"]) == len(result["acc_plain"]) == 16
    for curve in result["acc_bn"]:
        assert len(curve) == result["epochs"] + 1


def test_bn_beats_plain_on_most_scales(result):
    """Check BN ends with higher training accuracy than no BN on >= 9 of 16 scales."""
    bn = result["final_acc_bn"]
    plain = result["final_acc_plain"]
    wins = sum(p is None or b > p for b, p in zip(bn, plain, strict=True))
    assert result["bn_wins"] == wins >= 9


def test_plain_net_stalls_at_small_scales_where_bn_learns(result):
    """Check that for std <= 0.01 the plain net stays near chance while BN learns."""
    stds = np.asarray(result["stds"])
    bn = np.asarray(result["final_acc_bn"], dtype=float)
    plain = np.asarray(
        [np.nan if p is None else p for p in result["final_acc_plain"]], dtype=float
    )
    small = (stds <= 0.01) & (stds >= 1e-3)
    assert np.all(plain[small] < 0.2)
    assert np.all(bn[small] > 0.6)
    assert bn.max() > 0.9


def test_large_scales_diverge_without_bn(result):
    """Check the plain net stops on a non-finite loss at std 1 while BN never does."""
    assert result["diverged_plain"][0]
    assert not any(result["diverged_bn"])
    # a crashed run has no accuracy (it is not drawn or tabled as chance)
    for k, diverged in enumerate(result["diverged_plain"]):
        assert (result["final_acc_plain"][k] is None) == diverged
        row = result["table"][k]
        assert (row["train acc without BN (median)"] is None) == diverged


def test_bn_plateau_ends_when_the_output_layer_has_grown(result):
    """Check the diagnosis: at small scales BN nets sit at chance for some epochs,
    while the un-normalized output layer's weights grow several-fold; at He-like
    scales there is no plateau."""
    stds = np.asarray(result["stds"])
    plateau = result["plateau_bn"]
    norms = result["out_norm_bn"]
    small = [k for k, s in enumerate(stds) if 1e-3 <= s <= 0.01]
    assert all(plateau[k] is not None and plateau[k] >= 1 for k in small)
    for k in small:
        assert norms[k][plateau[k]] > 1.3 * norms[k][0]
    he_like = int(np.argmin(np.abs(stds - 0.1)))
    assert plateau[he_like] <= 3 < max(plateau[k] for k in small)
    assert norms[he_like][plateau[he_like]] < 1.1 * norms[he_like][0]
    assert "||W_out||" in result["texts"]["batchnorm_output_norm.png"]


def test_seeds_recorded_and_band_holds_every_seed(result):
    """Check 3 seeds are recorded (in the JSON and the budget), they differ, and
    the drawn band (min-max) and median hold every seed's curve that did not
    diverge; a diverged run is left out of the band, never drawn as chance."""
    saved = json.loads((Path(result["out"]) / "batchnorm.json").read_text())
    assert saved["seeds"] == result["seeds"] == [0, 1, 2]
    assert result["budget"]["seeds"] == 3
    seed_bn = np.asarray(result["seed_final_acc_bn"], dtype=float)
    assert seed_bn.shape == (16, 3)
    assert np.ptp(seed_bn, axis=1).max() > 0  # the seeds are not one run thrice
    for kind in ("bn", "plain"):
        for k in range(16):
            curves = result[f"seed_acc_{kind}"][k]
            finals = result[f"seed_final_acc_{kind}"][k]
            kept = [
                np.asarray(c)
                for c, f in zip(curves, finals, strict=True)
                if f is not None
            ]
            med = result[f"acc_{kind}"][k]
            if not kept:
                assert med is None and result[f"final_acc_{kind}"][k] is None
                continue
            lo = np.asarray(result[f"acc_{kind}_lo"][k])
            hi = np.asarray(result[f"acc_{kind}_hi"][k])
            for c in kept:
                assert np.all(lo <= c) and np.all(c <= hi), (kind, k)
            assert np.all(lo <= np.asarray(med)) and np.all(np.asarray(med) <= hi)
            assert result[f"final_acc_{kind}"][k] == pytest.approx(
                np.median([f for f in finals if f is not None])
            )


def test_table_and_text_quote_the_seeds(result):
    """Check the table's ranges and seed counts and the text's numbers are this
    run's (formatted from the per-seed results)."""
    n = len(result["seeds"])
    every = 0
    for k, row in enumerate(result["table"][:16]):
        bn = result["seed_final_acc_bn"][k]
        assert row["with BN (min–max)"] == f"{min(bn):.3f}–{max(bn):.3f}"
        plain = result["seed_final_acc_plain"][k]
        ahead = sum(p is None or b > p for b, p in zip(bn, plain, strict=True))
        assert row["BN ahead (seeds)"] == f"{ahead}/{n}"
        every += ahead == n
        stopped = sum(p is None for p in plain)
        assert result["n_diverged_plain"][k] == stopped
        assert (f"{stopped} of {n} seeds" in row["note"]) == (stopped > 0)
    assert result["bn_wins_every_seed"] == every
    text = result["texts"]["batchnorm_grid.png"]
    assert f"median over {n} seeds" in text
    assert pct(max(result["final_acc_bn"])) in text
    assert f"{n} seeds" in result["captions"]["batchnorm_summary.png"]


def test_final_accuracy_is_that_of_the_final_weights():
    """Check a run's final accuracy (its last epoch's evaluation) equals a fresh
    evaluation of its final weights."""
    train = mnist_sample_splits(200, n_test=0, seed=0, flatten=True).train
    r = batchnorm.train_one(0.05, True, train, epochs=2, seed=0)
    model = MLP((784, *batchnorm.HIDDEN, 10), init=0.05, batchnorm=True, seed=0)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=batchnorm.LR),
        verbose=0,
    )
    trainer.fit(train, epochs=2, batch_size=batchnorm.BATCH, seed=0)
    assert r["final_acc"] == r["acc"][-1] == trainer.evaluate(*train)["acc"]


def test_bn_gradcheck(result):
    """Check the BN backward pass matches central differences (rel. error < 1e-6)."""
    for layer in ("BatchNorm1d", "BatchNorm2d"):
        errs = result["gradcheck"][layer]
        assert set(errs) == {"x", "weight", "bias"}
        assert max(errs.values()) < 1e-6
    assert result["gradcheck_max"] < 1e-6


def test_same_initial_weights_with_and_without_bn():
    """Check BN and plain MLPs built with one seed share their Linear weights."""
    sizes = (784, 100, 100, 10)
    a = MLP(sizes, init=0.01, batchnorm=True, seed=3)
    b = MLP(sizes, init=0.01, batchnorm=False, seed=3)
    wa = [p.data for n, p in a.named_parameters() if p.data.ndim == 2]
    wb = [p.data for n, p in b.named_parameters() if p.data.ndim == 2]
    assert len(wa) == len(wb) == 3
    for x, y in zip(wa, wb, strict=False):
        np.testing.assert_array_equal(x, y)
