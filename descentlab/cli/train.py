"""`descentlab train`: train a model (checkpoints every epoch, Ctrl-C safe)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from .common import UsageError, add_common, csv_ints

_Default = Callable[[str], str]  # key -> "(default: ...)" for a help text

DESCRIPTION = """\
Train a model on MNIST (a 5,000-image sample ships with the package, so the
default needs no download), Fashion-MNIST or full MNIST. The run folder gets
config.json, run.json (argv, versions, host, times, git commit), checkpoint.npz
(every epoch and on Ctrl-C), best.npz (best epoch by --monitor), history.csv/json,
result.json and curves.png.

Settings come from the defaults, then --config FILE, then the flags given."""

EXAMPLES = """\
examples:
  descentlab train                                  simplecnn + adam, 5 epochs
  descentlab train --model mlp --hidden 100,100 --optimizer sgd --lr 0.1 \\
      --schedule step --step-size 2 --gamma 0.5 --epochs 6 --out runs/mlp
  descentlab train --schedule warmup-cosine --warmup 100 --min-lr 1e-5
  descentlab train --early-stopping 3 --epochs 50 --monitor val_acc
  descentlab train --config runs/mlp/config.json --seed 1 --out runs/mlp-seed1
  descentlab train --config train.toml --print-config
  descentlab train --resume runs/mlp/checkpoint.npz --epochs 10

