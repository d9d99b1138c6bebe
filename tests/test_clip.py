"""Tests for descentlab.optim.clip_grad_norm / clip_grad_value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError, NonFiniteError
from descentlab.nn.module import Parameter
from descentlab.optim import clip_grad_norm, clip_grad_value


def make_params(seed=0, scale=3.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = [Parameter(np.zeros(s, dtype=dtype)) for s in [(3, 4), (4,), (2, 2, 2)]]
    for p in params:
        p.grad[...] = scale * rng.standard_normal(p.shape)
    return params


def test_clip_by_total_l2_norm():
    """Check the total 2-norm, the returned pre-clip norm and the rescaled grads."""
    params = make_params()
    grads = [p.grad.copy() for p in params]
    norm = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
    out = clip_grad_norm(params, 1.0)
    assert isinstance(out, float) and out == pytest.approx(norm, rel=1e-14)
    coef = 1.0 / (norm + 1e-6)
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_allclose(p.grad, g * coef, rtol=1e-14)
    new = math.sqrt(sum(float(np.sum(p.grad**2)) for p in params))
    assert new == pytest.approx(1.0, rel=1e-5)


def test_no_clip_below_max_norm_and_none_grads_skipped():
    """Check grads under max_norm are untouched and grad None is ignored."""
    params = make_params(scale=0.01)
    params.append(Parameter(np.ones(3)))
    params[-1].grad = None
    grads = [p.grad.copy() for p in params[:-1]]
    clip_grad_norm(params, 10.0)
    for p, g in zip(params[:-1], grads, strict=True):
        np.testing.assert_array_equal(p.grad, g)
    assert clip_grad_norm([params[-1]], 1.0) == 0.0


@pytest.mark.parametrize("norm_type", [2.0, math.inf, "inf", 1.0, 3.0])
def test_matches_torch(norm_type):
    """Check clip_grad_norm against torch's clip_grad_norm_ (2, inf, 1, 3 norms)."""
    torch = pytest.importorskip("torch")
    params = make_params(seed=1)
    tparams = [
        torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params
    ]
    for tp, p in zip(tparams, params, strict=True):
        tp.grad = torch.tensor(p.grad.copy())
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, 0.5, norm_type=float(norm_type))
    norm = clip_grad_norm(params, 0.5, norm_type=norm_type)
    assert norm == pytest.approx(float(tnorm), rel=1e-12)
    for tp, p in zip(tparams, params, strict=True):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)


def test_inf_norm_by_hand():
    """Check the inf norm is the largest |g| over all parameters."""
    p1, p2 = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    p1.grad[...] = [1.0, -4.0]
    p2.grad[...] = [2.0, 3.0]
    assert clip_grad_norm([p1, p2], 2.0, norm_type=math.inf) == 4.0
    np.testing.assert_allclose(p1.grad, np.array([1.0, -4.0]) * 2.0 / (4.0 + 1e-6))


def test_float32_grads_stay_float32():
    """Check clipping float32 grads keeps them float32."""
    params = make_params(dtype=np.float32)
    clip_grad_norm(params, 1.0)
    assert all(p.grad.dtype == np.float32 for p in params)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_nonfinite_norm():
    """Check a NaN/inf norm raises NonFiniteError when asked, else scales as torch."""
    params = make_params()
    params[0].grad[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="total gradient norm of order 2.0 is nan"):
        clip_grad_norm(params, 1.0, error_if_nonfinite=True)
    assert not np.isnan(params[1].grad).any()  # nothing scaled before raising
    params[0].grad[0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="is inf"):
        clip_grad_norm(params, 1.0, norm_type="inf", error_if_nonfinite=True)
    assert math.isinf(clip_grad_norm(params, 1.0))
    assert np.all(params[1].grad == 0.0)


def test_clip_grad_value():
    """Check elementwise clipping into [-c, c] in place."""
    p = Parameter(np.zeros(4))
    p.grad[...] = [-3.0, -0.5, 0.2, 7.0]
    g = p.grad
    clip_grad_value([p], 1.0)
    assert p.grad is g
    np.testing.assert_array_equal(p.grad, [-1.0, -0.5, 0.2, 1.0])
    clip_grad_value(p, 0.1)
    np.testing.assert_array_equal(p.grad, [-0.1, -0.1, 0.1, 0.1])


@pytest.mark.parametrize(
    "call,regex",
    [
        (
            lambda ps: clip_grad_norm(ps, -1.0),
            r"clip_grad_norm: 'max_norm' must be a float in \[0.0",
        ),
        (
            lambda ps: clip_grad_norm(ps, 1.0, norm_type=0),
            r"'norm_type' must be a float in \(0.0, inf\]",
        ),
        (
            lambda ps: clip_grad_norm([np.zeros(2)], 1.0),
            r"'params' must be Parameters; entry 0",
        ),
        (
            lambda ps: clip_grad_value(ps, -0.1),
            r"clip_grad_value: 'clip_value' must be a float",
        ),
    ],
)
def test_invalid_arguments(call, regex):
    """Check invalid clipping arguments raise InvalidParameterError naming them."""
    with pytest.raises(InvalidParameterError, match=regex):
        call(make_params())
