"""Search spaces: dimensions, sampling, parsing and range narrowing."""

import math

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.search import (
    Choice,
    IntUniform,
    LogUniform,
    Uniform,
    narrow,
    parse_dimension,
    parse_space,
    sample_space,
)
from descentlab.search.space import (
    dimension_from_dict,
    dimension_to_dict,
    space_from_dict,
    space_to_dict,
)


def _trials(param, values_and_metrics, status="complete"):
    return [
        {"number": i, "params": {param: x}, "value": v, "status": status}
        for i, (x, v) in enumerate(values_and_metrics)
    ]


# ------------------------------------------------------------------ dimensions


def test_sampling_stays_in_range_with_right_types():
    """Check that every dimension samples inside its range with the right type."""
    rng = np.random.default_rng(0)
    space = {
        "lr": LogUniform(1e-6, 1e-2),
        "m": Uniform(0.5, 0.9),
        "n": IntUniform(1, 3),
        "act": Choice(["relu", "tanh"]),
    }
    draws = [sample_space(space, rng) for _ in range(400)]
    assert all(1e-6 <= d["lr"] <= 1e-2 and isinstance(d["lr"], float) for d in draws)
    assert all(0.5 <= d["m"] <= 0.9 for d in draws)
    assert {d["n"] for d in draws} == {1, 2, 3}
    assert all(type(d["n"]) is int for d in draws)
    assert {d["act"] for d in draws} == {"relu", "tanh"}


def test_log_uniform_is_uniform_in_log_space():
    """Check that LogUniform(1e-6, 1e-2) puts about a quarter of draws in each
    decade."""
    rng = np.random.default_rng(1)
    dim = LogUniform(1e-6, 1e-2)
    logs = np.log10([dim.sample(rng) for _ in range(4000)])
    counts = np.histogram(logs, bins=[-6, -5, -4, -3, -2])[0] / 4000
    np.testing.assert_allclose(counts, 0.25, atol=0.03)


def test_same_seed_same_draws():
    """Check that sampling depends only on the generator's seed."""
    space = {"lr": LogUniform(1e-6, 1e-2), "act": Choice(["a", "b", "c"])}
    a = [sample_space(space, np.random.default_rng(7)) for _ in range(3)]
    b = [sample_space(space, np.random.default_rng(7)) for _ in range(3)]
    assert a == b


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LogUniform(0.0, 1.0), r"LogUniform: 'lo' must be > 0"),
        (lambda: LogUniform(-1e-3, 1.0), r"LogUniform: 'lo' must be > 0"),
        (lambda: LogUniform(1e-2, 1e-6), r"LogUniform: 'lo' must be less than 'hi'"),
        (
            lambda: Uniform(1.0, 1.0),
            r"Uniform: 'lo' must be less than 'hi'. Got lo=1.0, hi=1.0",
        ),
        (lambda: Uniform(0.0, math.inf), r"must be finite"),
        (lambda: Uniform("a", 1.0), r"Uniform: 'lo' must be a float"),
        (lambda: IntUniform(1.5, 3), r"IntUniform: 'lo' must be an int"),
        (lambda: IntUniform(3, 3), r"IntUniform: 'lo' must be less than 'hi'"),
        (lambda: Choice([]), r"Choice: 'options' must not be empty"),
        (lambda: Choice("relu"), r"Choice: 'options' must be a list"),
        (lambda: Choice(["a", "a"]), r"must be distinct"),
        (lambda: Choice([[1, 2]]), r"each option must be a str"),
        (lambda: Uniform(0.0, 2.0, limits=(0.0, 1.0)), r"'limits' must contain"),
    ],
)
def test_dimension_validation(make, match):
    """Check that bad bounds and options raise InvalidParameterError with a clear
    message."""
    with pytest.raises(InvalidParameterError, match=match):
        make()


def test_dimension_dict_round_trip():
    """Check that dimensions survive to_dict/from_dict (and JSON types)."""
    space = {
        "lr": LogUniform(1e-6, 1e-2),
        "m": Uniform(-1.0, 1.0),
        "n": IntUniform(1, 5),
        "act": Choice(["relu", 3, None, True]),
    }
    again = space_from_dict(space_to_dict(space))
    assert again == space
    assert again["m"].limits == (None, None)
    assert dimension_from_dict(dimension_to_dict(Uniform(0.0, 0.5))).limits == (
        0.0,
        None,
    )


# --------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("log:1e-6:1e-2", LogUniform(1e-6, 1e-2)),
        ("LOG: 1e-6 : 0.01", LogUniform(1e-6, 1e-2)),
        ("uniform:0:1", Uniform(0.0, 1.0)),
        ("uniform:-1:1", Uniform(-1.0, 1.0)),
        ("int:1:5", IntUniform(1, 5)),
        ("choice:relu,tanh", Choice(["relu", "tanh"])),
        ("choice:32,64,0.5,true,none", Choice([32, 64, 0.5, True, None])),
    ],
)
def test_parse_dimension(spec, expected):
    """Check that each CLI spec form parses to the right dimension."""
    dim = parse_dimension(spec)
    assert dim == expected
    assert parse_dimension(dim.spec()) == dim


