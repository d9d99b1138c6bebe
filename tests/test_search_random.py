"""Random search, range narrowing rounds, the results table, plots, the MLP
objective."""

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import search_objectives

from descentlab.errors import DataError, InvalidParameterError
from descentlab.search import (
    Choice,
    LogUniform,
    RandomSearch,
    SearchResults,
    TrialPruned,
    Uniform,
    random_search,
    run_rounds,
)


def _csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_failing_and_nan_trials_are_recorded_and_search_continues(tmp_path):
    """Check that raising, NaN and non-number objectives are 'failed' and the search
    goes on."""

    def objective(params, report):
        if params["x"] < 0.25:
            raise ValueError("too small")
        if params["x"] < 0.5:
            return float("nan")
        if params["x"] < 0.75:
            return None
        return params["x"]

    res = random_search({"x": Uniform(0.0, 1.0)}, objective, 40, seed=0, out=tmp_path)
    assert len(res) == 40 and [t.number for t in res] == list(range(40))
    by_status = {s: [t for t in res if t.status == s] for s in ("complete", "failed")}
    assert all(t.params["x"] >= 0.75 for t in by_status["complete"])
    assert len(by_status["failed"]) == 40 - len(by_status["complete"]) > 0
    errors = {t.error.split(":")[0] for t in by_status["failed"]}
    assert errors == {
        "ValueError",
        "objective returned nan",
        "objective returned None of type NoneType; expected a float",
    }
    assert all(t.value is None for t in by_status["failed"])
    assert res.best(1)[0].value == max(t.params["x"] for t in by_status["complete"])
    rows = _csv_rows(tmp_path / "trials.csv")
    assert len(rows) == 40 and {r["status"] for r in rows} == {"complete", "failed"}


def test_results_written_after_every_trial(tmp_path):
    """Check that when trial k+1 starts, the files on disk already hold k rows."""
    seen = []

    def objective(params, report):
        k = len(seen)
        if k:
            rows = _csv_rows(tmp_path / "trials.csv")
            data = json.loads((tmp_path / "trials.json").read_text())
            assert len(rows) == k and len(data["trials"]) == k
            assert [int(r["number"]) for r in rows] == list(range(k))
        seen.append(k)
        return params["x"]

    res = random_search({"x": Uniform(0.0, 1.0)}, objective, 5, out=tmp_path)
    assert seen == [0, 1, 2, 3, 4]
    assert all(t.status == "complete" for t in res)  # the asserts inside passed
    assert len(_csv_rows(tmp_path / "trials.csv")) == 5


def test_interrupt_keeps_the_finished_trials(tmp_path):
    """Check that a KeyboardInterrupt on trial 3 stops the search with 2 rows on
    disk."""
    calls = []

    def objective(params, report):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return params["x"]

    with pytest.raises(KeyboardInterrupt):
        random_search({"x": Uniform(0.0, 1.0)}, objective, 10, out=tmp_path)
    assert len(_csv_rows(tmp_path / "trials.csv")) == 2
    loaded = SearchResults.load(tmp_path)
    assert [t.number for t in loaded] == [0, 1]
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_load_round_trip(tmp_path):
    """Check that trials.json loads back with params, statuses, intermediates and
    spaces."""

    def objective(params, report):
        report(1, 0.5)
        report(2, params["x"])
        if params["act"] == "tanh":
            raise RuntimeError("boom")
        return params["x"]

    space = {
        "lr": LogUniform(1e-6, 1e-2),
        "x": Uniform(0.0, 1.0),
        "act": Choice(["relu", "tanh"]),
    }
    res = random_search(space, objective, 12, seed=3, out=tmp_path, metric="val_acc")
    loaded = SearchResults.load(tmp_path / "trials.json")
    assert [t.to_dict() for t in loaded] == [t.to_dict() for t in res]
    assert (
        loaded.spaces == [space] and loaded.metric == "val_acc" and loaded.mode == "max"
    )
    assert loaded.trials[0].intermediate[0] == [1, 0.5]
    assert loaded.best(3) == res.best(3)
    header = (tmp_path / "trials.csv").read_text().splitlines()[0]
    assert header == "number,round,status,val_acc,seconds,lr,x,act,error"


