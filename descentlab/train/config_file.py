"""Training configs from files: TOML, or JSON such as a run folder's config.json.

A file holds the same keys as ``descentlab train``'s flags, with ``_`` or ``-``
(``batch_size`` or ``batch-size``), either at the top level or in a ``[train]``
table::

    model = "mlp"
    hidden = [100, 100]
    optimizer = "sgd"
    lr = 0.05
    schedule = "exp"
    gamma = 0.9

TOML is read with :mod:`tomllib` (Python 3.11+) or, on 3.10, the optional
``tomli`` package (``pip install 'descentlab[toml]'``); JSON needs nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, MissingDependencyError

__all__ = ["load_config_file"]


def _toml_module() -> Any:
    import importlib  # noqa: PLC0415

    try:
        return importlib.import_module("tomllib")  # Python 3.11+
    except ModuleNotFoundError:
        try:
            return importlib.import_module("tomli")
        except ModuleNotFoundError:
            raise MissingDependencyError(
                "train --config: reading TOML on Python < 3.11 needs the tomli "
                "package: pip install 'descentlab[toml]' (or give the config as JSON)."
            ) from None


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings in ``path`` (.toml, or .json / a run's config.json), keys with
    ``_``; ``[train]`` is used when the file has that table.

    Raises:
        InvalidParameterError: missing file, unreadable or malformed content, or a
            file that is not a table of settings.
        MissingDependencyError: TOML on Python 3.10 without tomli.
    """
    path = Path(path)
    if path.is_dir() and (path / "config.json").is_file():
        path = path / "config.json"  # a run folder: its config
    if not path.is_file():
        raise InvalidParameterError(f"train --config: no such file {str(path)!r}.")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise InvalidParameterError(
            f"train --config: {str(path)!r} must be a .toml or .json file (a run "
            "folder's config.json works)."
        )
    try:
        if suffix == ".toml":
            tomllib = _toml_module()
            with path.open("rb") as f:
                data = tomllib.load(f)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except MissingDependencyError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError too
        raise InvalidParameterError(
            f"train --config: cannot read {str(path)!r}: {exc}"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("train"), dict):
        data = data["train"]
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"train --config: {str(path)!r} must hold a table of settings "
            f"(key = value). Got a {type(data).__name__}."
        )
    return {str(k).replace("-", "_"): v for k, v in data.items()}
