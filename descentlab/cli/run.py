"""`descentlab run`: run one experiment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._text import short
from .common import add_common, add_size_arguments

EXAMPLES = """\
examples:
  descentlab run --list                 the experiments, with their titles
  descentlab run paths                  quick size (--quick), into descentlab-out/paths
  descentlab run cnn --full --out book/cnn
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..experiments import names

    r = sub.add_parser(
        "run",
        help="run one experiment and write its figures and numbers",
        description="Run one experiment: its figures (PNG), numbers (JSON) and a "
        "summary table.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="experiment name, one of: " + ", ".join(names()),
    )
    r.add_argument(
        "--list", action="store_true", help="list the experiments with their titles"
    )
    add_size_arguments(r, "book-scale run")
    add_common(r, "descentlab-out/<name>")


def experiment_list() -> list[str]:
    """``name  title`` lines, one per experiment, in report order."""
    from .. import experiments

    rows = []
    for name in experiments.names():
        try:
            title = str(getattr(experiments.get(name), "TITLE", ""))
        except ImportError as exc:  # still list it, saying why it cannot run
            title = f"(cannot be imported: {exc})"
        rows.append((name, title))
    width = max(len(n) for n, _ in rows)
    return [f"{n:<{width}}  {t}".rstrip() for n, t in rows]


def run(a: argparse.Namespace) -> int:
    from .. import experiments
    from ..io import check_output_dir

    if a.list:
        print("\n".join(experiment_list()))
        return 0
    if not a.name:
        print(
            "error: run: missing the experiment NAME; choose one of:", file=sys.stderr
        )
        print("\n".join("  " + row for row in experiment_list()), file=sys.stderr)
        return 2
    experiments.get(a.name)  # unknown names fail before touching the disk
    out = Path(a.out.replace("<name>", a.name))
    check_output_dir(out, a.overwrite, owner="run")
    from ..terminal import live_line

    size = "full" if a.full else "quick"
    with live_line(f"{a.name} ..."):
        result = experiments.run(a.name, size=size, seed=a.seed, out=out)
    print(
        f"{a.name}: {len(result['figures'])} figures, {result['seconds']:.1f} s -> "
        f"{out}"
    )
    for row in result.get("table", [])[:20]:
        print("  " + "  ".join(f"{k}={short(v)}" for k, v in row.items()))
    return 0
