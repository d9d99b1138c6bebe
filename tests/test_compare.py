"""descentlab.compare: Halton points, spaces, profile, protocol, manifest, runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from descentlab import __version__
from descentlab.compare import (
    SPACES,
    Interrupted,
    Workload,
    deterministic_view,
    halton,
    load_manifest,
    make_plan,
    performance_profile,
    performance_ratios,
    rerun,
    run_plan,
    run_trial,
)
from descentlab.compare.manifest import canonical_hash
from descentlab.compare.store import TrialStore, lock_folder
from descentlab.errors import InvalidParameterError, OutputExistsError

TINY = Workload(
    name="tiny",
    model="mlp",
    hidden=(16,),
    steps=12,
    batch_size=32,
    eval_every=4,
    target=0.3,
    n_train=200,
    n_val=100,
    n_test=100,
)


def tiny(**kw) -> Workload:
    d = TINY.to_dict()
    d.update(kw)
    return Workload.from_dict(d)


# ---------------------------------------------------------------- Halton


def test_halton_equals_scipy_unscrambled():
    """Check that the unscrambled points equal SciPy's, also from an offset."""
    qmc = pytest.importorskip("scipy.stats.qmc")
    ref = qmc.Halton(d=7, scramble=False).random(600)
    np.testing.assert_allclose(halton(600, 7), ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(halton(10, 7, start=590), ref[590:], rtol=0, atol=1e-15)


def test_halton_first_points_by_hand():
    """Check points 0-4 in bases 2 and 3 against the radical inverse by hand."""
    expected = [[0, 0], [1 / 2, 1 / 3], [1 / 4, 2 / 3], [3 / 4, 1 / 9], [1 / 8, 4 / 9]]
    np.testing.assert_allclose(halton(5, 2), expected, atol=1e-15)


def test_scrambled_halton_is_seeded_and_stratified():
    """Check that scrambled points depend only on the seed and that the first b^m
    points of coordinate j put exactly one point in each interval of width b^-m."""
    a = halton(27, 2, scramble=True, seed=5)
    assert np.array_equal(a, halton(27, 2, scramble=True, seed=5))
    assert not np.array_equal(a, halton(27, 2, scramble=True, seed=6))
    assert (a >= 0).all() and (a < 1).all()
    assert a[0].min() > 0  # point 0 is no longer the origin
    for j, (base, m) in enumerate([(2, 4), (3, 3)]):
        cells = np.floor(a[: base**m, j] * base**m).astype(int)
        assert sorted(cells) == list(range(base**m))


# ---------------------------------------------------------------- profile


def test_performance_profile_hand_table():
    """Check ratios and rho on a hand-computed table with never-reached entries,
    a workload nobody reaches, and a ratio exactly at and just above the cap."""
    inf = math.inf
    costs = [
        [10, 20, inf, inf],  # A: fastest on w1, w2; fails w3
        [20, 20, 30, inf],  # B: 2x on w1, ties on w2, only one on w3
        [40, 81, inf, inf],  # C: exactly 4x on w1, 4.05x on w2 (over the cap)
    ]
    r = performance_ratios(costs)
    assert r.tolist() == [[1, 1, inf, inf], [2, 1, 1, inf], [4, inf, inf, inf]]
    taus, rho = performance_profile(costs, [1.0, 1.99, 2.0, 3.99, 4.0])
    assert taus.tolist() == [1.0, 1.99, 2.0, 3.99, 4.0]
    assert rho.tolist() == [
        [0.5, 0.5, 0.5, 0.5, 0.5],
        [0.5, 0.5, 0.75, 0.75, 0.75],
        [0.0, 0.0, 0.0, 0.0, 0.25],
    ]


@pytest.mark.parametrize(
    ("costs", "taus", "match"),
    [
        ([[1.0, math.nan]], None, "> 0 or inf"),
        ([[0.0, 1.0]], None, "> 0 or inf"),
        ([1.0, 2.0], None, "2-D"),
        ([[1.0]], [0.5], "must lie in"),
        ([[1.0]], [5.0], "must lie in"),
    ],
)
def test_performance_profile_bad_input(costs, taus, match):
    """Check that bad costs or taus raise a message naming the rule."""
    with pytest.raises(InvalidParameterError, match=match):
        performance_profile(costs, taus)


# ---------------------------------------------------------------- plan


def _u(dim, value):
    """The coordinate u in [0, 1) that gives ``value`` (inverse of Dim.value)."""
    if dim.scale == "log":
        return math.log(value / dim.lo) / math.log(dim.hi / dim.lo)
    return math.log((1 - value) / (1 - dim.lo)) / math.log((1 - dim.hi) / (1 - dim.lo))


def test_every_optimizer_gets_t_trials_on_the_same_shared_points():
    """Check that each optimizer has exactly T tuning tasks and that trial k of
    every optimizer reads the same coordinate in each axis it shares."""
    names = list(SPACES)
    plan = make_plan(names, [TINY], trials=7, seeds=2, seed=3)
    tasks = plan.tune_tasks()
    for o in names:
        assert [t.index for t in tasks if t.optimizer == o] == list(range(7))
    for k in range(7):
        coords: dict[str, list[float]] = {}
        for t in tasks:
            if t.index != k:
                continue
            for dim in plan.spaces[t.optimizer]:
                coords.setdefault(dim.axis, []).append(_u(dim, t.params[dim.name]))
        assert set(coords) == {"lr", "beta1", "beta2", "weight_decay"}
        for axis, us in coords.items():
            assert max(us) - min(us) < 1e-9, (k, axis, us)
            assert us[0] == pytest.approx(plan.points[k][plan.axes.index(axis)])
    assert len({tuple(p) for p in plan.points}) == 7  # distinct points
    # the same range and axis give the same value: Momentum's mu is Adam's beta1
    by = {(t.optimizer, t.index): t.params for t in tasks}
    assert by["momentum", 4]["momentum"] == by["adam", 4]["beta1"]
    assert by["rmsprop", 4]["alpha"] == by["adam", 4]["beta2"]
    assert by["adam", 4]["lr"] == by["rmsprop", 4]["lr"]
    assert [t.seed for t in plan.seed_tasks({c: {} for c in plan.cells()})][:2] == [
        4,
        5,
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"optimizers": ["sgd", "adamax"]},
            "unknown optimizer 'adamax'.*sgd, momentum",
        ),
        ({"optimizers": ["sgd", "sgd"]}, "'sgd' is listed twice"),
        ({"optimizers": []}, "at least one optimizer"),
        ({"workloads": ["mlp", "resnet"]}, "unknown workload 'resnet'.*mlp, simplecnn"),
        ({"trials": 0}, r"'trials' must be an int in \[1, inf\]. Got 0"),
        ({"seeds": 0}, r"'seeds' must be an int in \[1, inf\]. Got 0"),
        ({"trials": 2.5}, "'trials' must be an int"),
    ],
)
def test_make_plan_bad_input(kwargs, match):
    """Check that bad optimizers, workloads, T or S raise one clear line."""
    args = {"optimizers": ["sgd"], "workloads": [TINY], "trials": 2, "seeds": 1}
    args.update(kwargs)
    with pytest.raises(InvalidParameterError, match=match) as info:
        make_plan(args.pop("optimizers"), args.pop("workloads"), **args)
    assert "\n" not in str(info.value)


