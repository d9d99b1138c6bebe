"""Tests for descentlab.optim: update rules, torch parity, state, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab.errors import CheckpointError, InvalidParameterError
from descentlab.io import load_state_npz, save_state_npz
from descentlab.nn.module import Parameter
from descentlab.optim import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    AdaGrad,
    Adagrad,
    Adam,
    AdamW,
    Lion,
    Momentum,
    NAdam,
    Nesterov,
    Optimizer,
    RMSProp,
    RMSprop,
    Yogi,
    make_optimizer,
)

A = np.array([1.0, 10.0, 0.1, 3.0, 0.5])  # curvatures of f(x) = 0.5 * sum(A * x^2)
X0 = np.array([1.5, -2.0, 3.0, 0.7, -0.4])


# --------------------------------------------------------------------------
# Independent reference recurrences: x_new = ref(x, g, S, t, hp), S a dict.
# Written from the published formulas in plain (non in-place) NumPy.
# --------------------------------------------------------------------------
def ref_sgd(
    x, g, S, t, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False
):
    g = g + weight_decay * x
    if momentum == 0:
        return x - lr * g
    S["b"] = g.copy() if t == 1 else momentum * S["b"] + (1 - dampening) * g
    d = g + momentum * S["b"] if nesterov else S["b"]
    return x - lr * d


def ref_adagrad(
    x,
    g,
    S,
    t,
    lr=0.01,
    lr_decay=0.0,
    weight_decay=0.0,
    initial_accumulator_value=0.0,
    eps=1e-10,
):
    g = g + weight_decay * x
    S["G"] = S.get("G", np.full_like(x, initial_accumulator_value)) + g * g
    clr = lr / (1 + (t - 1) * lr_decay)
    return x - clr * g / (np.sqrt(S["G"]) + eps)


def ref_rmsprop(
    x,
    g,
    S,
    t,
    lr=0.01,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered=False,
):
    g = g + weight_decay * x
    S["v"] = alpha * S.get("v", 0.0) + (1 - alpha) * g**2
    var = S["v"]
    if centered:
        S["gbar"] = alpha * S.get("gbar", 0.0) + (1 - alpha) * g
        var = S["v"] - S["gbar"] ** 2
    step = g / (np.sqrt(var) + eps)
    if momentum > 0:
        S["b"] = momentum * S.get("b", 0.0) + step
        step = S["b"]
    return x - lr * step


def ref_adam(
    x,
    g,
    S,
    t,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    decoupled=False,
):
    b1, b2 = betas
    if decoupled:
        x = x * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * x
    S["m"] = b1 * S.get("m", 0.0) + (1 - b1) * g
    S["v"] = b2 * S.get("v", 0.0) + (1 - b2) * g**2
    v = S["v"]
    if amsgrad:
        S["vmax"] = np.maximum(S.get("vmax", 0.0), S["v"])
        v = S["vmax"]
    m_hat = S["m"] / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return x - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(x, g, S, t, weight_decay=1e-2, **hp):
    return ref_adam(x, g, S, t, weight_decay=weight_decay, decoupled=True, **hp)


def ref_nadam(
    x,
    g,
    S,
    t,
    lr=2e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=4e-3,
):
    b1, b2 = betas
    g = g + weight_decay * x

    def mu(k):
        return b1 * (1 - 0.5 * 0.96 ** (k * momentum_decay))

    S["P"] = S.get("P", 1.0) * mu(t)
    S["m"] = b1 * S.get("m", 0.0) + (1 - b1) * g
    S["v"] = b2 * S.get("v", 0.0) + (1 - b2) * g**2
    v_hat = S["v"] / (1 - b2**t)
    m_bar = (1 - mu(t)) / (1 - S["P"]) * g + mu(t + 1) / (1 - S["P"] * mu(t + 1)) * S[
        "m"
    ]
    return x - lr * m_bar / (np.sqrt(v_hat) + eps)


def ref_lion(x, g, S, t, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
    b1, b2 = betas
    m = S.get("m", np.zeros_like(x))
    update = np.sign(b1 * m + (1 - b1) * g)
    S["m"] = b2 * m + (1 - b2) * g
    return x - lr * (update + weight_decay * x)


def ref_adadelta(x, g, S, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    g = g + weight_decay * x
    S["v"] = rho * S.get("v", 0.0) + (1 - rho) * g**2
    u = S.get("u", np.zeros_like(x))
    delta = np.sqrt(u + eps) / np.sqrt(S["v"] + eps) * g
    S["u"] = rho * u + (1 - rho) * delta**2
    return x - lr * delta


def ref_yogi(
    x,
    g,
    S,
    t,
    lr=1e-2,
    betas=(0.9, 0.999),
    eps=1e-3,
    weight_decay=0.0,
    initial_accumulator_value=1e-6,
):
    b1, b2 = betas
    g = g + weight_decay * x
    S["m"] = b1 * S.get("m", 0.0) + (1 - b1) * g
    v = S.get("v", np.full_like(x, initial_accumulator_value))
    S["v"] = v - (1 - b2) * np.sign(v - g**2) * g**2
    m_hat = S["m"] / (1 - b1**t)
    v_hat = S["v"] / (1 - b2**t)
    return x - lr * m_hat / (np.sqrt(v_hat) + eps)


REFS = {
    SGD: ref_sgd,
    AdaGrad: ref_adagrad,
    RMSProp: ref_rmsprop,
    Adam: ref_adam,
    AdamW: ref_adamw,
    NAdam: ref_nadam,
    Lion: ref_lion,
    Adadelta: ref_adadelta,
    Yogi: ref_yogi,
}

CONFIGS = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.05, momentum=0.9)),
    (SGD, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (SGD, dict(lr=0.05, momentum=0.5, weight_decay=0.1)),
    (AdaGrad, dict(lr=0.1)),
    (
        AdaGrad,
        dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.5, weight_decay=0.01),
    ),
    (RMSProp, dict(lr=0.01)),
    (RMSProp, dict(lr=0.01, centered=True)),
    (RMSProp, dict(lr=0.01, momentum=0.9)),
    (
        RMSProp,
        dict(lr=0.005, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.01),
    ),
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, amsgrad=True)),
    (Adam, dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1, eps=1e-6)),
    (AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (NAdam, dict()),
    (NAdam, dict(lr=0.01, weight_decay=0.01, momentum_decay=0.01)),
    (Lion, dict(lr=1e-3)),
    (Lion, dict(lr=1e-3, betas=(0.8, 0.95), weight_decay=0.1)),
    (Adadelta, dict()),
    (Adadelta, dict(lr=0.5, rho=0.95, weight_decay=0.01)),
    (Yogi, dict()),
    (Yogi, dict(lr=0.05, weight_decay=0.01, initial_accumulator_value=0.1)),
]
IDS = [
    f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
    for c, kw in CONFIGS
]

TORCH_NAMES = {
    SGD: "SGD",
    AdaGrad: "Adagrad",
    RMSProp: "RMSprop",
    Adam: "Adam",
    AdamW: "AdamW",
    NAdam: "NAdam",
    Adadelta: "Adadelta",
}


def random_grads(n=100, seed=0, shape=X0.shape):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def run_ours(cls, kw, grads=None, steps=100, x0=X0, dtype=np.float64):
    """Steps on the quadratic (grads None) or on a fixed gradient sequence."""
    p = Parameter(np.array(x0, dtype=dtype))
    opt = cls([p], **kw)
    for t in range(steps):
        p.grad[...] = A * p.data if grads is None else grads[t]
        opt.step()
    return p, opt


def run_ref(cls, kw, grads=None, steps=100, x0=X0):
    x, S = np.array(x0, dtype=np.float64), {}
    for t in range(1, steps + 1):
        g = A * x if grads is None else grads[t - 1]
        x = REFS[cls](x, g, S, t, **kw)
    return x


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
@pytest.mark.parametrize("source", ["quadratic", "random"])
def test_matches_reference_recurrence(cls, kw, source):
    """Check 100 steps against an independent closed-form recurrence to 1e-12."""
    grads = random_grads() if source == "random" else None
    p, _ = run_ours(cls, kw, grads)
    np.testing.assert_allclose(p.data, run_ref(cls, kw, grads), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "cls,kw",
    [c for c in CONFIGS if c[0] in TORCH_NAMES],
    ids=[i for i, c in zip(IDS, CONFIGS, strict=True) if c[0] in TORCH_NAMES],
)
@pytest.mark.parametrize("source", ["quadratic", "random"])
def test_matches_torch(cls, kw, source):
    """Check 100 float64 steps against the same configuration in torch.optim."""
    torch = pytest.importorskip("torch")
    grads = random_grads(seed=1) if source == "random" else None
    p, _ = run_ours(cls, kw, grads)
    tp = torch.tensor(X0.copy(), dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, TORCH_NAMES[cls])([tp], **kw)
    ta = torch.tensor(A)
    for t in range(100):
        tp.grad = (ta * tp.detach()) if grads is None else torch.tensor(grads[t])
        topt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_torch_defaults_match():
    """Check that each torch-backed optimizer's defaults equal torch's."""
    torch = pytest.importorskip("torch")
    import inspect

    for cls, tname in TORCH_NAMES.items():
        ours = inspect.signature(cls).parameters
        theirs = inspect.signature(getattr(torch.optim, tname)).parameters
        for name, par in ours.items():
            if name == "params" or (cls is SGD and name == "lr"):  # guide: SGD lr=0.01
                continue
            if theirs[name].default is not inspect.Parameter.empty:
                assert par.default == theirs[name].default, (cls.__name__, name)


# ------------------------------------------------------------ hand-computed
X1, G1 = np.array([1.0, -2.0]), np.array([0.5, 0.1])


@pytest.mark.parametrize(
    "cls,kw,expected",
    [
        (SGD, dict(lr=0.1), [0.95, -2.01]),
        (Nesterov, dict(lr=0.1), [1.0 - 0.1 * 1.9 * 0.5, -2.0 - 0.1 * 1.9 * 0.1]),
        (Adam, dict(lr=0.1), X1 - 0.1 * G1 / (np.abs(G1) + 1e-8)),
        (
            AdamW,
            dict(lr=0.1, weight_decay=0.5),
            0.95 * X1 - 0.1 * G1 / (np.abs(G1) + 1e-8),
        ),
        (AdaGrad, dict(lr=0.1), X1 - 0.1 * G1 / (np.abs(G1) + 1e-10)),
        (RMSProp, dict(lr=0.01), X1 - 0.01 * G1 / (0.1 * np.abs(G1) + 1e-8)),
        (
            Lion,
            dict(lr=0.01, weight_decay=0.5),
            [1.0 - 0.01 * 1.5, -2.0 - 0.01 * (1 - 1.0)],
        ),
        (Adadelta, dict(), X1 - np.sqrt(1e-6) / np.sqrt(0.1 * G1**2 + 1e-6) * G1),
        (Yogi, dict(), X1 - 0.01 * G1 / (np.sqrt(1e-3 + G1**2) + 1e-3)),
    ],
)
def test_single_step_by_hand(cls, kw, expected):
    """Check one step from x = (1, -2), g = (0.5, 0.1) against hand-worked values."""
    p = Parameter(X1.copy())
    p.grad[...] = G1
    cls([p], **kw).step()
    np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-15)


def test_momentum_two_steps_by_hand():
    """Check b1 = g, b2 = 1.9 g: theta = x - 2.9 lr g, equal to the book form."""
    p = Parameter(X1.copy())
    opt = Momentum([p], lr=0.1)
    v, x = np.zeros(2), X1.copy()
    for _ in range(2):
        p.grad[...] = G1
        opt.step()
        v = 0.9 * v - 0.1 * G1  # book form: v <- mu v - lr g; x <- x + v
        x = x + v
    np.testing.assert_allclose(p.data, X1 - 0.1 * 2.9 * G1, rtol=1e-14)
    np.testing.assert_allclose(p.data, x, rtol=1e-14)


# ------------------------------------------------------------ convergence
def rosenbrock_grad(x):
    return np.array(
        [-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)]
    )


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


# (cls, quadratic kwargs, rosenbrock kwargs, rosenbrock steps, rosenbrock tolerance)
CONVERGE = [
    (SGD, dict(lr=0.09), dict(lr=0.002), 4000, 0.02),
    (Momentum, dict(lr=0.02), dict(lr=5e-4), 3000, 0.02),
    (Nesterov, dict(lr=0.02), dict(lr=5e-4), 3000, 0.02),
    (AdaGrad, dict(lr=0.5), dict(lr=1.5), 8000, 0.05),
    (RMSProp, dict(lr=0.01), dict(lr=1e-3, momentum=0.9), 4000, 0.02),
    (Adam, dict(lr=0.05), dict(lr=0.02), 4000, 1e-3),
    (
        AdamW,
        dict(lr=0.05, weight_decay=0.0),
        dict(lr=0.02, weight_decay=0.0),
        4000,
        1e-3,
    ),
    (NAdam, dict(lr=0.05), dict(lr=0.02), 4000, 0.05),
    (Lion, dict(lr=0.01), dict(lr=1e-3), 4000, 0.05),
    (Yogi, dict(lr=0.05), dict(lr=0.05), 4000, 1e-3),
]


@pytest.mark.parametrize(
    "cls,kq,kr,steps,tol", CONVERGE, ids=[c[0].__name__ for c in CONVERGE]
)
def test_converges(cls, kq, kr, steps, tol):
    """Check each optimizer reaches the minimum of a quadratic and of Rosenbrock."""
    a = np.array([1.0, 10.0])
    p = Parameter(np.array([3.0, -2.0]))
    opt = cls([p], **kq)
    for _ in range(1000):
        p.grad[...] = a * p.data
        opt.step()
    assert np.linalg.norm(p.data) < 1e-3
    p = Parameter(np.array([-1.5, 2.0]))
    opt = cls([p], **kr)
    for _ in range(steps):
        p.grad[...] = rosenbrock_grad(p.data)
        opt.step()
    assert np.linalg.norm(p.data - 1.0) < tol


def test_adadelta_decreases_loss():
    """Check Adadelta (slow on deterministic problems) cuts both losses 10x+."""
    a = np.array([1.0, 10.0])
    p = Parameter(np.array([3.0, -2.0]))
    opt = Adadelta([p])
    for _ in range(3000):
        p.grad[...] = a * p.data
        opt.step()
    assert 0.5 * np.sum(a * p.data**2) < 0.01 * 24.5
    p = Parameter(np.array([-1.5, 2.0]))
    opt = Adadelta([p])
    for _ in range(5000):
        p.grad[...] = rosenbrock_grad(p.data)
        opt.step()
    assert rosenbrock(p.data) < 0.1 * rosenbrock([-1.5, 2.0])


# ------------------------------------------------------------ state
def two_param_opt(cls, kw, data=None):
    rng = np.random.default_rng(3)
    w = Parameter(rng.standard_normal((3, 4)) if data is None else data[0].copy())
    b = Parameter(rng.standard_normal(4) if data is None else data[1].copy())
    return [w, b], cls([w, b], **kw)


def feed(params, opt, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in params:
            p.grad[...] = rng.standard_normal(p.shape) + 0.1 * p.data
        opt.step()


@pytest.mark.parametrize("via_file", [False, True], ids=["dict", "npz"])
@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_state_dict_resume_is_bit_exact(cls, kw, via_file, tmp_path):
    """Check 50 steps + save + load into a fresh optimizer + 50 steps == 100 steps."""
    params, opt = two_param_opt(cls, kw)
    feed(params, opt, 50, seed=10)
    state = opt.state_dict()
    if via_file:
        save_state_npz(tmp_path / "opt.npz", state)
        state, _ = load_state_npz(tmp_path / "opt.npz")
    copies, opt2 = two_param_opt(cls, kw, data=[p.data for p in params])
    opt2.load_state_dict(state)
    feed(params, opt, 50, seed=11)
    feed(copies, opt2, 50, seed=11)
    for p, q in zip(params, copies, strict=True):
        assert np.array_equal(p.data, q.data)
    assert opt2.state[0]["step"] == 100


def test_state_dict_is_a_copy_and_indexed():
    """Check state_dict copies arrays, keys state by index, lists params as indices."""
    params, opt = two_param_opt(Adam, dict(lr=0.1))
    feed(params, opt, 2, seed=0)
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1}
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert sd["state"][1]["step"] == 2
    sd["state"][0]["m"][...] = 123.0
    assert not np.any(opt.state[0]["m"] == 123.0)
    assert all(
        isinstance(v, np.ndarray) for k, v in sd["state"][0].items() if k != "step"
    )


def test_load_state_dict_refuses_mismatches():
    """Check group count, param count and shape mismatches name the difference."""
    params, opt = two_param_opt(Adam, dict(lr=0.1))
    feed(params, opt, 1, seed=0)
    sd = opt.state_dict()
    one = Adam([Parameter(np.zeros((3, 4)))])
    with pytest.raises(CheckpointError, match="group 0 has 2 parameter"):
        one.load_state_dict(sd)
    w, b = Parameter(np.zeros((3, 4))), Parameter(np.zeros(4))
    with pytest.raises(CheckpointError, match="1 parameter group.*has 2"):
        Adam([{"params": [w]}, {"params": [b]}]).load_state_dict(sd)
    w, b = Parameter(np.zeros((4, 3))), Parameter(np.zeros(4))
    with pytest.raises(CheckpointError, match=r"'m' of parameter 0 has shape \(3, 4\)"):
        Adam([w, b]).load_state_dict(sd)
    with pytest.raises(CheckpointError, match="'state' and 'param_groups'"):
        Adam([w, b]).load_state_dict({"state": {}})


def test_load_state_dict_restores_hyperparameters():
    """Check that group hyperparameters (lr, betas) come back from the state dict."""
    params, opt = two_param_opt(Adam, dict(lr=0.1, betas=(0.8, 0.9)))
    sd = opt.state_dict()
    _, opt2 = two_param_opt(Adam, dict(lr=0.5))
    opt2.load_state_dict(sd)
    assert opt2.lr == 0.1 and opt2.param_groups[0]["betas"] == (0.8, 0.9)


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_float32_stays_float32(cls, kw):
    """Check that float32 params and every state array stay float32 (no upcast)."""
    p, opt = run_ours(
        cls, kw, random_grads(n=3, seed=2).astype(np.float32), steps=3, dtype=np.float32
    )
    assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
    for v in opt.state[0].values():
        if isinstance(v, np.ndarray):
            assert v.dtype == np.float32
    ref = run_ref(cls, kw, random_grads(n=3, seed=2).astype(np.float32), steps=3)
    np.testing.assert_allclose(p.data, ref, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ groups and API
def test_param_groups_honor_their_own_lr_and_weight_decay():
    """Check per-group lr / weight_decay override the defaults."""
    p1, p2 = Parameter(np.array([1.0, 2.0])), Parameter(np.array([3.0]))
    opt = SGD(
        [{"params": [p1], "lr": 0.1}, {"params": [p2], "weight_decay": 0.5}], lr=0.01
    )
    p1.grad[...] = 1.0
    p2.grad[...] = 1.0
    opt.step()
    np.testing.assert_allclose(p1.data, [0.9, 1.9])
    np.testing.assert_allclose(p2.data, [3.0 - 0.01 * (1.0 + 0.5 * 3.0)])
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["momentum"] == 0.0


def test_lr_property_and_add_param_group():
    """Check lr get/set over all groups and that add_param_group fills defaults."""
    p1, p2 = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = Adam([p1], lr=0.1)
    opt.add_param_group({"params": p2, "lr": 0.2})
    assert opt.lr == 0.1 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    opt.lr = 0.05
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.05]
    with pytest.raises(ValueError, match="Adam: 'lr' must be a float in"):
        opt.lr = -1.0
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [p1]})
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        opt.add_param_group({"params": [Parameter(np.zeros(1))], "momentum": 0.9})


def test_params_without_grad_are_skipped_and_state_is_lazy():
    """Check grad None skips a param (no state) and state keys are global indices."""
    p1, p2 = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = Adam([{"params": [p1]}, {"params": [p2]}], lr=0.1)
    assert opt.state == {}
    p1.grad = None
    p2.grad[...] = 1.0
    opt.step()
    assert list(opt.state) == [1] and opt.state[1]["step"] == 1
    np.testing.assert_array_equal(p1.data, [1.0, 1.0])
    opt.zero_grad()
    np.testing.assert_array_equal(p2.grad, [0.0, 0.0])
    opt.zero_grad(set_to_none=True)
    assert p2.grad is None


def test_l2_does_not_modify_grad():
    """Check that L2 weight decay leaves p.grad untouched."""
    p = Parameter(np.array([1.0, 2.0]))
    p.grad[...] = [0.5, 0.5]
    Adam([p], weight_decay=0.1).step()
    np.testing.assert_array_equal(p.grad, [0.5, 0.5])


@pytest.mark.parametrize(
    "params,regex",
    [
        ({Parameter(np.zeros(1))}, "not a set"),
        ([], "empty parameter list"),
        ((p for p in []), "empty parameter list"),
        (Parameter(np.zeros(1)), "single Parameter"),
        (np.zeros(3), "single ndarray"),
        ([np.zeros(3)], "must be a descentlab Parameter. Got ndarray"),
        ([{"lr": 0.1}], "with a 'params' key"),
        ([{"params": set()}], "not a set"),
    ],
)
def test_bad_params_are_refused(params, regex):
    """Check that sets, empty lists and raw arrays are refused with a reason."""
    with pytest.raises(ValueError, match=regex):
        SGD(params, lr=0.1)


ERRORS = [
    (SGD, dict(lr=-0.1), r"SGD: 'lr' must be a float in \[0.0, inf\]. Got -0.1."),
    (SGD, dict(momentum=-0.5), r"SGD: 'momentum' must be a float in \[0.0, inf\]"),
    (SGD, dict(dampening=1.5), r"SGD: 'dampening' must be a float in \[0.0, 1.0\]"),
    (SGD, dict(weight_decay=-1e-4), r"SGD: 'weight_decay' must be a float in \[0.0"),
    (
        SGD,
        dict(nesterov=True),
        r"nesterov=True requires momentum > 0 and dampening = 0",
    ),
    (
        SGD,
        dict(nesterov=True, momentum=0.9, dampening=0.1),
        "requires momentum > 0 and",
    ),
    (SGD, dict(nesterov="yes"), r"'nesterov' must be a bool"),
    (SGD, dict(lr="0.1"), r"'lr' must be a float.*of type str"),
    (SGD, dict(lr=float("nan")), r"'lr' must be a float in \[0.0, inf\]. Got nan"),
    (Momentum, dict(momentum=-1.0), r"Momentum: 'momentum' must be"),
    (AdaGrad, dict(lr_decay=-1.0), r"AdaGrad: 'lr_decay' must be a float in \[0.0"),
    (
        AdaGrad,
        dict(eps=0.0),
        r"AdaGrad: 'eps' must be a float in \(0.0, inf\). Got 0.0.",
    ),
    (AdaGrad, dict(initial_accumulator_value=-1.0), r"'initial_accumulator_value'"),
    (RMSProp, dict(alpha=1.0), r"RMSProp: 'alpha' must be a float in \[0.0, 1.0\)"),
    (RMSProp, dict(momentum=-0.1), r"RMSProp: 'momentum' must be"),
    (RMSProp, dict(eps=-1e-8), r"RMSProp: 'eps' must be a float in \(0.0, inf\)"),
    (
        Adam,
        dict(betas=(1.0, 0.999)),
        r"Adam: 'betas\[0\]' must be a float in \[0.0, 1.0\)\. Got 1.0\.",
    ),
    (
        Adam,
        dict(betas=(0.9, -0.1)),
        r"Adam: 'betas\[1\]' must be a float in \[0.0, 1.0\)",
    ),
    (Adam, dict(betas=0.9), r"Adam: 'betas' must be a tuple of 2 floats"),
    (Adam, dict(eps=0), r"Adam: 'eps' must be a float in \(0.0, inf\)"),
    (Adam, dict(weight_decay=-0.1), r"Adam: 'weight_decay'"),
    (AdamW, dict(lr=-1e-3), r"AdamW: 'lr' must be a float in \[0.0, inf\]"),
    (NAdam, dict(momentum_decay=-1.0), r"NAdam: 'momentum_decay'"),
    (
        Lion,
        dict(betas=(0.9, 1.0)),
        r"Lion: 'betas\[1\]' must be a float in \[0.0, 1.0\)",
    ),
    (Adadelta, dict(rho=1.5), r"Adadelta: 'rho' must be a float in \[0.0, 1.0\]"),
    (Adadelta, dict(eps=0.0), r"Adadelta: 'eps'"),
    (Yogi, dict(eps=0.0), r"Yogi: 'eps'"),
    (Yogi, dict(betas=(0.9,)), r"Yogi: 'betas' must be a tuple of 2"),
]


@pytest.mark.parametrize(
    "cls,kwargs,regex", ERRORS, ids=[f"{c.__name__}-{list(k)[0]}" for c, k, _ in ERRORS]
)
def test_invalid_hyperparameters(cls, kwargs, regex):
    """Check each invalid hyperparameter raises an error naming it and its range."""
    with pytest.raises(ValueError, match=regex) as info:
        cls([Parameter(np.zeros(2))], **kwargs)
    assert isinstance(info.value, InvalidParameterError)


def test_invalid_group_hyperparameter():
    """Check that a per-group value is validated too."""
    p1, p2 = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    with pytest.raises(ValueError, match=r"Adam: 'betas\[0\]'"):
        Adam([{"params": [p1]}, {"params": [p2], "betas": (1.5, 0.9)}])


def test_aliases_and_make_optimizer():
    """Check the torch-spelled aliases and every CLI name of make_optimizer."""
    assert Adagrad is AdaGrad and RMSprop is RMSProp
    assert set(OPTIMIZERS) == {
        "sgd",
        "momentum",
        "nesterov",
        "adagrad",
        "rmsprop",
        "adam",
        "adamw",
        "nadam",
        "lion",
        "adadelta",
        "yogi",
    }
    for name, cls in OPTIMIZERS.items():
        opt = make_optimizer(name, [Parameter(np.zeros(2))])
        assert type(opt) is cls and isinstance(opt, Optimizer)
    opt = make_optimizer("nesterov", [Parameter(np.zeros(2))], lr=0.3, momentum=0.5)
    assert opt.lr == 0.3 and opt.param_groups[0]["nesterov"] is True
    assert make_optimizer("ADAM", [Parameter(np.zeros(2))]).lr == 1e-3
    with pytest.raises(InvalidParameterError, match="valid names are sgd, momentum"):
        make_optimizer("adamax", [Parameter(np.zeros(2))])
    with pytest.raises(
        InvalidParameterError, match="'lion' does not take \\['momentum'\\]"
    ):
        make_optimizer("lion", [Parameter(np.zeros(2))], momentum=0.9)


def test_adamw_decay_is_decoupled():
    """Check AdamW with zero gradient shrinks theta by exactly (1 - lr*wd) per step."""
    p = Parameter(np.array([2.0, -4.0]))
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        p.grad[...] = 0.0
        opt.step()
    np.testing.assert_allclose(p.data, np.array([2.0, -4.0]) * 0.95**3, rtol=1e-14)


def test_repr_lists_groups():
    """Check the repr shows each group's hyperparameters."""
    text = repr(SGD([Parameter(np.zeros(2))], lr=0.5, momentum=0.9))
    assert "SGD" in text and "lr=0.5" in text and "momentum=0.9" in text


