"""Download and verify the files of IDX data sets (MNIST, Fashion-MNIST).

Each data set is a :class:`DatasetSpec`: a cache folder name, mirror base URLs
and the four gzip IDX files with their digests. Files are cached in
``<data_home>/<spec.name>/`` where ``data_home`` is the ``root`` argument, else
``$DESCENTLAB_DATA``, else the platform cache (``$XDG_CACHE_HOME/descentlab``
or ``~/.cache/descentlab`` on Linux). A download streams into a temporary file
beside its target, is checked against its digest, and only then is renamed
into place; a failed download leaves nothing behind. A cached file whose digest
is wrong is downloaded again. Progress goes to stderr (``progress=False`` to
silence it): on a terminal one line rewritten in place with bytes and percent,
elsewhere one line when a file starts and one when it is verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import numbers
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .._validation import check_scalar
from ..errors import DataError, InvalidParameterError

log = logging.getLogger(__name__)
ALGORITHMS = ("sha256", "md5")
_CHUNK = 1 << 16
_USER_AGENT = "descentlab (Python urllib)"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its name under each mirror, digest and algorithm."""

    name: str
    digest: str
    algorithm: str = "sha256"


@dataclass(frozen=True)
class DatasetSpec:
    """A four-file IDX data set (train/test images and labels) and where to get it."""

    name: str
    mirrors: tuple[str, ...]
    train_images: RemoteFile
    train_labels: RemoteFile
    test_images: RemoteFile
    test_labels: RemoteFile
    classes: tuple[str, ...] = tuple(str(d) for d in range(10))

    @property
    def files(self) -> tuple[RemoteFile, ...]:
        return (
            self.train_images,
            self.train_labels,
            self.test_images,
            self.test_labels,
        )