def test_workload_bad_fields():
    """Check that a workload with an impossible budget or target is refused."""
    with pytest.raises(InvalidParameterError, match="'eval_every' must be at most"):
        tiny(eval_every=50)
    with pytest.raises(InvalidParameterError, match="'target' must be a float in"):
        tiny(target=1.5)
    with pytest.raises(InvalidParameterError, match="unknown keys \\['colour'\\]"):
        Workload.from_dict({**TINY.to_dict(), "colour": "red"})


# ---------------------------------------------------------------- protocol


def test_steps_to_target_trivial_and_never():
    """Check that target 0 is reached at the first evaluation and target 1 (on a
    12-step run of a 16-unit MLP) never, with the curve at every eval_every."""
    easy = run_trial(tiny(target=0.0), "sgd", {"lr": 0.1}, seed=0)
    assert easy["curve"]["step"] == [4, 8, 12]
    assert easy["steps_to_target"] == 4.0
    assert easy["timing"]["seconds_to_target"] == easy["timing"]["seconds"][0]
    never = run_trial(tiny(target=1.0), "sgd", {"lr": 0.1}, seed=0)
    assert max(never["curve"]["val_acc"]) < 1.0
    assert never["steps_to_target"] == math.inf
    assert never["timing"]["seconds_to_target"] == math.inf
    # the target does not change the training itself
    assert never["curve"] == easy["curve"]


