"""``descentlab train``: data, model, optimizer and schedule from a config, then fit.

A run folder holds ``config.json``, ``run.json`` (how and where it ran),
``checkpoint.npz`` (rewritten every epoch and on Ctrl-C), ``best.npz`` (the epoch
with the best monitored metric, unless ``keep_best`` is off), ``history.csv``,
``history.json``, ``result.json`` and ``curves.png``; with
``save_every_epoch`` also ``weights/epoch_EEEE.npz`` (the weights at the start and
after every epoch, for ``descentlab landscape``/``sharpness``). ``run_training(...,
resume=checkpoint)`` rebuilds everything from the config stored in the checkpoint
and continues exactly; :func:`descentlab.load_run` loads a finished run.

Schedules step per epoch or per optimizer step (``schedule_interval``; by default
per epoch for step/multistep/exp/plateau, per step for the smooth ones), and their
lengths (``step_size``, ``milestones``, ``warmup``) count in that unit.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections.abc import Sequence
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
from .callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
from .checkpoint import load_checkpoint
from .runinfo import now_utc, run_info
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
    "schedule_interval": None,
    "gamma": None,
    "step_size": None,
    "milestones": None,
    "warmup": None,
    "min_lr": None,
    "early_stopping": None,
    "monitor": None,
    "keep_best": True,
}

#: schedules whose natural unit is the epoch (torch's StepLR/MultiStepLR/ExponentialLR
#: are stepped per epoch); the others default to per optimizer step
EPOCH_SCHEDULES = ("step", "multistep", "exp", "plateau")
MONITORS = ("val_loss", "val_acc", "loss", "acc")

#: schedule parameter -> {schedule: its option in make_schedule / ReduceOnPlateau}
SCHEDULE_PARAMS: dict[str, dict[str, str]] = {
    "gamma": {
        "exp": "gamma",
        "step": "factor",
        "multistep": "factor",
        "plateau": "factor",
    },
    "step_size": {"step": "every"},
    "milestones": {"multistep": "milestones"},
    "min_lr": {
        "cosine": "min_lr",
        "cosine-restarts": "min_lr",
        "warmup-cosine": "min_lr",
        "poly": "end_lr",
        "plateau": "min_lr",
    },
}
#: schedules that take --warmup (warmup-cosine has its own; the others get a linear
#: warmup from 0 before them)
WARMUP_SCHEDULES = (
    "constant",
    "step",
    "multistep",
    "exp",
    "cosine",
    "poly",
    "warmup-cosine",
)


#: settings that only the MLP uses (the conv models have a fixed architecture)
MLP_ONLY = ("hidden", "activation", "batchnorm", "dropout")


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every field; returns a new dict."""
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise InvalidParameterError(f"train: unknown config keys {unknown}.")
    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    _check_choices(cfg)
    if cfg["lr"] is None:
        cfg["lr"] = default_lr(cfg["optimizer"])
    _check_numbers(cfg)
    _validate_schedule(cfg)
    _validate_monitoring(cfg)
    return cfg


def _check_choices(cfg: dict[str, Any]) -> None:
    """Model, optimizer, schedule and data set are known; MLP options need the MLP."""
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


def _check_numbers(cfg: dict[str, Any]) -> None:
    """The lr, decay, sizes, seed, clipping and dropout are in range."""
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


def _validate_monitoring(cfg: dict[str, Any]) -> None:
    """Resolve --monitor and check it, --early-stopping and keep_best."""
    if cfg["monitor"] is None:
        cfg["monitor"] = "val_loss" if cfg["n_val"] else "loss"
    check_option(cfg["monitor"], "monitor", MONITORS, owner="train")
    if cfg["monitor"].startswith("val_") and not cfg["n_val"]:
        raise InvalidParameterError(
            f"train: --monitor {cfg['monitor']} needs validation data, but n_val=0. "
            "Use --monitor loss or acc, or give --n-val."
        )
    if cfg["early_stopping"] is not None:
        check_scalar(
            cfg["early_stopping"],
            "early_stopping",
            numbers.Integral,
            min_val=1,
            owner="train",
        )
    if not isinstance(cfg["keep_best"], bool):
        raise InvalidParameterError(
            f"train: 'keep_best' must be true or false. Got {cfg['keep_best']!r}."
        )


