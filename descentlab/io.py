"""Atomic file writes and flat .npz serialisation of nested state.

Checkpoints and results are written to a temporary file in the target directory
and moved into place with ``os.replace``, so a crash never leaves a half-written
file under the final name. Nested state (dicts/lists of arrays and JSON scalars)
is flattened to ``{"a/b/0": array}`` for ``np.savez`` and restored exactly;
loading uses ``allow_pickle=False``.
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb"):
    """Open a temp file beside ``path``; on success rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
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
    payload = dict(arrays)
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
                    f"{str(path)!r} is not a descentlab state file (no {_META_KEY!r} entry)."
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


def check_output_dir(
    out: str | os.PathLike, overwrite: bool, *, owner: str = "descentlab"
) -> Path:
    """Refuse an existing non-empty ``out`` unless ``overwrite``; create it; return it.

    Raises OutputExistsError (a FileExistsError) naming the folder and ``--overwrite``,
    or InvalidParameterError when the folder cannot be created.
    """
    from .errors import InvalidParameterError, OutputExistsError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{owner}: output {str(out)!r} exists and is a file.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{owner}: output folder {str(out)!r} exists and is not empty; choose "
            "another --out or pass --overwrite to write into it."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidParameterError(
            f"{owner}: cannot create the output folder {str(out)!r}: "
            f"{exc.strerror or exc}. Choose another --out."
        ) from None
    return out
