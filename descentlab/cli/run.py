"""`descentlab run`: run one experiment."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from .common import add_common


def add_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "run", help="run one experiment and write its figures and numbers"
    )
    r.add_argument(
        "name", help="experiment name (see `descentlab run --list`)", nargs="?"
    )
    r.add_argument("--list", action="store_true", help="list the experiments")
    r.add_argument(
        "--full", action="store_true", help="book-scale run (default: quick)"
    )
    add_common(r, "descentlab-out/<name>")


def run(a: argparse.Namespace) -> int:
    from .. import experiments
    from ..io import check_output_dir

    if a.list or not a.name:
        for name in experiments.names():
            print(name)
        return 0 if a.list else 2
    experiments.get(a.name)  # unknown names fail before touching the disk
    out = Path(a.out.replace("<name>", a.name))
    check_output_dir(out, a.overwrite, owner="run")
    from ..report import live_line

    size = "full" if a.full else "quick"
    with (
        live_line(f"{a.name} ...") if sys.stdout.isatty() else contextlib.nullcontext()
    ):
        result = experiments.run(a.name, size=size, seed=a.seed, out=out)
    print(
        f"{a.name}: {len(result['figures'])} figures, {result['seconds']:.1f} s -> {out}"
    )
    for row in result.get("table", [])[:20]:
        print("  " + "  ".join(f"{k}={_short(v)}" for k, v in row.items()))
    return 0


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