def test_run_trial_is_deterministic_and_marks_divergence():
    """Check that a run repeats exactly, and that lr 1e12 diverges and is marked."""
    a = run_trial(TINY, "adam", {"lr": 1e-2, "beta1": 0.9, "beta2": 0.99}, seed=2)
    b = run_trial(TINY, "adam", {"lr": 1e-2, "beta1": 0.9, "beta2": 0.99}, seed=2)
    assert deterministic_view(a) == deterministic_view(b)
    assert math.isnan(a["test_acc"])  # tuning runs never see the test set
    bad = run_trial(TINY, "sgd", {"lr": 1e12}, seed=0)
    assert bad["diverged"]["cause"] == "loss is nan"
    assert len(bad["curve"]["step"]) < len(TINY.evaluations)


# ---------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One tiny comparison, run once for the tests below."""
    out = tmp_path_factory.mktemp("cmp") / "a"
    plan = make_plan(
        ["sgd", "adam"],
        [TINY, tiny(name="tiny2", hidden=(8,))],
        trials=3,
        seeds=2,
        seed=1,
    )
    events = []
    results = run_plan(plan, out, workers=2, progress=events.append)
    return plan, out, results, events


def test_run_plan_writes_everything(finished):
    """Check the files, the run count and that the selected trial is the best."""
    plan, out, results, events = finished
    names = {p.name for p in out.iterdir()}
    assert {"manifest.json", "results.json", "results.csv", "trials"} <= names
    assert set(results["figures"]) <= names and len(results["figures"]) == 3
    assert [e["done"] for e in events] == list(range(1, plan.n_runs + 1))
    assert plan.n_runs == 2 * 2 * (3 + 2)
    for c in results["cells"]:
        accs = [t["final_val_acc"] for t in c["tuning"]]
        assert c["tuning"][c["best_trial"]]["final_val_acc"] == max(accs)
        assert c["seeds"] == [2, 3]
        assert len(c["val_acc"]["values"]) == 2
        assert c["val_acc"]["min"] <= c["val_acc"]["median"] <= c["val_acc"]["max"]
        assert 0 <= c["test_acc"]["median"] <= 1
    text = (out / "results.csv").read_text()
    assert text.splitlines()[0].startswith(
        "workload,optimizer,best_params,val_acc_median"
    )
    assert len(text.splitlines()) == 1 + 4
    on_disk = json.loads((out / "results.json").read_text())
    assert (
        on_disk["settings_hash"]
        == json.loads((out / "manifest.json").read_text())["settings_hash"]
    )


def test_rerun_from_manifest_is_bit_for_bit(finished, tmp_path):
    """Check that a rerun from the manifest (one worker this time) gives every
    number of the original (timings aside) exactly."""
    plan, out, results, _ = finished
    again = rerun(out / "manifest.json", tmp_path / "b", workers=1, figures=False)
    assert again["rerun"]["identical"] is True
    old = json.loads((out / "results.json").read_text())
    new = json.loads((tmp_path / "b" / "results.json").read_text())
    old.pop("figures"), new.pop("figures")
    assert deterministic_view(old) == deterministic_view(new)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert (
        manifest["rerun_of"]
        == json.loads((out / "manifest.json").read_text())["settings_hash"]
    )


