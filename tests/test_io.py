"""Atomic writes and flat .npz state files."""

import os
import stat

import numpy as np
import pytest

from descentlab.errors import CheckpointError, InvalidParameterError, OutputExistsError
from descentlab.io import (
    atomic_open,
    atomic_write_json,
    check_output_dir,
    flatten_state,
    load_state_npz,
    save_state_npz,
    unflatten_state,
)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    """Check that an exception inside atomic_open keeps the old file and leaves no temp
    file."""
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_write_gives_normal_permissions(tmp_path):
    """Check that files written atomically are readable by group/others per the
    umask."""
    atomic_write_json(tmp_path / "x.json", {"a": 1})
    mode = stat.S_IMODE(os.stat(tmp_path / "x.json").st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask


def test_nested_state_round_trip(tmp_path):
    """Check that nested dicts/lists/tuples with int keys, arrays, None and big ints
    survive."""
    state = {
        "a": {0: np.arange(3.0, dtype=np.float32), 1: [np.ones((2, 2)), None]},
        "b": (1, 2.5, "s"),
        "big": 2**100,
        "flag": True,
    }
    arrays, skel = flatten_state(state)
    back = unflatten_state(arrays, skel)
    assert back["b"] == (1, 2.5, "s") and back["big"] == 2**100 and back["flag"] is True
    assert back["a"][1][1] is None and back["a"][0].dtype == np.float32
    save_state_npz(tmp_path / "s.npz", state, {"m": 1})
    loaded, meta = load_state_npz(tmp_path / "s.npz")
    assert meta == {"m": 1}
    assert np.array_equal(loaded["a"][1][0], np.ones((2, 2)))


def test_truncated_and_foreign_files_are_refused(tmp_path):
    """Check that a truncated file and an npz without metadata raise CheckpointError."""
    save_state_npz(tmp_path / "s.npz", {"w": np.zeros(100)})
    data = (tmp_path / "s.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:50])
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_npz(tmp_path / "cut.npz")
    with pytest.raises(CheckpointError, match="not a descentlab state file"):
        load_state_npz(tmp_path / "plain.npz")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state_npz(tmp_path / "missing.npz")
    (tmp_path / "notes.txt").write_text("root:x:0:0\n")
    with pytest.raises(CheckpointError, match=r"not an \.npz file \(no zip signature"):
        load_state_npz(tmp_path / "notes.txt")


def test_check_output_dir_that_cannot_be_created(tmp_path):
    """Check an output folder under a file is refused with a one-line reason."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(
        InvalidParameterError, match=r"cannot create the output folder .*f/sub"
    ):
        check_output_dir(tmp_path / "f" / "sub", False, owner="run")


def test_check_output_dir(tmp_path):
    """Check that a non-empty folder is refused unless overwrite, and an empty one is
    fine."""
    assert check_output_dir(tmp_path / "new", False).is_dir()
    (tmp_path / "new" / "f").write_text("x")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_output_dir(tmp_path / "new", False)
    assert check_output_dir(tmp_path / "new", True).is_dir()
