"""Tests for the `hyperparameter_search` experiment (quick size, seed 0)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.experiments import hyperparameter_search as hp
from descentlab.experiments.api import pct
from descentlab.search import SearchResults

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("hyperparameter_search")
    return hp.run(size="quick", seed=0, out=out)


@pytest.fixture(scope="module")
def trials(result):
    return SearchResults.load(Path(result["out"]))


def test_contract_figures_table_and_json(result):
    """Check the result dict, the three PNG figures, the table and the saved JSON."""
    out = Path(result["out"])
    assert result["name"] == "hyperparameter_search" and result["seconds"] > 0
    assert result["figures"] == ["search_scatter.png", "best_curves.png", "ranges.png"]
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:8] == PNG_MAGIC
        assert fig in result["captions"]
    rows = result["table"]
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert all(set(r) == set(rows[0]) for r in rows)
    assert rows[0]["lr range"] == pytest.approx([1e-6, 1e-2])
    assert rows[0]["weight decay range"] == pytest.approx([1e-8, 1e-4])
    saved = json.loads((out / "hyperparameter_search.json").read_text())
    assert saved["figures"] == result["figures"] and len(saved["rounds"]) == 3
    assert (out / "trials.csv").is_file()


def test_every_trial_ran_with_the_book_setup(result, trials):
    """Check 16 + 10 + 10 trials, each reporting val accuracy for all 30 epochs."""
    cfg = hp.CONFIG["quick"]
    assert [sum(t.round == r for t in trials) for r in range(3)] == list(cfg["trials"])
    first = [t for t in trials if t.round == 0]
    assert all(1e-6 <= t.params["lr"] <= 1e-2 for t in first)
    assert all(1e-8 <= t.params["weight_decay"] <= 1e-4 for t in first)
    for t in trials.completed():
        assert len(t.intermediate) == cfg["epochs"]
        assert t.intermediate[-1][1] == pytest.approx(t.value)
    assert len(trials.completed()) >= 30


def test_narrowed_rounds_have_higher_median_accuracy(result):
    """Check that the narrowed rounds' median val accuracy is at least round 0's and
    that the search finds a net that really learns (best >= 0.7; round 0 mostly not)."""
    medians = [r["median"] for r in result["rounds"]]
    assert medians[1] >= medians[0] and medians[2] >= medians[0]
    assert medians[2] >= medians[0] + 0.3
    assert medians[0] < 0.3  # most of 10^U(-6,-2) barely trains plain SGD
    assert max(r["best"] for r in result["rounds"]) >= 0.7


def _envelope(trials, r, name, keep):
    done = sorted(trials.completed(r), key=lambda t: (-t.value, t.number))
    n = min(len(done), max(2, math.ceil(keep * len(done))))
    u = [math.log10(t.params[name]) for t in done[:n]]
    return min(u), max(u)


def test_ranges_follow_the_narrow_rule(result, trials):
    """Check each new log10 range against narrow()'s documented rule: it spans the best
    20 % of the previous round; a side moves inwards unless the best touch that edge,
    in which case it widens by 0.5 w; with no side widened the range gets narrower."""
    keep = hp.CONFIG["quick"]["keep"]
    rounds = result["rounds"]
    for r in (1, 2):
        for name in ("lr", "weight_decay"):
            a, b = rounds[r - 1]["log10_range"][name]
            lo, hi = rounds[r]["log10_range"][name]
            w = b - a
            e_lo, e_hi = _envelope(trials, r - 1, name, keep)
            touch_lo = e_lo - a <= 0.05 * w
            touch_hi = b - e_hi <= 0.05 * w
            assert lo <= e_lo + 1e-9 and hi >= e_hi - 1e-9  # the best stay inside
            if touch_lo and touch_hi:
                assert (lo, hi) == pytest.approx((a, b))
                continue
            assert lo == pytest.approx(a - 0.5 * w) if touch_lo else lo >= a - 1e-9
            assert hi == pytest.approx(b + 0.5 * w) if touch_hi else hi <= b + 1e-9
            if not (touch_lo or touch_hi):
                assert 0.1 * w - 1e-9 <= hi - lo < w
    # seed 0: the best first-round lrs sit at the top edge, so that side widens
    assert rounds[1]["change"]["lr"] == "low narrowed, high widened"
    assert rounds[1]["log10_range"]["lr"][1] == pytest.approx(0.0)
    final = np.diff(rounds[2]["log10_range"]["lr"])[0]
    assert final < np.diff(rounds[0]["log10_range"]["lr"])[0] / 4


def test_best_trials_are_sorted_with_curves(result):
    """Check the best-k list: best first, one curve per trial ending at its value."""
    best = result["best_trials"]
    assert len(best) == hp.CONFIG["quick"]["best_k"]
    values = [t["value"] for t in best]
    assert values == sorted(values, reverse=True)
    assert values[0] == max(r["best"] for r in result["rounds"])
    for t in best:
        assert len(t["curve"]) == hp.CONFIG["quick"]["epochs"]
        assert t["curve"][-1] == pytest.approx(t["value"])


def test_unknown_size_is_refused(tmp_path):
    """Check that a size other than quick/full raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="size"):
        hp.run(size="huge", out=tmp_path)


def test_winner_is_scored_once_on_unseen_test_digits(result):
    """Check the held-out score: disjoint digits, the winner's params, in the text."""
    held = result["held_out"]
    winner = result["best_trials"][0]
    assert held["params"] == winner["params"]
    assert held["overlap"] == 0 and held["n_test"] == 1000
    assert 0.1 < held["test_acc"] <= 1.0
    assert held["noise"] == pytest.approx(
        (held["test_acc"] * (1 - held["test_acc"]) / 1000) ** 0.5
    )
    text = result["texts"]["ranges.png"]
    assert pct(held["test_acc"]) in text and pct(winner["value"]) in text
    widths = [r["log10_range"]["weight_decay"] for r in result["rounds"]]
    assert " → ".join(f"{hi - lo:.1f}" for lo, hi in widths) in text
