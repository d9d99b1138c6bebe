"""The ``descentlab`` command: argparse front end that only dispatches.

Errors print one line on stderr starting with ``error:``; exit code 2 for bad
usage (invalid arguments, existing output folder), 1 for a failed run, 130 on
Ctrl-C. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import InvalidParameterError, MissingDependencyError, OutputExistsError

USAGE_ERRORS = (InvalidParameterError, OutputExistsError)


class _UsageError(Exception):
    """argparse rejected the command line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def _common(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--out", default=out_default, help=f"output folder (default: {out_default})")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an existing non-empty output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def _csv_ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    from .models import MODELS
    from .optim import OPTIMIZERS
    from .train.run import DATASETS, SCHEDULES

    parser = _Parser(prog="descentlab", description="A deep-learning optimization laboratory.")
    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="{train,run,report,search,bench}",
                                parser_class=_Parser)

    t = sub.add_parser("train", help="train a model (checkpoints every epoch, Ctrl-C safe)")
    t.add_argument("--model", choices=tuple(MODELS), help="default: simplecnn")
    t.add_argument("--optimizer", choices=tuple(OPTIMIZERS), help="default: adam")
    t.add_argument("--lr", type=float, help="learning rate (default depends on the optimizer)")
    t.add_argument("--momentum", type=float, help="momentum for sgd/momentum/nesterov/rmsprop")
    t.add_argument("--weight-decay", type=float, help="L2 weight decay on weights (not biases)")
    t.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default: constant)")
    t.add_argument("--epochs", type=int, help="total epochs (default: 5)")
    t.add_argument("--batch-size", type=int, help="default: 100")
    t.add_argument("--data", choices=DATASETS, help="default: mnist-sample (shipped, offline)")
    t.add_argument("--n-train", type=int, help="limit the number of training samples")
    t.add_argument("--n-val", type=int, help="validation samples (default: 500)")
    t.add_argument("--hidden", type=_csv_ints, help="MLP hidden sizes, e.g. 100,100,100")
    t.add_argument("--activation", choices=("relu", "leaky_relu", "sigmoid", "tanh"))
    t.add_argument("--batchnorm", action="store_true", default=None, help="MLP: BatchNorm1d")
    t.add_argument("--dropout", type=float, help="MLP: dropout probability")
    t.add_argument("--clip-grad-norm", type=float, help="clip the total gradient norm")
    t.add_argument("--data-root", help="cache folder for downloaded data sets")
    t.add_argument("--mirror", help="base URL to download MNIST/Fashion-MNIST from")
    t.add_argument("--resume", help="checkpoint.npz to continue from (uses its saved config)")
    t.add_argument("--quiet", action="store_true", help="no progress line")
    _common(t, "runs/train")

    r = sub.add_parser("run", help="run one experiment and write its figures and numbers")
    r.add_argument("name", help="experiment name (see `descentlab run --list`)", nargs="?")
    r.add_argument("--list", action="store_true", help="list the experiments")
    r.add_argument("--full", action="store_true", help="book-scale run (default: quick)")
    _common(r, "descentlab-out/<name>")

    rep = sub.add_parser("report", help="run every experiment and write index.html")
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="quick size (default)")
    size.add_argument("--full", action="store_true", help="book-scale runs")
    rep.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments")
    _common(rep, "descentlab-report")

    from .search.cli import add_search_arguments

    s = sub.add_parser("search", help="hyperparameter search (random+narrowing or Optuna)")
    add_search_arguments(s)
    _common(s, "runs/search")

    b = sub.add_parser("bench", help="throughput benchmark vs PyTorch (when installed)")
    b.add_argument("--repeats", type=int, default=5, help="timed repeats per case (median)")
    b.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases")
    b.add_argument("--threads", type=int, metavar="N",
                   help="threads for NumPy's BLAS and PyTorch (default: every usable CPU)")
    b.add_argument("--size", choices=("full", "tiny"), default="full",
                   help="tiny: small batches, a quick check that everything runs")
    b.add_argument("--no-memory", action="store_true", help="skip the peak-memory case")
    b.add_argument("--json", dest="json_out", help="also write the results as JSON here")
    b.add_argument("--out", help="also write bench.json into this folder (refused if it "
                                 "is not empty, unless --overwrite)")
    b.add_argument("--overwrite", action="store_true",
                   help="write into an existing non-empty output folder")
    return parser


