"""Experiment 11 (cnn) and the receptive-field module it uses."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from descentlab.errors import InvalidParameterError
from descentlab.experiments import cnn
from descentlab.experiments.api import full_result, pct
from descentlab.models import MLP, AlexNetSmall, LeNet5, ResNetSmall, SimpleConvNet
from descentlab.nn import AvgPool2d, Conv2d, MaxPool2d, Sequential
from descentlab.nn.receptive_field import layer_geometry, receptive_field, step

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return cnn.run("quick", seed=0, out=tmp_path_factory.mktemp("cnn"))


def _rf(model, size=28):
    return [(g.rf, g.jump, g.size_out) for g in layer_geometry(model, size)]


# --------------------------------------------------------- receptive_field module


def test_receptive_field_simpleconvnet_by_hand():
    """Check SimpleConvNet's (r, j, n) per layer against a hand computation."""
    # conv 5x5 s1 p0: r = 1 + 4*1 = 5, j = 1, n = 28 - 5 + 1 = 24
    # maxpool 2 s2:   r = 5 + 1*1 = 6, j = 1*2 = 2, n = 24 / 2 = 12
    assert _rf(SimpleConvNet()) == [(5, 1, 24), (6, 2, 12)]


def test_receptive_field_lenet5_by_hand():
    """Check LeNet5's (r, j, n) per layer against a hand computation."""
    # conv1 5x5 p2: r = 5,            j = 1, n = (28 + 4 - 5) + 1 = 28
    # pool 2 s2:    r = 5 + 1*1 = 6,  j = 2, n = 14
    # conv2 5x5:    r = 6 + 4*2 = 14, j = 2, n = 14 - 5 + 1 = 10
    # pool 2 s2:    r = 14 + 1*2 = 16, j = 4, n = 5
    assert _rf(LeNet5()) == [(5, 1, 28), (6, 2, 14), (14, 2, 10), (16, 4, 5)]
    assert _rf(LeNet5(activation="sigmoid", pool="avg")) == _rf(LeNet5())


def test_receptive_field_alexnet_small_by_hand():
    """Check AlexNetSmall's (r, j, n): overlapping 3/2 pools and 3x3 convs at jump 4."""
    # conv5 p2: 5,1,28 | pool3/2: 5+2=7,2,13 | conv5 p2: 7+4*2=15,2,13 |
    # pool3/2: 15+2*2=19,4,6 | conv3 p1 x3: 27, 35, 43 (j=4, n=6) |
    # pool3/2: 43+2*4=51,8,2
    assert _rf(AlexNetSmall(width=0.25)) == [
        (5, 1, 28),
        (7, 2, 13),
        (15, 2, 13),
        (19, 4, 6),
        (27, 4, 6),
        (35, 4, 6),
        (43, 4, 6),
        (51, 8, 2),
    ]


def test_stride_widens_later_receptive_fields():
    """Check that a stride of 2 shrinks the map but widens the next layer's field."""
    s1 = layer_geometry(Sequential(Conv2d(1, 1, 3, rng=0), Conv2d(1, 1, 3, rng=0)), 28)
    s2 = layer_geometry(
        Sequential(Conv2d(1, 1, 3, stride=2, rng=0), Conv2d(1, 1, 3, rng=0)), 28
    )
    assert (s1[-1].size_out, s1[-1].rf) == (24, 5)
    assert (s2[-1].size_out, s2[-1].rf) == (11, 7)
    assert s2[-1].size_out < s1[-1].size_out and s2[-1].rf > s1[-1].rf


def test_step_recurrence():
    """Check one step of the recurrence, including the centre of the first field."""
    assert step(28, 1, 1, 0.0, kernel=5, stride=1, padding=2) == (28, 1, 5, 0.0)
    assert step(24, 1, 5, 2.0, kernel=2, stride=2, padding=0) == (12, 2, 6, 2.5)
    assert step(14, 2, 6, 0.5, kernel=3, stride=1, padding=2) == (16, 2, 10, -1.5)


