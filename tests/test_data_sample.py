"""Tests of the shipped MNIST sample, the array transforms and the split helpers."""

import hashlib
import io
from importlib import resources

import numpy as np
import pytest

from descentlab.data import (
    load_mnist_sample,
    mnist_sample_splits,
    normalize,
    to_one_hot,
    train_val_split,
    train_val_test_split,
)
from descentlab.data.sample import read_sample_npz
from descentlab.errors import DataError, InvalidParameterError

SAMPLE_SHA256 = "246e0c30eeea57c8d0037d3f38c8e00651ec204cc61b8022563e9aeeb9d756f4"


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return io.BytesIO(buf.getvalue())


def _labelled(n_per_class=(30, 20, 50)):
    """x holds each sample's own index, so subsets can be compared as sets."""
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    return np.arange(len(y)), y


# --- the shipped sample ----------------------------------------------------------


def test_shipped_file_checksum_is_pinned():
    """Check that the package ships exactly the recorded sample file."""
    data = resources.files("descentlab.data").joinpath("mnist_sample.npz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SAMPLE_SHA256


def test_sample_default_shapes_range_and_balance():
    """Check NCHW float32 images in [0, 1], int64 labels, 500 per class, sorted."""
    x, y = load_mnist_sample()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [500] * 10
    assert np.all(np.diff(y) >= 0)


def test_sample_options():
    """Check flatten, one_hot and the two normalize=False forms."""
    xf, yh = load_mnist_sample(flatten=True, one_hot=True)
    assert xf.shape == (5000, 784)
    assert yh.shape == (5000, 10) and yh.dtype == np.float32
    np.testing.assert_array_equal(yh.argmax(1), load_mnist_sample()[1])
    x255, _ = load_mnist_sample(normalize=False)
    assert x255.dtype == np.float32 and x255.max() == 255.0
    raw, _ = load_mnist_sample(normalize=False, dtype=np.uint8)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw.astype(np.float32), x255)
    x64, _ = load_mnist_sample(dtype=np.float64)
    np.testing.assert_allclose(x64, raw / 255.0)


def test_sample_returns_fresh_arrays():
    """Check that changing a returned array does not change the next load."""
    x, y = load_mnist_sample(normalize=False, dtype=np.uint8)
    x[:] = 7
    y[:] = 3
    x2, y2 = load_mnist_sample(normalize=False, dtype=np.uint8)
    assert x2.max() == 255 and y2[0] == 0


def test_sample_normalize_needs_float_dtype():
    """Check that normalize=True with an integer dtype is refused with a hint."""
    with pytest.raises(InvalidParameterError, match="normalize=True needs a floating"):
        load_mnist_sample(dtype=np.uint8)


def _good():
    rng = np.random.default_rng(0)
    return {
        "images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "labels": np.array([0, 1, 2, 9], dtype=np.uint8),
    }


@pytest.mark.parametrize(
    "change, regex",
    [
        (lambda d: d.pop("labels"), r"missing key\(s\) \['labels'\]"),
        (
            lambda d: d.update(images=d["images"][:, :27]),
            r"'images' must be uint8 of shape",
        ),
        (lambda d: d.update(images=d["images"].astype(np.float32)), r"Got float32"),
        (
            lambda d: d.update(labels=d["labels"][:3]),
            r"'labels' must be uint8 of shape \(4,\)",
        ),
        (lambda d: d.update(labels=np.array([0, 1, 2, 10], np.uint8)), "digits 0-9"),
        (
            lambda d: d.update(labels=np.array([0, 1, None, 2], dtype=object)),
            "not a readable .npz",
        ),
    ],
)
def test_damaged_sample_file_is_refused(change, regex):
    """Check that each kind of damage gives a DataError naming the problem."""
    arrays = _good()
    change(arrays)
    with pytest.raises(DataError, match=regex):
        read_sample_npz(_npz_bytes(**arrays), name="s.npz", expected_count=None)


