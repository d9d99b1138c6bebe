"""Live training runs for the playground: one background run at a time, streamed.

A :class:`TrainingManager` trains an MLP (784-100-100-10) or SimpleConvNet on
the shipped MNIST sample with the real Trainer in a background thread. A
Trainer callback appends events to the run's log and ends the run at the next
batch boundary when Stop is asked: it raises from ``on_train_batch_begin``
(the Trainer runs with ``on_interrupt="raise"``, so the exception leaves
``fit`` at once, after the last finished step and without the epoch's
validation pass that ``trainer.stop_training`` would still run; the weights
are those of the last step)::

    mgr = TrainingManager()
    run = mgr.start({"model": "mlp", "optimizer": "adam", "lr": 1e-3})
    events, done = mgr.events(run.id, since=0, timeout=1.0)
    mgr.stop()

Events are dicts with a ``type``: "start" (config), "step" (step,
epoch, loss = the batch loss, acc = running accuracy of the epoch, lr),
"epoch" (epoch, loss, acc, val_loss, val_acc, seconds) and a final "end"
(status "finished" | "stopped" | "diverged" | "failed", reason, steps, epochs).
A run has diverged when its loss is not finite (the Trainer stops it) or a batch
loss exceeds ``EXPLODED`` times the first one (the stream ends it).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..optim import OPTIMIZERS
from ..schedules import SCHEDULE_NAMES
from ..train.callbacks import Callback
from .api import (
    ApiError,
    Query,
    bool_field,
    choice_field,
    float_field,
    int_field,
    reject_unknown,
)

__all__ = [
    "MAX_TRAIN_STEPS",
    "TRAIN_FIELDS",
    "TRAIN_MODELS",
    "TRAIN_SCHEDULES",
    "TrainingManager",
    "TrainingRun",
    "parse_train_query",
]

TRAIN_MODELS = ("mlp", "simplecnn")
TRAIN_SCHEDULES = ("constant", *SCHEDULE_NAMES)
#: the most optimizer steps one run may take (epochs x batches per epoch)
MAX_TRAIN_STEPS = 20_000
#: a run whose batch loss exceeds this multiple of its first one has diverged
EXPLODED = 100.0
MOMENTUM_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop")

#: field -> range and default (ints and floats; "lr" defaults per optimizer)
TRAIN_FIELDS: dict[str, dict[str, Any]] = {
    "lr": {"kind": "float", "lo": 0.0, "hi": 10.0, "bounds": "right", "log": True},
    "momentum": {"kind": "float", "lo": 0.0, "hi": 1.0, "bounds": "left"},
    "weight_decay": {"kind": "float", "lo": 0.0, "hi": 1.0, "bounds": "both"},
    "batch_size": {"kind": "int", "lo": 1, "hi": 1000, "default": 64},
    "epochs": {"kind": "int", "lo": 1, "hi": 50, "default": 3},
    "n_train": {"kind": "int", "lo": 10, "hi": 4000, "default": 2000},
    # n_train + n_val <= 4000 + 1000: always within the 5,000-digit sample
    "n_val": {"kind": "int", "lo": 0, "hi": 1000, "default": 500},
    "seed": {"kind": "int", "lo": 0, "hi": 2**31 - 1, "default": 0},
}


def parse_train_query(q: Query) -> dict[str, Any]:
    """Validate the parameters of ``POST /api/train`` into a run config."""
    from ..optim import default_lr

    reject_unknown(q, ("model", "optimizer", "schedule", "nesterov", *TRAIN_FIELDS))
    cfg: dict[str, Any] = {
        "model": choice_field(q, "model", TRAIN_MODELS, default="mlp"),
        "optimizer": choice_field(q, "optimizer", tuple(OPTIMIZERS), default="adam"),
        "schedule": choice_field(q, "schedule", TRAIN_SCHEDULES, default="constant"),
    }
    for name, spec in TRAIN_FIELDS.items():
        if spec["kind"] == "int":
            v = int_field(q, name, spec["lo"], spec["hi"])
            cfg[name] = spec["default"] if v is None else v
        else:
            cfg[name] = float_field(q, name, spec["lo"], spec["hi"], spec["bounds"])
    if cfg["lr"] is None:
        cfg["lr"] = default_lr(cfg["optimizer"])
    if cfg["weight_decay"] is None:
        cfg["weight_decay"] = 0.0
    if cfg["momentum"] is not None and cfg["optimizer"] not in MOMENTUM_OPTIMIZERS:
        raise ApiError(
            400,
            f"'momentum' does not apply to {cfg['optimizer']}; only to "
            f"{', '.join(MOMENTUM_OPTIMIZERS)}.",
        )
    nesterov = bool_field(q, "nesterov")
    if nesterov is not None and cfg["optimizer"] != "sgd":
        raise ApiError(400, f"'nesterov' applies to sgd only, not {cfg['optimizer']}.")
    cfg["nesterov"] = bool(nesterov)
    per_epoch = math.ceil(cfg["n_train"] / cfg["batch_size"])
    cfg["steps_total"] = per_epoch * cfg["epochs"]
    if cfg["steps_total"] > MAX_TRAIN_STEPS:
        raise ApiError(
            400,
            f"this run would take {cfg['steps_total']} steps (epochs x "
            f"ceil(n_train / batch_size)); at most {MAX_TRAIN_STEPS}: raise "
            "'batch_size' or lower 'epochs'.",
        )
    return cfg


@dataclass
class TrainingRun:
    """One training run: its config, status and the log of events so far."""

    id: int
    config: dict[str, Any]
    status: str = "running"
    events: list[dict[str, Any]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    started: float = field(default_factory=time.time)

    @property
    def done(self) -> bool:
        return self.status != "running"

    def summary(self) -> dict[str, Any]:
        steps = [e for e in self.events if e["type"] == "step"]
        return {
            "id": self.id,
            "config": self.config,
            "status": self.status,
            "steps_done": steps[-1]["step"] if steps else 0,
            "events": len(self.events),
        }


def _build(cfg: dict[str, Any]):
    """(model, optimizer, scheduler, train, val) for a parsed config."""
    from ..data import mnist_sample_splits
    from ..models import MLP, SimpleConvNet, param_groups
    from ..nn import Module
    from ..optim import make_optimizer
    from ..schedules import Scheduler, make_schedule

    flat = cfg["model"] == "mlp"
    s = mnist_sample_splits(
        cfg["n_train"], n_val=cfg["n_val"], n_test=0, seed=cfg["seed"], flatten=flat
    )
    model: Module = (
        MLP((784, 100, 100, 10), seed=cfg["seed"])
        if flat
        else SimpleConvNet(seed=cfg["seed"])
    )
    kw: dict[str, Any] = {}
    if cfg["momentum"] is not None:
        kw["momentum"] = cfg["momentum"]
    if cfg["nesterov"]:
        kw["nesterov"] = True
    opt = make_optimizer(
        cfg["optimizer"], param_groups(model, cfg["weight_decay"]), lr=cfg["lr"], **kw
    )
    sched = None
    if cfg["schedule"] != "constant":
        total = max(cfg["steps_total"], 2)
        sched = Scheduler(
            opt, make_schedule(cfg["schedule"], cfg["lr"], total), interval="step"
        )
    return model, opt, sched, s.train, s.val


class TrainingManager:
    """Runs at most one training at a time; keeps the last few runs' event logs."""

    KEEP = 8

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._runs: dict[int, TrainingRun] = {}
        self._ids = itertools.count(1)
        self.current: TrainingRun | None = None

    # ------------------------------------------------------------ control
    def start(self, config: dict[str, Any]) -> TrainingRun:
        """Start a run (config from :func:`parse_train_query`); 409 while one runs."""
        with self._cond:
            if self.current is not None and not self.current.done:
                cur = self.current
                raise ApiError(
                    409,
                    f"run {cur.id} ({cur.config['model']} + {cur.config['optimizer']}) "
                    "is still training; one run at a time: stop it first.",
                )
            run = TrainingRun(next(self._ids), dict(config))
            self._runs[run.id] = run
            for old in sorted(self._runs)[: -self.KEEP]:
                del self._runs[old]
            self.current = run
            run.thread = threading.Thread(
                target=self._train, args=(run,), name=f"playground-train-{run.id}"
            )
            run.thread.daemon = True
            run.thread.start()
            return run

    def stop(self) -> TrainingRun | None:
        """Ask the current run to stop at its next batch boundary (None if idle)."""
        with self._cond:
            run = self.current
            if run is None or run.done:
                return None
            run.stop_event.set()
            return run

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the current run and wait for its thread."""
        run = self.stop()
        if run is not None and run.thread is not None:
            run.thread.join(timeout)

    def get(self, run_id: int) -> TrainingRun:
        with self._cond:
            if run_id not in self._runs:
                known = ", ".join(str(i) for i in self._runs) or "none"
                raise ApiError(404, f"no run {run_id}; known runs: {known}.")
            return self._runs[run_id]

    def events(
        self, run_id: int, since: int = 0, timeout: float = 0.0
    ) -> tuple[list[dict[str, Any]], bool]:
        """Events number ``since`` onwards (waiting up to ``timeout`` s for new
        ones) and whether the run has ended."""
        run = self.get(run_id)
        with self._cond:
            if len(run.events) <= since and not run.done and timeout > 0:
                self._cond.wait(timeout)
            return run.events[since:], run.done

    # ------------------------------------------------------------ the run
    def _emit(self, run: TrainingRun, event: dict[str, Any]) -> None:
        with self._cond:
            event["seq"] = len(run.events)
            run.events.append(event)
            self._cond.notify_all()

    def _finish(self, run: TrainingRun, status: str, reason: str, **extra) -> None:
        with self._cond:
            run.status = status
            event = {"type": "end", "status": status, "reason": reason, **extra}
            event["seq"] = len(run.events)
            run.events.append(event)
            self._cond.notify_all()

    def _train(self, run: TrainingRun) -> None:
        from ..nn import SoftmaxCrossEntropy
        from ..train import Trainer

        cfg = run.config
        t0 = time.perf_counter()
        try:
            model, opt, sched, train, val = _build(cfg)
            trainer = Trainer(
                model,
                SoftmaxCrossEntropy(),
                opt,
                sched,
                callbacks=[_Stream(self, run)],
                verbose=0,
                on_interrupt="raise",
            )
            self._emit(run, {"type": "start", "config": cfg})
            warnings.filterwarnings(
                "ignore", message="Trainer: stopped at step", category=RuntimeWarning
            )
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history = trainer.fit(
                    train,
                    val,
                    epochs=cfg["epochs"],
                    batch_size=cfg["batch_size"],
                    seed=cfg["seed"],
                )
        except _EndRun as end:
            extra = {
                "steps": trainer.global_step,
                "epochs": trainer.history.epochs_done,
                "seconds": time.perf_counter() - t0,
            }
            self._finish(run, end.status, end.reason, **extra)
            return
        except Exception as exc:  # a failed run must not take the server down
            self._finish(run, "failed", f"{type(exc).__name__}: {exc}")
            return
        extra = {
            "steps": trainer.global_step,
            "epochs": history.epochs_done,
            "seconds": time.perf_counter() - t0,
        }
        if history.nonfinite:
            info = history.nonfinite
            self._finish(
                run,
                "diverged",
                f"diverged at step {info['step']} (epoch {info['epoch']}): "
                f"{info['cause']}",
                **extra,
            )
        else:
            self._finish(
                run, "finished", f"finished {history.epochs_done} epochs", **extra
            )


def _num(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


class _EndRun(Exception):
    """Raised by the stream callback to end a run now: Stop, or an exploding loss."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Stream(Callback):
    """Trainer callback: logs every step and epoch, and honours Stop."""

    def __init__(self, manager: TrainingManager, run: TrainingRun) -> None:
        self.manager, self.run = manager, run
        self._count = self._correct = 0
        self.first_loss: float | None = None

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._count = self._correct = 0

    def on_train_batch_begin(self, step, logs=None) -> None:
        if self.run.stop_event.is_set():
            raise _EndRun("stopped", f"stopped at step {step}")

    def on_train_batch_end(self, step, logs=None) -> None:
        logs = logs or {}
        size, acc = int(logs.get("size", 0)), _num(logs.get("acc", math.nan))
        batch_acc = None
        if size and acc is not None:  # the running accuracy -> this batch's accuracy
            self._count += size
            correct = round(acc * self._count)
            batch_acc = (correct - self._correct) / size
            self._correct = correct
        self.manager._emit(
            self.run,
            {
                "type": "step",
                "step": step + 1,
                "epoch": self.trainer.epoch + 1,
                "loss": _num(logs.get("step_loss", logs.get("loss", math.nan))),
                "acc": acc,
                "batch_acc": batch_acc,
                "lr": _num(logs.get("lr", math.nan)),
            },
        )
        loss = self.run.events[-1]["loss"]
        if self.first_loss is None:
            self.first_loss = loss
        elif loss is not None and self.first_loss is not None:
            if loss > EXPLODED * max(self.first_loss, 1.0):
                raise _EndRun(
                    "diverged",
                    f"diverged at step {step + 1}: the loss rose to {loss:.3g}, "
                    f"over {EXPLODED:g}x its first value {self.first_loss:.3g}",
                )

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        self.manager._emit(
            self.run,
            {
                "type": "epoch",
                "epoch": epoch + 1,
                "step": self.trainer.global_step,
                **{
                    k: _num(logs.get(k, math.nan))
                    for k in ("loss", "acc", "val_loss", "val_acc", "seconds")
                },
            },
        )
