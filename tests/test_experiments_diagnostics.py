"""The lr_range_test, loss_landscape and edge_of_stability experiments at quick size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from descentlab import experiments


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("diag_experiments")
    names = ("lr_range_test", "loss_landscape", "edge_of_stability")
    return {n: experiments.run(n, size="quick", seed=0, out=root / n) for n in names}


def _contract(res):
    out = res["out"]
    for fig in res["figures"]:
        assert (Path(out) / fig).stat().st_size > 10_000
        assert fig in res["captions"]
    saved = json.loads((Path(out) / f"{res['name']}.json").read_text())
    assert saved["figures"] == res["figures"] and saved["table"]


def test_lr_range_test_suggestion_trains_best(results):
    """Check the suggestion lies in the valley below the curve's minimum and beats
    10x less and 10x more; the caption quotes the run's numbers."""
    res = results["lr_range_test"]
    _contract(res)
    assert res["valley"][0] < res["suggestion"] <= res["min_lr"]
    assert res["suggested_best"]
    runs = res["runs"]
    assert runs["lower"]["lr"] == pytest.approx(res["suggestion"] / 10)
    assert runs["higher"]["lr"] == pytest.approx(res["suggestion"] * 10)
    cap = res["captions"]["lr_range_test_sweep.png"]
    assert f"{res['suggestion']:.3g}" in cap and f"{res['valley_lr']:.3g}" in cap


def test_loss_landscape_small_batch_is_flatter(results):
    """Check the small-batch net has the smaller top eigenvalue and the smaller rise
    along filter-normalized directions; the path ends at (0, 0)."""
    res = results["loss_landscape"]
    _contract(res)
    small, large = str(res["small_batch"]), str(res["large_batch"])
    assert res["sharpness"][small] < res["sharpness"][large]
    assert res["rise"][small] < res["rise"][large]
    pca = res["pca"]
    assert np.allclose(pca["coords"][-1], 0.0)
    assert 0.5 < pca["explained_variance_ratio"][0] <= 1.0
    inter = res["interpolation"]["losses"]
    assert inter[0] > 10 * min(inter)  # the straight line falls from the start
    assert (
        f"{res['sharpness'][small]:.1f}" in res["captions"]["loss_landscape_lines.png"]
    )


def test_edge_of_stability_hovers_at_two_over_lr(results):
    """Check the quadratic converges just below 2/lambda_max and diverges above, and
    that for both lrs the sharpness climbs back to 2/lr and hovers within 15 %,
    while the loss falls with some increases."""
    res = results["edge_of_stability"]
    _contract(res)
    q = res["quadratic"]
    assert q["converged"] == [True, False]
    assert q["losses"][1][-1] > q["losses"][1][0]
    for s in res["summary"]:
        assert s["initial_sharpness"] > s["limit"] > s["min_sharpness"]
        assert s["reached_step"] is not None
        assert 0.9 < s["hover_ratio"] < 1.15
        assert s["loss_last"] < 0.1 * s["loss_first"]
        assert s["loss_increases"] > 0
    a, b = res["summary"]
    assert a["lr"] < b["lr"] and a["hover_mean"] > b["hover_mean"]


@pytest.mark.parametrize(
    "name", ["lr_range_test", "loss_landscape", "edge_of_stability"]
)
def test_report_keys_filled_from_the_run(results, name):
    """Check each diagnostic fills the report's optional keys: a budget with one
    seed, a table placed after one of its figures, a text before every figure,
    one takeaway, and an (empty) book-figure map since the book has none."""
    res = results[name]
    assert res["budget"]["seeds"] == 1
    assert res["table_after"] in res["figures"]
    assert set(res["texts"]) == set(res["figures"])
    assert all(len(t) > 80 for t in res["texts"].values())
    assert len(res["takeaways"]) == 1
    assert res["book_figures"] == []


def test_diagnostic_texts_quote_this_run(results):
    """Check the texts and takeaways carry this run's numbers and verdicts."""
    lr = results["lr_range_test"]
    t = lr["texts"]["lr_range_test_sweep.png"]
    assert f"{lr['suggestion']:.3g}" in t and f"{lr['min_lr']:.3g}" in t
    assert f"used {len(lr['sweep']['lrs'])} of its" in t
    assert ("lowest at the suggestion" in lr["takeaways"][0]) == lr["suggested_best"]
    ll = results["loss_landscape"]
    small, large = str(ll["small_batch"]), str(ll["large_batch"])
    t = ll["texts"]["loss_landscape_lines.png"]
    assert f"{ll['rise'][small]:.3f}" in t and f"{ll['train_loss'][large]:.3f}" in t
    flatter = ll["sharpness"][small] < ll["sharpness"][large]
    assert ("flatter basin" in t) == (flatter and ll["rise"][small] < ll["rise"][large])
    losses = np.asarray(ll["interpolation"]["losses"])
    a = np.asarray(ll["interpolation"]["alphas"])
    monotone = bool(np.all(np.diff(losses[a <= 1 + 1e-12]) <= 0))
    t = ll["texts"]["loss_landscape_interpolation.png"]
    assert ("without a bump" in t) == monotone
    eos = results["edge_of_stability"]
    t = eos["texts"]["edge_of_stability_gd.png"]
    for s in eos["summary"]:
        assert f"{s['loss_last']:.3f}" in t and f"{s['hover_mean']:.2f}" in t
        assert f"{100 * s['hover_ratio']:.0f} %" in eos["takeaways"][0]
