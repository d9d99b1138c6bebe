"""Tests for descentlab.functions: analytic gradients, minima, the 1-D double well."""

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.functions import FUNCTIONS, LOCAL_MINIMUM_LOSS, get_function

NAMES = sorted(FUNCTIONS)


def _central_diff_2d(fn, x, y, h=1e-6):
    gx = (fn.value(x + h, y) - fn.value(x - h, y)) / (2 * h)
    gy = (fn.value(x, y + h) - fn.value(x, y - h)) / (2 * h)
    return np.array([gx, gy])


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_central_differences(name):
    """Check the analytic gradient against float64 central differences (rel < 1e-6)."""
    fn = FUNCTIONS[name]
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = fn.box
    for x, y in zip(rng.uniform(x0, x1, 25), rng.uniform(y0, y1, 25), strict=True):
        analytic = np.array(fn.grad(x, y), dtype=np.float64)
        numeric = _central_diff_2d(fn, x, y)
        rel = np.linalg.norm(analytic - numeric) / max(
            np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-8
        )
        assert rel < 1e-6, (name, x, y, analytic, numeric)


@pytest.mark.parametrize("name", NAMES)
def test_minima_have_zero_gradient_and_stated_value(name):
    """Check that every listed minimum is a critical point with the stated value."""
    fn = FUNCTIONS[name]
    rng = np.random.default_rng(1)
    for m in fn.minima:
        g = np.array(fn.grad(*m))
        assert np.all(np.abs(g) < 1e-9), (name, m, g)
        assert fn.value(*m) == pytest.approx(fn.min_value, abs=1e-12)
        # a true minimum: every small move goes up
        for d in rng.normal(size=(20, 2)) * 1e-3:
            assert fn.value(m[0] + d[0], m[1] + d[1]) > fn.value(*m)


def test_himmelblau_has_four_minima_and_saddle_none():
    """Check Himmelblau's four minima and that the saddle reports no minimum."""
    assert len(FUNCTIONS["himmelblau"].minima) == 4
    saddle = FUNCTIONS["saddle"]
    assert saddle.minima == () and saddle.min_value is None
    assert saddle.distance_to_minimum((1.0, 1.0)) is None
    assert np.allclose(saddle.grad(0.0, 0.0), 0.0)
    assert saddle.value(0.0, 1.0) < saddle.value(0.0, 0.0) < saddle.value(1.0, 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_value_and_grad_are_vectorised(name):
    """Check that value/grad broadcast over meshgrids and match pointwise calls."""
    fn = FUNCTIONS[name]
    x0, x1, y0, y1 = fn.box
    X, Y = np.meshgrid(np.linspace(x0, x1, 7), np.linspace(y0, y1, 5))
    Z = fn.value(X, Y)
    GX, GY = fn.grad(X, Y)
    assert Z.shape == GX.shape == GY.shape == (5, 7)
    assert Z[2, 3] == pytest.approx(fn.value(X[2, 3], Y[2, 3]))
    assert GY[4, 6] == pytest.approx(fn.grad(X[4, 6], Y[4, 6])[1])


@pytest.mark.parametrize("name", NAMES)
def test_start_and_minima_inside_box(name):
    """Check that the default start and the minima lie inside the plot box."""
    fn = FUNCTIONS[name]
    x0, x1, y0, y1 = fn.box
    for px, py in (fn.start, *fn.minima):
        assert x0 <= px <= x1 and y0 <= py <= y1


def test_book_quadratic_definition():
    """Check the book's f(x, y) = x^2/20 + y^2, its start (-7, 2) and minimum."""
    fn = get_function("book_quadratic")
    assert fn.start == (-7.0, 2.0)
    assert fn.value(-7.0, 2.0) == pytest.approx(49 / 20 + 4)
    assert fn.grad(-7.0, 2.0) == pytest.approx((-0.7, 4.0))
    assert fn.nearest_minimum((3.0, 4.0)) == (0.0, 0.0)
    assert fn.distance_to_minimum((3.0, 4.0)) == pytest.approx(5.0)


def test_get_function_unknown_name_lists_choices():
    """Check that an unknown name raises InvalidParameterError listing the names."""
    with pytest.raises(InvalidParameterError, match="rosenbrock"):
        get_function("sphere")


def test_1d_loss_gradient_matches_central_differences():
    """Check the 1-D loss's analytic derivative against central differences."""
    f = LOCAL_MINIMUM_LOSS
    h = 1e-6
    for x in np.random.default_rng(2).uniform(*f.xlim, 50):
        numeric = (f.value(x + h) - f.value(x - h)) / (2 * h)
        scale = max(abs(f.grad(x)) + abs(numeric), 1e-8)
        assert abs(f.grad(x) - numeric) / scale < 1e-6


def test_1d_loss_critical_points():
    """Check the documented local min, barrier and global min, exactly and on a grid."""
    f = LOCAL_MINIMUM_LOSS
    assert (f.local_min, f.local_max, f.global_min) == (-1.0, -0.5, 2.0)
    for x in (f.local_min, f.local_max, f.global_min):
        assert abs(f.grad(x)) < 1e-12
    assert f.value(f.local_min) == pytest.approx(1 / 6)
    assert f.value(f.local_max) == pytest.approx(43 / 192)
    assert f.value(f.global_min) == pytest.approx(-13 / 3)
    # curvature: minima curve up, the barrier curves down
    h = 1e-4
    curv = [
        (f.value(x + h) - 2 * f.value(x) + f.value(x - h)) / h**2
        for x in (f.local_min, f.local_max, f.global_min)
    ]
    assert curv[0] > 0 and curv[1] < 0 and curv[2] > 0
    # the only critical points on a fine grid are the three documented ones
    xs = np.linspace(*f.xlim, 20001)
    sign_changes = xs[:-1][np.diff(np.sign(f.grad(xs))) != 0]
    assert np.allclose(sign_changes, [-1.0, -0.5, 2.0], atol=1e-3)
    # the start is left of the local minimum, and the local minimum is shallow
    assert f.start < f.local_min
    assert 0 < f.value(f.local_max) - f.value(f.local_min) < 0.1
    assert f.value(f.global_min) < f.value(f.local_min)
