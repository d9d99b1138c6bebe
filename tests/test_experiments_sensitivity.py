"""Tests for the `weight_sensitivity` experiment (quick size)."""

import json
from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import weight_sensitivity as ws


@pytest.fixture(scope="module")
def result(quick_run):
    return quick_run("weight_sensitivity")


def test_contract(result):
    """Check the contract keys, both PNG figures, the JSON and the table rows."""
    out = Path(result["out"])
    assert result["name"] == "weight_sensitivity"
    assert result["figures"] == [
        "weight_sensitivity_nudge.png",
        "weight_sensitivity_tangents.png",
    ]
    for f in result["figures"]:
        assert (out / f).read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "weight_sensitivity.json").read_text())
    assert saved["max_rel_error"] == pytest.approx(result["max_rel_error"])
    assert len(result["table"]) == len(ws.CHECKED) == 5
    assert len({tuple(r) for r in result["table"]}) == 1


def test_finite_difference_matches_backprop(result):
    """Check L(w+h) - L(w) equals dL/dw * h to 1e-3 relative for each checked weight."""
    assert result["h"] == 1e-6
    for c in result["checks"]:
        assert c["fd_change"] != 0.0, c["name"]
        assert c["rel_error"] < 1e-3, c
        assert c["rel_error_central"] < 1e-5, c
        assert np.sign(c["fd_change"]) == np.sign(c["grad"]), c
    assert result["max_rel_error"] < 1e-3


def test_upstream_activations_exactly_unchanged(result):
    """Check the input, z1 and a1 (before the nudged weight) are bit-for-bit equal."""
    assert result["unchanged_before"] is True
    for label in ("input x", "z1 (layer 1, pre-act.)", "a1 = σ(z1)"):
        assert np.all(np.asarray(result["delta"][label]) == 0.0), label


def test_only_the_fed_unit_changes_in_the_next_layer(result):
    """Check only unit j of layer 2 (fed by W2[j, i]) changes, in every sample."""
    j = result["nudged"]["index"][0]
    assert result["nudged"]["name"] == "2.weight"
    assert result["changed_units_z2"] == [j]
    assert result["changed_units_a2"] == [j]
    dz2 = np.asarray(result["delta"]["z2 (layer 2, pre-act.)"])
    assert np.all(dz2[:, j] > 0)
    assert np.all(np.delete(dz2, j, axis=1) == 0.0)


def test_change_spreads_downstream(result):
    """Check every logit and the loss change once the nudge has passed layer 2."""
    assert result["changed_units_logits"] == [0, 1, 2]
    assert abs(result["loss_change"]) > 1e-4
    assert np.all(np.asarray(result["delta_loss_per_sample"]) > 0)


def test_z2_change_is_nudge_times_input():
    """Check dz2[:, j] equals nudge * a1[:, i] (the weight's only path), in float64."""
    model, x, y = ws.make_problem(3)
    base = ws.forward_all(model, x, y)
    name, (j, i) = ws.NUDGED
    p = dict(model.named_parameters())[name]
    assert p.data.dtype == np.float64
    p.data[j, i] += 0.25
    after = ws.forward_all(model, x, y)
    dz2 = after["outs"][2] - base["outs"][2]
    np.testing.assert_allclose(dz2[:, j], 0.25 * base["outs"][1][:, i], rtol=1e-12)
