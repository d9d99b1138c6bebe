"""Read a ``descentlab train`` run folder back: config, model at its final weights,
its training data and (with ``save_every_epoch``) the weights of every epoch."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, InvalidParameterError
from .checkpoint import load_checkpoint
from .snapshots import load_weight_snapshots


@dataclass
class RunFolder:
    """path, cfg (validated config), model (final weights, as trained), optimizer,
    train (x, y) as the run fed them, snapshots [(epoch, state_dict)]."""

    path: Path
    cfg: dict[str, Any]
    model: Any
    optimizer: Any
    train: tuple[Any, Any]
    snapshots: list[tuple[int, dict[str, Any]]]

    def model_at(self, state: dict[str, Any]) -> Any:
        """A copy of the model holding ``state`` (e.g. one of ``snapshots``)."""
        import copy

        m = copy.deepcopy(self.model)
        m.load_state_dict(state)
        return m


def open_run(path: str | os.PathLike, *, owner: str) -> RunFolder:
    """Load the run folder ``path``; one-line errors for anything that is not one."""
    from .run import _flat, build, load_data, validate_config

    path = Path(path)
    if not path.is_dir():
        raise InvalidParameterError(
            f"{owner}: run folder {str(path)!r} does not exist."
        )
    ckpt = path / "checkpoint.npz"
    if not ckpt.is_file():
        raise InvalidParameterError(
            f"{owner}: {str(path)!r} has no checkpoint.npz; pass the folder of a "
            "`descentlab train` run (its --out)."
        )
    state, meta = load_checkpoint(ckpt)
    saved = meta.get("config") or {}
    if not saved:
        raise CheckpointError(f"{owner}: {str(ckpt)!r} holds no training config.")
    cfg = validate_config(saved)
    train, _, _ = load_data(cfg)
    train = _flat(train, cfg["model"] == "mlp")
    model, optimizer, _ = build(cfg, math.ceil(len(train[0]) / cfg["batch_size"]))
    model.load_state_dict(state["model"])
    snaps = (
        load_weight_snapshots(path / "weights") if (path / "weights").is_dir() else []
    )
    return RunFolder(path, cfg, model, optimizer, train, snaps)
