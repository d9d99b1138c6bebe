"""Tests of DataLoader: sampling without replacement, seeding and exact resume."""

import json

import numpy as np
import pytest

from descentlab.data import DataLoader
from descentlab.errors import CheckpointError, InvalidParameterError
from descentlab.io import load_state_npz, save_state_npz

N = 103


def _data(n=N):
    """x rows carry their own index (float32); y is that index as int64."""
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, axis=1)
    return x, np.arange(n, dtype=np.int64)


def _epoch(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


def _ids(batches):
    return np.concatenate([yb for _, yb in batches])


@pytest.mark.parametrize("batch_size", [1, 10, 32, N, 500])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_sample_once_per_epoch(batch_size, shuffle):
    """Check that each epoch visits every sample exactly once, in ceil(N/B) batches."""
    x, y = _data()
    loader = DataLoader(x, y, batch_size, shuffle=shuffle)
    assert len(loader) == -(-N // batch_size)
    for _ in range(2):
        batches = _epoch(loader)
        assert len(batches) == len(loader)
        ids = _ids(batches)
        assert sorted(ids.tolist()) == list(range(N))
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], yb)
            assert xb.dtype == np.float32 and yb.dtype == np.int64
        if not shuffle:
            np.testing.assert_array_equal(ids, np.arange(N))
    assert loader.epoch == 2 and loader.position == 0


def test_fresh_permutation_each_epoch_and_seeds():
    """Check new orders per epoch, equal orders for equal seeds, others otherwise."""
    x, y = _data()
    a, b, c = (DataLoader(x, y, 16, seed=s) for s in (7, 7, 8))
    ea = [_ids(_epoch(a)) for _ in range(3)]
    eb = [_ids(_epoch(b)) for _ in range(3)]
    ec = [_ids(_epoch(c)) for _ in range(3)]
    for i in range(3):
        np.testing.assert_array_equal(ea[i], eb[i])
        assert not np.array_equal(ea[i], ec[i])
        assert not np.array_equal(ea[i], np.arange(N))
    assert not np.array_equal(ea[0], ea[1]) and not np.array_equal(ea[1], ea[2])


def test_drop_last():
    """Check that drop_last gives N // B full batches of distinct samples."""
    x, y = _data()
    loader = DataLoader(x, y, 10, drop_last=True)
    assert len(loader) == 10
    batches = _epoch(loader)
    assert len(batches) == 10 and all(len(yb) == 10 for _, yb in batches)
    assert len(set(_ids(batches).tolist())) == 100


def test_unshuffled_batches_are_views():
    """Check that unshuffled batches are views of x (no copy, same dtype)."""
    x, y = _data()
    xb, yb = next(iter(DataLoader(x, y, 8, shuffle=False)))
    assert np.shares_memory(xb, x) and np.shares_memory(yb, y)
    xh = x.astype(np.float16)
    xb, _ = next(iter(DataLoader(xh, y, 8)))
    assert xb.dtype == np.float16


def test_generator_seed_and_lists():
    """Check that a Generator can drive the loader and plain lists are accepted."""
    a = DataLoader([[1.0], [2.0], [3.0]], [0, 1, 2], 2, seed=np.random.default_rng(3))
    b = DataLoader([[1.0], [2.0], [3.0]], [0, 1, 2], 2, seed=3)
    np.testing.assert_array_equal(_ids(_epoch(a)), _ids(_epoch(b)))


