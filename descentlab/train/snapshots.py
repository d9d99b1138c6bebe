"""Weight snapshots: the model's state after every epoch, for trajectories.

``WeightSnapshots(folder)`` writes ``folder/epoch_0000.npz`` (the initial weights,
when training starts from scratch) and ``folder/epoch_EEEE.npz`` after epoch E.
Each file holds the model's ``state_dict()`` only (parameters and buffers, no
optimizer state) and is written atomically. ``load_weight_snapshots(folder)``
reads them back in epoch order.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..io import load_state_npz, save_state_npz
from .callbacks import Callback

FORMAT = "descentlab-weights"
_NAME = re.compile(r"^epoch_(\d{4,})\.npz$")


def snapshot_path(folder: str | os.PathLike, epoch: int) -> Path:
    return Path(folder) / f"epoch_{epoch:04d}.npz"


class WeightSnapshots(Callback):
    """Save the model's weights at the start (epoch 0) and after every epoch."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def _save(self, epoch: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        save_state_npz(
            snapshot_path(self.folder, epoch),
            {"model": self.trainer.model.state_dict()},
            {"format": FORMAT, "epoch": int(epoch)},
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.trainer.epoch == 0:  # a fresh run (a resumed one has its epoch 0)
            self._save(0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._save(epoch + 1)


def load_weight_snapshots(
    folder: str | os.PathLike,
) -> list[tuple[int, dict[str, Any]]]:
    """``[(epoch, state_dict), ...]`` by epoch; CheckpointError for a foreign file."""
    folder = Path(folder)
    found = []
    for path in folder.iterdir() if folder.is_dir() else ():
        m = _NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    out = []
    for epoch, path in sorted(found):
        state, meta = load_state_npz(path)
        if meta.get("format") != FORMAT or "model" not in state:
            raise CheckpointError(
                f"{str(path)!r} is not a descentlab weight snapshot (format "
                f"{meta.get('format')!r}, expected {FORMAT!r})."
            )
        out.append((epoch, state["model"]))
    return out
