"""The training loop: one forward and one backward pass per batch.

Per batch: logits = model(x); L = loss(logits, y); guard L and ∇ finite;
model.backward(dL/dlogits); [clip]; optimizer.step(); [scheduler.step() per step].
The layer fed with the data skips its dx while fit runs (``input_grad = False``).
Per epoch: evaluate on validation data; [scheduler.step() per epoch; plateau];
callbacks; history. Ctrl-C stops at the next batch boundary and writes a checkpoint
from which ``fit(..., resume=path)`` continues exactly.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend as B
from .._validation import check_option, check_scalar
from ..data.loader import DataLoader
from ..errors import CheckpointError, InvalidParameterError, OutputExistsError
from ..nn.module import Module, Sequential
from ..nn.parallel import training_threads
from .callbacks import Callback
from .checkpoint import (
    is_foreign_file,
    load_checkpoint,
    rng_states,
    save_checkpoint,
    set_rng_states,
)
from .history import History
from .interrupt import CtrlC
from .progress import ProgressBar


@dataclass
class _EpochTotals:
    """Running sums of the epoch so far (checkpointed: a resume continues them)."""

    loss_sum: float = 0.0
    correct: int = 0
    count: int = 0

    def add(self, loss: float, correct: int, n: int) -> None:
        self.loss_sum += loss * n
        self.correct += correct
        self.count += n

    def means(self, classify: bool) -> tuple[float, float]:
        """(mean loss, accuracy or NaN) over the samples seen this epoch."""
        c = max(self.count, 1)
        return self.loss_sum / c, self.correct / c if classify else math.nan


def _check_limits(epochs: int | None, max_steps: int | None) -> None:
    owner = "Trainer.fit"
    if epochs is None and max_steps is None:
        raise InvalidParameterError(
            f"{owner}: give 'epochs', 'max_steps' or both (totals of the run)."
        )
    if epochs is not None:
        check_scalar(epochs, "epochs", numbers.Integral, min_val=1, owner=owner)
    if max_steps is not None:
        check_scalar(max_steps, "max_steps", numbers.Integral, min_val=1, owner=owner)


def _grads_finite(params) -> bool:
    """True when every gradient element is finite; one host sync for all of them."""
    ok = True
    for p in params:
        if p.grad is not None:
            ok = ok & B.get_array_module(p.grad).isfinite(p.grad).all()
    return bool(ok)


def _data_layer(model: Module) -> Any:
    """The layer that receives the input batch, if it can skip dx (``input_grad``).

    The model itself, or the first child of a plain Sequential (recursively). The
    Trainer discards the model's dx, so this layer need not compute it.
    """
    m = model
    while (
        isinstance(m, Sequential)
        and len(m)
        and type(m).forward is Sequential.forward
        and type(m).backward is Sequential.backward
    ):
        m = m[0]
    return m if hasattr(m, "input_grad") else None


def _check_checkpoint_target(path: str | Path) -> None:
    """Refuse to overwrite, at every epoch end, a file that is not a checkpoint."""
    if is_foreign_file(path):
        raise OutputExistsError(
            f"Trainer.fit: checkpoint={str(path)!r} exists and is not a descentlab "
            "checkpoint; it would be overwritten after the first epoch. Choose another "
            "path."
        ) from None


def _input_dtype(model: Module, x: Any) -> Any:
    """The dtype inputs are fed in: the model's floating dtype for floating ``x`` (so
    float64 data does not silently run a float32 model in float64), else x's own."""
    params = model.parameters()
    dtype = getattr(x, "dtype", None)
    if params and dtype is not None and np.issubdtype(dtype, np.floating):
        return params[0].data.dtype
    return None


