"""Output-folder locks (real simultaneous processes, SIGKILL) and atomic writes."""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from descentlab import io as dio
from descentlab._outlock import (
    LOCK_NAME,
    lock_output_dir,
    release_output_dir,
    release_output_dirs,
)
from descentlab.errors import OutputExistsError, OutputLockedError

ROOT = Path(__file__).resolve().parents[1]

# imports first, then waits for the gate file: the processes start within ms
GATED = """
import os, sys, time
import descentlab.cli, descentlab.train.run
while not os.path.exists(sys.argv[1]):
    time.sleep(0.002)
sys.exit(descentlab.cli.main(sys.argv[2:]))
"""

HOLD = """
import sys, time
from descentlab.io import check_output_dir
check_output_dir(sys.argv[1], True, owner="holder", shared=sys.argv[2] == "shared")
print("held", flush=True)
time.sleep(120)
"""


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


@pytest.fixture(autouse=True)
def _release():
    yield
    release_output_dirs()


def _holder(out, mode="exclusive"):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_two_trains_started_together_one_wins(tmp_path):
    """Check that two `descentlab train --out race` started at the same moment never
    both write the folder: one exits 0, the other exits 2 with one error line."""
    gate, out = tmp_path / "gate", tmp_path / "race"
    argv = [
        "train",
        "--model",
        "mlp",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--n-train",
        "200",
        "--n-val",
        "50",
        "--quiet",
        "--out",
        str(out),
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GATED, str(gate), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(2)
    ]
    threading.Event().wait(1.0)  # let both finish importing
    gate.write_text("go")
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    loser = next(err for p, (_, err) in zip(procs, outs, strict=True) if p.returncode)
    lines = loser.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: train: output folder")
    assert "is being written by" in lines[0] or "is not empty" in lines[0]
    assert (out / "config.json").is_file()
    assert not (out / LOCK_NAME).exists()  # released at exit


def test_live_holder_refuses_and_a_sigkilled_holder_is_taken_over(tmp_path):
    """Check the message names the live holder, and that the lock left by a process
    killed with SIGKILL is taken over by the next run."""
    out = tmp_path / "o"
    proc = _holder(out)
    try:
        with pytest.raises(OutputLockedError, match=rf"process {proc.pid} on "):
            dio.check_output_dir(out, True, owner="train")
        with pytest.raises(OutputLockedError, match="holder"):
            dio.check_output_dir(out, True, owner="search", shared=True)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    stale = json.loads((out / LOCK_NAME).read_text())
    assert stale["pid"] == proc.pid  # left behind by the killed holder
    assert dio.folder_is_empty(out)  # a stale lock file alone does not count
    dio.check_output_dir(out, False, owner="train")  # taken over, no --overwrite needed
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    release_output_dir(out)
    assert not (out / LOCK_NAME).exists()


def test_shared_holders_coexist_but_exclude_an_exclusive_one(tmp_path):
    """Check that processes of one study share a folder and a train is kept out."""
    out = tmp_path / "study"
    proc = _holder(out, "shared")
    try:
        assert dio.check_output_dir(out, True, owner="search", shared=True) == out
        release_output_dir(out)
        assert (out / LOCK_NAME).exists()  # the other holder still has it
        with pytest.raises(OutputLockedError):
            dio.check_output_dir(out, True, owner="train")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_recheck_under_the_lock(tmp_path):
    """Check that a folder filled between the first check and the lock is refused,
    and that the refusal leaves no lock file behind; same-process calls re-enter."""
    out = tmp_path / "r"
    out.mkdir()
    original = dio.folder_is_empty
    calls = []

    def filled_after_first(path):
        calls.append(path)
        if len(calls) == 1:
            return original(path)
        (out / "other.txt").write_text("written by someone else")
        return original(path)

    import descentlab.io

    descentlab.io.folder_is_empty = filled_after_first
    try:
        with pytest.raises(OutputExistsError, match="is not empty"):
            dio.check_output_dir(out, False, owner="run")
    finally:
        descentlab.io.folder_is_empty = original
    assert sorted(p.name for p in out.iterdir()) == ["other.txt"]
    new = tmp_path / "n"
    new.mkdir()
    assert lock_output_dir(new) is True
    assert lock_output_dir(new) is False


def test_atomic_write_mode_without_touching_the_umask(tmp_path, monkeypatch):
    """Check that written files get 0o666 & ~umask and that os.umask is never called
    (it changes the process-wide value while reading it)."""
    old = os.umask(0o027)
    try:

        def forbidden(mask):
            raise AssertionError("os.umask called during a write")

        monkeypatch.setattr(os, "umask", forbidden)
        dio.atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert dio._file_mode() == 0o666 & ~old


def test_atomic_write_fsyncs_the_folder_after_the_rename(tmp_path, monkeypatch):
    """Check the order: data fsync, rename, then fsync of the folder itself."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        import stat

        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(("fsync", kind))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", Path(b).name))
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    dio.atomic_write_bytes(tmp_path / "f.bin", b"data")
    assert events == [("fsync", "file"), ("replace", "f.bin"), ("fsync", "dir")]
    assert (tmp_path / "f.bin").read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