def test_load_errors(tmp_path):
    """Check that missing, truncated and foreign files raise DataError."""
    with pytest.raises(DataError, match="does not exist"):
        SearchResults.load(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text('{"trials": [')
    with pytest.raises(DataError, match="cannot read"):
        SearchResults.load(tmp_path / "bad.json")
    (tmp_path / "foreign.json").write_text('{"trials": []}')
    with pytest.raises(DataError, match="not a descentlab search results file"):
        SearchResults.load(tmp_path / "foreign.json")


def test_seeded_and_best_ordering():
    """Check that the seed fixes the draws and best() orders by mode, ties by number."""
    space = {"x": Uniform(-1.0, 1.0)}
    a = random_search(space, search_objectives.quadratic, 15, seed=4)
    b = RandomSearch(space, search_objectives.quadratic, 15, seed=4).run()
    assert [t.params for t in a] == [t.params for t in b]
    values = sorted((t.value for t in a), reverse=True)
    assert [t.value for t in a.best(15)] == values
    low = random_search(space, search_objectives.quadratic, 15, seed=4, mode="min")
    assert [t.value for t in low.best(3)] == sorted(t.value for t in low)[:3]
    tie = SearchResults()
    from descentlab.search import TrialRecord

    for n in (2, 0, 1):
        tie.add(TrialRecord(number=n, value=1.0))
    assert [t.number for t in tie.best(3)] == [0, 1, 2]


def test_single_argument_objective_pruning_and_intermediates():
    """Check objectives without report, TrialPruned, and recorded intermediate
    values."""
    res = random_search({"x": Uniform(0.0, 1.0)}, lambda p: p["x"], 3)
    assert all(t.status == "complete" for t in res)

    def objective(params, report):
        report(1, 0.2)
        report(2, 0.4)
        raise TrialPruned

    res = random_search({"x": Uniform(0.0, 1.0)}, objective, 2)
    assert [t.status for t in res] == ["pruned", "pruned"]
    assert res.trials[0].value == 0.4 and res.trials[0].intermediate == [
        [1, 0.2],
        [2, 0.4],
    ]
    assert res.best(1) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"n_trials": 0},
            r"RandomSearch: 'n_trials' must be an int in \[1, inf\]. Got 0",
        ),
        ({"mode": "maximize"}, r"RandomSearch: 'mode' must be one of 'max', 'min'"),
        ({"space": {}}, r"RandomSearch: 'space' must be a non-empty dict"),
        ({"space": {"x": (0, 1)}}, r"space\['x'\] must be a LogUniform"),
        ({"objective": 3}, r"'objective' must be a callable"),
    ],
)
def test_random_search_argument_errors(kwargs, match):
    """Check that RandomSearch validates its arguments."""
    args = {
        "space": {"x": Uniform(0.0, 1.0)},
        "objective": search_objectives.quadratic,
        "n_trials": 3,
        **kwargs,
    }
    with pytest.raises(InvalidParameterError, match=match):
        RandomSearch(
            args.pop("space"), args.pop("objective"), args.pop("n_trials"), **args
        )


