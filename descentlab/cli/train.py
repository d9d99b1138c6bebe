"""`descentlab train`: train a model (checkpoints every epoch, Ctrl-C safe)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_common, csv_ints


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train", help="train a model (checkpoints every epoch, Ctrl-C safe)"
    )
    add_config_arguments(t)
    t.add_argument(
        "--resume", help="checkpoint.npz to continue from (uses its saved config)"
    )
    t.add_argument(
        "--save-every-epoch",
        action="store_true",
        default=None,
        help="keep the weights of every epoch in RUN/weights (for landscape/sharpness)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress line")
    add_common(t, "runs/train")


def add_config_arguments(t: argparse.ArgumentParser, *, training: bool = True) -> None:
    """The model, optimizer and data flags (shared with ``lr-find``, which sweeps the
    lr itself and so takes none of the ``training``-only flags)."""
    from ..models import MODELS
    from ..optim import OPTIMIZERS
    from ..train.run import DATASETS, SCHEDULES

    t.add_argument("--model", choices=tuple(MODELS), help="default: simplecnn")
    t.add_argument("--optimizer", choices=tuple(OPTIMIZERS), help="default: adam")
    if training:
        t.add_argument(
            "--lr", type=float, help="learning rate (default depends on the optimizer)"
        )
    t.add_argument(
        "--momentum", type=float, help="momentum for sgd/momentum/nesterov/rmsprop"
    )
    t.add_argument(
        "--weight-decay", type=float, help="L2 weight decay on weights (not biases)"
    )
    if training:
        t.add_argument(
            "--schedule",
            choices=SCHEDULES,
            help="learning-rate schedule (default: constant)",
        )
        t.add_argument("--epochs", type=int, help="total epochs (default: 5)")
    t.add_argument("--batch-size", type=int, help="default: 100")
    t.add_argument(
        "--data", choices=DATASETS, help="default: mnist-sample (shipped, offline)"
    )
    t.add_argument("--n-train", type=int, help="limit the number of training samples")
    t.add_argument("--n-val", type=int, help="validation samples (default: 500)")
    t.add_argument("--hidden", type=csv_ints, help="MLP hidden sizes, e.g. 100,100,100")
    t.add_argument("--activation", choices=("relu", "leaky_relu", "sigmoid", "tanh"))
    t.add_argument(
        "--batchnorm", action="store_true", default=None, help="MLP: BatchNorm1d"
    )
    t.add_argument("--dropout", type=float, help="MLP: dropout probability")
    if training:
        t.add_argument(
            "--clip-grad-norm", type=float, help="clip the total gradient norm"
        )
    t.add_argument("--data-root", help="cache folder for downloaded data sets")
    t.add_argument("--mirror", help="base URL to download MNIST/Fashion-MNIST from")


#: the config keys the flags of add_config_arguments set (training=True)
CONFIG_KEYS = (
    "model",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "schedule",
    "epochs",
    "batch_size",
    "data",
    "n_train",
    "n_val",
    "hidden",
    "activation",
    "batchnorm",
    "dropout",
    "clip_grad_norm",
    "data_root",
    "mirror",
)


def run(a: argparse.Namespace) -> int:
    from ..train.run import run_training

    keys = CONFIG_KEYS + ("save_every_epoch",)
    config = {k: getattr(a, k) for k in keys}
    if a.resume is None:
        config["seed"] = a.seed
    out = a.out
    if a.resume is not None and out == "runs/train":
        out = str(Path(a.resume).parent)
    result = run_training(
        config, out, overwrite=a.overwrite, resume=a.resume, verbose=0 if a.quiet else 1
    )
    done = result["epochs_done"]
    line = (
        f"{result['config']['model']} + {result['config']['optimizer']}: "
        f"{done} epoch{'s' if done != 1 else ''}, test accuracy "
        f"{result['test_acc']:.4f} "
        f"(loss {result['test_loss']:.4f}); run folder {out}"
    )
    if result["stopped"]:
        line += f" [stopped: {result['stopped']}]"
    print(line)
    if result["stopped"] == "interrupted":
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
        return 130
    if result["stopped"] == "nonfinite":
        info = result["nonfinite"] or {}
        print(
            f"error: training stopped at step {info.get('step')} (epoch "
            f"{info.get('epoch')}): "
            f"{info.get('cause')}; the weights are those of the last finite step. Try "
            "a "
            f"smaller --lr or --clip-grad-norm.",
            file=sys.stderr,
        )
        return 1
    return 0
