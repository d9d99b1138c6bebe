"""Training history: per-step and per-epoch records."""

from __future__ import annotations

import math
from typing import Any

EPOCH_KEYS = ("epoch", "loss", "acc", "val_loss", "val_acc", "lr", "seconds")
STEP_KEYS = ("loss", "lr")


class History:
    """What ``Trainer.fit`` returns.

    Attributes:
        step: {"loss": [...], "lr": [...]} one entry per optimizer step.
        epoch: {"epoch", "loss", "acc", "val_loss", "val_acc", "lr", "seconds"} one
            entry per finished epoch (val_* are NaN without validation data; loss/acc
            are running means over the epoch's batches, as Keras reports them).
        stopped: why training ended early ("early_stopping", "nonfinite", "interrupted",
            "callback") or None.
        nonfinite: {"step", "epoch", "cause"} when a non-finite loss/gradient stopped it.
        checkpoint: path of the checkpoint written on interruption, if any.
    """

    def __init__(self) -> None:
        self.step: dict[str, list[float]] = {k: [] for k in STEP_KEYS}
        self.epoch: dict[str, list[float]] = {k: [] for k in EPOCH_KEYS}
        self.stopped: str | None = None
        self.nonfinite: dict[str, Any] | None = None
        self.checkpoint: str | None = None

    def add_step(self, loss: float, lr: float) -> None:
        self.step["loss"].append(float(loss))
        self.step["lr"].append(float(lr))

    def add_epoch(self, logs: dict[str, float]) -> None:
        for k in EPOCH_KEYS:
            self.epoch[k].append(float(logs.get(k, math.nan)))

    @property
    def epochs_done(self) -> int:
        return len(self.epoch["epoch"])

    def last(self, key: str) -> float:
        values = self.epoch[key]
        return values[-1] if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "stopped": self.stopped,
            "nonfinite": self.nonfinite,
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls()
        h.step = {k: [float(v) for v in d["step"].get(k, [])] for k in STEP_KEYS}
        h.epoch = {k: [float(v) for v in d["epoch"].get(k, [])] for k in EPOCH_KEYS}
        h.stopped, h.nonfinite, h.checkpoint = (
            d.get("stopped"),
            d.get("nonfinite"),
            d.get("checkpoint"),
        )
        return h

    def __repr__(self) -> str:
        return (
            f"History(epochs={self.epochs_done}, steps={len(self.step['loss'])}, "
            f"last_loss={self.last('loss'):.4g}, last_val_acc={self.last('val_acc'):.4g})"
        )
