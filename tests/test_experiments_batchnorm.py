"""Tests for the `batchnorm` experiment (quick size)."""

from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import batchnorm
from descentlab.models import MLP


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("batchnorm")
    return batchnorm.run(size="quick", seed=0, out=out)


def test_contract(result):
    """Check the contract keys, the PNG figures and the JSON file."""
    out = Path(result["out"])
    assert result["name"] == "batchnorm"
    assert result["figures"] == ["batchnorm_grid.png", "batchnorm_summary.png"]
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:4] == b"\x89PNG"
    assert (out / "batchnorm.json").is_file()
    assert len(result["table"]) == 16 + 2
    assert all(set(r) == set(result["table"][0]) for r in result["table"])


def test_sixteen_scales_logspace(result):
    """Check the 16 init scales are logspace(0, -4, 16) and every curve starts at epoch 0."""
    np.testing.assert_allclose(result["stds"], np.logspace(0, -4, 16))
    assert len(result["acc_bn"]) == len(result["acc_plain"]) == 16
    for curve in result["acc_bn"]:
        assert len(curve) == result["epochs"] + 1


def test_bn_beats_plain_on_most_scales(result):
    """Check BN ends with higher training accuracy than no BN on >= 9 of 16 scales."""
    bn = np.asarray(result["final_acc_bn"])
    plain = np.asarray(result["final_acc_plain"])
    assert result["bn_wins"] == int((bn > plain).sum())
    assert result["bn_wins"] >= 9


def test_plain_net_stalls_at_small_scales_where_bn_learns(result):
    """Check that for std <= 0.01 the plain net stays near chance while BN learns."""
    stds = np.asarray(result["stds"])
    bn = np.asarray(result["final_acc_bn"])
    plain = np.asarray(result["final_acc_plain"])
    small = (stds <= 0.01) & (stds >= 1e-3)
    assert np.all(plain[small] < 0.2)
    assert np.all(bn[small] > 0.6)
    assert bn.max() > 0.9


def test_large_scales_diverge_without_bn(result):
    """Check the plain net stops on a non-finite loss at std 1 while BN never does."""
    assert result["diverged_plain"][0]
    assert not any(result["diverged_bn"])


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
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