def _validate_schedule(cfg: dict[str, Any]) -> None:
    """Check the schedule's parameters against the schedule and resolve its interval."""
    name = cfg["schedule"]
    _check_schedule_takes(cfg, name)
    cfg["schedule_interval"] = _schedule_interval(cfg["schedule_interval"], name)
    _check_schedule_numbers(cfg, name)
    if cfg["milestones"] is not None:
        cfg["milestones"] = _checked_milestones(cfg["milestones"])


def _check_schedule_takes(cfg: dict[str, Any], name: str) -> None:
    """Refuse schedule parameters (and --warmup) that ``name`` does not take."""
    for key, takers in SCHEDULE_PARAMS.items():
        if cfg[key] is not None and name not in takers:
            raise InvalidParameterError(
                f"train: --{key.replace('_', '-')} applies to --schedule "
                f"{' or '.join(takers)}; not to {name}."
            )
    if cfg["warmup"] is not None and name not in WARMUP_SCHEDULES:
        raise InvalidParameterError(
            f"train: --warmup applies to --schedule {', '.join(WARMUP_SCHEDULES)}; "
            f"{name} has its own warm-up or none."
        )


def _schedule_interval(interval: str | None, name: str) -> str:
    """The interval given, else the schedule's natural one; plateau needs epochs."""
    if interval is None:
        interval = "epoch" if name in EPOCH_SCHEDULES else "step"
    check_option(interval, "schedule_interval", ("step", "epoch"), owner="train")
    if name == "plateau" and interval != "epoch":
        raise InvalidParameterError(
            "train: --schedule plateau reacts to the epoch's validation loss, so it "
            "steps per epoch; --schedule-interval step does not apply."
        )
    return interval


def _check_schedule_numbers(cfg: dict[str, Any], name: str) -> None:
    """gamma, step_size, warmup and min_lr (below the lr) are in range."""
    if cfg["gamma"] is not None:
        check_scalar(
            cfg["gamma"],
            "gamma",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="right",
            owner="train",
        )
    if cfg["step_size"] is not None:
        check_scalar(
            cfg["step_size"], "step_size", numbers.Integral, min_val=1, owner="train"
        )
    if cfg["warmup"] is not None:
        check_scalar(
            cfg["warmup"], "warmup", numbers.Integral, min_val=0, owner="train"
        )
    if cfg["min_lr"] is not None:
        check_scalar(cfg["min_lr"], "min_lr", numbers.Real, min_val=0.0, owner="train")
        if cfg["min_lr"] >= cfg["lr"] and name != "plateau":
            raise InvalidParameterError(
                f"train: 'min_lr' must be below lr={cfg['lr']}. Got {cfg['min_lr']}."
            )


def _checked_milestones(ms: Any) -> list[int]:
    """``ms`` as a list after checking it is increasing positive integers."""
    if (
        not isinstance(ms, (list, tuple))
        or not ms
        or not all(isinstance(m, int) and not isinstance(m, bool) for m in ms)
        or any(b <= a for a, b in itertools.pairwise(ms))
        or ms[0] < 1
    ):
        raise InvalidParameterError(
            "train: 'milestones' must be increasing positive integers, e.g. "
            f"--milestones 3,6. Got {ms!r}."
        )
    return [int(m) for m in ms]


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


def build_model_from_config(cfg: dict[str, Any]) -> Any:
    """The model a validated config describes, freshly initialised from its seed."""
    kw: dict[str, Any] = {"seed": cfg["seed"]}
    if cfg["model"] == "mlp":
        kw.update(
            sizes=[784, *cfg["hidden"], 10],
            activation=cfg["activation"],
            batchnorm=cfg["batchnorm"],
            dropout=cfg["dropout"],
        )
    return build_model(cfg["model"], **kw)


def build(cfg: dict[str, Any], steps_per_epoch: int):
    """(model, optimizer, scheduler or None) for a validated config."""
    model = build_model_from_config(cfg)
    opt_kw: dict[str, Any] = {}
    if cfg["momentum"] is not None:
        opt_kw["momentum"] = cfg["momentum"]
    groups = param_groups(model, cfg["weight_decay"])
    optimizer = make_optimizer(cfg["optimizer"], groups, lr=cfg["lr"], **opt_kw)
    return model, optimizer, build_scheduler(cfg, optimizer, steps_per_epoch)