def test_truncated_or_wrong_count_sample_file_is_refused():
    """Check a truncated .npz and an unexpected sample count."""
    blob = _npz_bytes(**_good()).getvalue()
    with pytest.raises(DataError, match="s.npz: not a readable .npz"):
        read_sample_npz(io.BytesIO(blob[: len(blob) // 2]), name="s.npz")
    with pytest.raises(DataError, match=r"shape \(5000, 28, 28\)"):
        read_sample_npz(_npz_bytes(**_good()), name="s.npz")


# --- transforms --------------------------------------------------------------------


def test_to_one_hot_and_normalize():
    """Check one-hot rows and the /255 scaling."""
    np.testing.assert_array_equal(
        to_one_hot(np.array([2, 0]), 3), np.array([[0, 0, 1], [1, 0, 0]], np.float32)
    )
    assert to_one_hot([1], 2, dtype=np.float64).dtype == np.float64
    out = normalize(np.array([0, 51, 255], np.uint8))
    np.testing.assert_allclose(out, [0.0, 0.2, 1.0], rtol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize(
    "call, regex",
    [
        (
            lambda: to_one_hot(np.array([0, 3]), 3),
            r"class ids must be in \[0, 3\)\. Got values from 0 to 3",
        ),
        (lambda: to_one_hot(np.array([-1]), 3), r"Got values from -1"),
        (
            lambda: to_one_hot(np.zeros((2, 2), int), 3),
            "must be a 1-D array of integer",
        ),
        (lambda: to_one_hot(np.array([0.5]), 3), "must be a 1-D array of integer"),
        (
            lambda: to_one_hot(np.array([0]), 0),
            r"'num_classes' must be an int in \[1, inf\]",
        ),
        (lambda: normalize(np.array([1]), dtype=np.int32), "must be a floating dtype"),
    ],
)
def test_transform_errors(call, regex):
    """Check the messages of invalid transform inputs."""
    with pytest.raises(InvalidParameterError, match=regex):
        call()


# --- splits ------------------------------------------------------------------------


def test_train_val_split_disjoint_stratified_shuffled():
    """Check that the parts partition the data and keep class proportions."""
    x, y = _labelled()
    (xt, yt), (xv, yv) = train_val_split(x, y, 0.2, seed=3)
    assert len(xv) == 20 and len(xt) == 80
    assert set(xt).isdisjoint(xv) and set(xt) | set(xv) == set(x)
    np.testing.assert_array_equal(y[xt], yt)
    assert np.bincount(yv).tolist() == [6, 4, 10]
    assert np.bincount(yt).tolist() == [24, 16, 40]
    assert np.any(np.diff(yt) < 0), "training part is still sorted by class"


def test_train_val_split_seeds():
    """Check that a seed reproduces a split and another seed changes it."""
    x, y = _labelled()
    a = train_val_split(x, y, n_val=25, seed=1)
    b = train_val_split(x, y, n_val=25, seed=1)
    c = train_val_split(x, y, n_val=25, seed=2)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert set(a[1][0]) != set(c[1][0])


def test_split_uneven_classes_and_one_hot_labels():
    """Check largest-remainder allocation and stratifying on one-hot labels."""
    x, y = _labelled((7, 7, 7))
    (_, _), (xv, yv) = train_val_split(x, to_one_hot(y, 3), n_val=10)
    assert sorted(np.bincount(yv.argmax(1)).tolist()) == [3, 3, 4]
    (xt, _), (xv2, _) = train_val_split(x, y, n_val=10, stratify=False)
    assert len(xv2) == 10 and set(xt).isdisjoint(xv2)


def test_train_val_test_split():
    """Check three disjoint stratified parts that cover the data."""
    x, y = _labelled()
    (xt, yt), (xv, yv), (xs, ys) = train_val_test_split(x, y, 10, 30, seed=5)
    assert (len(xt), len(xv), len(xs)) == (60, 10, 30)
    assert set(xt).isdisjoint(xv) and set(xt).isdisjoint(xs) and set(xv).isdisjoint(xs)
    assert set(xt) | set(xv) | set(xs) == set(x)
    assert np.bincount(ys).tolist() == [9, 6, 15]
    again = train_val_test_split(x, y, n_val=10, n_test=30, seed=5)
    np.testing.assert_array_equal(again[2][0], xs)
    _, (xv0, _), _ = train_val_test_split(x, y, 0, 30)
    assert xv0.shape == (0,)


@pytest.mark.parametrize(
    "call, regex",
    [
        (
            lambda x, y: train_val_split(x, y),
            "exactly one of 'val_fraction' and 'n_val'",
        ),
        (lambda x, y: train_val_split(x, y, 0.1, n_val=3), "exactly one of"),
        (
            lambda x, y: train_val_split(x, y, 1.0),
            r"'val_fraction' must be a float in \(0.0, 1.0\)",
        ),
        (
            lambda x, y: train_val_split(x, y, n_val=100),
            r"'n_val' must be an int in \[1, 99\]",
        ),
        (
            lambda x, y: train_val_split(x, y[:-1], n_val=3),
            r"len\(x\)=100, len\(y\)=99",
        ),
        (lambda x, y: train_val_split(x[:1], y[:1], n_val=1), "at least 2 samples"),
        (
            lambda x, y: train_val_test_split(x, y, 50, 50),
            "training keeps at least one",
        ),
        (
            lambda x, y: train_val_test_split(x, y, -1, 5),
            r"'n_val' must be an int in \[0, inf\]",
        ),
        (lambda x, y: mnist_sample_splits(4001, n_test=1000), "at most 5000"),
        (
            lambda x, y: mnist_sample_splits(0),
            r"'n_train' must be an int in \[1, inf\]",
        ),
    ],
)
def test_split_errors(call, regex):
    """Check that invalid split requests name the argument and the allowed range."""
    x, y = _labelled()
    with pytest.raises(InvalidParameterError, match=regex):
        call(x, y)


def _row_set(x):
    return {row.tobytes() for row in x.reshape(len(x), -1)}


def test_mnist_sample_splits():
    """Check the book's 4,000/1,000 and 300-train splits: sizes, balance, overlap."""
    s = mnist_sample_splits(4000, n_test=1000, flatten=True)
    assert s.val is None
    assert s.train[0].shape == (4000, 784) and s.test[0].shape == (1000, 784)
    assert np.bincount(s.train[1]).tolist() == [400] * 10
    assert np.bincount(s.test[1]).tolist() == [100] * 10
    assert _row_set(s.train[0]).isdisjoint(_row_set(s.test[0]))
    small = mnist_sample_splits(300, n_val=100, n_test=1000)
    assert small.train[0].shape == (300, 1, 28, 28)
    assert np.bincount(small.train[1]).tolist() == [30] * 10
    assert np.bincount(small.val[1]).tolist() == [10] * 10
    # The test set depends only on seed and n_test, not on the other sizes.
    np.testing.assert_array_equal(small.test[1], s.test[1])
    np.testing.assert_array_equal(small.test[0].reshape(1000, -1), s.test[0])
    rest = mnist_sample_splits(None, n_val=500, n_test=500, seed=1)
    assert len(rest.train[0]) == 4000
    assert not np.array_equal(
        rest.test[1], mnist_sample_splits(None, n_test=500, seed=2).test[1]
    )
