"""A comparison's output folder: an exclusive lock and one file per finished run.

``out/trials/<phase>__<workload>__<optimizer>__<index>.json`` is written
atomically when a run ends, so an interrupted comparison keeps every finished
run and a second start on the same folder (same settings) runs only the rest.
These files are internal: they keep NaN/inf as Python's JSON does, to round
trip every number exactly. The folder is locked (``fcntl.flock`` on
``out/.lock`` where available) while a comparison writes it; a second process
on the same folder is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import OutputExistsError
from ..io import atomic_write_text

__all__ = ["TrialStore", "lock_folder"]


class TrialStore:
    """Finished runs of one comparison, by task key."""

    def __init__(self, out: str | Path) -> None:
        self.folder = Path(out) / "trials"

    def _path(self, key: str) -> Path:
        return self.folder / (key.replace("/", "__") + ".json")

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return record if record.get("key") == key else None

    def put(self, record: dict[str, Any]) -> None:
        atomic_write_text(self._path(record["key"]), json.dumps(record) + "\n")

    def count(self) -> int:
        """Runs on disk (the truth after a Ctrl-C: a run is kept once written)."""
        if not self.folder.is_dir():
            return 0
        return sum(1 for _ in self.folder.glob("*__*.json"))

    def clear(self) -> None:
        """Remove every run file (only this store's own ``*.json``)."""
        if self.folder.is_dir():
            for path in self.folder.glob("*__*.json"):
                path.unlink()


@contextlib.contextmanager
def lock_folder(out: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (created) for the ``with`` block."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputExistsError(
                f"compare: another process is writing {str(out)!r} now; wait for it "
                "or choose another --out."
            ) from None
        yield
    finally:
        os.close(fd)