def _check_trainer_args(
    model, scheduler, nonfinite, on_interrupt, eval_batch_size, clip_grad_norm
) -> None:
    """Trainer's argument checks: a clear TypeError/ValueError naming the argument."""
    if not isinstance(model, Module):
        raise TypeError(
            f"Trainer: 'model' must be a descentlab Module. Got {type(model).__name__}."
        )
    check_option(nonfinite, "nonfinite", ("stop", "skip"), owner="Trainer")
    check_option(on_interrupt, "on_interrupt", ("checkpoint", "raise"), owner="Trainer")
    check_scalar(
        eval_batch_size,
        "eval_batch_size",
        numbers.Integral,
        min_val=1,
        owner="Trainer",
    )
    if clip_grad_norm is not None:
        check_scalar(
            clip_grad_norm,
            "clip_grad_norm",
            numbers.Real,
            min_val=0.0,
            include_boundaries="neither",
            owner="Trainer",
        )
    if scheduler is not None and getattr(scheduler, "interval", None) not in (
        "step",
        "epoch",
    ):
        raise TypeError(
            "Trainer: 'scheduler' must be a descentlab.schedules.Scheduler (with "
            f"interval 'step' or 'epoch') or None. Got {type(scheduler).__name__}; "
            "pass callbacks as callbacks=[...]."
        )