def build_scheduler(cfg: dict[str, Any], optimizer: Any, steps_per_epoch: int):
    """The Scheduler of a validated config (None for a constant lr, no warmup)."""
    name, interval, lr = cfg["schedule"], cfg["schedule_interval"], cfg["lr"]
    options = {
        option: cfg[key]
        for key, takers in SCHEDULE_PARAMS.items()
        for schedule, option in takers.items()
        if schedule == name and cfg[key] is not None
    }
    if name == "plateau":
        from ..schedules import ReduceOnPlateau

        plateau = ReduceOnPlateau(patience=2, **options)
        return Scheduler(optimizer, None, interval="epoch", plateau=plateau)
    warmup = cfg["warmup"] or 0
    if name == "constant" and not warmup:
        return None
    total = cfg["epochs"] * (steps_per_epoch if interval == "step" else 1)
    if name == "warmup-cosine" and cfg["warmup"] is not None:
        options["warmup_steps"] = warmup
        warmup = 0
    if warmup >= total:
        raise InvalidParameterError(
            f"train: --warmup {warmup} must be shorter than the run, {total} "
            f"{interval}s."
        )
    schedule = make_schedule(name, lr, total - warmup, **options)
    if warmup:
        from ..schedules import LinearWarmup, sequential

        schedule = sequential(
            [(LinearWarmup(0.0, warmup, base_lr=lr), warmup), schedule]
        )
    return Scheduler(optimizer, schedule, interval=interval)


def _flat(pair, flat: bool):
    if pair is None or not flat:
        return pair
    x, y = pair
    return x.reshape(len(x), -1), y


#: what --resume may change: the total epochs, and where the data files are
RESUME_OVERRIDES = frozenset({"epochs", "data_root", "mirror"})
#: values a checkpoint written before a setting existed was trained with
LEGACY_DEFAULTS = {"schedule_interval": "step", "keep_best": False}


def resolve_config(
    config: dict[str, Any], resume: str | Path | None = None
) -> dict[str, Any]:
    """The validated config a run will use: ``config`` over the defaults, or for a
    resumed run the checkpoint's config with only ``RESUME_OVERRIDES`` changed (any
    other given value that differs from the checkpoint's is refused)."""
    if resume is None:
        return validate_config(config)
    _, meta = load_checkpoint(resume)
    saved = meta.get("config") or {}
    if not saved:
        raise CheckpointError(
            f"checkpoint {str(resume)!r} has no training config to resume."
        )
    saved = {**LEGACY_DEFAULTS, **saved}
    given = {k: v for k, v in config.items() if v is not None}
    changed = sorted(
        k
        for k, v in given.items()
        if k not in RESUME_OVERRIDES and v != saved.get(k, DEFAULTS.get(k))
    )
    if changed:
        raise InvalidParameterError(
            "train: a resumed run keeps its configuration; only --epochs (and "
            "--data-root/--mirror to find the data) may be given. The checkpoint "
            "has "
            + ", ".join(
                f"{k}={saved.get(k, DEFAULTS.get(k))!r} (given {given[k]!r})"
                for k in changed
            )
            + "."
        )
    return validate_config({**saved, **given})