@pytest.mark.parametrize(
    "spec, match",
    [
        ("normal:0:1", r"must start with one of 'log:', 'uniform:', 'int:', 'choice:'"),
        ("1e-6:1e-2", r"must start with one of"),
        ("log:1e-6", r"must have the form 'log:LO:HI'"),
        ("log:1e-6:1e-2:3", r"must have the form 'log:LO:HI'"),
        ("log:abc:1e-2", r"LO of 'log:abc:1e-2' must be a number. Got 'abc'"),
        ("int:1:2.5", r"HI of 'int:1:2.5' must be an integer"),
        ("log:0:1", r"'lo' must be > 0"),
        ("uniform:1:0", r"'lo' must be less than 'hi'"),
        ("choice:", r"must list non-empty options"),
        ("choice:a,,b", r"must list non-empty options"),
    ],
)
def test_parse_dimension_errors(spec, match):
    """Check that malformed specs raise InvalidParameterError naming the problem."""
    with pytest.raises(InvalidParameterError, match=match):
        parse_dimension(spec)


def test_parse_space():
    """Check that NAME=SPEC items build a space in their order."""
    space = parse_space(
        [
            "lr=log:1e-6:1e-2",
            "weight_decay=log:1e-8:1e-4",
            "activation=choice:relu,tanh",
        ]
    )
    assert list(space) == ["lr", "weight_decay", "activation"]
    assert space["weight_decay"] == LogUniform(1e-8, 1e-4)


@pytest.mark.parametrize(
    "items, match",
    [
        (["lr:log:1e-6:1e-2"], r"must have the form NAME=SPEC"),
        (["=log:1e-6:1e-2"], r"must have the form NAME=SPEC"),
        (["lr=log:1e-6:1e-2", "lr=log:1e-5:1e-3"], r"'lr' is given twice"),
        (["lr=log:1e-2:1e-6"], r"in 'lr=log:1e-2:1e-6': .*'lo' must be less than 'hi'"),
        ([], r"give at least one"),
    ],
)
def test_parse_space_errors(items, match):
    """Check that bad --space items give errors naming the item."""
    with pytest.raises(InvalidParameterError, match=match):
        parse_space(items)


# ------------------------------------------------------------------- narrowing


def test_narrow_log_stays_log_and_shrinks_to_envelope():
    """Check that LogUniform narrows to the best trials' envelope in log space."""
    space = {"lr": LogUniform(1e-6, 1e-2)}
    trials = _trials(
        "lr", [(1e-4, 0.9), (1e-3, 0.8), (3e-5, 0.1), (5e-3, 0.2), (2e-6, 0.3)]
    )
    new = narrow(space, trials, keep=0.4)  # best 2 of 5
    assert isinstance(new["lr"], LogUniform)
    assert new["lr"].lo == pytest.approx(1e-4) and new["lr"].hi == pytest.approx(1e-3)
    assert space["lr"] == LogUniform(1e-6, 1e-2)  # the old space is untouched


def test_narrow_keeps_at_least_two_and_rounds_up():
    """Check the count rule n = min(len, max(2, ceil(keep * len)))."""
    space = {"x": Uniform(0.0, 10.0)}
    trials = _trials("x", [(4.0, 0.9), (5.0, 0.8), (6.0, 0.7), (3.0, 0.1), (8.0, 0.0)])
    assert narrow(space, trials, keep=0.01)["x"] == Uniform(4.0, 5.0)  # 2 trials
    assert narrow(space, trials, keep=0.5)["x"] == Uniform(4.0, 6.0)  # ceil(2.5)=3


def test_narrow_widens_at_the_lower_edge():
    """Check that best trials at the lower edge extend the range by half its width."""
    space = {"lr": LogUniform(1e-6, 1e-2)}  # log10 range [-6, -2], width 4
    trials = _trials("lr", [(1.5e-6, 0.9), (1e-5, 0.8), (1e-3, 0.1), (1e-2 * 0.9, 0.2)])
    new = narrow(space, trials, keep=0.5)["lr"]
    assert math.log10(new.lo) == pytest.approx(-8.0)  # -6 - 0.5 * 4
    assert math.log10(new.hi) == pytest.approx(-5.0)  # envelope's upper end
    assert isinstance(new, LogUniform)


def test_narrow_widens_at_the_upper_edge_of_uniform():
    """Check that best trials at the upper edge of a Uniform push the upper bound
    out."""
    space = {"x": Uniform(0.0, 1.0)}
    trials = _trials("x", [(0.97, 0.9), (0.6, 0.8), (0.1, 0.1), (0.2, 0.0)])
    assert narrow(space, trials, keep=0.5)["x"] == Uniform(0.6, 1.5)


def test_narrow_keeps_range_when_best_span_both_edges():
    """Check that a dimension whose best trials touch both edges is kept."""
    space = {"x": Uniform(0.0, 1.0)}
    trials = _trials("x", [(0.01, 0.9), (0.99, 0.8), (0.5, 0.1)])
    assert narrow(space, trials, keep=0.5)["x"] == Uniform(0.0, 1.0)


