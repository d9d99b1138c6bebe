"""One run of the protocol: train a workload with one optimizer setting and seed.

The run takes exactly ``workload.steps`` optimizer steps (batches drawn
without replacement, reshuffled each epoch, by a DataLoader seeded with
``seed``; initial weights from ``workload.build_model(seed)``). After every
``eval_every`` steps, and after the last, it evaluates the validation set
(eval mode) and records::

    step, val_acc, val_loss, train_loss (mean batch loss since the last evaluation)

and, apart from them, the training seconds so far (evaluation time excluded).
steps_to_target = the first recorded step with val_acc >= target (inf if none).

A run whose loss or gradient becomes non-finite stops there (the Trainer keeps
the last finite weights) and is marked ``diverged``; its curve ends at the
last evaluation before it stopped, and its final metrics are those weights'.

Everything except ``timing`` is a deterministic function of the workload, the
optimizer, its hyperparameters and the seed: the same inputs give the same
numbers bit for bit.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn import SoftmaxCrossEntropy
from ..optim import make_optimizer
from ..train import Callback, Trainer
from .spaces import optimizer_kwargs
from .workloads import Workload

__all__ = ["run_trial", "steps_to_target"]


class _Probe(Callback):
    """Evaluate the validation set at the workload's marks; stop after its budget."""

    def __init__(self, workload: Workload, val: tuple[Any, Any]) -> None:
        self.workload, self.val = workload, val
        self.marks = set(workload.evaluations)
        self.curve: dict[str, list[float]] = {
            k: [] for k in ("step", "val_acc", "val_loss", "train_loss")
        }
        self.seconds: list[float] = []
        self._train_seconds = 0.0
        self._t0 = time.perf_counter()
        self._since = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, step: int, logs: dict | None = None) -> None:
        done = step + 1
        if done in self.marks:
            self._train_seconds += time.perf_counter() - self._t0
            losses = self.trainer.history.step["loss"][self._since :]
            self._since += len(losses)
            ev = self.trainer.evaluate(*self.val)
            self.curve["step"].append(done)
            self.curve["val_acc"].append(float(ev["acc"]))
            self.curve["val_loss"].append(float(ev["loss"]))
            self.curve["train_loss"].append(
                math.fsum(losses) / len(losses) if losses else math.nan
            )
            self.seconds.append(self._train_seconds)
            self._t0 = time.perf_counter()
        if done >= self.workload.steps:
            self.trainer.stop_training = True


def steps_to_target(steps: list[float], values: list[float], target: float) -> float:
    """The first step whose value is >= target; inf when none is."""
    for s, v in zip(steps, values, strict=True):
        if v >= target:
            return float(s)
    return math.inf


def run_trial(
    workload: Workload,
    optimizer: str,
    params: Mapping[str, float],
    seed: int,
    *,
    test: bool = False,
) -> dict[str, Any]:
    """Train once and return the record (see the module docstring).

    Record keys: ``optimizer``, ``workload``, ``params``, ``seed``, ``curve``
    {step, val_acc, val_loss, train_loss}, ``final_val_acc``, ``final_val_loss``,
    ``test_acc``/``test_loss`` (NaN unless ``test``), ``steps_to_target``,
    ``diverged`` (None or the step and cause) and ``timing`` {``seconds`` at each
    evaluation, ``seconds_to_target``, ``wall_seconds``}.
    """
    wall0 = time.perf_counter()
    train, val, test_set = workload.splits()
    model = workload.build_model(seed)
    opt = make_optimizer(optimizer, model.parameters(), **optimizer_kwargs(params))
    scheduler = None
    if workload.schedule is not None:
        from ..schedules import Scheduler, make_schedule

        lr = float(params["lr"])
        scheduler = Scheduler(
            opt, make_schedule(workload.schedule, lr, workload.steps), interval="step"
        )
    probe = _Probe(workload, val)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        opt,
        scheduler,
        callbacks=[probe],
        verbose=0,
        on_interrupt="raise",
    )
    per_epoch = math.ceil(len(train[0]) / workload.batch_size)
    epochs = math.ceil(workload.steps / per_epoch)
    nan = {"acc": math.nan, "loss": math.nan}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # divergence is recorded below
        trainer.fit(train, epochs=epochs, batch_size=workload.batch_size, seed=seed)
        final = trainer.evaluate(*val)
        tested = trainer.evaluate(*test_set) if test else nan
    curve = probe.curve
    reached = steps_to_target(curve["step"], curve["val_acc"], workload.target)
    seconds_to = math.inf
    if math.isfinite(reached):
        seconds_to = probe.seconds[curve["step"].index(reached)]
    return {
        "optimizer": optimizer,
        "workload": workload.name,
        "params": dict(params),
        "seed": int(seed),
        "curve": curve,
        "final_val_acc": float(final["acc"]),
        "final_val_loss": float(final["loss"]),
        "test_acc": float(tested["acc"]),
        "test_loss": float(tested["loss"]),
        "steps_to_target": reached,
        "diverged": trainer.history.nonfinite,
        "timing": {
            "seconds": probe.seconds,
            "seconds_to_target": seconds_to,
            "wall_seconds": time.perf_counter() - wall0,
        },
    }
