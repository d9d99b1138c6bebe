"""Atomic file writes and flat .npz serialisation of nested state.

Checkpoints and results are written to a temporary file in the target directory,
flushed to disk (``fsync``), moved into place with ``os.replace`` and the
directory entry is synced too, so a crash (or power loss) never leaves a
half-written file under the final name. The temporary file gets the mode a
plain ``open`` would give (``0o666`` minus the umask) without touching the
process-wide umask (see :func:`_file_mode`).

Output folders (:func:`check_output_dir`) are taken with an exclusive lock held
for the run, so two commands started at the same moment with the same folder
never both write it (see :mod:`descentlab._outlock`).

Nested state (dicts/lists of arrays and JSON scalars) is flattened to
``{"a/b/0": array}`` for ``np.savez`` and restored exactly; loading uses
``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .errors import CheckpointError

_META_KEY = "__meta__"


_MODE_CACHE: list[int] = []


def _file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open()`` gives a new file.

    Read without changing the umask (``os.umask`` sets it while reading it,
    which races with other threads creating files): from ``/proc/self/status``
    on Linux, else once per process from a probe file created with
    ``os.open(..., 0o666)`` (the kernel applies the umask) whose mode is read back.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    if not _MODE_CACHE:
        probe = Path(tempfile.gettempdir()) / f".descentlab-mode-{os.getpid()}"
        try:
            fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            os.close(fd)
            mode = os.stat(probe).st_mode & 0o777
        except OSError:
            mode = 0o644
        finally:
            with contextlib.suppress(OSError):
                os.unlink(probe)
        _MODE_CACHE.append(mode)
    return _MODE_CACHE[0]


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or new entry in folder ``path`` durable (POSIX only)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb"):
    """Open a temp file beside ``path``; on success rename it onto ``path``.

    The data is fsynced before the rename and the folder after it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def flatten_state(state: Any, prefix: str = "") -> tuple[dict[str, np.ndarray], Any]:
    """Split nested state into arrays (by slash path) and a JSON skeleton.

    Arrays are replaced in the skeleton by ``{"__array__": path}``.
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(obj: Any, path: str) -> Any:
        if isinstance(obj, dict):
            return {
                "__dict__": [
                    [str(k), walk(v, f"{path}/{k}"), _key_kind(k)]
                    for k, v in obj.items()
                ]
            }
        if isinstance(obj, (list, tuple)):
            return {
                "__list__": [walk(v, f"{path}/{i}") for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple),
            }
        if (
            hasattr(obj, "shape")
            and hasattr(obj, "dtype")
            and not isinstance(obj, np.generic)
        ):
            key = path.lstrip("/") or "value"
            arrays[key] = to_numpy(obj)
            return {"__array__": key}
        if isinstance(obj, np.generic):
            return obj.item()
        return obj

    skeleton = walk(state, prefix)
    return arrays, skeleton


def _key_kind(k: Any) -> str:
    return "int" if isinstance(k, int) and not isinstance(k, bool) else "str"


def unflatten_state(arrays: dict[str, np.ndarray], skeleton: Any) -> Any:
    """Inverse of :func:`flatten_state`."""

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if "__array__" in obj:
                return arrays[obj["__array__"]]
            if "__dict__" in obj:
                return {
                    (int(k) if kind == "int" else k): walk(v)
                    for k, v, kind in obj["__dict__"]
                }
            if "__list__" in obj:
                items = [walk(v) for v in obj["__list__"]]
                return tuple(items) if obj.get("tuple") else items
        return obj

    return walk(skeleton)


def save_state_npz(
    path: str | os.PathLike, state: Any, meta: dict | None = None
) -> None:
    """Write nested ``state`` (+ JSON ``meta``) to one .npz file atomically."""
    arrays, skeleton = flatten_state(state)
    header = {"skeleton": skeleton, "meta": meta or {}}
    buf = io.BytesIO()
    payload: dict[str, Any] = dict(arrays)
    payload[_META_KEY] = np.frombuffer(
        json.dumps(header, default=_json_default).encode(), dtype=np.uint8
    )
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


def load_state_npz(path: str | os.PathLike) -> tuple[Any, dict]:
    """Read a file written by :func:`save_state_npz`; returns ``(state, meta)``.

    Raises CheckpointError for a missing, truncated or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist.")
    with open(path, "rb") as fh:
        signature = fh.read(4)
    if signature not in (b"PK\x03\x04", b"PK\x05\x06"):  # zip local header / empty zip
        raise CheckpointError(
            f"cannot read {str(path)!r}: it is not an .npz file (no zip signature at "
            f"its start; got {signature!r}). Pass a checkpoint written by descentlab."
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _META_KEY not in npz.files:
                raise CheckpointError(
                    f"{str(path)!r} is not a descentlab state file (no {_META_KEY!r} "
                    "entry)."
                )
            header = json.loads(bytes(npz[_META_KEY]).decode("utf-8"))
            arrays = {k: npz[k] for k in npz.files if k != _META_KEY}
    except CheckpointError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, EOFError, ValueError, ...
        raise CheckpointError(
            f"cannot read {str(path)!r}: the file is truncated or not an .npz "
            f"written by descentlab ({type(exc).__name__}: {exc})."
        ) from exc
    return unflatten_state(arrays, header["skeleton"]), header.get("meta", {})


def folder_is_empty(out: str | os.PathLike) -> bool:
    """True if ``out`` is missing or holds nothing but a descentlab lock file."""
    from ._outlock import LOCK_NAME

    out = Path(out)
    if not out.is_dir():
        return True
    return all(p.name == LOCK_NAME for p in out.iterdir())


def check_output_dir(
    out: str | os.PathLike,
    overwrite: bool,
    *,
    owner: str = "descentlab",
    shared: bool = False,
) -> Path:
    """Refuse an existing non-empty ``out`` unless ``overwrite``; create it; lock it.

    The folder is locked (``out/.descentlab.lock``, ``flock``) until the process
    exits or :func:`descentlab._outlock.release_output_dirs` is called; with
    ``shared=True`` several holders of the shared lock may write it at once (the
    processes of one Optuna study), never together with an exclusive holder.
    The emptiness check is repeated under the lock, so two processes started at
    the same moment never both write a new folder.

    Raises OutputExistsError (a FileExistsError) naming the folder and ``--overwrite``,
    OutputLockedError naming the process that holds it, or InvalidParameterError
    when the folder cannot be created.
    """
    from ._outlock import lock_output_dir, release_output_dir
    from .errors import InvalidParameterError, OutputExistsError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{owner}: output {str(out)!r} exists and is a file.")
    refusal = OutputExistsError(
        f"{owner}: output folder {str(out)!r} exists and is not empty; choose "
        "another --out or pass --overwrite to write into it."
    )
    if not overwrite and not folder_is_empty(out):
        raise refusal
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidParameterError(
            f"{owner}: cannot create the output folder {str(out)!r}: "
            f"{exc.strerror or exc}. Choose another --out."
        ) from None
    newly = lock_output_dir(out, owner=owner, shared=shared)
    if newly and not overwrite and not folder_is_empty(out):
        release_output_dir(out)  # another process wrote it between check and lock
        raise refusal
    return out
