"""``manifest.json``: every setting of a comparison, its versions and a content hash.

Layout::

    {"format": "descentlab-compare-manifest", "format_version": 1,
     "descentlab_version": "...", "versions": {"python", "numpy", "platform"},
     "settings": {... Plan.to_dict() ...}, "settings_hash": "<sha256>",
     "rerun_of": null | "<settings_hash of the original>",
     "content_hash": "<sha256>"}

``settings_hash`` is the SHA-256 of the settings in canonical JSON (sorted
keys, no spaces): it identifies the comparison (a continued run must match
it). ``content_hash`` covers every other field, so a manifest edited by hand
is refused by :func:`load_manifest` rather than rerun as if it were the
original.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import InvalidParameterError
from ..io import atomic_write_json
from .plan import Plan

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "build_manifest",
    "canonical_hash",
    "load_manifest",
    "write_manifest",
]

FORMAT = "descentlab-compare-manifest"
FORMAT_VERSION = 1
_OWNER = "compare"


def canonical_hash(obj: Any) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, compact, strict)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_manifest(plan: Plan, *, rerun_of: str | None = None) -> dict[str, Any]:
    settings = plan.to_dict()
    body: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "descentlab_version": __version__,
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "blas_threads": 1,
        },
        "settings": settings,
        "settings_hash": canonical_hash(settings),
        "rerun_of": rerun_of,
    }
    body["content_hash"] = canonical_hash(body)
    return body


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> Path:
    atomic_write_json(path, manifest)
    return Path(path)


def load_manifest(path: str | Path) -> tuple[Plan, dict[str, Any]]:
    """Read and check a manifest; return its Plan and the manifest dict.

    Raises InvalidParameterError (one line) for a missing or unreadable file,
    another format, another format version, another descentlab version, or a
    content hash that does not match (the file was edited).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameterError(
            f"{_OWNER}: manifest {str(path)!r} does not exist."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameterError(
            f"{_OWNER}: cannot read manifest {str(path)!r}: {exc}."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidParameterError(
            f"{_OWNER}: {str(path)!r} is not a descentlab compare manifest "
            f'(no "format": {FORMAT!r}).'
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise InvalidParameterError(
            f"{_OWNER}: manifest {str(path)!r} has format version "
            f"{data.get('format_version')!r}; this descentlab reads version "
            f"{FORMAT_VERSION}."
        )
    if data.get("descentlab_version") != __version__:
        raise InvalidParameterError(
            f"{_OWNER}: manifest {str(path)!r} was written by descentlab "
            f"{data.get('descentlab_version')!r}, this is {__version__}; rerun it "
            "with that version to reproduce its numbers."
        )
    body = {k: v for k, v in data.items() if k != "content_hash"}
    try:
        ok = canonical_hash(body) == data.get("content_hash")
        ok = ok and canonical_hash(data["settings"]) == data.get("settings_hash")
    except (TypeError, ValueError, KeyError):
        ok = False
    if not ok:
        raise InvalidParameterError(
            f"{_OWNER}: manifest {str(path)!r} was changed after it was written (its "
            "content hash does not match); rerun from an unedited manifest."
        )
    return Plan.from_dict(data["settings"]), data
