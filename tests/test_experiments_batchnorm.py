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
        assert (result["table"][k]["train acc without BN"] is None) == diverged


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
