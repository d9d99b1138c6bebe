"""Tests for the `paths` experiment (quick size) and the experiment contract."""

import json

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.experiments import paths
from descentlab.functions import FUNCTIONS, LOCAL_MINIMUM_LOSS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("paths")
    return paths.run(size="quick", seed=0, out=out)


def test_contract_keys_figures_and_json(result):
    """Check the result dict, that every figure is a PNG in out, and the JSON file."""
    from pathlib import Path

    out = Path(result["out"])
    assert result["name"] == "paths"
    assert result["seconds"] > 0
    assert len(result["figures"]) == len(FUNCTIONS) + 1
    for fig in result["figures"]:
        assert not Path(fig).is_absolute()
        assert (out / fig).read_bytes()[:8] == PNG_MAGIC
    rows = result["table"]
    assert len(rows) == len(FUNCTIONS) + 1
    assert all(set(r) == set(rows[0]) for r in rows)
    saved = json.loads((out / "paths.json").read_text())
    assert saved["name"] == "paths"
    assert saved["figures"] == result["figures"]
    assert len(saved["book_paths"]["sgd"]) == 31


def test_every_optimizer_gets_closer_on_book_quadratic(result):
    """Check that all six optimizers end closer to (0, 0) than the start (-7, 2)."""
    start = np.hypot(-7.0, 2.0)
    for name, path in result["book_paths"].items():
        path = np.asarray(path)
        assert path.shape == (31, 2)
        assert np.allclose(path[0], (-7.0, 2.0))
        assert np.hypot(*path[-1]) < start, name
        assert result["final_distance"]["book_quadratic"][name] < 1.0, name
    assert set(result["book_paths"]) == set(paths.OPTIMIZERS)


def test_sgd_zigzags_in_y(result):
    """Check that SGD at lr 0.95 oscillates in y: y changes sign at every step."""
    y = np.asarray(result["book_paths"]["sgd"])[:, 1]
    changes = np.sum(np.sign(y[1:]) != np.sign(y[:-1]))
    assert changes == 30
    # the oscillation decays by |1 - 2*0.95| = 0.9 per step
    assert y[1] == pytest.approx(-0.9 * 2.0)


def test_book_rates_are_the_books(result):
    """Check the learning rates used on the book's bowl."""
    lr = result["lr"]["book_quadratic"]
    rates = (lr["sgd"], lr["momentum"], lr["adagrad"], lr["adam"])
    assert rates == (0.95, 0.1, 1.5, 0.3)


def test_1d_gd_stops_in_local_minimum_momentum_reaches_global(result):
    """Check GD stops at the local minimum x=-1, Momentum and NAG reach x=2."""
    one_d = result["one_d"]
    loss = LOCAL_MINIMUM_LOSS
    assert one_d["sgd"]["final"] == pytest.approx(loss.local_min, abs=0.05)
    assert max(one_d["sgd"]["x"]) < LOCAL_MINIMUM_LOSS.local_max
    for name in ("momentum", "nesterov"):
        assert one_d[name]["final"] == pytest.approx(loss.global_min, abs=0.2)
    assert len(one_d["nesterov"]["lookahead"]) == paths.ONE_D_STEPS + 1


def test_every_run_converges_where_a_minimum_exists(result):
    """Check no path diverged, and Beale and Himmelblau runs end near a minimum."""
    for fname, dists in result["final_distance"].items():
        for name, d in dists.items():
            if FUNCTIONS[fname].minima:
                assert d is not None and np.isfinite(d), (fname, name)
    for fname in ("beale", "himmelblau"):
        assert max(result["final_distance"][fname].values()) < 0.5


def test_nesterov_lookahead_matches_sutskever_form():
    """Check the reconstructed NAG position theta against the textbook recursion."""
    f, lr, mu = LOCAL_MINIMUM_LOSS, 0.05, paths.MU
    res = paths.descend_1d(f, "nesterov", lr, 20)
    theta, v = f.start, 0.0
    for t in range(1, 21):
        v = mu * v - lr * f.grad(theta + mu * v)
        theta = theta + v
        assert res["x"][t] == pytest.approx(theta, abs=1e-9)
        assert res["lookahead"][t] == pytest.approx(theta + mu * v, abs=1e-9)


def test_optimize_path_reports_divergence():
    """Check that SGD beyond the stable lr on the bowl is stopped and flagged."""
    path, diverged = paths.optimize_path(FUNCTIONS["book_quadratic"], "sgd", 1.1, 500)
    assert diverged
    assert len(path) < 501 and np.all(np.isfinite(path))


def test_bad_size_is_refused(tmp_path):
    """Check that an unknown size raises InvalidParameterError naming the choices."""
    with pytest.raises(InvalidParameterError, match="'quick', 'full'"):
        paths.run(size="medium", out=tmp_path)


def test_gap_curves_frames_and_book_rate_note(result):
    """Check f - f* per step for every 2-D function, frames that hold the paths,
    the Rastrigin zoom, and the statement that the bowl uses the book's rates."""
    from descentlab.experiments.paths import SETTINGS, frame

    for fname, (steps, _) in SETTINGS.items():
        fn = FUNCTIONS[fname]
        gaps = result["gap"][fname]
        for name, g in gaps.items():
            assert len(g) == steps + 1, (fname, name)
            end = result["final_point"][fname][name]
            f_end = fn.value(*end) - (fn.min_value or 0.0)
            if g[-1] is not None:
                assert g[-1] == pytest.approx(f_end, rel=1e-9, abs=1e-12)
        runs = {n: {"path": np.array([result["final_point"][fname][n]])} for n in gaps}
        box, leave = frame(fn, runs)
        for n, p in result["final_point"][fname].items():
            if n not in leave and np.all(np.isfinite(p)):
                assert box[0] <= p[0] <= box[1] and box[2] <= p[1] <= box[3]
    x0, x1, _, _ = FUNCTIONS["rastrigin"].box
    zoom, _ = frame(
        FUNCTIONS["rastrigin"],
        {
            n: {"path": np.asarray(p)[None]}
            for n, p in result["final_point"]["rastrigin"].items()
        },
    )
    assert zoom[1] - zoom[0] < x1 - x0  # narrower than the function's box
    text = result["texts"]["paths_book_quadratic.png"]
    assert "book's per-method rates" in text and "SGD 0.95" in text
    assert all(result["captions"][f] for f in result["figures"])