def data_home(root: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``root``, else ``$DESCENTLAB_DATA``, else the OS cache."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("DESCENTLAB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "descentlab" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "descentlab"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "descentlab"


def fetch_files(
    spec: DatasetSpec,
    *,
    root: str | os.PathLike | None = None,
    mirror: str | Sequence[str] | None = None,
    timeout: float = 60.0,
    progress: bool | TextIO = True,
) -> dict[str, Path]:
    """Make sure every file of ``spec`` is cached and verified; map name -> path.

    ``progress``: True reports downloads on stderr, a stream reports there, False
    is silent.
    """
    mirrors = _check_mirrors(spec.mirrors if mirror is None else mirror)
    check_scalar(
        timeout,
        "timeout",
        numbers.Real,
        min_val=0.0,
        include_boundaries="neither",
        owner="fetch_files",
    )
    folder = data_home(root) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for remote in spec.files:
        path = folder / remote.name
        if path.is_file():
            actual = file_digest(path, remote.algorithm)
            if actual == remote.digest.lower():
                paths[remote.name] = path
                continue
            warnings.warn(
                f"cached {path} fails its {remote.algorithm} check (expected "
                f"{remote.digest}, got {actual}); downloading it again.",
                stacklevel=2,
            )
        paths[remote.name] = download_file(
            remote, folder, mirrors, timeout=timeout, progress=progress
        )
    return paths


def download_file(
    remote: RemoteFile,
    folder: str | os.PathLike,
    mirrors: Sequence[str],
    *,
    timeout: float = 60.0,
    progress: bool | TextIO = True,
) -> Path:
    """Download ``remote`` from the first mirror that serves it with the right digest.

    Returns the final path ``folder / remote.name``. Raises DataError listing
    every URL tried and why it failed.
    """
    _check_algorithm(remote)
    folder, failures = Path(folder), []
    for base in mirrors:
        url = base.rstrip("/") + "/" + remote.name
        report = _Progress(remote.name, url, progress)
        try:
            path = _download_one(url, remote, folder, timeout, report)
        except _DownloadFailed as exc:
            report.failed(str(exc))
            log.warning("download of %s failed: %s", url, exc)
            failures.append(f"{url}: {exc}")
        else:
            report.done(remote.algorithm)
            return path
    raise DataError(
        f"could not download {remote.name}:\n  "
        + "\n  ".join(failures)
        + f"\nOffline? Copy {remote.name} into {str(folder)!r} (its cache folder; "
        "DESCENTLAB_DATA sets the cache root) or give a file:// mirror; the shipped "
        "5,000-digit "
        "sample needs no download."
    )


class _DownloadFailed(Exception):
    """One URL failed; the next mirror is tried."""


def _size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


class _Progress:
    """Download progress of one file on a stream (see the module doc)."""

    def __init__(self, name: str, url: str, progress: bool | TextIO) -> None:
        from ..terminal import LiveLine  # noqa: PLC0415

        self.name, self.url = name, url
        self.stream = (
            None
            if progress is False
            else (sys.stderr if progress is True else progress)
        )
        self.line = LiveLine(self.stream) if self.stream is not None else None
        self.t0 = time.perf_counter()
        self.last = -1.0
        self.received = 0
        self.size: int | None = None

    def start(self, size: int | None) -> None:
        self.size = size
        if self.line is not None and not self.line.live:
            total = f" ({_size(size)})" if size else ""
            print(f"downloading {self.url}{total}", file=self.stream, flush=True)

    def update(self, received: int) -> None:
        self.received = received
        now = time.perf_counter()
        if self.line is None or not self.line.live or now - self.last < 0.1:
            return
        self.last = now
        if self.size:
            pct = 100.0 * received / self.size
            text = f"{_size(received)} / {_size(self.size)} ({pct:.0f}%)"
        else:
            text = _size(received)
        self.line.show(f"downloading {self.name}: {text}")

    def done(self, algorithm: str) -> None:
        if self.line is None:
            return
        self.line.clear()
        seconds = time.perf_counter() - self.t0
        print(
            f"{self.name}: {_size(self.received)} in {seconds:.1f} s, "
            f"{algorithm} verified",
            file=self.stream,
            flush=True,
        )

    def failed(self, why: str) -> None:
        if self.line is not None:
            self.line.clear()


def _download_one(
    url: str, remote: RemoteFile, folder: Path, timeout: float, report: _Progress
) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=folder)
    try:
        hasher = hashlib.new(remote.algorithm)
        with os.fdopen(fd, "wb") as out:
            received = _stream(url, out, hasher, timeout, report)
        actual = hasher.hexdigest()
        if actual != remote.digest.lower():
            raise _DownloadFailed(
                f"{remote.algorithm} checksum mismatch: expected {remote.digest}, "
                f"got {actual} ({received} bytes)"
            )
        final = folder / remote.name
        os.replace(tmp, final)
        return final
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _stream(url: str, out: Any, hasher: Any, timeout: float, report: Any) -> int:
    """Copy ``url`` into ``out`` while hashing; return the byte count."""
    log.info("downloading %s", url)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            size = response.headers.get("Content-Length")
            report.start(int(size) if size and size.isdigit() else None)
            received = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                report.update(received)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _DownloadFailed(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _DownloadFailed(f"{exc.reason}") from exc
    except Exception as exc:  # timeouts, resets, IncompleteRead, bad URL ...
        raise _DownloadFailed(f"{type(exc).__name__}: {exc}") from exc
    if size is not None and received != int(size):
        raise _DownloadFailed(f"connection closed after {received} of {size} bytes")
    return received


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes with ``algorithm`` ("sha256" or "md5")."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def _check_algorithm(remote: RemoteFile) -> None:
    if remote.algorithm not in ALGORITHMS:
        raise InvalidParameterError(
            f"RemoteFile {remote.name!r}: 'algorithm' must be one of "
            f"{', '.join(map(repr, ALGORITHMS))}. Got {remote.algorithm!r}."
        )


def _check_mirrors(mirror: str | Sequence[str]) -> list[str]:
    mirrors = [mirror] if isinstance(mirror, str) else list(mirror)
    if not mirrors or not all(isinstance(m, str) and m.strip() for m in mirrors):
        raise InvalidParameterError(
            "'mirror' must be a base URL or a non-empty list of base URLs. "
            f"Got {mirror!r}."
        )
    return mirrors
