"""`descentlab report`: run every experiment and write index.html."""

from __future__ import annotations

import argparse

from .common import add_common


def add_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="run every experiment and write index.html")
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="quick size (default)")
    size.add_argument("--full", action="store_true", help="book-scale runs")
    rep.add_argument(
        "--only", nargs="+", metavar="NAME", help="run only these experiments"
    )
    add_common(rep, "descentlab-report")


def run(a: argparse.Namespace) -> int:
    from ..report import run_report

    failures = run_report(
        size="full" if a.full else "quick",
        seed=a.seed,
        out=a.out,
        overwrite=a.overwrite,
        names=a.only,
    )
    return 1 if failures else 0
