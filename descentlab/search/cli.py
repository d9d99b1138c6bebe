"""``descentlab search``: the command-line front end of :mod:`descentlab.search`.

``descentlab/cli.py`` calls :func:`add_search_arguments` to build the ``search``
subcommand (it adds ``--out``, ``--overwrite`` and ``--seed`` itself) and
:func:`run_search_command` to run it. Three modes:

- default: an Optuna study (``optuna_search``), new or joined, with K workers;
- ``--random-search``: the built-in random search with range narrowing over
  ``--rounds`` rounds (``run_rounds``; needs no optuna);
- ``--summary``: print the best trials of an existing study and write its
  figures; runs no trial.

With no objective flags the search tunes the book's MLP (784-100x6-10, SGD,
batch 100) on a stratified 80/20 train/validation split of 500 digits of the
shipped MNIST sample and maximizes the validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import numbers
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._text import short
from .._validation import check_scalar
from ..cli.common import csv_ints
from ..errors import InvalidParameterError, MissingDependencyError

DEFAULT_STUDY = "descentlab"
DEFAULT_SPACE = ("lr=log:1e-6:1e-2", "weight_decay=log:1e-8:1e-4")
DEFAULT_HIDDEN = (100, 100, 100, 100, 100, 100)
DEFAULT_ROUNDS = 3
DEFAULT_KEEP = 0.2
METRIC = "val_acc"
#: Options that only an Optuna search uses, and those only --random-search uses.
_OPTUNA_ONLY = (
    "study",
    "storage",
    "workers",
    "pruner",
    "sampler",
    "sampler_seed",
    "stale_after",
    "journal_lock",
    "heartbeat",
)
_RANDOM_ONLY = ("rounds", "keep")

DESCRIPTION = """\
Hyperparameter search. With no objective flags it tunes the book's MLP
(784-100x6-10, SGD, batch 100) on a validation split of the shipped MNIST sample
(--samples digits, --val-fraction of them for validation) and maximizes the
validation accuracy after --epochs epochs. By default it runs an Optuna study
(TPE sampler, median pruning on the per-epoch validation accuracy); with
--random-search it runs the built-in random search with range narrowing instead
(no optuna needed). It prints a summary and writes trials.csv, trials.json,
trials.png (val accuracy vs each hyperparameter) and best.png (per-epoch curves
of the best trials) into --out."""

EPILOG = """\
output folder (--out) and joining a study:
  A new search refuses an existing non-empty --out unless --overwrite is given,
  with one exception so that a study can be continued or joined: an Optuna
  search may write into a non-empty --out that is its study's folder, that is,
  --out holds the storage file it uses (the default journal --out/optuna.journal,
  or a --storage journal or sqlite file inside --out) and no trials.json of a
  different search, or --out holds a trials.json written for the same --study.
  Several processes or machines join one study by giving the same --study and
  --storage (a journal file on a shared disk, or a database URL); each process
  adds its own --trials and the trial numbers never repeat. Processes started at
  the same moment with the same --sampler-seed draw the same first parameters:
  give each its own --sampler-seed (keep --seed equal, so that every trial uses
  the same data split and initial weights). --random-search never joins: it
  needs a new or empty --out (or --overwrite). --summary writes its files into
  --out under the same rule.

examples:
  descentlab search --trials 50 --workers 2
  descentlab search --summary --top 5
  descentlab search --study big --storage /shared/big.journal --sampler-seed 1
  descentlab search --random-search --rounds 3 --trials 30 --out runs/random
  descentlab search --space lr=log:1e-4:1 --space optimizer=choice:sgd,momentum,adam

space specs (--space NAME=SPEC, repeatable): log:LO:HI (10^U(log LO, log HI)),
uniform:LO:HI, int:LO:HI, choice:A,B,C; NAME is one of lr, weight_decay,
optimizer, batch_size, units, layers, activation, init, dropout, batchnorm.
Default: --space lr=log:1e-6:1e-2 --space weight_decay=log:1e-8:1e-4."""


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``descentlab search`` to its subparser ``p``."""
    from ..optim import OPTIMIZERS

    p.description = DESCRIPTION
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    _add_search_group(p)
    _add_optuna_group(p)
    _add_random_search_group(p)
    _add_objective_group(p, tuple(OPTIMIZERS))