def run_training(
    config: dict[str, Any],
    out: str | Path,
    *,
    overwrite: bool = False,
    resume: str | Path | None = None,
    verbose: int = 1,
    argv: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train from ``config`` into the run folder ``out``; returns the result dict.

    ``argv`` is recorded in ``run.json`` (default ``sys.argv``).
    """
    out = Path(out)
    cfg = resolve_config(config, resume)
    if resume is None:
        check_output_dir(out, overwrite, owner="train")
    else:
        out.mkdir(parents=True, exist_ok=True)
    info = run_info(argv)
    train, val, test = _load_split(cfg)
    steps = math.ceil(len(train[0]) / cfg["batch_size"])
    model, optimizer, scheduler = build(cfg, steps)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        optimizer,
        scheduler,
        callbacks=_callbacks(cfg, out),
        verbose=verbose,
        clip_grad_norm=cfg["clip_grad_norm"],
        config=cfg,
    )
    atomic_write_json(out / "config.json", cfg)
    _write_run_info(out / "run.json", info, resumed=resume is not None)
    ckpt = out / "checkpoint.npz"
    history, test_metrics = _fit_quietly(trainer, cfg, train, val, test, resume, ckpt)
    result = _result(cfg, history, test_metrics, trainer.global_step, ckpt, out)
    atomic_write_json(out / "history.json", history.to_dict())
    atomic_write_json(out / "result.json", result)
    _write_run_info(
        out / "run.json", {**info, "end": now_utc()}, resumed=resume is not None
    )
    if history.epochs_done:
        _plot_curves(
            history, out / "curves.png", title=f"{cfg['model']} + {cfg['optimizer']}"
        )
    return result


def _load_split(cfg: dict[str, Any]) -> tuple[tuple, tuple | None, tuple]:
    """:func:`load_data`, with the images flattened for the MLP."""
    train, val, test = load_data(cfg)
    flat = cfg["model"] == "mlp"
    return _flat(train, flat), _flat(val, flat), _flat(test, flat)


def _callbacks(cfg: dict[str, Any], out: Path) -> list[Any]:
    """history.csv always; best.npz, weight snapshots, early stopping if asked."""
    callbacks: list[Any] = [CSVLogger(out / "history.csv")]
    if cfg["keep_best"]:
        callbacks.append(
            ModelCheckpoint(
                out / "best.npz", monitor=cfg["monitor"], save_best_only=True
            )
        )
    if cfg["save_every_epoch"]:
        callbacks.append(WeightSnapshots(out / "weights"))
    if cfg["early_stopping"] is not None:
        callbacks.append(
            EarlyStopping(
                cfg["monitor"],
                patience=cfg["early_stopping"],
                restore_best_weights=True,
            )
        )
    return callbacks


def _fit_quietly(
    trainer: Any,
    cfg: dict[str, Any],
    train: tuple,
    val: tuple | None,
    test: tuple,
    resume: str | Path | None,
    ckpt: Path,
) -> tuple[Any, dict[str, Any]]:
    """(history, test metrics) of ``trainer.fit`` then ``trainer.evaluate``."""
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
    return history, test_metrics


def _result(
    cfg: dict[str, Any],
    history: Any,
    test_metrics: dict[str, Any],
    steps_done: int,
    ckpt: Path,
    out: Path,
) -> dict[str, Any]:
    """The result dict of a finished (or stopped) run, as written to result.json."""
    return {
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
        "steps_done": steps_done,
        "interrupted_checkpoint": history.checkpoint,
        "best_checkpoint": str(out / "best.npz")
        if cfg["keep_best"] and (out / "best.npz").is_file()
        else None,
        "best_epoch": _best_epoch(history, cfg["monitor"]),
    }


def _best_epoch(history: Any, monitor: str) -> int | None:
    """The 1-based epoch with the best ``monitor`` value (None if never logged)."""
    values = [v for v in history.epoch.get(monitor, []) if not math.isnan(v)]
    if not values:
        return None
    pick = max if "acc" in monitor else min
    return history.epoch[monitor].index(pick(values)) + 1


def _write_run_info(path: Path, info: dict[str, Any], *, resumed: bool) -> None:
    """Write ``run.json``; a resumed run keeps the earlier sessions' records under
    ``"sessions"`` (oldest first) and puts its own at the top level."""
    sessions: list[Any] = []
    if resumed and path.is_file():
        import json

        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if isinstance(previous, dict):
            # this session's own record, rewritten at the end; told apart by
            # the session id (start times have one-second resolution)
            if previous.get("session") == info["session"]:
                sessions = list(previous.get("sessions", []))
            else:
                earlier = {k: v for k, v in previous.items() if k != "sessions"}
                sessions = [*previous.get("sessions", []), earlier]
    atomic_write_json(path, {**info, "sessions": sessions} if sessions else info)


def _plot_curves(history, path: Path, title: str) -> None:
    from ..io import atomic_write_bytes

    atomic_write_bytes(path, history.to_png(title))