@pytest.mark.parametrize("size", [16, 21])
def test_receptive_field_matches_gradient_support(size):
    """Check r, j and the field's position against one unit's input-gradient support."""
    model = Sequential(
        Conv2d(1, 1, 3, padding=1, rng=0),
        AvgPool2d(2),
        Conv2d(1, 1, 3, stride=2, padding=1, rng=0),
        AvgPool2d(3, stride=1, padding=1),
        Conv2d(1, 1, 2, rng=0),
    )
    for p in model.parameters():  # positive weights: no cancellation in the sum
        p.data[...] = 1.0 if p.data.ndim > 1 else 0.0
    geom = layer_geometry(model, size)[-1]
    x = np.ones((1, 1, size, size), np.float32)
    assert model.forward(x).shape[2] == geom.size_out
    for i in {0, geom.size_out // 2, geom.size_out - 1}:
        y = model.forward(x)
        dout = np.zeros_like(y)
        dout[0, 0, i, i] = 1.0
        dx = model.backward(dout)[0, 0]
        rows, cols = np.nonzero(dx.any(axis=1))[0], np.nonzero(dx.any(axis=0))[0]
        lo = geom.start + i * geom.jump - (geom.rf - 1) / 2
        hi = lo + geom.rf - 1
        for support in (rows, cols):
            assert support.min() == max(0, lo) and support.max() == min(size - 1, hi)


def test_residual_models_follow_the_body():
    """Check that ResNetSmall is walked through its residual bodies to the last pool."""
    rows = layer_geometry(ResNetSmall())
    assert all(".projection." not in g.path for g in rows)
    assert any(".body." in g.path for g in rows)
    assert (rows[-1].size_out, rows[-1].jump) == (1, 28)
    assert receptive_field(ResNetSmall()) == rows[-1].rf == 49


def test_geometry_stops_at_dense_layers():
    """Check that an MLP has no spatial layers (r = 1) and that pools are listed."""
    assert layer_geometry(MLP([784, 10])) == []
    assert receptive_field(MLP([784, 10])) == 1
    rows = layer_geometry(Sequential(MaxPool2d(2), AvgPool2d(3, 1, 1)), 8)
    assert [g.layer for g in rows] == ["MaxPool2d 2x2 s2", "AvgPool2d 3x3 s1 p1"]
    assert rows[0].as_dict()["rf"] == 2


def test_receptive_field_errors():
    """Check the errors: non-Module, bad size/axis, and a kernel that does not fit."""
    with pytest.raises(TypeError, match="Module"):
        layer_geometry("lenet5")
    with pytest.raises(InvalidParameterError, match="input_size"):
        layer_geometry(LeNet5(), 0)
    with pytest.raises(InvalidParameterError, match="axis"):
        layer_geometry(LeNet5(), 28, axis="depth")
    with pytest.raises(ValueError, match="does not fit"):
        layer_geometry(SimpleConvNet(), 4)


# ------------------------------------------------------------------ the experiment


def test_result_contract_and_files(result):
    """Check the result dict, the JSON file and that every figure is a real PNG."""
    out = Path(result["out"])
    assert result["name"] == "cnn" and result["seconds"] > 0
    assert len(result["figures"]) == 5
    for fig in result["figures"]:
        assert (out / fig).read_bytes()[:8] == PNG_MAGIC
        assert result["captions"][fig]
    saved = json.loads((out / "cnn.json").read_text())
    assert saved["test_acc"] == pytest.approx(result["test_acc"])
    keys = set(result["table"][0])
    assert all(set(row) == keys for row in result["table"])


def test_output_size_table_matches_real_layers(result):
    """Check that M = floor((N + 2P - K)/S) + 1 equals the real layers' output sizes."""
    rows = result["output_sizes"]
    assert len(rows) >= 6
    for r in rows:
        assert r["formula"] == r["actual"], r
        assert r["formula"] == math.floor((r["N"] + 2 * r["P"] - r["K"]) / r["S"]) + 1
    by_case = {(r["N"], r["K"], r["P"], r["S"]): r["actual"] for r in rows}
    assert by_case[(28, 5, 0, 1)] == 24 and by_case[(28, 5, 2, 1)] == 28
    assert by_case[(28, 3, 0, 2)] == 13  # the floor drops the last position


def test_receptive_field_tables_in_result(result):
    """Check that the experiment's receptive-field tables hold hand-computed values."""
    rf = result["receptive_fields"]
    assert [(r["rf"], r["jump"]) for r in rf["SimpleConvNet"]] == [(5, 1), (6, 2)]
    assert [(r["rf"], r["jump"]) for r in rf["LeNet5"]] == [
        (5, 1),
        (6, 2),
        (14, 2),
        (16, 4),
    ]
    assert rf["AlexNetSmall"][-1]["rf"] == 51
    demo = list(result["stride_demo"].values())
    assert [d[-1]["rf"] for d in demo] == [5, 7]
    assert [d[-1]["size_out"] for d in demo] == [24, 11]


def test_stride_text_quotes_the_computed_receptive_fields(result):
    """Check the receptive fields the text cites are the ones the result computes."""
    demo = result["stride_demo"]
    s1, s2 = demo["3x3 s1 → 3x3 s1"][-1], demo["3x3 s2 → 3x3 s1"][-1]
    assert s2["rf"] > s1["rf"] and s2["size_out"] < s1["size_out"]  # the claim
    text = result["texts"]["cnn_receptive_fields.png"]
    assert f"{s1['rf']}×{s1['rf']} pixels with stride 1" in text
    assert f"{s2['rf']}×{s2['rf']} when the first has stride 2" in text
    lenet = [r for r in result["receptive_fields"]["LeNet5"] if "Conv" in r["layer"]]
    assert f"sees {lenet[1]['rf']}×{lenet[1]['rf']} pixels" in text
    last = result["receptive_fields"]["AlexNetSmall"][-1]["rf"]
    assert last > 28 and f"sees {last}×{last}" in text


def test_training_text_quotes_the_runs_accuracy(result):
    """Check the accuracy in the text is this run's, at its own epoch count."""
    text = result["texts"]["cnn_training.png"]
    assert pct(result["test_acc_curve"][-1]) in text
    assert f"after {result['settings']['epochs']} epochs" in text
    assert "twenty" not in text


def test_training_text_quotes_the_stored_full_size_run(result):
    """Check the quick text's 20-epoch accuracy is the stored full-size run's,
    labelled as such."""
    stored = full_result("cnn")
    assert stored["epochs"] == 20 > result["settings"]["epochs"]
    text = result["texts"]["cnn_training.png"]
    assert (
        f"At full size (see `descentlab report --full`; stored run, seed "
        f"{stored['seed']}) descentlab's SimpleConvNet reaches "
        f"{pct(stored['test_acc'])} after 20 epochs" in text
    )


def test_feature_maps_are_the_first_layer_on_the_digit(result):
    """Check the feature maps equal conv1 applied to the first test digit."""
    maps = np.asarray(result["feature_maps"])
    assert maps.shape == (30, 24, 24)
    active = result["feature_maps_positive"]
    assert active == pytest.approx(float(np.mean(maps > 0)))
    assert 0.05 < active < 0.95  # the trained filters respond selectively
    assert pct(active) in result["captions"]["cnn_feature_maps.png"]


def test_im2col_shapes(result):
    """Check the im2col shapes of SimpleConvNet's conv and that GEMM equals Conv2d."""
    s = result["im2col"]
    n = s["x"][0]
    assert s["x"] == [n, 1, 28, 28]
    assert s["col"] == [n * 24 * 24, 25]
    assert s["W"] == [30, 1, 5, 5] and s["W_matrix"] == [30, 25]
    assert s["gemm"] == [n * 24 * 24, 30]
    assert s["y"] == [n, 30, 24, 24]
    assert s["max_abs_diff"] < 1e-5


def test_book_im2col_rows_are_windows():
    """Check that book_im2col's row oh*OW + ow holds the window at (oh, ow)."""
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6)
    col = cnn.book_im2col(x, 3)
    assert col.shape == (2 * 16, 9)
    np.testing.assert_array_equal(col[16 + 1 * 4 + 2], x[1, 0, 1:4, 2:5].ravel())