def _add_search_group(p: argparse.ArgumentParser) -> None:
    """Options shared by both search back ends (table)."""
    g = p.add_argument_group("search")
    g.add_argument(
        "--trials",
        type=int,
        default=20,
        metavar="N",
        help="trials this process runs (Optuna: added to the study, over "
        "all --workers); with --random-search: trials per round "
        "(default: 20)",
    )
    g.add_argument(
        "--space",
        action="append",
        metavar="NAME=SPEC",
        help="a dimension of the search space, repeatable, e.g. "
        "lr=log:1e-6:1e-2 (default: lr=log:1e-6:1e-2 and "
        "weight_decay=log:1e-8:1e-4; see below)",
    )
    g.add_argument(
        "--summary",
        action="store_true",
        help="print the best trials of an existing study and write its "
        "trials.png/best.png/trials.csv into --out; runs no trial",
    )
    g.add_argument(
        "--top",
        type=int,
        default=10,
        metavar="K",
        help="best trials to print (default: 10)",
    )
    g.add_argument(
        "--quiet", action="store_true", help="no progress line per trial (on stderr)"
    )


def _add_optuna_group(p: argparse.ArgumentParser) -> None:
    """Options of the Optuna back end (table)."""
    o = p.add_argument_group("Optuna (default; needs pip install 'descentlab[optuna]')")
    o.add_argument(
        "--study",
        metavar="NAME",
        help=f"study to create or join (default: {DEFAULT_STUDY})",
    )
    o.add_argument(
        "--storage",
        metavar="URL",
        help="journal file path, or a database URL (sqlite:///f.db, "
        "postgresql://..., mysql+pymysql://...) (default: the journal "
        "file --out/optuna.journal)",
    )
    o.add_argument(
        "--workers",
        type=int,
        metavar="K",
        help="worker processes of this command (default: 1); each gets "
        "CPUs/K BLAS threads unless OMP/OPENBLAS/MKL_NUM_THREADS is set",
    )
    o.add_argument(
        "--pruner",
        choices=("median", "none"),
        help="median: stop a trial whose val accuracy at an epoch is "
        "below the median of earlier trials at that epoch "
        "(default: median)",
    )
    o.add_argument("--sampler", choices=("tpe", "random"), help="default: tpe")
    o.add_argument(
        "--sampler-seed",
        type=int,
        metavar="S",
        help="seed of the sampler (default: --seed); give each process "
        "that joins a study at the same time its own",
    )
    o.add_argument(
        "--stale-after",
        type=float,
        metavar="SECONDS",
        help="journal files: mark RUNNING trials of other machines older than "
        "this as failed (killed workers) and run them again",
    )
    o.add_argument(
        "--heartbeat",
        type=int,
        metavar="SECONDS",
        help="database storages: each running trial records a heartbeat every "
        "SECONDS; a trial silent for 6x that (its worker died, on any machine) "
        "is failed and run again (default: 10)",
    )
    o.add_argument(
        "--journal-lock",
        choices=("auto", "symlink", "open"),
        help="lock of a journal file: symlink (NFS too), open (O_EXCL lock "
        "file, where symbolic links do not work), auto: symlink if the "
        "journal's folder allows it (default: auto)",
    )


def _add_random_search_group(p: argparse.ArgumentParser) -> None:
    """Options of the built-in random search (table)."""
    r = p.add_argument_group("built-in random search")
    r.add_argument(
        "--random-search",
        action="store_true",
        help="random search with range narrowing instead of Optuna",
    )
    r.add_argument(
        "--rounds",
        type=int,
        metavar="R",
        help="rounds; each later round samples the range spanned by the "
        f"best --keep share of the previous one (default: "
        f"{DEFAULT_ROUNDS})",
    )
    r.add_argument(
        "--keep",
        type=float,
        metavar="F",
        help="share of a round's trials that defines the next ranges, in "
        f"(0, 1] (default: {DEFAULT_KEEP})",
    )


def _add_objective_group(
    p: argparse.ArgumentParser, optimizers: tuple[str, ...]
) -> None:
    """Options of the MLP objective (table)."""
    m = p.add_argument_group("objective (MLP on the MNIST sample)")
    m.add_argument(
        "--samples",
        type=int,
        default=500,
        metavar="N",
        help="digits of the 5,000-digit sample used (default: 500)",
    )
    m.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of them held out for validation (default: 0.2)",
    )
    m.add_argument(
        "--epochs",
        type=int,
        default=10,
        metavar="E",
        help="training epochs per trial (default: 10)",
    )
    m.add_argument(
        "--batch-size", type=int, default=100, metavar="B", help="default: 100"
    )
    m.add_argument(
        "--hidden",
        type=csv_ints,
        default=list(DEFAULT_HIDDEN),
        metavar="SIZES",
        help="hidden layer sizes (default: " + ",".join(map(str, DEFAULT_HIDDEN)) + ")",
    )
    m.add_argument(
        "--optimizer",
        choices=optimizers,
        default="sgd",
        help="optimizer unless the space tunes it (default: sgd)",
    )