def test_step_is_math_consistent_with_lr_zero():
    """Check lr = 0 leaves parameters unchanged for every optimizer."""
    for cls in {c for c, _ in CONFIGS}:
        p = Parameter(np.array([1.0, -2.0]))
        p.grad[...] = [0.3, 0.7]
        opt = cls([p], lr=0.0)
        opt.step()
        np.testing.assert_array_equal(p.data, [1.0, -2.0]), cls
    assert math.isclose(Adam([Parameter(np.zeros(1))]).lr, 1e-3)


def test_signature_comes_from_the_declared_hyperparameters():
    """Check each class's signature lists its declared, non-fixed hyperparameters."""
    import inspect

    for cls in (
        SGD,
        Momentum,
        Nesterov,
        AdaGrad,
        RMSProp,
        Adam,
        AdamW,
        NAdam,
        Lion,
        Adadelta,
        Yogi,
    ):
        sig = inspect.signature(cls)
        declared = {n: h.default for n, h in cls.hyperparameters.items() if not h.fixed}
        assert list(sig.parameters) == ["params", *declared]
        assert {n: p.default for n, p in sig.parameters.items() if n != "params"} == (
            declared
        )
    assert str(inspect.signature(Nesterov)) == (
        "(params, lr=0.01, momentum=0.9, *, weight_decay=0.0)"
    )