class Trainer:
    """Fit a model with a loss, an optimizer and an optional scheduler.

    Args:
        model: a descentlab Module producing logits (N, K).
        loss: e.g. SoftmaxCrossEntropy(); ``forward(logits, y)``, ``backward()``.
        optimizer: a descentlab.optim optimizer over ``model.parameters()``.
        scheduler: optional descentlab.schedules.Scheduler (per step or per epoch).
        callbacks: Callback instances (EarlyStopping, ModelCheckpoint, CSVLogger, ...).
        verbose: 1 shows a progress line per epoch (on stderr), 0 is silent.
        nonfinite: "stop" (default) ends training at the first non-finite loss or
            gradient, keeping the last finite weights; "skip" drops that step.
        clip_grad_norm: clip the total gradient L2 norm to this value before each step.
        eval_batch_size: batch size for evaluate/predict.
        on_interrupt: "checkpoint" (default): the first Ctrl-C during ``fit``
            finishes the batch, writes a checkpoint (the ``checkpoint`` path, else
            ``descentlab-interrupted.npz`` in the working folder) and returns;
            "raise": KeyboardInterrupt propagates and nothing is written (for
            code that runs many short fits, like the experiments and the search).
        config: JSON-able description of the run, stored in every checkpoint (the
            CLI rebuilds model, optimizer and data from it on resume).
    """

    def __init__(
        self,
        model: Module,
        loss: Any,
        optimizer: Any,
        scheduler: Any = None,
        callbacks: Sequence[Callback] = (),
        *,
        verbose: int = 1,
        nonfinite: str = "stop",
        clip_grad_norm: float | None = None,
        eval_batch_size: int = 1000,
        progress_stream: Any = None,
        on_interrupt: str = "checkpoint",
        config: dict | None = None,
    ):
        _check_trainer_args(
            model, scheduler, nonfinite, on_interrupt, eval_batch_size, clip_grad_norm
        )
        self.model, self.loss, self.optimizer, self.scheduler = (
            model,
            loss,
            optimizer,
            scheduler,
        )
        self.callbacks = list(callbacks)
        if verbose:
            self.callbacks.append(ProgressBar(progress_stream))
        self.nonfinite, self.clip_grad_norm = nonfinite, clip_grad_norm
        # accuracy only means something for a classification loss (not for MSELoss)
        self._classify = bool(getattr(loss, "classification", True))
        self.on_interrupt = on_interrupt
        self.eval_batch_size = int(eval_batch_size)
        self.config = dict(config or {})
        self.history = History()
        self.epoch = 0  # finished epochs
        self.global_step = 0  # optimizer steps taken (and attempted, when skipping)
        self.epochs = 0
        self.batches_per_epoch = 0
        self.loader: DataLoader | None = None
        self.stop_training = False
        self.stop_reason: str | None = None
        self.max_steps: int | None = None
        self._totals = _EpochTotals()
        self._ctrl_c = CtrlC(on_interrupt)
        self._callback_states: list[dict] = []  # from load_checkpoint, applied in fit

    # ------------------------------------------------------------ evaluation
    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Logits for ``x`` in evaluation mode, as a NumPy array."""
        bs = batch_size or self.eval_batch_size
        was_training = self.model.training
        self.model.eval()
        try:
            dtype = _input_dtype(self.model, x)
            outs = [
                B.to_numpy(self.model.forward(B.asarray(x[i : i + bs], dtype)))
                for i in range(0, len(x), bs)
            ]
        finally:
            self.model.train(was_training)
        return np.concatenate(outs) if outs else np.zeros((0,))

    def evaluate(
        self, x: Any, y: Any, batch_size: int | None = None
    ) -> dict[str, float]:
        """{"loss": mean loss, "acc": accuracy} on (x, y) in evaluation mode."""
        if len(x) != len(y):
            raise InvalidParameterError(
                f"Trainer.evaluate: x and y must have the same length. Got {len(x)} "
                f"and {len(y)}."
            )
        bs = batch_size or self.eval_batch_size
        was_training = self.model.training
        self.model.eval()
        total, correct = 0.0, 0
        dtype = _input_dtype(self.model, x)
        try:
            for i in range(0, len(x), bs):
                xb, yb = B.asarray(x[i : i + bs], dtype), B.asarray(y[i : i + bs])
                logits = self.model.forward(xb)
                total += self.loss.forward(logits, yb) * len(xb)
                correct += _correct(logits, yb) if self._classify else 0
        finally:
            self.model.train(was_training)
        n = max(len(x), 1)
        return {"loss": total / n, "acc": correct / n if self._classify else math.nan}

    # ------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict()
            if self.scheduler is not None
            else None,
            "loader": self.loader.state_dict() if self.loader is not None else None,
            "rngs": rng_states(self.model),
            "trainer": {
                "epoch": self.epoch,
                "global_step": self.global_step,
                **asdict(self._totals),
            },
            "callbacks": [
                {"class": type(cb).__name__, "state": cb.state_dict()}
                for cb in self.callbacks
            ],
        }

    def save_checkpoint(self, path: str | Path, config: dict | None = None) -> Path:
        """Write everything needed to continue training exactly, atomically."""
        save_checkpoint(
            path,
            self.state(),
            {
                "model_class": type(self.model).__name__,
                "optimizer_class": type(self.optimizer).__name__,
                "history": self.history.to_dict(),
                "config": config or self.config,
            },
        )
        return Path(path)

    def load_checkpoint(self, path: str | Path) -> dict[str, Any]:
        """Restore model, optimizer, scheduler, loader, RNGs and history; returns
        meta."""
        state, meta = load_checkpoint(path)
        if meta.get("model_class") != type(self.model).__name__:
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds a {meta.get('model_class')} but the "
                "trainer's "
                f"model is a {type(self.model).__name__}."
            )
        saved_opt = meta.get("optimizer_class", type(self.optimizer).__name__)
        if saved_opt != type(self.optimizer).__name__:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was trained with {saved_opt} but the "
                "trainer's "
                f"optimizer is {type(self.optimizer).__name__}; their states do not "
                "mix."
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            if state.get("scheduler") is None:
                raise CheckpointError(
                    f"checkpoint {str(path)!r} has no scheduler state but a "
                    "scheduler was given."
                )
            self.scheduler.load_state_dict(state["scheduler"])
        if self.loader is not None and state.get("loader") is not None:
            self.loader.load_state_dict(state["loader"])
        set_rng_states(self.model, state.get("rngs") or [])
        tr = state["trainer"]
        self.epoch, self.global_step = int(tr["epoch"]), int(tr["global_step"])
        self._totals = _EpochTotals(
            float(tr["loss_sum"]), int(tr["correct"]), int(tr["count"])
        )
        self.history = History.from_dict(meta["history"])
        self._callback_states = list(state.get("callbacks") or [])  # applied in fit
        return meta

    def _restore_callbacks(self) -> None:
        """Give each callback its saved state: the k-th of a class gets the k-th saved
        state of that class (so adding an unrelated callback does not shift them)."""
        saved: dict[str, list[dict]] = {}
        for entry in self._callback_states:
            saved.setdefault(entry["class"], []).append(entry["state"])
        seen: dict[str, int] = {}
        for cb in self.callbacks:
            name = type(cb).__name__
            k = seen[name] = seen.get(name, -1) + 1
            if k < len(saved.get(name, [])) and saved[name][k]:
                cb.load_state_dict(saved[name][k])
        self._callback_states = []

    # ------------------------------------------------------------ training
    def fit(
        self,
        train: Any,
        val: tuple[Any, Any] | None = None,
        *,
        epochs: int | None = None,
        max_steps: int | None = None,
        batch_size: int = 128,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        resume: str | Path | None = None,
        checkpoint: str | Path | None = None,
    ) -> History:
        """Train for ``epochs`` epochs and/or ``max_steps`` optimizer steps in total.

        Both count what was done before a resume. With ``max_steps`` training
        stops after that step even in the middle of an epoch; that partial
        epoch is then finished as usual (validation, callbacks, history), and
        ``epochs`` defaults to the number of epochs the steps need.

        Args:
            train: (x, y) arrays or a DataLoader.
            val: optional (x_val, y_val) evaluated after every epoch.
            epochs: total epochs (>= 1); needed unless ``max_steps`` is given.
            max_steps: total optimizer steps (>= 1), or None for no step limit.
            resume: checkpoint path to continue from (exactly where it stopped).
            checkpoint: path rewritten at every epoch end and on Ctrl-C.
        Returns:
            The History (also ``self.history``).
        """
        self._prepare_fit(
            train,
            val,
            epochs,
            max_steps,
            batch_size,
            seed,
            shuffle,
            drop_last,
            resume,
            checkpoint,
        )
        for cb in self.callbacks:
            cb.set_trainer(self)
            cb.on_train_begin({})
        if resume is not None:
            self._restore_callbacks()
        ctrl_c = self._ctrl_c
        self._train_epochs(val, checkpoint)
        if ctrl_c.requested:  # the one way out after a Ctrl-C
            self.stop_reason = "interrupted"
            saved = self._save_interrupted(checkpoint)
            self.history.checkpoint = None if saved is None else str(saved)
        self.history.stopped = self.stop_reason
        for cb in self.callbacks:
            cb.on_train_end({})
        return self.history

    def _prepare_fit(
        self,
        train: Any,
        val: Any,
        epochs: int | None,
        max_steps: int | None,
        batch_size: int,
        seed: int,
        shuffle: bool,
        drop_last: bool,
        resume: str | Path | None,
        checkpoint: str | Path | None,
    ) -> None:
        """Check fit's arguments, build the loader, load ``resume`` or start
        fresh, and set the epoch/step limits and the Ctrl-C state."""
        _check_limits(epochs, max_steps)
        self.loader = self._loader_for(train, batch_size, shuffle, seed, drop_last)
        self._batch_dtype = _input_dtype(self.model, self.loader.x)  # user loaders too
        if val is not None and len(val) != 2:
            raise InvalidParameterError(
                "Trainer.fit: 'val' must be an (x_val, y_val) pair or None."
            )
        if checkpoint is not None:
            _check_checkpoint_target(checkpoint)
        if resume is not None:
            self.load_checkpoint(resume)
        else:
            self.history, self.epoch, self.global_step = History(), 0, 0
            self._totals = _EpochTotals()
        self.batches_per_epoch = len(self.loader)
        if epochs is None:
            assert max_steps is not None  # checked above
            epochs = -(-int(max_steps) // max(self.batches_per_epoch, 1))
        self.epochs = int(epochs)
        self.max_steps = None if max_steps is None else int(max_steps)
        self.stop_training, self.stop_reason = False, None
        self._ctrl_c.reset(
            self.on_interrupt,
            own_checkpoint=checkpoint is not None
            and resume is not None
            and Path(checkpoint).resolve() == Path(resume).resolve(),
        )

    def _train_epochs(self, val: Any, checkpoint: str | Path | None) -> None:
        """Epochs until a limit, a stop or a Ctrl-C; the data layer skips dx."""
        ctrl_c = self._ctrl_c
        first = _data_layer(self.model)
        first_input_grad = getattr(first, "input_grad", None)
        try:
            if first is not None:
                first.input_grad = False  # dx of the data is never used
            with ctrl_c.caught(), ctrl_c.sigint_guard(), training_threads():
                while self._keep_going():
                    self._run_epoch(val, checkpoint)
        finally:
            if first is not None:
                first.input_grad = first_input_grad

    def _loader_for(
        self, train: Any, batch_size: int, shuffle: bool, seed: int, drop_last: bool
    ) -> DataLoader:
        """``train`` if a DataLoader, else a loader over (x, y) in the model's dtype."""
        if isinstance(train, DataLoader):
            return train
        try:
            x, y = train
        except (TypeError, ValueError):
            raise InvalidParameterError(
                "Trainer.fit: 'train' must be an (x, y) pair or a DataLoader. "
                f"Got {type(train).__name__}."
            ) from None
        dtype = _input_dtype(self.model, x)
        if dtype is not None and x.dtype != dtype:
            x = x.astype(dtype)  # once, not per batch
        return DataLoader(
            x, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
        )

    def _keep_going(self) -> bool:
        steps_left = self.max_steps is None or self.global_step < self.max_steps
        return (
            self.epoch < self.epochs
            and steps_left
            and not self.stop_training
            and not self._ctrl_c.requested
        )

    def _run_epoch(self, val, checkpoint) -> None:
        epoch, t0 = self.epoch, time.perf_counter()
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, {})
        params = self.model.parameters()
        self.model.train()
        loader = self.loader
        assert loader is not None  # set by fit
        batches = iter(loader)
        ctrl_c = self._ctrl_c
        while True:
            ctrl_c.torn = True  # the loader moves on before the step is applied
            try:
                xb, yb = next(batches)
            except StopIteration:
                break
            if self._batch_dtype is not None and xb.dtype != self._batch_dtype:
                xb = xb.astype(self._batch_dtype)
            batch = (
                loader.position - 1 if loader.position else self.batches_per_epoch - 1
            )
            for cb in self.callbacks:
                cb.on_train_batch_begin(self.global_step, {})
            logs = self._train_step(xb, yb, params)
            logs.update(batch=batch, batches=self.batches_per_epoch, size=len(xb))
            with ctrl_c.caught():  # the step is applied: stop as after a first Ctrl-C
                for cb in self.callbacks:
                    cb.on_train_batch_end(self.global_step - 1, logs)
            if self.max_steps is not None and self.global_step >= self.max_steps:
                self.stop_training = True
                self.stop_reason = self.stop_reason or "max_steps"
            if self.stop_training or ctrl_c.requested:
                last_batch = loader.position == 0  # the loader ended its epoch
                if self.stop_reason == "nonfinite" or (
                    ctrl_c.requested and not last_batch
                ):
                    return  # resume continues inside this epoch
                break
        self._finish_epoch(epoch, val, t0, checkpoint)

    def _train_step(self, xb, yb, params) -> dict[str, float]:
        """One optimizer step on a batch; clears ``torn`` once the step is applied."""
        self.optimizer.zero_grad()
        logits = self.model.forward(xb)
        loss = self.loss.forward(logits, yb)
        lr = float(self.optimizer.param_groups[0]["lr"])
        cause = None
        if not math.isfinite(loss):
            cause = f"loss is {loss}"
        else:
            self.model.backward(self.loss.backward())
            if self.clip_grad_norm is not None:
                from ..optim import clip_grad_norm

                norm = clip_grad_norm(params, self.clip_grad_norm)
                if not math.isfinite(norm):
                    cause = f"gradient norm is {norm}"
            elif not _grads_finite(params):
                cause = "a gradient is not finite"
        self.global_step += 1
        if cause is not None:
            self._on_nonfinite(cause)
            self._ctrl_c.torn = False
            return {"loss": loss, "lr": lr, "acc": math.nan}
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler.interval == "step":
            self.scheduler.step()
        correct = _correct(logits, yb) if self._classify else 0
        self._totals.add(loss, correct, len(yb))
        self.history.add_step(loss, lr)
        self._ctrl_c.torn = False
        mean_loss, acc = self._totals.means(self._classify)
        return {"loss": mean_loss, "acc": acc, "lr": lr, "step_loss": loss}

    def _on_nonfinite(self, cause: str) -> None:
        self.optimizer.zero_grad()
        info = {"step": self.global_step, "epoch": self.epoch + 1, "cause": cause}
        if self.nonfinite == "stop":
            self.history.nonfinite = info
            self.stop_training, self.stop_reason = True, "nonfinite"
            warnings.warn(
                f"Trainer: stopped at step {info['step']} (epoch {info['epoch']}): "
                f"{cause}; "
                "the weights are those of the last finite step.",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            self.history.nonfinite = info

    def _finish_epoch(self, epoch: int, val, t0: float, checkpoint) -> None:
        mean_loss, acc = self._totals.means(self._classify)
        logs = {
            "epoch": epoch + 1,
            "loss": mean_loss,
            "acc": acc,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
        }
        if val is not None:
            ev = self.evaluate(*val)
            logs.update(val_loss=ev["loss"], val_acc=ev["acc"])
        self.epoch += 1
        self._totals = _EpochTotals()
        if self.scheduler is not None:
            if self.scheduler.interval == "epoch":
                self.scheduler.step()
            if getattr(self.scheduler, "plateau", None) is not None:
                self.scheduler.step_plateau(logs.get("val_loss", logs["loss"]))
        logs["seconds"] = time.perf_counter() - t0
        self.history.add_epoch(logs)
        self._ctrl_c.torn = False
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)
        if self.stop_training and self.stop_reason is None:
            self.stop_reason = "callback"
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
            self._ctrl_c.own_checkpoint = True

    def _save_interrupted(self, checkpoint) -> Path | None:
        """Checkpoint after an interrupt, unless it came in the middle of a step or an
        epoch end (a second Ctrl-C): that state is half updated, so the last
        per-epoch checkpoint (if any) is kept instead; returns the path or None."""
        if self._ctrl_c.torn:
            kept = Path(checkpoint) if self._ctrl_c.own_checkpoint else None
            where = (
                f"the checkpoint of the last finished epoch, {kept}, is kept"
                if kept
                else "no checkpoint was written"
            )
            warnings.warn(
                f"Trainer: interrupted in the middle of a training step or an "
                f"epoch's end; that state is half updated and not saved; {where}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return kept
        path = Path(checkpoint) if checkpoint is not None else None
        if path is None:
            path = Path.cwd() / "descentlab-interrupted.npz"
            i = 1
            while path.exists():
                path = Path.cwd() / f"descentlab-interrupted-{i}.npz"
                i += 1
        self.save_checkpoint(path)
        warnings.warn(
            f"Trainer: interrupted; checkpoint written to {path}. "
            "Continue with fit(..., resume=path).",
            RuntimeWarning,
            stacklevel=3,
        )
        return path


def _correct(logits, y) -> int:
    """Rows whose arg-max equals the label (ids or one-hot), counted on the device."""
    xp = B.get_array_module(logits)
    y = xp.asarray(y)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    return int((logits.argmax(axis=1) == y).sum())