# ------------------------------------------------------------------ checks


def _check_flag(
    args: argparse.Namespace, name: str, target_type: Any, **limits: Any
) -> None:
    """check_scalar on ``args.<name>`` (when given), named as its ``--flag``."""
    value = getattr(args, name)
    if value is not None:
        flag = "--" + name.replace("_", "-")
        check_scalar(value, flag, target_type, owner="search", **limits)


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    given = [n for n in names if getattr(args, n, None) is not None]
    return ["--" + n.replace("_", "-") for n in given]


def _check_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the command line; returns the search space."""
    from .objective import TUNABLE
    from .space import parse_space

    if args.random_search and args.summary:
        raise InvalidParameterError(
            "search: --summary reads an Optuna study; it cannot be combined with "
            "--random-search (its results are in --out/trials.csv)."
        )
    if args.random_search:
        extra = _given(args, _OPTUNA_ONLY)
        if extra:
            raise InvalidParameterError(
                f"search: --random-search does not use {', '.join(extra)} "
                "(options of Optuna searches)."
            )
    else:
        extra = _given(args, _RANDOM_ONLY)
        if extra:
            raise InvalidParameterError(
                f"search: only --random-search uses {', '.join(extra)}."
            )
    for name, lo, hi in (
        ("trials", 1, None),
        ("workers", 1, None),
        ("top", 1, None),
        ("epochs", 1, None),
        ("samples", 2, 5000),
        ("batch_size", 1, None),
        ("rounds", 1, None),
        ("sampler_seed", 0, None),
        ("seed", 0, None),
    ):
        _check_flag(args, name, numbers.Integral, min_val=lo, max_val=hi)
    for name, bounds in (("val_fraction", "neither"), ("keep", "right")):
        _check_flag(
            args, name, numbers.Real, min_val=0, max_val=1, include_boundaries=bounds
        )
    _check_flag(
        args, "stale_after", numbers.Real, min_val=0, include_boundaries="neither"
    )
    if args.heartbeat is not None and args.heartbeat < 1:
        raise InvalidParameterError(
            f"search: --heartbeat must be >= 1 second. Got {args.heartbeat}."
        )
    if any(h < 1 for h in args.hidden):
        raise InvalidParameterError(
            f"search: --hidden sizes must be >= 1. Got {args.hidden}."
        )
    if args.study is not None and not args.study.strip():
        raise InvalidParameterError("search: --study must not be empty.")
    space = parse_space(args.space or list(DEFAULT_SPACE))
    unknown = [n for n in space if n not in TUNABLE]
    if unknown:
        raise InvalidParameterError(
            f"search: the MLP objective cannot tune {', '.join(map(repr, unknown))}; "
            f"--space names must be among {', '.join(TUNABLE)}."
        )
    return space


def _need_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "optuna is not installed: pip install 'descentlab[optuna]' "
            "(or run the built-in random search with --random-search, which needs "
            "no optuna)"
        ) from None


# ------------------------------------------------------------ output folder


def _storage_file(spec: tuple[str, str]) -> Path | None:
    """The file behind a journal or ``sqlite:///`` storage; None for a server."""
    kind, where = spec
    if kind == "journal":
        return Path(where)
    if where.startswith("sqlite:///"):
        return Path(where[len("sqlite:///") :])
    return None