def test_narrow_widening_respects_limits():
    """Check that widening never crosses a range's limits (lo >= 0 stays >= 0)."""
    trials = _trials("p", [(0.01, 0.9), (0.1, 0.8), (0.4, 0.1), (0.45, 0.0)])
    assert narrow({"p": Uniform(0.0, 0.5)}, trials, keep=0.5)["p"] == Uniform(0.0, 0.1)
    lim = Uniform(0.5, 0.9, limits=(0.0, 0.95))
    up = _trials("p", [(0.89, 0.9), (0.8, 0.8), (0.55, 0.1)])
    assert narrow({"p": lim}, up, keep=0.5)["p"] == Uniform(0.8, 0.95)
    neg = _trials("p", [(-0.99, 0.9), (-0.5, 0.8), (0.5, 0.1)])
    assert narrow({"p": Uniform(-1.0, 1.0)}, neg, keep=0.5)["p"] == Uniform(-2.0, -0.5)


def test_narrow_degenerate_envelope_gets_margin():
    """Check that equal best values get a range of 10% of the old width around them."""
    space = {"lr": LogUniform(1e-6, 1e-2), "x": Uniform(0.0, 1.0)}
    trials = [
        {
            "number": i,
            "params": {"lr": 1e-4, "x": 0.5},
            "value": v,
            "status": "complete",
        }
        for i, v in enumerate([0.9, 0.8])
    ]
    new = narrow(space, trials, keep=1.0)
    assert math.log10(new["lr"].lo) == pytest.approx(-4.2)
    assert math.log10(new["lr"].hi) == pytest.approx(-3.8)
    assert new["x"].lo == pytest.approx(0.45) and new["x"].hi == pytest.approx(0.55)


def test_narrow_int_stays_int():
    """Check that IntUniform narrows to integers, spans at least 1, and widens by int
    steps."""
    trials = _trials("n", [(3, 0.9), (4, 0.8), (1, 0.1), (8, 0.0), (10, 0.0)])
    new = narrow({"n": IntUniform(1, 10)}, trials, keep=0.4)["n"]
    assert new == IntUniform(3, 4) and isinstance(new.lo, int)
    same = _trials("n", [(5, 0.9), (5, 0.8), (1, 0.1)])
    # envelope [5, 5] -> margin to width 0.9 -> [4.55, 5.45] -> rounded outwards
    assert narrow({"n": IntUniform(1, 10)}, same, keep=0.5)["n"] == IntUniform(4, 6)
    edge = _trials("n", [(10, 0.9), (9, 0.8), (1, 0.1)])
    assert narrow({"n": IntUniform(1, 10)}, edge, keep=0.5)["n"] == IntUniform(9, 15)
    low = _trials("n", [(1, 0.9), (2, 0.8), (9, 0.1)])
    assert narrow({"n": IntUniform(1, 5)}, low, keep=0.5)["n"] == IntUniform(0, 2)


def test_narrow_choice_keeps_options_of_the_best():
    """Check that Choice keeps only the options seen among the best, in order."""
    space = {"act": Choice(["sigmoid", "tanh", "relu"])}
    trials = _trials(
        "act", [("relu", 0.9), ("tanh", 0.85), ("sigmoid", 0.1), ("relu", 0.2)]
    )
    assert narrow(space, trials, keep=0.5)["act"] == Choice(["tanh", "relu"])


def test_narrow_min_mode_and_failed_trials():
    """Check that metric_mode='min' keeps the lowest values and failed trials are
    ignored."""
    space = {"x": Uniform(0.0, 10.0)}
    trials = _trials("x", [(2.0, 0.1), (3.0, 0.2), (7.0, 5.0), (8.0, 6.0)])
    trials += [
        {"number": 9, "params": {"x": 9.0}, "value": None, "status": "failed"},
        {
            "number": 10,
            "params": {"x": 6.0},
            "value": float("nan"),
            "status": "complete",
        },
    ]
    assert narrow(space, trials, keep=0.5, metric_mode="min")["x"] == Uniform(2.0, 3.0)
    assert narrow(space, trials, keep=0.5, metric_mode="max")["x"] == Uniform(7.0, 8.0)


def test_narrow_without_completed_trials_warns_and_keeps_space():
    """Check that a round with no completed trial keeps the space (with a warning)."""
    space = {"x": Uniform(0.0, 1.0)}
    failed = [{"number": 0, "params": {"x": 0.5}, "value": None, "status": "failed"}]
    with pytest.warns(RuntimeWarning, match="no completed trial"):
        assert narrow(space, failed) == space


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"keep": 0.0}, r"narrow: 'keep' must be a float in \(0.0, 1.0\]. Got 0.0"),
        ({"keep": 1.5}, r"'keep'"),
        ({"metric_mode": "maximize"}, r"'metric_mode' must be one of 'max', 'min'"),
    ],
)
def test_narrow_argument_errors(kwargs, match):
    """Check that narrow validates keep and metric_mode."""
    with pytest.raises(InvalidParameterError, match=match):
        narrow({"x": Uniform(0.0, 1.0)}, [], **kwargs)
