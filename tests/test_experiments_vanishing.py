"""Tests for the `vanishing_gradients` experiment (quick size)."""

import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import vanishing_gradients as vg


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("vanishing")
    return vg.run(size="quick", seed=0, out=out)


def test_contract(result):
    """Check the contract keys, the PNG figures and the JSON file."""
    out = Path(result["out"])
    assert result["name"] == "vanishing_gradients"
    assert result["figures"] == ["vanishing_layer_norms.png", "vanishing_clipping.png"]
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:4] == b"\x89PNG"
    assert (out / "vanishing_gradients.json").is_file()
    assert all(set(r) == set(result["table"][0]) for r in result["table"])


def test_twenty_layer_norms_per_variant(result):
    """Check every variant reports 20 finite, positive per-layer gradient norms."""
    assert set(result["layer_norms"]) == set(vg.VARIANTS)
    for norms in result["layer_norms"].values():
        norms = np.asarray(norms)
        assert norms.shape == (20,)
        assert np.all(np.isfinite(norms)) and np.all(norms > 0)


def test_sigmoid_gradient_vanishes(result):
    """Check sigmoid's first-layer gradient is >= 100x below ReLU+He's, residual's."""
    n = {k: np.asarray(v) for k, v in result["layer_norms"].items()}
    assert n["sigmoid"][0] * 100 <= n["relu_he"][0]
    assert n["sigmoid"][0] * 100 <= n["residual"][0]
    assert n["sigmoid"][0] < 1e-3 * n["sigmoid"][-1]  # shrinks towards the input


def test_healthy_nets_keep_gradients_through_depth(result):
    """Check ReLU+He, BN, residual first layers get >= 1/10 of the last layer's norm."""
    for key in ("relu_he", "relu_he_bn", "residual", "tanh"):
        norms = np.asarray(result["layer_norms"][key])
        assert norms[0] > 0.1 * norms[-1], key


def test_large_init_explodes(result):
    """Check the std-0.17 ReLU net has >= 50x ReLU+He's gradients and a large loss."""
    big = np.asarray(result["layer_norms"]["relu_large"])
    he = np.asarray(result["layer_norms"]["relu_he"])
    assert np.all(big > 50 * he)
    assert result["initial_loss"]["relu_large"] > 10 * result["initial_loss"]["relu_he"]


def test_clip_grad_norm_returns_pre_clip_norm(result):
    """Check clip_grad_norm returns the norm before clipping and clips to max_norm."""
    chk = result["clip_check"]
    assert chk["direct"] > result["max_norm"]
    assert chk["returned"] == pytest.approx(chk["direct"], rel=1e-4)
    assert chk["after"] == pytest.approx(result["max_norm"], rel=1e-4)
    clipped = result["clipping"]["clipped"]
    assert clipped["norms"][0] > result["max_norm"]


def test_clipping_trains_where_plain_sgd_diverges(result):
    """Check the unclipped run stops on non-finite; the clipped one ends lower."""
    plain = result["clipping"]["no clipping"]
    clipped = result["clipping"]["clipped"]
    assert result["unclipped_stopped_nonfinite"]
    assert plain["stopped"] == "nonfinite" and plain["nonfinite"]["step"] < 20
    assert clipped["stopped"] is None
    final = result["final_loss_clipped"]
    assert math.isfinite(final)
    assert final < 0.1 * clipped["loss"][0]
    unclipped = result["final_loss_unclipped"]
    assert unclipped is None or not math.isfinite(unclipped) or final < unclipped


def test_the_page_text_quotes_this_runs_numbers(result):
    """Check the paragraphs under the figures are formatted from the result: the
    sigmoid's orders of magnitude, BN's per-layer growth, the exploding net's
    initial loss, the unclipped run's stop step and the clipped run's final loss."""
    n = {k: np.asarray(v) for k, v in result["layer_norms"].items()}
    layers = result["texts"]["vanishing_layer_norms.png"]
    orders = math.log10(n["sigmoid"][-1] / n["sigmoid"][0])
    assert f"{orders:.1f} orders of magnitude" in layers
    growth = (n["relu_he_bn"][0] / n["relu_he_bn"][-1]) ** (1 / 19)
    assert f"grows by {growth:.2f}x per layer" in layers
    assert f"initial loss is {result['initial_loss']['relu_large']:.1f}" in layers
    clipping = result["texts"]["vanishing_clipping.png"]
    stop = result["clipping"]["no clipping"]["nonfinite"]["step"]
    assert f"stops training at step {stop}" in clipping
    assert f"to {result['final_loss_clipped']:.3g}" in clipping
    assert result["budget"]["init seeds"] == vg.CONFIG["quick"]["grad_seeds"]
    assert f"{orders:.0f} orders" in result["takeaways"][0]