def test_fixed_and_unknown_arguments_are_type_errors():
    """Check positional hyperparameters bind in order; fixed/unknown ones raise."""
    p = Parameter(np.zeros(2))
    opt = SGD([p], 0.5, 0.9)
    assert (opt.defaults["lr"], opt.defaults["momentum"]) == (0.5, 0.9)
    with pytest.raises(
        TypeError, match="Nesterov: got an unexpected keyword .*nesterov"
    ):
        Nesterov([p], nesterov=False)
    with pytest.raises(TypeError, match="Adam: got an unexpected keyword .*momentum"):
        Adam([p], momentum=0.9)
    with pytest.raises(TypeError, match="Momentum: too many positional"):
        Momentum([p], 0.1, 0.9, 0.0)
    assert Nesterov([p]).defaults["nesterov"] is True


def test_default_lr_is_the_class_default():
    """Check default_lr reads each class's declared lr (RMSProp: torch's 0.01)."""
    from descentlab.optim import default_lr

    p = Parameter(np.zeros(2))
    for name, cls in OPTIMIZERS.items():
        assert default_lr(name) == make_optimizer(name, [p]).lr == cls([p]).lr
    assert default_lr("RMSProp") == 0.01 and default_lr("lion") == 1e-4
    with pytest.raises(InvalidParameterError, match="valid names are sgd"):
        default_lr("adamx")
