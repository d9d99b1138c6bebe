"""Callbacks with Keras's hook names; each resets its state in ``on_train_begin``.

The Trainer sets ``callback.trainer`` before training. A callback stops training
with ``self.trainer.stop_training = True``.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import warnings
from pathlib import Path
from typing import Any

from .._validation import check_option, check_scalar
from ..errors import OutputExistsError
from ..io import atomic_write_text
from .checkpoint import is_foreign_file
from .history import EPOCH_KEYS


class Callback:
    """Base class: override any hook. ``logs`` is a dict of the current metrics.

    A callback that keeps state across epochs returns it from ``state_dict()``
    (arrays, numbers, strings, lists, dicts) and takes it back in
    ``load_state_dict()``; the Trainer stores it in checkpoints and restores it on
    resume, after ``on_train_begin``, so a resumed run behaves as an uninterrupted one.
    """

    trainer: Any = None

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, step: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, step: int, logs: dict | None = None) -> None: ...


def _better(mode: str, current: float, best: float, min_delta: float) -> bool:
    if math.isnan(current):
        return False
    return current < best - min_delta if mode == "min" else current > best + min_delta


def _monitored(owner: Any, logs: dict | None) -> float | None:
    """The monitored value, or None (with one warning per fit, naming the metrics that
    exist) when this epoch did not log it, e.g. val_loss without validation data."""
    value = float((logs or {}).get(owner.monitor, math.nan))
    if not math.isnan(value):
        return value
    if not getattr(owner, "_warned", False):
        owner._warned = True
        have = sorted(
            k
            for k, v in (logs or {}).items()
            if isinstance(v, float) and not math.isnan(v)
        )
        warnings.warn(
            f"{type(owner).__name__}: the monitored metric {owner.monitor!r} is "
            f"not available (pass validation data for val_*); available: "
            f"{', '.join(have) or 'none'}. It is ignored this epoch.",
            RuntimeWarning,
            stacklevel=4,
        )
    return None


def _resolve_mode(mode: str, monitor: str) -> str:
    if mode != "auto":
        return mode
    return "max" if "acc" in monitor else "min"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Training ends at the end of the ``patience``-th consecutive epoch without
    improvement, as in Keras: with ``patience=2`` and the best value at epoch 3,
    epochs 4 and 5 run and training stops after epoch 5 (``patience=0`` stops at the
    first epoch without improvement, like ``patience=1``). With
    ``restore_best_weights`` the model gets the weights of the best epoch back.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ):
        check_option(mode, "mode", ("auto", "min", "max"), owner="EarlyStopping")
        check_scalar(
            patience, "patience", numbers.Integral, min_val=0, owner="EarlyStopping"
        )
        check_scalar(
            min_delta, "min_delta", numbers.Real, min_val=0.0, owner="EarlyStopping"
        )
        self.monitor, self.patience, self.min_delta = (
            monitor,
            int(patience),
            float(min_delta),
        )
        self.mode = _resolve_mode(mode, monitor)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.wait, self.best_weights, self.stopped_epoch = (
            -1,
            0,
            None,
            None,
        )
        self._warned = False

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored(self, logs)
        if current is None:
            return  # a missing metric neither improves nor uses up patience
        if _better(self.mode, current, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            self.trainer.stop_reason = "early_stopping"

    def on_train_end(self, logs=None):
        if (
            self.restore_best_weights
            and self.best_weights is not None
            and self.stopped_epoch is not None
        ):
            self.trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]
        self.best_weights = state["best_weights"]


class ModelCheckpoint(Callback):
    """Write a full checkpoint (see Trainer.save_checkpoint) at epoch ends.

    ``path`` may contain ``{epoch}``. With ``save_best_only`` it is written only when
    ``monitor`` improves.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = False,
    ):
        check_option(mode, "mode", ("auto", "min", "max"), owner="ModelCheckpoint")
        self.path, self.monitor, self.save_best_only = (
            str(path),
            monitor,
            save_best_only,
        )
        self.mode = _resolve_mode(mode, monitor)

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved: list[str] = []
        self._warned = False
        if "{epoch" not in self.path and is_foreign_file(self.path):
            raise OutputExistsError(
                f"ModelCheckpoint: {self.path!r} exists and is not a descentlab "
                "checkpoint; "
                "it would be overwritten. Choose another path."
            )

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            current = _monitored(self, logs)
            if current is None or not _better(self.mode, current, self.best, 0.0):
                return
            self.best = current
        path = self.path.format(epoch=epoch + 1)
        if path != self.path and is_foreign_file(
            path
        ):  # a templated name hits a user's file
            # (a fixed path was checked once in on_train_begin; re-reading it every
            # epoch would load the whole previous checkpoint each time)
            warnings.warn(
                f"ModelCheckpoint: {path!r} exists and is not a descentlab "
                "checkpoint; not overwritten, this epoch is not saved.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        self.saved.append(path)
        self.trainer.save_checkpoint(path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "saved": list(self.saved)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.saved = float(state["best"]), list(state["saved"])


class CSVLogger(Callback):
    """Rewrite ``path`` atomically after every epoch with one row per epoch (the rows
    of epochs before a resume come from the restored history)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_train_begin(self, logs=None):
        done = self.trainer.history.epoch if self.trainer is not None else {}
        n = len(next(iter(done.values()), [])) if done else 0
        self.rows: list[dict[str, Any]] = [  # NaN marks a value the epoch did not log
            {
                "epoch": i + 1,
                **{
                    k: v[i]
                    for k, v in done.items()
                    if k != "epoch" and not math.isnan(v[i])
                },
            }
            for i in range(n)
        ]

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append(
            {
                "epoch": epoch + 1,
                **{k: v for k, v in (logs or {}).items() if k != "epoch"},
            }
        )
        buf = io.StringIO()
        seen = {k for row in self.rows for k in row}
        fields = [
            k for k in EPOCH_KEYS if k in seen
        ]  # one column order, resumed or not
        for row in self.rows:
            fields += [k for k in row if k not in fields]
        writer = csv.DictWriter(
            buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())


class TerminateOnNaN(Callback):
    """Stop at the first non-finite batch loss (Keras's name).

    The Trainer already refuses to apply a step whose loss or gradient is not finite
    (weights stay at their last finite values); this callback makes training stop
    even when the Trainer runs with ``nonfinite="skip"``.
    """

    def on_train_begin(self, logs=None):
        self.step = None

    def on_train_batch_end(self, step, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.step = step
            self.trainer.stop_training = True
            self.trainer.stop_reason = "nonfinite"


class LearningRateLogger(Callback):
    """Collects the learning rate of every parameter group per step and per epoch."""

    def on_train_begin(self, logs=None):
        self.steps: list[list[float]] = []
        self.epochs: list[list[float]] = []

    def _lrs(self) -> list[float]:
        return [float(g["lr"]) for g in self.trainer.optimizer.param_groups]

    def on_train_batch_end(self, step, logs=None):
        self.steps.append(self._lrs())

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self._lrs())

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "epochs": self.epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = [list(map(float, s)) for s in state["steps"]]
        self.epochs = [list(map(float, e)) for e in state["epochs"]]
