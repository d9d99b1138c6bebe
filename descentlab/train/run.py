"""``descentlab train``: data, model, optimizer and schedule from a config, then fit.

A run folder holds ``config.json``, ``checkpoint.npz`` (rewritten every epoch and on
Ctrl-C), ``history.csv``, ``history.json``, ``result.json`` and ``curves.png``; with
``save_every_epoch`` also ``weights/epoch_EEEE.npz`` (the weights at the start and
after every epoch, for ``descentlab landscape``/``sharpness``).
``resume_run(checkpoint)`` rebuilds everything from the config stored in the
checkpoint and continues exactly.
"""

from __future__ import annotations

import math
import numbers
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_option, check_scalar
from ..errors import CheckpointError, InvalidParameterError
from ..io import atomic_write_json, check_output_dir
from ..models import MODELS, build_model, param_groups
from ..nn import SoftmaxCrossEntropy
from ..optim import OPTIMIZERS, default_lr, make_optimizer
from ..schedules import SCHEDULE_NAMES, Scheduler, make_schedule
from .callbacks import CSVLogger
from .checkpoint import load_checkpoint
from .snapshots import WeightSnapshots
from .trainer import Trainer

DATASETS = ("mnist-sample", "mnist", "fashion-mnist")
SCHEDULES = (*SCHEDULE_NAMES, "plateau")  # plateau reacts to metrics: Scheduler

DEFAULTS: dict[str, Any] = {
    "model": "simplecnn",
    "optimizer": "adam",
    "lr": None,
    "momentum": None,
    "weight_decay": 0.0,
    "schedule": "constant",
    "epochs": 5,
    "batch_size": 100,
    "data": "mnist-sample",
    "n_train": None,
    "n_val": 500,
    "n_test": 1000,
    "seed": 0,
    "clip_grad_norm": None,
    "hidden": [100, 100, 100, 100],
    "activation": "relu",
    "batchnorm": False,
    "dropout": 0.0,
    "data_root": None,
    "mirror": None,
    "save_every_epoch": False,
}


