"""Experiment optimizer_choice at quick size: the contract, and text from numbers."""

from __future__ import annotations

import json
import math

import pytest

from descentlab import experiments
from descentlab.compare import load_manifest
from descentlab.compare.plots import optimizer_label


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("oc")
    return experiments.run("optimizer_choice", size="quick", seed=0, out=out)


def test_contract_and_files(result):
    """Check the result keys, that every figure exists and has a caption, and
    that the comparison's manifest beside them is valid."""
    from pathlib import Path

    out = Path(result["out"])
    assert result["name"] == "optimizer_choice"
    assert len(result["figures"]) == 3
    for fig in result["figures"]:
        assert (out / fig).is_file()
        assert result["captions"][fig]
    plan, _ = load_manifest(out / "comparison" / "manifest.json")
    assert plan.trials == result["settings"]["trials"]
    assert len(result["table"]) == len(plan.optimizers) * len(plan.workloads)
    stored = json.loads((out / "optimizer_choice.json").read_text())
    assert stored["advice"] == result["advice"]


def test_every_optimizer_had_the_same_budget(result):
    """Check that each optimizer had exactly T tuning trials on each workload."""
    cmp = result["comparison"]
    t = result["settings"]["trials"]
    for c in cmp["cells"]:
        assert len(c["tuning"]) == t
        assert [x["trial"] for x in c["tuning"]] == list(range(t))
        assert len(c["seeds"]) == len(result["settings"]["seeds"])


def test_text_is_formatted_from_the_numbers(result):
    """Check that the advice names the profile-area winner with its number, cites
    each workload's best median test accuracy, and lists the caveats."""
    cmp = result["comparison"]
    prof = cmp["profile"]
    taus = prof["taus"]
    area = {
        o: sum(
            (a + b) / 2 * (t1 - t0)
            for a, b, t0, t1 in zip(r[:-1], r[1:], taus[:-1], taus[1:], strict=True)
        )
        / (taus[-1] - taus[0])
        for o, r in prof["rho"].items()
    }
    top = max(cmp["optimizers"], key=lambda o: area[o])
    advice = result["advice"]
    assert f"start with {optimizer_label(top)}" in advice
    texts = result["texts"]
    assert (
        f"{optimizer_label(top)} {area[top]:.2f}"
        in texts["comparison/performance_profile.png"]
    )
    for w in cmp["workloads"]:
        cells = [c for c in cmp["cells"] if c["workload"] == w]
        best = max(c["test_acc"]["median"] for c in cells)
        assert f"{best:.3f}" in texts["comparison/learning_curves.png"]
    assert any("Noise floor" in c for c in result["caveats"])
    n_test = result["settings"]["workloads"][0]["n_test"]
    se = math.sqrt(0.9 * 0.1 / n_test)
    lr_text = result["texts"]["comparison/lr_sensitivity.png"]
    assert lr_text.startswith("What this budget cannot support:")
    assert f"{se:.3f} at 90% accuracy" in lr_text
    assert advice in result["explanation"] and result["takeaways"] == [advice]
    cap = result["captions"]["comparison/learning_curves.png"]
    assert f"best of {result['settings']['trials']} trials" in cap
    assert (
        result["budget"]["tuning trials per optimizer"] == result["settings"]["trials"]
    )
