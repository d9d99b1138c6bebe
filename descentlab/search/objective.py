"""Built-in objective: train an MLP, return its validation accuracy.

``mlp_objective(x_train, y_train, x_val, y_val, epochs=...)`` returns an
:class:`MLPObjective`, a picklable callable ``objective(params, report) ->
val_acc`` that the random search and the Optuna adapter (also in spawned worker
processes) can run. Each trial builds a fresh MLP (same initial weights for the
same ``seed``), trains it with the drawn hyperparameters and calls
``report(epoch, val_acc)`` after every epoch, so Optuna can prune it.

Hyperparameters a space may set (anything else is refused with the list):

- ``lr``, ``weight_decay`` (L2, on weight matrices only, not on biases or BN),
- ``optimizer`` (``sgd``, ``momentum``, ``adam``, ...), ``batch_size``,
- ``units`` (width of every hidden layer), ``layers`` (number of hidden layers),
- ``activation``, ``init``, ``dropout``, ``batchnorm``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_scalar
from ..errors import InvalidParameterError, NonFiniteError

TUNABLE = (
    "lr",
    "weight_decay",
    "optimizer",
    "batch_size",
    "units",
    "layers",
    "activation",
    "init",
    "dropout",
    "batchnorm",
)


class MLPObjective:
    """``objective(params, report=None) -> float``: val accuracy of a trained MLP.

    Args:
        x_train, y_train, x_val, y_val: arrays, ``x: (N, D)`` (or images, flattened
            here), ``y``: integer class ids.
        epochs: training epochs per trial.
        batch_size: default mini-batch size.
        hidden: default hidden layer sizes, e.g. ``(100, 100, 100, 100)``.
        activation, init, dropout, batchnorm: default MLP settings.
        optimizer: default optimizer name; ``lr`` and ``weight_decay`` its defaults.
        seed: seed of the initial weights and the batch order (same for every trial,
            so trials differ only by their hyperparameters).

    Raises (on call):
        InvalidParameterError: ``params`` names a hyperparameter it does not know.
        NonFiniteError: training diverged (the trial is recorded as failed).

    Example (``mlp_objective`` is this class under a function-style name):
        >>> f = mlp_objective(x_tr, y_tr, x_val, y_val, epochs=5)      # doctest: +SKIP
        >>> f({"lr": 0.05, "weight_decay": 1e-6})                      # doctest: +SKIP
        0.82
    """

    def __init__(
        self,
        x_train: Any,
        y_train: Any,
        x_val: Any,
        y_val: Any,
        *,
        epochs: int,
        batch_size: int = 100,
        hidden: Sequence[int] = (100, 100, 100, 100),
        activation: str = "relu",
        init: str | float = "he",
        dropout: float = 0.0,
        batchnorm: bool = False,
        optimizer: str = "sgd",
        lr: float = 0.01,
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> None:
        owner = "mlp_objective"
        self.x_train, self.y_train = _check_xy(x_train, y_train, "train", owner)
        self.x_val, self.y_val = _check_xy(x_val, y_val, "val", owner)
        if self.x_train.shape[1] != self.x_val.shape[1]:
            raise InvalidParameterError(
                f"{owner}: x_train and x_val must have the same number of features. "
                f"Got {self.x_train.shape[1]} and {self.x_val.shape[1]}."
            )
        check_scalar(epochs, "epochs", numbers.Integral, min_val=1, owner=owner)
        check_scalar(batch_size, "batch_size", numbers.Integral, min_val=1, owner=owner)
        hidden = tuple(hidden)
        for h in hidden:
            check_scalar(h, "hidden", numbers.Integral, min_val=1, owner=owner)
        self.n_classes = int(max(self.y_train.max(), self.y_val.max())) + 1
        self.epochs = int(epochs)
        self.seed = int(seed)
        self.defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "optimizer": optimizer,
            "batch_size": int(batch_size),
            "units": None,
            "layers": None,
            "activation": activation,
            "init": init,
            "dropout": dropout,
            "batchnorm": bool(batchnorm),
        }
        self.hidden = hidden

    def config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The training configuration of one trial: defaults updated by ``params``."""
        unknown = sorted(set(params) - set(TUNABLE))
        if unknown:
            raise InvalidParameterError(
                f"mlp_objective: cannot tune {unknown}; the MLP objective takes "
                f"{', '.join(TUNABLE)}."
            )
        cfg = {**self.defaults, **params}
        hidden = list(self.hidden)
        if cfg["layers"] is not None:
            hidden = [hidden[0] if hidden else 100] * int(cfg["layers"])
        if cfg["units"] is not None:
            hidden = [int(cfg["units"])] * len(hidden)
        cfg["hidden"] = hidden
        return cfg

    def __call__(
        self,
        params: Mapping[str, Any],
        report: Callable[[int, float], None] | None = None,
    ) -> float:
        from ..models import MLP
        from ..nn import SoftmaxCrossEntropy
        from ..optim import make_optimizer
        from ..train import Trainer

        cfg = self.config(params)
        sizes = [self.x_train.shape[1], *cfg["hidden"], self.n_classes]
        model = MLP(
            sizes,
            activation=cfg["activation"],
            init=cfg["init"],
            batchnorm=bool(cfg["batchnorm"]),
            dropout=float(cfg["dropout"]),
            seed=self.seed,
        )
        decay: list[Any] = []
        no_decay: list[Any] = []
        for _, p in model.named_parameters():
            (decay if p.data.ndim >= 2 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": float(cfg["weight_decay"])}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        opt = make_optimizer(cfg["optimizer"], groups, lr=float(cfg["lr"]))
        reporter = _report_callback(report)
        trainer = Trainer(
            model,
            SoftmaxCrossEntropy(),
            opt,
            callbacks=[reporter],
            verbose=0,
            on_interrupt="raise",  # Ctrl-C stops the search; no checkpoint per trial
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            history = trainer.fit(
                (self.x_train, self.y_train),
                val=(self.x_val, self.y_val),
                epochs=self.epochs,
                batch_size=int(cfg["batch_size"]),
                seed=self.seed,
            )
        if reporter.error is not None:
            raise reporter.error
        info = getattr(history, "nonfinite", None)
        if info and getattr(history, "stopped", None) == "nonfinite":
            raise NonFiniteError(
                f"training diverged at step {info.get('step')} "
                f"(epoch {info.get('epoch')}): "
                f"{info.get('cause')}"
            )
        accs = history.epoch.get("val_acc", [])
        if not accs:
            raise NonFiniteError("training stopped before the first epoch ended")
        return float(accs[-1])


def _report_callback(report: Callable[[int, float], None] | None) -> Any:
    """A Trainer callback forwarding ``val_acc`` to ``report`` after each epoch.

    When ``report`` raises (e.g. TrialPruned) training stops and the exception is
    kept in ``callback.error`` for the objective to re-raise after ``fit``.
    """
    from ..train import Callback

    class _ReportCallback(Callback):
        def __init__(self) -> None:
            self.error: BaseException | None = None

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.error = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = (logs or {}).get("val_acc")
            if report is None or value is None or self.error is not None:
                return
            try:
                report(int(epoch) + 1, float(value))
            except Exception as exc:  # re-raised after fit
                self.error = exc
                self.trainer.stop_training = True

    return _ReportCallback()


def _check_xy(x: Any, y: Any, part: str, owner: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or len(x) == 0:
        raise InvalidParameterError(
            f"{owner}: x_{part} must have shape (N, D) with N >= 1. Got {x.shape}."
        )
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise InvalidParameterError(
            f"{owner}: y_{part} must be ({len(x)},) integer class ids. "
            f"Got shape {y.shape}, dtype {y.dtype}."
        )
    x = x.reshape(len(x), -1)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x, y


mlp_objective = MLPObjective  # the function-style name: mlp_objective(x, y, ...)


def mnist_sample_objective(
    n_samples: int = 500,
    val_fraction: float = 0.2,
    *,
    epochs: int = 10,
    seed: int = 0,
    **kwargs: Any,
) -> MLPObjective:
    """The default search objective: an MLP on a stratified part of the MNIST sample.

    ``n_samples`` digits of the shipped 5,000 (the book uses 500) are split
    (stratified, seeded) into ``(1 - val_fraction) * n`` training and
    ``val_fraction * n`` validation digits. Other keyword arguments go to
    :func:`mlp_objective` (``batch_size``, ``hidden``, ``optimizer``, ...).
    """
    from ..data import mnist_sample_splits

    owner = "mnist_sample_objective"
    check_scalar(
        n_samples, "n_samples", numbers.Integral, min_val=2, max_val=5000, owner=owner
    )
    check_scalar(
        val_fraction,
        "val_fraction",
        numbers.Real,
        min_val=0.0,
        max_val=1.0,
        include_boundaries="neither",
        owner=owner,
    )
    n_val = min(max(1, round(val_fraction * n_samples)), int(n_samples) - 1)
    splits = mnist_sample_splits(
        int(n_samples) - n_val, n_val=n_val, n_test=0, seed=seed, flatten=True
    )
    assert splits.val is not None  # n_val >= 1
    (x_tr, y_tr), (x_val, y_val) = splits.train, splits.val
    return mlp_objective(x_tr, y_tr, x_val, y_val, epochs=epochs, seed=seed, **kwargs)