#: settings that only the MLP uses (the conv models have a fixed architecture)
MLP_ONLY = ("hidden", "activation", "batchnorm", "dropout")


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every field; returns a new dict."""
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise InvalidParameterError(f"train: unknown config keys {unknown}.")
    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    check_option(cfg["model"], "model", tuple(MODELS), owner="train")
    mlp_only = [k for k in MLP_ONLY if cfg[k] != DEFAULTS[k]]
    if cfg["model"] != "mlp" and mlp_only:
        flags = " and ".join("--" + k.replace("_", "-") for k in mlp_only)
        raise InvalidParameterError(
            f"train: {flags} apply to --model mlp only; {cfg['model']} has a fixed "
            "architecture. Leave them out or use --model mlp."
        )
    check_option(cfg["optimizer"], "optimizer", tuple(OPTIMIZERS), owner="train")
    check_option(cfg["schedule"], "schedule", SCHEDULES, owner="train")
    check_option(cfg["data"], "data", DATASETS, owner="train")
    if cfg["lr"] is None:
        cfg["lr"] = default_lr(cfg["optimizer"])
    check_scalar(
        cfg["lr"],
        "lr",
        numbers.Real,
        min_val=0.0,
        include_boundaries="neither",
        owner="train",
    )
    check_scalar(
        cfg["weight_decay"], "weight_decay", numbers.Real, min_val=0.0, owner="train"
    )
    check_scalar(cfg["epochs"], "epochs", numbers.Integral, min_val=1, owner="train")
    check_scalar(
        cfg["batch_size"], "batch_size", numbers.Integral, min_val=1, owner="train"
    )
    check_scalar(cfg["seed"], "seed", numbers.Integral, min_val=0, owner="train")
    check_scalar(cfg["n_val"], "n_val", numbers.Integral, min_val=0, owner="train")
    check_scalar(cfg["n_test"], "n_test", numbers.Integral, min_val=1, owner="train")
    if cfg["n_train"] is not None:
        check_scalar(
            cfg["n_train"], "n_train", numbers.Integral, min_val=1, owner="train"
        )
    if cfg["clip_grad_norm"] is not None:
        check_scalar(
            cfg["clip_grad_norm"],
            "clip_grad_norm",
            numbers.Real,
            min_val=0.0,
            include_boundaries="neither",
            owner="train",
        )
    check_scalar(
        cfg["dropout"],
        "dropout",
        numbers.Real,
        min_val=0.0,
        max_val=1.0,
        include_boundaries="left",
        owner="train",
    )
    return cfg


def load_data(cfg: dict[str, Any]) -> tuple[tuple, tuple | None, tuple]:
    """(train, val or None, test) as (x, y) pairs in NCHW float32 [0, 1]."""
    from ..data import (
        load_fashion_mnist,
        load_mnist,
        mnist_sample_splits,
        train_val_split,
    )

    if cfg["data"] == "mnist-sample":
        n_train = cfg["n_train"]
        available = 5000 - cfg["n_test"] - cfg["n_val"]
        if n_train is not None and n_train > available:
            raise InvalidParameterError(
                f"train: 'n_train' must be at most {available} for mnist-sample with "
                f"n_val={cfg['n_val']} and n_test={cfg['n_test']}. Got {n_train}."
            )
        s = mnist_sample_splits(
            n_train, n_val=cfg["n_val"], n_test=cfg["n_test"], seed=cfg["seed"]
        )
        return s.train, s.val, s.test
    loader = load_mnist if cfg["data"] == "mnist" else load_fashion_mnist
    (x, y), test = loader(root=cfg["data_root"], mirror=cfg["mirror"])
    if cfg["n_train"] is not None:
        x, y = x[: cfg["n_train"]], y[: cfg["n_train"]]
    if cfg["n_val"]:
        (x, y), val = train_val_split(x, y, n_val=cfg["n_val"], seed=cfg["seed"])
    else:
        val = None
    return (x, y), val, test


def build(cfg: dict[str, Any], steps_per_epoch: int):
    """(model, optimizer, scheduler or None) for a validated config."""
    kw: dict[str, Any] = {"seed": cfg["seed"]}
    if cfg["model"] == "mlp":
        kw.update(
            sizes=[784, *cfg["hidden"], 10],
            activation=cfg["activation"],
            batchnorm=cfg["batchnorm"],
            dropout=cfg["dropout"],
        )
    model = build_model(cfg["model"], **kw)
    opt_kw: dict[str, Any] = {}
    if cfg["momentum"] is not None:
        opt_kw["momentum"] = cfg["momentum"]
    groups = param_groups(model, cfg["weight_decay"])
    optimizer = make_optimizer(cfg["optimizer"], groups, lr=cfg["lr"], **opt_kw)
    name = cfg["schedule"]
    if name == "constant":
        return model, optimizer, None
    total = cfg["epochs"] * steps_per_epoch
    if name == "plateau":
        from ..schedules import ReduceOnPlateau

        return (
            model,
            optimizer,
            Scheduler(
                optimizer, None, interval="epoch", plateau=ReduceOnPlateau(patience=2)
            ),
        )
    return (
        model,
        optimizer,
        Scheduler(optimizer, make_schedule(name, cfg["lr"], total), interval="step"),
    )


def _flat(pair, flat: bool):
    if pair is None or not flat:
        return pair
    x, y = pair
    return x.reshape(len(x), -1), y


#: what --resume may change: the total epochs, and where the data files are
RESUME_OVERRIDES = frozenset({"epochs", "data_root", "mirror"})


def run_training(
    config: dict[str, Any],
    out: str | Path,
    *,
    overwrite: bool = False,
    resume: str | Path | None = None,
    verbose: int = 1,
) -> dict[str, Any]:
    """Train from ``config`` into the run folder ``out``; returns the result dict."""
    out = Path(out)
    if resume is None:
        cfg = validate_config(config)
        check_output_dir(out, overwrite, owner="train")
    else:
        _, meta = load_checkpoint(resume)
        saved = meta.get("config") or {}
        if not saved:
            raise CheckpointError(
                f"checkpoint {str(resume)!r} has no training config to resume."
            )
        given = {k: v for k, v in config.items() if v is not None}
        changed = sorted(
            k
            for k, v in given.items()
            if k not in RESUME_OVERRIDES and k in saved and v != saved[k]
        )
        if changed:
            raise InvalidParameterError(
                "train: a resumed run keeps its configuration; only --epochs (and "
                "--data-root/--mirror to find the data) may be given. The checkpoint "
                "has "
                + ", ".join(f"{k}={saved[k]!r} (given {given[k]!r})" for k in changed)
                + "."
            )
        cfg = validate_config({**saved, **given})
        out.mkdir(parents=True, exist_ok=True)
    train, val, test = load_data(cfg)
    flat = cfg["model"] == "mlp"
    train, val, test = _flat(train, flat), _flat(val, flat), _flat(test, flat)
    steps = math.ceil(len(train[0]) / cfg["batch_size"])
    model, optimizer, scheduler = build(cfg, steps)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        optimizer,
        scheduler,
        callbacks=[CSVLogger(out / "history.csv")]
        + ([WeightSnapshots(out / "weights")] if cfg["save_every_epoch"] else []),
        verbose=verbose,
        clip_grad_norm=cfg["clip_grad_norm"],
        config=cfg,
    )
    atomic_write_json(out / "config.json", cfg)
    ckpt = out / "checkpoint.npz"
    # The caller reports an interrupt or a non-finite stop (result["stopped"]); NumPy's
    # overflow warnings on the way to a NaN add nothing to that.
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.filterwarnings(
            "ignore", message="Trainer: (interrupted|stopped)", category=RuntimeWarning
        )
        history = trainer.fit(
            train,
            val,
            epochs=cfg["epochs"],
            batch_size=cfg["batch_size"],
            seed=cfg["seed"],
            resume=resume,
            checkpoint=ckpt,
        )
        test_metrics = trainer.evaluate(*test)
    result = {
        "config": cfg,
        "epochs_done": history.epochs_done,
        "test_loss": test_metrics["loss"],
        "test_acc": test_metrics["acc"],
        "final_train_loss": history.last("loss"),
        "final_val_acc": history.last("val_acc"),
        "stopped": history.stopped,
        "nonfinite": history.nonfinite,
        "checkpoint": str(ckpt),
        "seconds": float(np.nansum(history.epoch["seconds"])),
        "steps_done": trainer.global_step,
        "interrupted_checkpoint": history.checkpoint,
    }
    atomic_write_json(out / "history.json", history.to_dict())
    atomic_write_json(out / "result.json", result)
    if history.epochs_done:
        _plot_curves(
            history, out / "curves.png", title=f"{cfg['model']} + {cfg['optimizer']}"
        )
    return result


def _plot_curves(history, path: Path, title: str) -> None:
    from ..io import atomic_write_bytes

    atomic_write_bytes(path, history.to_png(title))
