"""What a run folder records about how and where it ran (``run.json``).

``run_info(argv)`` returns argv, the working directory, host, platform, Python /
NumPy / descentlab versions, the BLAS NumPy uses (``threadpoolctl`` when installed,
else NumPy's build configuration), the backend, the git commit of the descentlab
checkout when it runs from one (absent otherwise), a random session id (which
process wrote the record: a resume is a new session) and the start time (UTC,
ISO 8601). Every field is best effort: a probe that fails leaves its field out.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
import platform
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__

__all__ = ["blas_info", "git_commit", "now_utc", "run_info"]


def now_utc() -> str:
    """The current time, UTC, ISO 8601 with seconds: ``2026-12-01T23:59:59+00:00``."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def blas_info() -> list[dict[str, Any]] | dict[str, Any] | None:
    """The BLAS/LAPACK libraries NumPy uses: threadpoolctl's view of the loaded
    libraries (name, version, threads) when it is installed, else the libraries
    NumPy was built against (``numpy.show_config``), else None."""
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_info  # noqa: PLC0415 (optional)

        return [
            {k: lib.get(k) for k in ("internal_api", "version", "num_threads")}
            | {"library": lib.get("prefix")}
            for lib in threadpool_info()
            if lib.get("user_api") == "blas"
        ]
    with contextlib.suppress(Exception):  # NumPy >= 1.25
        deps = np.show_config(mode="dicts")["Build Dependencies"]
        return {
            k: {f: deps[k].get(f) for f in ("name", "version") if f in deps[k]}
            for k in ("blas", "lapack")
            if k in deps
        }
    with contextlib.suppress(Exception):  # older NumPy: parse the printed summary
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        names = sorted(
            {
                line.split("=", 1)[1].strip().strip("[]'\"")
                for line in buf.getvalue().splitlines()
                if line.strip().startswith("libraries")
            }
        )
        return {"libraries": names} if names else None
    return None


def git_commit(package: str | os.PathLike | None = None) -> str | None:
    """``git rev-parse HEAD`` of the checkout whose top folder holds the ``package``
    folder (default: descentlab's), or None: not run from a checkout (an install in
    site-packages, even one inside some other repository), or no git."""
    where = (
        Path(package) if package is not None else Path(__file__).resolve().parents[1]
    )
    try:
        done = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or len(lines[1]) < 40:
        return None
    top, commit = lines
    with contextlib.suppress(OSError):
        if Path(top).resolve() == where.resolve().parent:
            return commit
    return None


def run_info(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The fields of ``run.json`` known at the start of a run (see the module doc)."""
    from .. import backend  # noqa: PLC0415

    info: dict[str, Any] = {
        "argv": list(sys.argv if argv is None else argv),
        "cwd": os.getcwd(),
        "session": uuid.uuid4().hex,
        "start": now_utc(),
        "end": None,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "descentlab": __version__,
    }
    with contextlib.suppress(Exception):
        info["backend"] = backend.name()
    blas = blas_info()
    if blas:
        info["blas"] = blas
    commit = git_commit()
    if commit:
        info["git_commit"] = commit
    return info
