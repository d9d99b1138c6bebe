"""Exclusive (or shared) locks on output folders, held for the whole run.

``lock_output_dir(out)`` opens ``out/.descentlab.lock`` and takes an ``flock``
on it without waiting: exclusive for a run that owns the folder, shared for the
processes of one Optuna study that write its folder together. The lock file
records ``{"pid", "host", "owner", "argv", "started"}`` of the holder for the
message that the loser gets. The kernel drops the lock when the holder exits
in any way (SIGKILL included), so a lock file left by a dead process is stale
by construction and the next run simply takes it over; on NFS, ``flock`` is
carried out as a POSIX byte-range lock by the server, across machines.

Release (:func:`release_output_dir`, or all at exit) deletes the lock file
only while holding it exclusively (no other holder is left), and a taker checks
after locking that the path still names the file it locked; together these
make delete-and-recreate races harmless. In-process calls are re-entrant: a
process that already holds a folder may take it again.

Where ``fcntl`` is missing (Windows) folders are not locked.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from .errors import OutputLockedError

__all__ = ["LOCK_NAME", "lock_output_dir", "release_output_dir", "release_output_dirs"]

LOCK_NAME = ".descentlab.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: resolved folder -> (fd of its lock file, shared?)
_HELD: dict[str, tuple[int, bool]] = {}


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        who = f"process {info['pid']} on {info['host']}"
        if info.get("owner"):
            who = f"{info['owner']} ({who})"
        return who
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def lock_output_dir(
    out: str | os.PathLike, *, owner: str = "descentlab", shared: bool = False
) -> bool:
    """Lock folder ``out`` (it must exist) for this process.

    Returns True when newly taken, False when this process already held it.
    Raises OutputLockedError (exit 2 in the CLI) naming the holder.
    """
    if fcntl is None:
        return True
    key = str(Path(out).resolve())
    if key in _HELD:
        return False
    path = Path(key) / LOCK_NAME
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    for _ in range(20):  # retried only when the file was replaced under us
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            kind = "is being written by"
            raise OutputLockedError(
                f"{owner}: output folder {str(out)!r} {kind} {_holder(path)}; wait "
                "for it to finish or choose another --out."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # released and deleted between our open and flock: again
    else:  # pragma: no cover - would need 20 lost races in a row
        raise OutputLockedError(f"{owner}: cannot lock output folder {str(out)!r}.")
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "owner": owner,
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if not shared or os.fstat(fd).st_size == 0:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    _HELD[key] = (fd, shared)
    return True


def release_output_dir(out: str | os.PathLike) -> None:
    """Release this process's lock on ``out`` (no-op if it holds none)."""
    key = str(Path(out).resolve())
    held = _HELD.pop(key, None)
    if held is None or fcntl is None:
        return
    fd, _ = held
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # last holder: delete the file
    except BlockingIOError:
        pass
    else:
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_ino == os.stat(Path(key) / LOCK_NAME).st_ino:
                os.unlink(Path(key) / LOCK_NAME)
    finally:
        os.close(fd)


def release_output_dirs() -> None:
    """Release every output folder this process holds (also run at exit)."""
    for key in list(_HELD):
        release_output_dir(key)


atexit.register(release_output_dirs)