def test_run_rounds_narrowing_improves_the_median(tmp_path):
    """Check that rounds narrow around lr = 1e-3 and the later rounds' median is no
    worse."""
    space = {"lr": LogUniform(1e-6, 1e-1)}
    res = run_rounds(
        space,
        search_objectives.peak_lr,
        rounds=3,
        trials_per_round=20,
        keep=0.2,
        seed=0,
        out=tmp_path,
    )
    assert len(res) == 60 and res.rounds() == [0, 1, 2] and len(res.spaces) == 3
    medians = [np.median([t.value for t in res.completed(r)]) for r in range(3)]
    assert medians[1] >= medians[0] and medians[2] >= medians[0]
    for dims in res.spaces[1:]:
        assert isinstance(dims["lr"], LogUniform)
        assert dims["lr"].lo <= 1e-3 <= dims["lr"].hi
    widths = [math.log10(s["lr"].hi / s["lr"].lo) for s in res.spaces]
    assert widths[1] < widths[0]
    assert all(t.round == t.number // 20 for t in res)
    assert SearchResults.load(tmp_path).spaces == res.spaces


def test_run_rounds_per_round_counts_and_errors():
    """Check a list of per-round trial counts and the argument checks."""
    res = run_rounds({"x": Uniform(0.0, 1.0)}, search_objectives.quadratic, 2, [5, 3])
    assert [len([t for t in res if t.round == r]) for r in (0, 1)] == [5, 3]
    with pytest.raises(
        InvalidParameterError, match=r"'trials_per_round' must be an int or a list of 2"
    ):
        run_rounds({"x": Uniform(0.0, 1.0)}, search_objectives.quadratic, 2, [5])
    with pytest.raises(InvalidParameterError, match=r"'keep'"):
        run_rounds({"x": Uniform(0.0, 1.0)}, search_objectives.quadratic, 2, 3, keep=0)


def test_plots_write_png(tmp_path):
    """Check that the trial scatter and best-k curves are written as PNG files."""
    pytest.importorskip("matplotlib")
    from descentlab.search import plot_best_curves, plot_trials

    def objective(params, report):
        for e in (1, 2, 3):
            report(e, search_objectives.peak_lr(params, None) * e / 3)
        if params["weight_decay"] > 5e-5:
            raise ValueError("bad")
        return search_objectives.peak_lr(params, None)

    space = {"lr": LogUniform(1e-6, 1e-2), "weight_decay": LogUniform(1e-8, 1e-4)}
    res = run_rounds(space, objective, 2, 8, keep=0.3, metric="val_acc")
    for fn, name in ((plot_trials, "trials.png"), (plot_best_curves, "best.png")):
        path = fn(res, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidParameterError, match="must be a SearchResults"):
        plot_trials([], tmp_path / "x.png")


@pytest.fixture(scope="module")
def mlp_f():
    """The MLP objective on 150 train / 50 val points of a linearly separable task."""
    pytest.importorskip("descentlab.train")
    pytest.importorskip("descentlab.models")
    from descentlab.search import mlp_objective

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return mlp_objective(
        x[:150], y[:150], x[150:], y[150:], epochs=3, batch_size=50, hidden=(16,)
    )


def test_mlp_objective_reports_each_epoch(mlp_f):
    """Check that the MLP objective trains and reports val accuracy per epoch, the
    last report being its value."""
    reports = []
    acc = mlp_f(
        {"lr": 0.1, "weight_decay": 1e-4, "optimizer": "momentum"},
        lambda step, v: reports.append((step, v)),
    )
    assert [s for s, _ in reports] == [1, 2, 3]
    assert acc == reports[-1][1] and 0.5 < acc <= 1.0


def test_mlp_objective_is_seeded(mlp_f):
    """Check that the same parameters give the same accuracy."""
    assert mlp_f({"lr": 0.1}) == mlp_f({"lr": 0.1})


def test_mlp_objective_refuses_unknown_names(mlp_f):
    """Check that a parameter the objective cannot tune is named in the error."""
    with pytest.raises(InvalidParameterError, match=r"cannot tune \['momentum_x'\]"):
        mlp_f({"momentum_x": 0.9})


def test_mlp_objective_trials_can_be_pruned(mlp_f):
    """Check that a report raising TrialPruned inside the objective ends as a pruned
    or complete trial of a random search, never a failed one."""

    def prune_at_2(step, v):
        if step == 2:
            raise TrialPruned

    res = random_search(
        {"lr": LogUniform(1e-3, 1e-1)},
        lambda p, r: mlp_f(p, prune_at_2 if p["lr"] < 0.01 else r),
        4,
        seed=1,
    )
    statuses = {t.status for t in res}
    assert statuses <= {"complete", "pruned"} and len(res) == 4


def test_diverging_mlp_objective_is_a_failed_trial(mlp_f):
    """Check that a learning rate that makes training diverge fails the trial with
    NonFiniteError."""
    diverged = random_search({"lr": LogUniform(1e4, 1e5)}, mlp_f, 1)
    assert diverged.trials[0].status == "failed"
    assert diverged.trials[0].error.startswith(
        "NonFiniteError: training diverged at step"
    )
