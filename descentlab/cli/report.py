"""`descentlab report`: run every experiment and write index.html."""

from __future__ import annotations

import argparse

from .common import add_common, add_size_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..experiments import names

    rep = sub.add_parser(
        "report",
        help="run every experiment and write index.html",
        description="Run the experiments (all, or those given with --only) and "
        "write an HTML report with their figures, formulas and numbers.",
        epilog="examples:\n  descentlab report --out site\n"
        "  descentlab report --only paths schedules --out site-partial",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_size_arguments(rep, "book-scale runs")
    rep.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=names(),
        help="run only these experiments, of: " + ", ".join(names()),
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