--resume continues a run exactly from its checkpoint, with the checkpoint's
saved configuration. It honours --epochs (a new total), --data-root and
--mirror (to find the data), --out (default: the checkpoint's folder) and
--quiet; any other setting (e.g. --seed, --lr) that differs from the
checkpoint's is refused, and --config/--overwrite do not apply.

Use a finished run with `descentlab evaluate RUN_DIR` and
`descentlab predict RUN_DIR --input FILE`."""

#: config keys that come from flags of the same name
KEYS = (
    "model",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "schedule",
    "schedule_interval",
    "gamma",
    "step_size",
    "milestones",
    "warmup",
    "min_lr",
    "epochs",
    "batch_size",
    "data",
    "n_train",
    "n_val",
    "seed",
    "hidden",
    "activation",
    "batchnorm",
    "dropout",
    "clip_grad_norm",
    "early_stopping",
    "monitor",
    "keep_best",
    "data_root",
    "mirror",
)


#: flags that only make sense when training for a number of epochs (``lr-find``,
#: which sweeps the lr itself, takes the others)
TRAINING_ONLY_KEYS = (
    "lr",
    "schedule",
    "schedule_interval",
    "gamma",
    "step_size",
    "milestones",
    "warmup",
    "min_lr",
    "epochs",
    "clip_grad_norm",
    "early_stopping",
    "monitor",
    "keep_best",
)


def config_keys(*, training: bool = True) -> tuple[str, ...]:
    """The config keys set by :func:`add_config_arguments` (without ``seed``)."""
    return tuple(
        k for k in KEYS if k != "seed" and (training or k not in TRAINING_ONLY_KEYS)
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train",
        help="train a model (checkpoints every epoch, Ctrl-C safe)",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(t)
    g = t.add_argument_group("run")
    g.add_argument(
        "--config",
        metavar="FILE",
        help="read settings from a .toml or .json file (e.g. a run's config.json); "
        "flags given on the command line win",
    )
    g.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved configuration as JSON and exit without training",
    )
    g.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue from a checkpoint.npz with its saved configuration (see "
        "below for the flags it honours)",
    )
    g.add_argument(
        "--save-every-epoch",
        action="store_true",
        default=None,
        help="keep the weights of every epoch in RUN/weights (for landscape and "
        "sharpness along the trajectory)",
    )
    g.add_argument("--quiet", action="store_true", help="no progress line")
    add_common(g, "runs/train")
    t.set_defaults(seed=None)  # None: not given (the default seed is 0)


def add_config_arguments(t: argparse.ArgumentParser, *, training: bool = True) -> None:
    """The model, optimizer, schedule and data flags (shared with ``lr-find``, which
    sweeps the lr itself and so takes none of ``TRAINING_ONLY_KEYS``)."""
    from ..train.run import DEFAULTS

    def default(key: str) -> str:
        return f"(default: {DEFAULTS[key]})"

    _add_model_arguments(t, default)
    _add_optimizer_arguments(t, default, training=training)
    _add_data_arguments(t, default, training=training)


def _add_model_arguments(t: argparse.ArgumentParser, default: _Default) -> None:
    """The ``model`` group (table)."""
    from ..models import MODELS

    g = t.add_argument_group("model")
    g.add_argument(
        "--model",
        choices=tuple(MODELS),
        metavar="NAME",
        help=f"one of {', '.join(MODELS)} {default('model')}",
    )
    g.add_argument(
        "--hidden",
        type=csv_ints,
        metavar="SIZES",
        help="MLP hidden sizes, comma-separated (default: 100,100,100,100)",
    )
    g.add_argument(
        "--activation",
        choices=("relu", "leaky_relu", "sigmoid", "tanh"),
        metavar="NAME",
        help="MLP activation: relu, leaky_relu, sigmoid or tanh "
        + default("activation"),
    )
    g.add_argument(
        "--batchnorm",
        action="store_true",
        default=None,
        help="MLP: BatchNorm1d after each hidden layer (default: off)",
    )
    g.add_argument(
        "--dropout",
        type=float,
        metavar="P",
        help=f"MLP: dropout probability {default('dropout')}",
    )


def _add_optimizer_arguments(
    t: argparse.ArgumentParser, default: _Default, *, training: bool
) -> None:
    """The ``optimizer`` group, then the schedule group when ``training`` (table)."""
    from ..optim import OPTIMIZERS, default_lr

    g = t.add_argument_group("optimizer")
    lrs = ", ".join(f"{k} {default_lr(k):g}" for k in OPTIMIZERS)
    g.add_argument(
        "--optimizer",
        choices=tuple(OPTIMIZERS),
        metavar="NAME",
        help=f"one of {', '.join(OPTIMIZERS)} {default('optimizer')}",
    )
    if training:
        g.add_argument(
            "--lr", type=float, help=f"learning rate (default per optimizer: {lrs})"
        )
    g.add_argument(
        "--momentum",
        type=float,
        metavar="M",
        help="momentum for sgd/momentum/nesterov/rmsprop (default: the optimizer's)",
    )
    g.add_argument(
        "--weight-decay",
        type=float,
        metavar="L2",
        help=f"L2 weight decay on weights, not biases {default('weight_decay')}",
    )
    if training:
        g.add_argument(
            "--clip-grad-norm",
            type=float,
            metavar="MAX",
            help="clip the total gradient norm to MAX (default: no clipping)",
        )
        _add_schedule_arguments(t, default)


def _add_data_arguments(
    t: argparse.ArgumentParser, default: _Default, *, training: bool
) -> None:
    """The ``training and data`` group (table)."""
    from ..train.run import DATASETS, MONITORS

    g = t.add_argument_group("training and data")
    if training:
        g.add_argument(
            "--epochs",
            type=int,
            metavar="N",
            help=f"total epochs {default('epochs')}",
        )
    g.add_argument(
        "--batch-size", type=int, metavar="N", help=f"{default('batch_size')}"
    )
    g.add_argument(
        "--data",
        choices=DATASETS,
        metavar="NAME",
        help="mnist-sample ships with the package (offline); mnist and "
        "fashion-mnist are downloaded once (default: mnist-sample)",
    )
    g.add_argument(
        "--n-train",
        type=int,
        metavar="N",
        help="limit the number of training samples (default: all)",
    )
    g.add_argument(
        "--n-val",
        type=int,
        metavar="N",
        help=f"validation samples split off the training set {default('n_val')}",
    )
    if training:
        g.add_argument(
            "--early-stopping",
            type=int,
            metavar="PATIENCE",
            help="stop after PATIENCE epochs without improvement of --monitor and "
            "restore the best weights (default: off)",
        )
        g.add_argument(
            "--monitor",
            choices=MONITORS,
            metavar="METRIC",
            help="val_loss, val_acc, loss or acc: the metric for --early-stopping and "
            "best.npz (default: val_loss, or "
            "loss with --n-val 0)",
        )
        g.add_argument(
            "--no-keep-best",
            dest="keep_best",
            action="store_false",
            default=None,
            help="do not keep best.npz, the checkpoint of the best epoch by --monitor",
        )
    g.add_argument(
        "--data-root",
        metavar="DIR",
        help="cache folder for downloaded data sets (default: $DESCENTLAB_DATA, "
        "else the platform cache)",
    )
    g.add_argument(
        "--mirror", metavar="URL", help="base URL to download MNIST/Fashion-MNIST from"
    )


def _add_schedule_arguments(t: argparse.ArgumentParser, default: _Default) -> None:
    from ..train.run import SCHEDULES

    g = t.add_argument_group(
        "learning-rate schedule",
        "Lengths (--step-size, --milestones, --warmup) count in the schedule's\n"
        "interval: epochs or optimizer steps.",
    )
    g.add_argument(
        "--schedule",
        choices=SCHEDULES,
        metavar="NAME",
        help=f"one of {', '.join(SCHEDULES)} {default('schedule')}",
    )
    g.add_argument(
        "--schedule-interval",
        choices=("step", "epoch"),
        metavar="UNIT",
        help="epoch or step: step the schedule per epoch or per optimizer step "
        "(default: epoch "
        "for step/multistep/exp/plateau, step for the others)",
    )
    g.add_argument(
        "--gamma",
        type=float,
        metavar="G",
        help="decay factor: exp's per-interval factor (default 0.95), step's and "
        "multistep's factor (0.5, 0.1), plateau's factor (0.1)",
    )
    g.add_argument(
        "--step-size",
        type=int,
        metavar="N",
        help="step: decay every N intervals (default: a fifth of the run)",
    )
    g.add_argument(
        "--milestones",
        type=csv_ints,
        metavar="N,M,...",
        help="multistep: decay at these intervals (default: 1/2 and 3/4 of the run)",
    )
    g.add_argument(
        "--warmup",
        type=int,
        metavar="N",
        help="linear warm-up from 0 over N intervals (warmup-cosine: default a "
        "tenth of the run; others: none)",
    )
    g.add_argument(
        "--min-lr",
        type=float,
        metavar="LR",
        help="final lr of cosine/cosine-restarts/warmup-cosine/poly, floor of "
        "plateau (default: 0)",
    )


def config_from_args(a: argparse.Namespace) -> dict:
    """The config the flags ask for: --config's settings, then the flags given."""
    from ..train.config_file import load_config_file

    config: dict = {}
    if a.config is not None:
        if a.resume is not None:
            raise UsageError(
                "train: --config and --resume do not mix: a resumed run keeps the "
                "checkpoint's configuration."
            )
        config = load_config_file(a.config)
    keys = (*KEYS, "save_every_epoch")
    given = {k: getattr(a, k) for k in keys if getattr(a, k) is not None}
    return {**config, **given}


def run(a: argparse.Namespace) -> int:
    from ..train.run import resolve_config, run_training

    config = config_from_args(a)
    if a.print_config:
        print(json.dumps(resolve_config(config, a.resume), indent=2))
        return 0
    out = _run_folder(a)
    result = run_training(
        config,
        out,
        overwrite=a.overwrite,
        resume=a.resume,
        verbose=0 if a.quiet else 1,
        argv=getattr(a, "argv", None),
    )
    print(_summary_line(result, out))
    if result["stopped"] == "interrupted":
        _report_interrupt(result)
        return 130
    if result["stopped"] == "nonfinite":
        _report_nonfinite(result)
        return 1
    return 0


def _run_folder(a: argparse.Namespace) -> str:
    """--out, or the checkpoint's folder when resuming with the default --out."""
    out = a.out
    if a.resume is not None:
        if out == "runs/train":
            out = str(Path(a.resume).parent)
        if a.overwrite:
            print(
                "warning: --overwrite is ignored with --resume (the run folder is "
                "continued, not replaced)",
                file=sys.stderr,
            )
    return out


def _summary_line(result: dict, out: str) -> str:
    """One line: model, optimizer, epochs, test accuracy and loss, the folder."""
    done = result["epochs_done"]
    line = (
        f"{result['config']['model']} + {result['config']['optimizer']}: "
        f"{done} epoch{'s' if done != 1 else ''}, test accuracy "
        f"{result['test_acc']:.4f} "
        f"(loss {result['test_loss']:.4f}); run folder {out}"
    )
    if result["stopped"]:
        line += f" [stopped: {result['stopped']}]"
    return line


def _report_interrupt(result: dict) -> None:
    """Tell on stderr where an interrupted run can be resumed from, if anywhere."""
    ckpt = result["interrupted_checkpoint"]
    if ckpt:
        print(
            f"interrupted at step {result['steps_done']}; checkpoint {ckpt}; "
            "continue "
            f"with: descentlab train --resume {ckpt}",
            file=sys.stderr,
        )
    else:
        print(
            "interrupted in the first epoch, in the middle of a step; no "
            "checkpoint "
            "was written",
            file=sys.stderr,
        )


def _report_nonfinite(result: dict) -> None:
    """Tell on stderr at which step the loss stopped being finite, and why."""
    info = result["nonfinite"] or {}
    print(
        f"error: training stopped at step {info.get('step')} (epoch "
        f"{info.get('epoch')}): "
        f"{info.get('cause')}; the weights are those of the last finite step. Try "
        "a "
        f"smaller --lr or --clip-grad-norm.",
        file=sys.stderr,
    )