@pytest.mark.parametrize("k", [0, 1, 5, 10, 11])
@pytest.mark.parametrize("shuffle", [True, False])
def test_exact_resume_mid_epoch(k, shuffle):
    """Check that a loader restored after k batches matches for two more epochs."""
    x, y = _data()
    original = DataLoader(x, y, 10, shuffle=shuffle, seed=11, drop_last=False)
    _epoch(original)  # one full epoch first, so the RNG has moved
    it = iter(original)
    for _ in range(k):
        next(it)
    state = json.loads(
        json.dumps(
            original.state_dict(),
            default=lambda o: o.tolist() if isinstance(o, np.ndarray) else o,
        )
    )
    assert (state["epoch"], state["position"]) == ((1, k) if k < 11 else (2, 0))
    restored = DataLoader(x, y, 10, shuffle=shuffle, seed=999)
    restored.load_state_dict(state)
    rest_original = [(xb.copy(), yb.copy()) for xb, yb in it]
    rest_original += _epoch(original) + _epoch(original)
    rest_restored = []
    while len(rest_restored) < len(rest_original):
        rest_restored += _epoch(restored)
    assert len(rest_original) == len(rest_restored) == (11 - k) + 22
    for (xa, ya), (xb, yb) in zip(rest_original, rest_restored, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert (
        (original.epoch, original.position)
        == (restored.epoch, restored.position)
        == (4, 0)
    )


def test_resume_through_npz_checkpoint(tmp_path):
    """Check resume when the state goes through descentlab.io's .npz files."""
    x, y = _data()
    a = DataLoader(x, y, 7, seed=2)
    for i, _ in enumerate(a):
        if i == 4:
            save_state_npz(tmp_path / "ck.npz", {"loader": a.state_dict()})
            break
    assert (a.epoch, a.position) == (0, 5)
    b = DataLoader(x, y, 7, seed=0)
    b.load_state_dict(load_state_npz(tmp_path / "ck.npz")[0]["loader"])
    for _ in range(2):
        np.testing.assert_array_equal(_ids(_epoch(a)), _ids(_epoch(b)))


def test_leaving_a_loop_early_continues_the_epoch():
    """Check that a new for loop after break finishes the same epoch."""
    x, y = _data()
    loader = DataLoader(x, y, 10, seed=4)
    first = []
    for _, yb in loader:
        first.append(yb)
        if len(first) == 3:
            break
    assert (loader.epoch, loader.position) == (0, 3)
    rest = [yb for _, yb in loader]
    assert len(rest) == 8 and loader.epoch == 1
    assert sorted(np.concatenate(first + rest).tolist()) == list(range(N))


def test_last_batch_closes_the_epoch():
    """Check that epoch counts as done as soon as its last batch is handed out."""
    x, y = _data(20)
    loader = DataLoader(x, y, 10)
    positions = [(loader.epoch, loader.position) for _ in loader]
    assert positions == [(0, 1), (1, 0)]
    assert loader.state_dict()["permutation"] is None


def test_load_state_during_a_loop_is_detected():
    """Check that changing the cursor inside a loop raises instead of mixing epochs."""
    x, y = _data()
    loader = DataLoader(x, y, 10)
    state = loader.state_dict()
    with pytest.raises(RuntimeError, match="moved during this loop"):
        for _ in loader:
            loader.load_state_dict(state)


@pytest.mark.parametrize(
    "kwargs, regex",
    [
        (
            {"batch_size": 0},
            r"DataLoader: 'batch_size' must be an int in \[1, inf\]. Got 0",
        ),
        ({"batch_size": 2.0}, r"'batch_size' must be an int .*Got 2.0 of type float"),
        ({"batch_size": True}, "'batch_size' must be an int"),
        ({"batch_size": 200, "drop_last": True}, "at most the 103 samples"),
        ({"seed": -1}, r"'seed' must be an int in \[0, inf\]"),
        ({"y": np.arange(N - 1)}, r"len\(x\)=103, len\(y\)=102"),
        ({"x": np.zeros((0, 3)), "y": np.zeros(0)}, "empty"),
        ({"x": np.float32(1.0)}, "'x' must be an array of shape"),
    ],
)
def test_invalid_arguments(kwargs, regex):
    """Check the messages for invalid loader arguments."""
    x, y = _data()
    args = {"x": x, "y": y, **kwargs}
    with pytest.raises(InvalidParameterError, match=regex):
        DataLoader(args.pop("x"), args.pop("y"), **args)


@pytest.mark.parametrize(
    "change, regex",
    [
        (lambda s: s.pop("rng"), r"missing key\(s\) \['rng'\]"),
        (
            lambda s: s.update(batch_size=11),
            "batch_size=11 but this loader has batch_size=10",
        ),
        (lambda s: s.update(num_samples=50), "num_samples=50"),
        (lambda s: s.update(position=11), r"0 <= position < 11"),
        (
            lambda s: s.update(permutation=np.zeros(N, np.int64)),
            "must be a permutation of 103",
        ),
        (lambda s: s.update(permutation=None), "must be a permutation"),
        (
            lambda s: s["rng"].update(bit_generator="Nope"),
            "unknown bit generator 'Nope'",
        ),
    ],
)
def test_bad_states_are_refused(change, regex):
    """Check that a foreign or inconsistent state is refused with a clear message."""
    x, y = _data()
    loader = DataLoader(x, y, 10)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    change(state)
    with pytest.raises(CheckpointError, match=regex):
        DataLoader(x, y, 10).load_state_dict(state)


def test_batches_move_to_a_non_numpy_backend(monkeypatch):
    """Check that batches go through backend.asarray only off the numpy backend."""
    from descentlab import backend

    moved = []
    monkeypatch.setattr(backend, "name", lambda: "cupy")
    monkeypatch.setattr(backend, "asarray", lambda a, dtype=None: moved.append(a) or a)
    x, y = _data(20)
    list(DataLoader(x, y, 10))
    assert len(moved) == 4
    list(DataLoader(x, y, 10, to_backend=False))
    assert len(moved) == 4