def _cmd_train(a) -> int:
    from .train.run import run_training

    keys = ("model", "optimizer", "lr", "momentum", "weight_decay", "schedule", "epochs",
            "batch_size", "data", "n_train", "n_val", "hidden", "activation", "batchnorm",
            "dropout", "clip_grad_norm", "data_root", "mirror")
    config = {k: getattr(a, k) for k in keys}
    if a.resume is None:
        config["seed"] = a.seed
    out = a.out
    if a.resume is not None and out == "runs/train":
        out = str(Path(a.resume).parent)
    result = run_training(config, out, overwrite=a.overwrite, resume=a.resume,
                          verbose=0 if a.quiet else 1)
    done = result["epochs_done"]
    line = (f"{result['config']['model']} + {result['config']['optimizer']}: "
            f"{done} epoch{'s' if done != 1 else ''}, test accuracy {result['test_acc']:.4f} "
            f"(loss {result['test_loss']:.4f}); run folder {out}")
    if result["stopped"]:
        line += f" [stopped: {result['stopped']}]"
    print(line)
    if result["stopped"] == "interrupted":
        ckpt = result["interrupted_checkpoint"]
        if ckpt:
            print(f"interrupted at step {result['steps_done']}; checkpoint {ckpt}; continue "
                  f"with: descentlab train --resume {ckpt}", file=sys.stderr)
        else:
            print("interrupted in the first epoch, in the middle of a step; no checkpoint "
                  "was written", file=sys.stderr)
        return 130
    if result["stopped"] == "nonfinite":
        info = result["nonfinite"] or {}
        print(f"error: training stopped at step {info.get('step')} (epoch {info.get('epoch')}): "
              f"{info.get('cause')}; the weights are those of the last finite step. Try a "
              f"smaller --lr or --clip-grad-norm.", file=sys.stderr)
        return 1
    return 0


def _cmd_run(a) -> int:
    from . import experiments
    from .io import check_output_dir

    if a.list or not a.name:
        for name in experiments.names():
            print(name)
        return 0 if a.list else 2
    experiments.get(a.name)  # unknown names fail before touching the disk
    out = Path(a.out.replace("<name>", a.name))
    check_output_dir(out, a.overwrite, owner="run")
    from .report import live_line

    size = "full" if a.full else "quick"
    with live_line(f"{a.name} ...") if sys.stdout.isatty() else contextlib.nullcontext():
        result = experiments.run(a.name, size=size, seed=a.seed, out=out)
    print(f"{a.name}: {len(result['figures'])} figures, {result['seconds']:.1f} s -> {out}")
    for row in result.get("table", [])[:20]:
        print("  " + "  ".join(f"{k}={_short(v)}" for k, v in row.items()))
    return 0


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cmd_report(a) -> int:
    from .report import run_report

    failures = run_report(size="full" if a.full else "quick", seed=a.seed, out=a.out,
                          overwrite=a.overwrite, names=a.only)
    return 1 if failures else 0


def _cmd_search(a) -> int:
    from .search.cli import run_search_command
    return run_search_command(a)


def _cmd_bench(a) -> int:
    from .bench import main as bench_main
    from .io import atomic_write_json, check_output_dir

    out = check_output_dir(a.out, a.overwrite, owner="bench") if a.out else None
    if a.threads is not None and a.threads < 1:
        raise _UsageError(f"bench: --threads must be >= 1. Got {a.threads}.")
    results = bench_main(repeats=a.repeats, only=a.only, threads=a.threads, size=a.size,
                         memory=not a.no_memory)
    if a.json_out:
        atomic_write_json(a.json_out, results)
    if out is not None:
        atomic_write_json(out / "bench.json", results)
    return 0


COMMANDS = {"train": _cmd_train, "run": _cmd_run, "report": _cmd_report,
            "search": _cmd_search, "bench": _cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 2
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (_UsageError, *USAGE_ERRORS) as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except MissingDependencyError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a failed run: one line unless --debug
        if debug:
            traceback.print_exc()
        print(f"error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for the "
              "traceback)" if not isinstance(exc, (ValueError, OSError)) else
              f"error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