def _results_study(path: Path) -> str:
    """``meta.study_name`` of an Optuna ``trials.json``; "" for any other file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        meta = data.get("meta") or {}
    except (OSError, ValueError, AttributeError):
        return ""
    if meta.get("kind") != "optuna":
        return ""
    return str(meta.get("study_name", ""))


def is_study_folder(out: str | Path, spec: tuple[str, str], study: str) -> bool:
    """Whether a non-empty ``out`` belongs to ``study`` (see the --help epilog).

    True if ``out/trials.json`` was written for ``study``; otherwise true if
    ``out`` holds the storage file of ``spec`` and no ``trials.json`` at all.
    """
    out = Path(out)
    results = out / "trials.json"
    if results.exists():
        return _results_study(results) == study
    storage = _storage_file(spec)
    if storage is None or not storage.exists():
        return False
    try:
        return storage.resolve().parent == out.resolve()
    except OSError:
        return False


def _prepare_study_out(
    args: argparse.Namespace, spec: tuple[str, str], study: str
) -> Path:
    from .._outlock import lock_output_dir
    from ..errors import OutputExistsError
    from ..io import check_output_dir, folder_is_empty

    # The processes of one study may share its folder (a shared lock); a train,
    # report or random search never writes it at the same time (exclusive).
    out = Path(args.out)
    if not folder_is_empty(out) and not args.overwrite:
        if not is_study_folder(out, spec, study):
            raise OutputExistsError(
                f"search: output folder {str(out)!r} exists and is not empty, and it "
                f"is not the folder of study {study!r} (it holds neither that study's "
                "trials.json nor its storage file); choose another --out or pass "
                "--overwrite."
            )
        lock_output_dir(out, owner="search", shared=True)
        return out
    return check_output_dir(out, True, owner="search", shared=True)


# --------------------------------------------------------------- reporting


def _counts(results: Any) -> str:
    from .study_report import NOT_RUN

    counts: dict[str, int] = {}
    for t in results.trials:
        key = "not run" if t.status == "failed" and t.error == NOT_RUN else t.status
        counts[key] = counts.get(key, 0) + 1
    order = ("complete", "pruned", "failed", "running", "not run")
    parts = [
        f"{counts.get(s, 0)} {s}"
        for s in order
        if s in counts or s not in ("running", "not run")
    ]
    return ", ".join(parts)


def _summary_lines(results: Any, k: int) -> list[str]:
    """Best line and a top-``k`` table (format_summary's layout)."""
    from .study_report import format_summary

    best = results.best(k)
    if not best:
        return ["no completed trial"]
    top = best[0]
    params = "  ".join(f"{n}={short(v)}" for n, v in top.params.items())
    lines = [f"best {results.metric} {top.value:.4f} (trial {top.number}): {params}"]
    table = format_summary(
        {
            "study_name": "",
            "direction": "",
            "n_trials": len(results),
            "states": {},
            "best": [
                {
                    "number": t.number,
                    "value": t.value,
                    "params": t.params,
                    "seconds": t.seconds,
                }
                for t in best
            ],
        }
    ).splitlines()[1:]
    if table:
        table[0] = table[0].replace("value", f"{results.metric:>5}", 1)
    return lines + [f"top {len(best)}:"] + ["  " + row for row in table]


def _write_figures(results: Any, out: Path, title: str) -> list[str]:
    from .plots import plot_best_curves, plot_trials

    written = ["trials.csv", "trials.json"]
    results.save(out)
    try:
        plot_trials(results, out / "trials.png", title=title)
        written.append("trials.png")
    except InvalidParameterError:  # no numeric parameter to plot (all Choice)
        pass
    plot_best_curves(results, out / "best.png", k=20, title=title)
    written.append("best.png")
    return written


def _progress(quiet: bool):
    if quiet:
        return None

    def show(t: Any) -> None:
        value = "" if t.value is None else f" {METRIC}={t.value:.4f}"
        params = " ".join(f"{n}={short(v)}" for n, v in t.params.items())
        why = f" ({t.error})" if t.error and t.status == "failed" else ""
        print(
            f"trial {t.number} {t.status}{value} {params} [{t.seconds:.1f} s]{why}",
            file=sys.stderr,
            flush=True,
        )

    return show


# ------------------------------------------------------------------- modes


def _objective(args: argparse.Namespace) -> Any:
    from .objective import mnist_sample_objective

    return mnist_sample_objective(
        args.samples,
        args.val_fraction,
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        hidden=tuple(args.hidden),
        optimizer=args.optimizer,
    )


def _objective_text(args: argparse.Namespace) -> str:
    sizes = "-".join(map(str, [784, *args.hidden, 10]))
    n_val = min(max(1, round(args.val_fraction * args.samples)), args.samples - 1)
    return (
        f"MLP {sizes}, {args.optimizer}, batch {args.batch_size}, {args.epochs} "
        f"epochs per trial, {args.samples - n_val} train / {n_val} val digits"
    )


def _run_random(args: argparse.Namespace, space: Mapping[str, Any]) -> int:
    from ..io import check_output_dir
    from .random_search import run_rounds

    rounds = DEFAULT_ROUNDS if args.rounds is None else args.rounds
    keep = DEFAULT_KEEP if args.keep is None else args.keep
    objective = _objective(args)
    out = check_output_dir(args.out, args.overwrite, owner="search")
    print(
        f"random search: {rounds} rounds x {args.trials} trials; "
        f"{_objective_text(args)}",
        flush=True,
    )
    results = run_rounds(
        space,
        objective,
        rounds,
        args.trials,
        keep=keep,
        seed=args.seed,
        out=out,
        metric=METRIC,
        on_trial=_progress(args.quiet),
    )
    print(f"trials: {len(results)} ({_counts(results)})")
    for r, sp in enumerate(results.spaces):
        ranges = ", ".join(_range_text(n, d) for n, d in sp.items())
        best = results.best(1, round=r)
        tail = f"; best {best[0].value:.4f}" if best else ""
        print(f"  round {r}: {ranges}{tail}")
    print("\n".join(_summary_lines(results, args.top)))
    files = _write_figures(results, out, f"random search, {rounds} rounds")
    print(f"wrote {', '.join(files)} to {out}")
    return 0 if results.completed() else _no_trial_completed()


def _range_text(name: str, dim: Any) -> str:
    if hasattr(dim, "options"):
        return f"{name} in {{{', '.join(map(str, dim.options))}}}"
    return f"{name} in [{dim.lo:.3g}, {dim.hi:.3g}]"


def _no_trial_completed() -> int:
    print(
        "error: no trial completed (see the error column of trials.csv)",
        file=sys.stderr,
    )
    return 1


def _run_optuna(args: argparse.Namespace, space: Mapping[str, Any]) -> int:
    from .optuna_adapter import optuna_search
    from .storage import describe_storage, storage_spec

    _need_optuna()
    study = args.study or DEFAULT_STUDY
    workers = args.workers or 1
    spec = storage_spec(args.storage, args.out)
    objective = _objective(args)
    out = _prepare_study_out(args, spec, study)
    pruner = args.pruner or "median"
    sampler = args.sampler or "tpe"
    print(
        f"optuna search: study {study!r} in {describe_storage(spec)}; "
        f"{args.trials} trials, "
        f"{workers} worker(s), {sampler} sampler, {pruner} pruner; "
        f"{_objective_text(args)}",
        flush=True,
    )
    ran = []

    def on_trial(t: Any) -> None:
        ran.append(t)
        if show is not None:
            show(t)

    show = _progress(args.quiet)
    try:
        results = optuna_search(
            objective,
            space,
            study_name=study,
            storage=spec[1],
            out=out,
            n_trials=args.trials,
            n_workers=workers,
            seed=args.seed if args.sampler_seed is None else args.sampler_seed,
            pruner=pruner,
            sampler=sampler,
            metric=METRIC,
            stale_after=args.stale_after,
            journal_lock=args.journal_lock or "auto",
            heartbeat_interval=args.heartbeat or 10,
            on_trial=on_trial,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: study {study!r} keeps every finished trial (the running "
            f"ones are marked failed); run the same command to add trials, or "
            f"--summary --out {out} to see them",
            file=sys.stderr,
        )
        return 130
    mine = f"this run: {len(ran)} trials; " if workers == 1 else ""
    print(f"{mine}study {study!r}: {len(results)} trials ({_counts(results)})")
    print("\n".join(_summary_lines(results, args.top)))
    files = _write_figures(results, out, f"study {study!r}")
    print(f"wrote {', '.join(files)} to {out}")
    return 0 if results.completed() else _no_trial_completed()


def _run_summary(args: argparse.Namespace) -> int:
    from .storage import storage_spec
    from .study_report import format_summary, load_study, study_results, study_summary

    _need_optuna()
    study = args.study or DEFAULT_STUDY
    spec = storage_spec(args.storage, args.out)
    summary = study_summary(spec[1], study, k=args.top)
    print(format_summary(summary))
    stored = load_study(spec[1], study)
    metric = str(stored.user_attrs.get("descentlab_metric", METRIC))
    results = study_results(stored, metric=metric)
    out = _prepare_study_out(args, spec, study)
    files = _write_figures(results, out, f"study {study!r}")
    print(f"wrote {', '.join(files)} to {out}")
    return 0


def run_search_command(args: argparse.Namespace) -> int:
    """Run ``descentlab search`` with parsed ``args``; returns the exit code.

    Raises:
        InvalidParameterError: a bad option or --space spec (the CLI exits 2).
        OutputExistsError: --out is not empty and not this study's folder (exit 2).
        MissingDependencyError: optuna is needed and missing (exit 1).
        DescentlabError: the storage cannot be opened or a worker died (exit 1).
    """
    space = _check_args(args)
    if args.summary:
        return _run_summary(args)
    if args.random_search:
        return _run_random(args, space)
    return _run_optuna(args, space)


__all__ = ["add_search_arguments", "is_study_folder", "run_search_command"]
