"""Tests for descentlab.schedules: closed forms, torch parity, Scheduler."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from descentlab.errors import CheckpointError, InvalidParameterError
from descentlab.io import load_state_npz, save_state_npz
from descentlab.nn.module import Parameter
from descentlab.optim import SGD, Adam
from descentlab.schedules import (
    SCHEDULE_NAMES,
    Constant,
    CosineAnnealing,
    CosineWarmRestarts,
    Exponential,
    LinearWarmup,
    MultiStep,
    OneCycle,
    Polynomial,
    ReduceOnPlateau,
    Schedule,
    Scheduler,
    StepDecay,
    chain,
    make_schedule,
    sequential,
    warmup_cosine,
)


# ------------------------------------------------------------ worked examples
@pytest.mark.parametrize(
    "schedule,step,expected",
    [
        (StepDecay(0.1, 0.5, 10), 25, 0.025),
        (StepDecay(0.1, 0.5, 10), 9, 0.1),
        (StepDecay(0.1, 0.5, 10), 10, 0.05),
        (CosineAnnealing(0.1, 50, 0.001), 0, 0.1),
        (CosineAnnealing(0.1, 50, 0.001), 25, 0.0505),
        (CosineAnnealing(0.1, 50, 0.001), 50, 0.001),
        (CosineAnnealing(0.1, 50, 0.001), 80, 0.001),
        (Polynomial(0.1, 50, 2.0), 25, 0.025),
        (Polynomial(0.1, 50, 2.0), 50, 0.0),
        (Polynomial(0.1, 50, 2.0, end_lr=0.01), 25, 0.09 * 0.25 + 0.01),
        (Polynomial(0.1, 50, 2.0, end_lr=0.01), 500, 0.01),
        (Exponential(0.1, 0.95), 10, 0.1 * 0.95**10),
        (MultiStep(0.1, [5, 12], 0.1), 4, 0.1),
        (MultiStep(0.1, [5, 12], 0.1), 5, 0.01),
        (MultiStep(0.1, [5, 12], 0.1), 30, 0.001),
        (LinearWarmup(0.1, 10), 5, 0.55),
        (LinearWarmup(0.1, 10), 99, 1.0),
        (Constant(0.3), 1000, 0.3),
        (CosineWarmRestarts(0.1, 10, 2, 0.0), 10, 0.1),
        (CosineWarmRestarts(0.1, 10, 2, 0.0), 20, 0.05),
        (CosineWarmRestarts(0.1, 10, 2, 0.0), 30, 0.1),
        (OneCycle(0.1, 100), 0, 0.1 / 25),
        (OneCycle(0.1, 100), 29, 0.1),
        (OneCycle(0.1, 100), 99, 0.1 / 25 / 1e4),
        (OneCycle(0.1, 100), 150, 0.1 / 25 / 1e4),
    ],
)
def test_worked_examples(schedule, step, expected):
    """Check the guide's worked examples and hand-computed values."""
    assert schedule.lr_at(step) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert schedule(step) == schedule.lr_at(step)