def test_interrupted_comparison_continues(finished, tmp_path):
    """Check that Ctrl-C keeps the finished runs and a second start on the same
    folder runs only the rest, ending with the same numbers."""
    plan, out, results, _ = finished
    seen = []

    def stop_after_three(event):
        seen.append(event["record"]["key"])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        run_plan(plan, tmp_path / "c", progress=stop_after_three, figures=False)
    assert (info.value.done, info.value.total) == (3, plan.n_runs)
    assert len(list((tmp_path / "c" / "trials").glob("*.json"))) == 3
    later = []
    again = run_plan(plan, tmp_path / "c", progress=later.append, figures=False)
    assert later[0]["done"] == 4 and len(later) == plan.n_runs - 3
    assert not {e["record"]["key"] for e in later} & set(seen)
    base = {k: v for k, v in results.items() if k != "figures"}
    again.pop("figures")
    assert json.dumps(deterministic_view(again)) == json.dumps(deterministic_view(base))


def test_ctrl_c_right_after_a_run_is_written_counts_it(finished, tmp_path, monkeypatch):
    """Check a Ctrl-C that lands between writing a run and counting it still
    reports every run on disk as kept."""
    plan = finished[0]
    original = TrialStore.put
    calls = []

    def put_then_interrupt(self, record):
        original(self, record)
        calls.append(record["key"])
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(TrialStore, "put", put_then_interrupt)
    with pytest.raises(Interrupted) as info:
        run_plan(plan, tmp_path / "c", figures=False)
    on_disk = len(list((tmp_path / "c" / "trials").glob("*.json")))
    assert on_disk == 3 and info.value.done == on_disk
    assert "3 of" in str(info.value)


def test_out_folder_is_protected(finished, tmp_path):
    """Check that another comparison's folder, a foreign folder and a locked
    folder are refused."""
    plan, out, _, _ = finished
    other = make_plan(["sgd"], [TINY], trials=1, seeds=1)
    with pytest.raises(OutputExistsError, match="holds another comparison"):
        run_plan(other, out)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        run_plan(other, tmp_path / "d")
    with lock_folder(tmp_path / "e"):
        with pytest.raises(OutputExistsError, match="another process is writing"):
            run_plan(other, tmp_path / "e")


# ---------------------------------------------------------------- manifest


def _rewrite(path, data, *, rehash):
    if rehash:
        body = {k: v for k, v in data.items() if k != "content_hash"}
        data["content_hash"] = canonical_hash(body)
    path.write_text(json.dumps(data))


def test_manifest_edited_or_foreign_is_refused(finished, tmp_path):
    """Check that an edited manifest, one from another version, another format
    version or not a manifest at all is refused with one line."""
    _, out, _, _ = finished
    original = json.loads((out / "manifest.json").read_text())
    plan, _ = load_manifest(out / "manifest.json")
    assert plan.to_dict() == original["settings"]
    cases = []
    edited = json.loads(json.dumps(original))
    edited["settings"]["trial_params"]["sgd"][0]["lr"] = 0.5
    cases.append((edited, False, "changed after it was written"))
    resettled = json.loads(json.dumps(original))
    resettled["settings"]["seeds"] = 1  # hash recomputed, but settings_hash not
    cases.append((resettled, True, "changed after it was written"))
    old = json.loads(json.dumps(original))
    old["descentlab_version"] = "0.0.1"
    cases.append((old, True, f"written by descentlab '0.0.1', this is {__version__}"))
    future = json.loads(json.dumps(original))
    future["format_version"] = 99
    cases.append((future, True, "format version 99"))
    cases.append(({"hello": 1}, False, "not a descentlab compare manifest"))
    for i, (data, rehash, match) in enumerate(cases):
        path = tmp_path / f"m{i}.json"
        _rewrite(path, data, rehash=rehash)
        with pytest.raises(InvalidParameterError, match=match) as info:
            load_manifest(path)
        assert "\n" not in str(info.value)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InvalidParameterError, match="cannot read manifest"):
        load_manifest(tmp_path / "broken.json")