def test_training_reaches_accuracy(result):
    """Check that quick SimpleConvNet training goes from ~0.1 to >= 0.85 accuracy."""
    assert result["test_acc"] >= 0.85
    curve = result["test_acc_curve"]
    assert len(curve) == result["settings"]["epochs"] + 1
    assert curve[0] < 0.25
    loss = np.asarray(result["step_loss"])
    assert len(loss) == result["settings"]["epochs"] * 40  # 4,000 / batch 100
    assert loss[-10:].mean() < 0.5 * loss[:10].mean()


def test_filters_changed_and_gained_structure(result):
    """Check that first-layer filters changed, and changed in a spatially smooth way."""
    before = np.asarray(result["filters_before"])
    after = np.asarray(result["filters_after"])
    assert before.shape == after.shape == (30, 1, 5, 5)
    assert not np.allclose(before, after)
    assert result["filter_change"] > 0.03
    assert abs(result["filter_corr_before"]) < 0.15  # i.i.d. N(0, 0.01²) noise
    assert result["filter_corr_after"] > 0.25  # edges/blobs: smooth
    assert result["filter_corr_change"] > 0.25
    assert 0 < result["filter_cosine"] < 0.9  # grown, but not only scaled


def test_neighbour_correlation():
    """Check neighbour_correlation: ~0 for noise, 1 for a ramp, -1 for a checker."""
    rng = np.random.default_rng(0)
    assert abs(cnn.neighbour_correlation(rng.standard_normal((200, 1, 5, 5)))) < 0.05
    ramp = np.add.outer(np.arange(5.0), np.arange(5.0))[None, None]
    assert cnn.neighbour_correlation(ramp) == pytest.approx(1.0, abs=0.05)
    checker = (-1.0) ** np.add.outer(np.arange(5), np.arange(5))[None, None]
    assert cnn.neighbour_correlation(checker) == pytest.approx(-1.0)


def test_unknown_size_is_refused(tmp_path):
    """Check that a size other than quick/full raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="size"):
        cnn.run("medium", out=tmp_path)