def test_closed_form_arrays():
    """Check whole curves against closed-form arrays written out here."""
    t = np.arange(120)
    np.testing.assert_allclose(
        CosineAnnealing(0.1, 50, 0.001).values(120),
        0.001 + 0.099 * (1 + np.cos(np.pi * np.minimum(t, 50) / 50)) / 2,
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        StepDecay(0.1, 0.5, 10).values(120), 0.1 * 0.5 ** (t // 10)
    )
    np.testing.assert_allclose(
        Exponential(0.2, 0.9).values(120), 0.2 * 0.9**t, rtol=1e-12
    )
    np.testing.assert_allclose(
        Polynomial(0.1, 50, 2.0).values(120), 0.1 * (1 - np.minimum(t, 50) / 50) ** 2
    )
    cyc = np.array([0] * 0 + list(range(10)) + list(range(20)) + list(range(40)))
    lens = np.array([10] * 10 + [20] * 20 + [40] * 40)
    np.testing.assert_allclose(
        CosineWarmRestarts(0.1, 10, 2, 0.01).values(70),
        0.01 + 0.09 * (1 + np.cos(np.pi * cyc / lens)) / 2,
        rtol=1e-13,
    )
    assert (
        CosineWarmRestarts(0.1, 7).values(21).tolist()
        == CosineWarmRestarts(0.1, 7).values(7).tolist() * 3
    )


# ------------------------------------------------------------ torch parity
def torch_lrs(torch, make, n, base=0.1):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.array(out)


TORCH_CASES = [
    ("StepLR", lambda L, o: L.StepLR(o, 10, 0.5), StepDecay(0.1, 0.5, 10), 80),
    (
        "MultiStepLR",
        lambda L, o: L.MultiStepLR(o, [5, 12, 30], 0.3),
        MultiStep(0.1, [5, 12, 30], 0.3),
        80,
    ),
    (
        "ExponentialLR",
        lambda L, o: L.ExponentialLR(o, 0.95),
        Exponential(0.1, 0.95),
        80,
    ),
    (
        "CosineAnnealingLR",
        lambda L, o: L.CosineAnnealingLR(o, 50, 0.001),
        CosineAnnealing(0.1, 50, 0.001),
        51,
    ),
    (
        "CosineAnnealingWarmRestarts",
        lambda L, o: L.CosineAnnealingWarmRestarts(o, 10, 2, 0.001),
        CosineWarmRestarts(0.1, 10, 2, 0.001),
        80,
    ),
    (
        "CosineAnnealingWarmRestarts-Tmult1",
        lambda L, o: L.CosineAnnealingWarmRestarts(o, 7),
        CosineWarmRestarts(0.1, 7),
        80,
    ),
    (
        "PolynomialLR",
        lambda L, o: L.PolynomialLR(o, 50, 2.0),
        Polynomial(0.1, 50, 2.0),
        80,
    ),
    (
        "LinearLR",
        lambda L, o: L.LinearLR(o, 0.25, 1.0, 8),
        LinearWarmup(0.25, 8, base_lr=0.1),
        30,
    ),
    (
        "OneCycleLR",
        lambda L, o: L.OneCycleLR(o, 0.1, total_steps=100, cycle_momentum=False),
        OneCycle(0.1, 100),
        100,
    ),
    (
        "OneCycleLR-3phase-linear",
        lambda L, o: L.OneCycleLR(
            o,
            0.1,
            total_steps=90,
            cycle_momentum=False,
            three_phase=True,
            anneal_strategy="linear",
            pct_start=0.25,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        OneCycle(
            0.1,
            90,
            three_phase=True,
            anneal="linear",
            pct_start=0.25,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        90,
    ),
]


@pytest.mark.parametrize(
    "name,make,schedule,n", TORCH_CASES, ids=[c[0] for c in TORCH_CASES]
)
def test_matches_torch_scheduler(name, make, schedule, n):
    """Check each schedule against the torch.optim.lr_scheduler that defines it."""
    torch = pytest.importorskip("torch")
    expected = torch_lrs(torch, lambda o: make(torch.optim.lr_scheduler, o), n)
    np.testing.assert_allclose(schedule.values(n), expected, rtol=1e-9, atol=1e-12)


PLATEAU_METRICS = np.concatenate(
    [
        np.linspace(1.0, 0.5, 5),
        np.full(6, 0.5),
        [0.4, 0.3999, 0.4, 0.41],
        np.full(8, 0.39),
        np.linspace(0.39, 0.1, 6),
        np.full(12, 0.1),
    ]
)


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode,threshold", [("rel", 1e-3), ("abs", 0.02)])
def test_plateau_matches_torch(mode, threshold_mode, threshold):
    """Check ReduceOnPlateau against torch's ReduceLROnPlateau on a metric sequence."""
    torch = pytest.importorskip("torch")
    metrics = (
        PLATEAU_METRICS if mode == "min" else 1.0 - PLATEAU_METRICS
    )  # accuracy-like
    kw = dict(
        mode=mode,
        factor=0.5,
        patience=2,
        threshold=threshold,
        threshold_mode=threshold_mode,
        cooldown=1,
        min_lr=0.01,
    )
    tp = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    sched = Scheduler(opt, plateau=ReduceOnPlateau(**kw))
    ours, theirs = [], []
    for m in metrics:
        tsched.step(float(m))
        sched.step_plateau(float(m))
        theirs.append(topt.param_groups[0]["lr"])
        ours.append(opt.lr)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert min(ours) == pytest.approx(0.01) and len(set(np.round(ours, 12))) > 2


# ------------------------------------------------------------ composition
def test_sequential_switches_and_restarts_counting():
    """Check sequential uses each schedule with t counted from its own start."""
    warm = LinearWarmup(0.0, 5, base_lr=0.1)
    cos = CosineAnnealing(0.1, 20, 0.001)
    exp = Exponential(0.05, 0.5)
    s = sequential([(warm, 5), (cos, 20), exp])
    for t in range(5):
        assert s(t) == warm(t)
    for t in range(5, 25):
        assert s(t) == cos(t - 5)
    for t in range(25, 40):
        assert s(t) == exp(t - 25)
    assert s.base_lr == 0.1


def test_chain_multiplies():
    """Check chain(warmup factor, cosine) = factor * cosine and base is the product."""
    warm, cos = LinearWarmup(0.1, 5), CosineAnnealing(0.1, 50, 0.001)
    c = chain(warm, cos)
    for t in range(60):
        assert c(t) == pytest.approx(warm(t) * cos(t), rel=1e-15)
    assert c.base_lr == pytest.approx(0.1)
    assert c.factor_at(0) == pytest.approx(0.1)


def test_warmup_cosine_one_liner():
    """Check warmup_cosine rises linearly to base, then follows the cosine to min_lr."""
    s = warmup_cosine(0.1, 10, 60, 0.001)
    np.testing.assert_allclose(s.values(10), 0.1 * np.arange(10) / 10, rtol=1e-13)
    cos = CosineAnnealing(0.1, 50, 0.001)
    np.testing.assert_allclose(s.values(100)[10:], cos.values(90), rtol=1e-15)
    assert (
        s(10) == 0.1
        and s(60) == pytest.approx(0.001)
        and s(1000) == pytest.approx(0.001)
    )
    assert warmup_cosine(0.1, 0, 50)(25) == CosineAnnealing(0.1, 50)(25)
    assert warmup_cosine(0.1, 4, 50, start_factor=0.5)(0) == 0.05


# ------------------------------------------------------------ Scheduler
def make_opt(lrs=(0.1,), cls=SGD):
    groups = [{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in lrs]
    return cls(groups, lr=lrs[0])


def test_scheduler_writes_lr_each_step():
    """Check the lr for step 0 is written at construction and then after each step()."""
    opt = make_opt()
    cos = CosineAnnealing(0.2, 10, 0.0)
    sched = Scheduler(opt, cos)
    assert sched.interval == "step" and opt.lr == 0.2 and sched.get_last_lr() == [0.2]
    for t in range(1, 15):
        sched.step()
        assert opt.lr == cos(t) and sched.get_last_lr() == [cos(t)]
    assert Scheduler(make_opt(), cos, interval="epoch").interval == "epoch"


def test_scheduler_relative_keeps_group_ratios():
    """Check relative=True scales each group's own lr by the schedule's factor."""
    opt = make_opt((0.1, 0.01))
    cos = CosineAnnealing(0.5, 10, 0.05)
    sched = Scheduler(opt, cos, relative=True)
    for t in range(12):
        f = cos(t) / 0.5
        np.testing.assert_allclose(sched.get_last_lr(), [0.1 * f, 0.01 * f], rtol=1e-15)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        sched.step()
    sched = Scheduler(make_opt((0.1, 0.01)), LinearWarmup(0.5, 4), relative=True)
    assert sched.get_last_lr() == [0.05, 0.005]


def test_scheduler_one_schedule_per_group():
    """Check a list gives each group its own absolute schedule."""
    opt = make_opt((0.1, 0.01))
    a, b = StepDecay(0.1, 0.5, 2), Constant(0.01)
    sched = Scheduler(opt, [a, b])
    for _ in range(5):
        sched.step()
    assert sched.get_last_lr() == [a(5), 0.01]


def test_scheduler_refuses_ambiguous_or_bad_arguments():
    """Check the Scheduler refuses a lossy absolute schedule and bad arguments."""
    with pytest.raises(InvalidParameterError, match="relative=True"):
        Scheduler(make_opt((0.1, 0.01)), Constant(0.1))
    with pytest.raises(InvalidParameterError, match="list of 2 Schedules"):
        Scheduler(make_opt((0.1, 0.01)), [Constant(0.1)])
    with pytest.raises(
        InvalidParameterError, match="'interval' must be one of 'step', 'epoch'"
    ):
        Scheduler(make_opt(), Constant(0.1), interval="batch")
    with pytest.raises(InvalidParameterError, match="no plateau"):
        Scheduler(make_opt(), Constant(0.1)).step(metric=1.0)
    with pytest.raises(InvalidParameterError, match="must be an Optimizer"):
        Scheduler([1, 2], Constant(0.1))
    opt = make_opt()
    sched = Scheduler(opt, Constant(0.1))
    opt.add_param_group({"params": [Parameter(np.zeros(1))]})
    with pytest.raises(InvalidParameterError, match="build a new Scheduler"):
        sched.step()


def test_plateau_composes_with_schedule():
    """Check the plateau factor multiplies the active schedule, floored at min_lr."""
    opt = make_opt()
    cos = CosineAnnealing(0.1, 100, 0.0)
    plateau = ReduceOnPlateau(factor=0.5, patience=0, min_lr=1e-3)
    sched = Scheduler(opt, cos, plateau=plateau)
    sched.step()
    assert opt.lr == cos(1)
    sched.step_plateau(1.0)  # first metric: an improvement
    sched.step_plateau(1.0)  # no improvement, patience 0 -> reduce
    assert plateau.scale == 0.5 and opt.lr == pytest.approx(0.5 * cos(1))
    sched.step(metric=2.0)  # advances and reduces again
    assert opt.lr == pytest.approx(0.25 * cos(2))
    for _ in range(20):
        sched.step_plateau(5.0)
    assert opt.lr == pytest.approx(1e-3)
    for _ in range(98):
        sched.step()
    assert (
        sched.last_step == 100 and opt.lr == 0.0
    )  # the floor never lifts the lr above the schedule itself


def test_plateau_treats_nan_as_no_improvement():
    """Check a NaN metric counts as a bad epoch (as in torch) instead of raising."""
    p = ReduceOnPlateau(patience=1)
    assert [p.step(m) for m in (1.0, float("nan"), float("nan"))] == [
        False,
        False,
        True,
    ]
    with pytest.raises(InvalidParameterError, match="'metric' must be a float"):
        p.step("0.5")


def run_scheduler(opt, sched, steps, metrics):
    lrs = []
    for i in range(steps):
        sched.step()
        if i % 5 == 4:
            sched.step_plateau(metrics[i // 5])
        lrs.append(sched.get_last_lr())
    return lrs


@pytest.mark.parametrize("via_file", [False, True], ids=["dict", "npz"])
def test_scheduler_resume_matches_uninterrupted(via_file, tmp_path):
    """Check a mid-run state_dict loaded into a fresh Scheduler gives the same lrs."""
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]

    def build():
        opt = make_opt((0.1, 0.02))
        sched = Scheduler(
            opt,
            warmup_cosine(1.0, 5, 50, 0.01),
            relative=True,
            plateau=ReduceOnPlateau(factor=0.5, patience=1, cooldown=1),
        )
        return opt, sched

    opt, sched = build()
    full = run_scheduler(opt, sched, 60, metrics)
    opt, sched = build()
    first = run_scheduler(opt, sched, 30, metrics)
    state = sched.state_dict()
    if via_file:
        save_state_npz(tmp_path / "s.npz", {"scheduler": state})
        state = load_state_npz(tmp_path / "s.npz")[0]["scheduler"]
    opt2, sched2 = build()
    sched2.load_state_dict(state)
    assert [g["lr"] for g in opt2.param_groups] == first[-1]
    rest = []
    for i in range(30, 60):
        sched2.step()
        if i % 5 == 4:
            sched2.step_plateau(metrics[i // 5])
        rest.append(sched2.get_last_lr())
    assert first + rest == full


def test_scheduler_load_refuses_mismatch():
    """Check loading a state of another shape names the difference."""
    state = Scheduler(make_opt(), Constant(0.1)).state_dict()
    with pytest.raises(CheckpointError, match="1 parameter group"):
        Scheduler(make_opt((0.1, 0.01)), Constant(1.0), relative=True).load_state_dict(
            state
        )
    with pytest.raises(CheckpointError, match="per 'step'"):
        Scheduler(make_opt(), Constant(0.1), interval="epoch").load_state_dict(state)
    with pytest.raises(CheckpointError, match="has no plateau"):
        Scheduler(make_opt(), plateau=ReduceOnPlateau()).load_state_dict(state)
    with pytest.raises(CheckpointError, match="not a Scheduler state"):
        Scheduler(make_opt(), Constant(0.1)).load_state_dict({"last_step": 3})


def test_scheduler_drives_training_lr():
    """Check the optimizer really steps with the scheduled lr (plain SGD)."""
    p = Parameter(np.array([0.0]))
    opt = SGD([p], lr=1.0)
    sched = Scheduler(opt, StepDecay(1.0, 0.5, 1))
    for _ in range(3):
        p.grad[...] = 1.0
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, [-(1.0 + 0.5 + 0.25)])
    opt = Adam([Parameter(np.zeros(1))], lr=0.5)
    assert Scheduler(opt).get_last_lr() == [0.5]


# ------------------------------------------------------------ make_schedule
def test_make_schedule_every_name():
    """Check every CLI name builds a finite schedule peaking at base_lr."""
    assert set(SCHEDULE_NAMES) == {
        "constant",
        "step",
        "multistep",
        "exp",
        "cosine",
        "cosine-restarts",
        "poly",
        "warmup-cosine",
        "onecycle",
    }
    for name in SCHEDULE_NAMES:
        s = make_schedule(name, 0.1, 50)
        assert isinstance(s, Schedule) and s.base_lr == pytest.approx(0.1)
        values = s.values(60)
        assert np.all(np.isfinite(values)) and values.max() <= 0.1 + 1e-15
    assert make_schedule("step", 0.1, 50)(25) == pytest.approx(0.025)
    assert make_schedule("poly", 0.1, 50)(25) == pytest.approx(0.025)
    assert make_schedule("cosine", 0.1, 50, min_lr=0.001)(25) == pytest.approx(0.0505)
    assert make_schedule("exp", 0.1, 50, gamma=0.5)(2) == pytest.approx(0.025)
    assert make_schedule("warmup-cosine", 0.1, 2)(0) == 0.0


def test_make_schedule_errors():
    """Check unknown names list the valid ones and unknown options list the allowed."""
    with pytest.raises(
        InvalidParameterError, match="valid names are constant, step, multistep"
    ):
        make_schedule("linear", 0.1, 50)
    with pytest.raises(InvalidParameterError, match="ReduceOnPlateau"):
        make_schedule("plateau", 0.1, 50)
    with pytest.raises(
        InvalidParameterError, match="'cosine' does not take \\['gamma'\\]"
    ):
        make_schedule("cosine", 0.1, 50, gamma=0.9)
    with pytest.raises(InvalidParameterError, match="'total' must be an int"):
        make_schedule("cosine", 0.1, 0)


# ------------------------------------------------------------ validation
ERRORS = [
    (
        StepDecay,
        (0.1, 0.5, 0),
        r"StepDecay: 'every' must be an int in \[1, inf\]. Got 0.",
    ),
    (StepDecay, (0.1, 0.0, 10), r"StepDecay: 'factor' must be a float in \(0.0, inf\)"),
    (
        StepDecay,
        (-0.1, 0.5, 10),
        r"StepDecay: 'base_lr' must be a float in \(0.0, inf\)",
    ),
    (MultiStep, (0.1, [10, 5]), r"MultiStep: 'milestones' must be strictly increasing"),
    (MultiStep, (0.1, []), r"MultiStep: 'milestones' must be a non-empty list"),
    (MultiStep, (0.1, [0, 5]), r"MultiStep: 'milestones\[0\]' must be an int in \[1"),
    (
        Exponential,
        (0.1, 1.5),
        r"Exponential: 'gamma' must be a float in \(0.0, 1.0\]. Got 1.5",
    ),
    (Exponential, (0.1, 0.0), r"Exponential: 'gamma' must be a float in \(0.0, 1.0\]"),
    (CosineAnnealing, (0.1, 0), r"CosineAnnealing: 'T' must be an int in \[1, inf\]"),
    (
        CosineAnnealing,
        (0.1, 50, 0.2),
        r"CosineAnnealing: 'min_lr' must be a float in \[0.0, 0.1\]",
    ),
    (CosineAnnealing, (0.1, 50.0), r"'T' must be an int.*of type float"),
    (
        CosineWarmRestarts,
        (0.1, 10, 0),
        r"CosineWarmRestarts: 'T_mult' must be an int in \[1",
    ),
    (
        Polynomial,
        (0.1, 50, -1.0),
        r"Polynomial: 'power' must be a float in \(0.0, inf\)",
    ),
    (LinearWarmup, (-0.1, 5), r"LinearWarmup: 'start_factor' must be a float in \[0.0"),
    (LinearWarmup, (0.1, 0), r"LinearWarmup: 'steps' must be an int in \[1"),
    (OneCycle, (0.1, 3), r"OneCycle: total_steps=3 is too small for pct_start=0.3"),
    (
        ReduceOnPlateau,
        ("mean",),
        r"ReduceOnPlateau: 'mode' must be one of 'min', 'max'",
    ),
    (
        ReduceOnPlateau,
        ("min", 1.0),
        r"ReduceOnPlateau: 'factor' must be a float in \(0.0, 1.0\)",
    ),
    (
        ReduceOnPlateau,
        ("min", 0.1, -1),
        r"ReduceOnPlateau: 'patience' must be an int in \[0",
    ),
    (
        warmup_cosine,
        (0.1, 10, 10),
        r"warmup_cosine: 'total_steps' must be greater than",
    ),
    (sequential, ([Constant(0.1), Constant(0.2)],), r"sequential: item 0 must be a"),
    (
        sequential,
        ([(Constant(0.1), 0), Constant(0.2)],),
        r"'items\[0\]\[1\]' must be an int",
    ),
    (chain, (), r"chain: needs at least one schedule"),
]


@pytest.mark.parametrize(
    "fn,args,regex",
    ERRORS,
    ids=[f"{getattr(f, '__name__', f)}-{i}" for i, (f, _, _) in enumerate(ERRORS)],
)
def test_invalid_arguments(fn, args, regex):
    """Check each invalid schedule argument raises an error naming it and its range."""
    with pytest.raises(ValueError, match=regex):
        fn(*args)


def test_lr_at_validates_step():
    """Check lr_at refuses negative and non-integer steps, and accepts numpy ints."""
    s = CosineAnnealing(0.1, 10)
    with pytest.raises(
        InvalidParameterError, match=r"CosineAnnealing.lr_at: 'step' must be"
    ):
        s.lr_at(-1)
    with pytest.raises(InvalidParameterError, match="of type float"):
        s.lr_at(1.5)
    assert s.lr_at(np.int64(5)) == s.lr_at(5)
    assert isinstance(s.lr_at(np.int64(5)), float)
    assert "CosineAnnealing(base_lr=0.1, T=10" in repr(s)
    assert math.isclose(s.factor_at(5), 0.5)
