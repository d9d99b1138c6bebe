"""`descentlab search`: hyperparameter search."""

from __future__ import annotations

import argparse

from .common import add_common


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..search.cli import add_search_arguments

    s = sub.add_parser(
        "search", help="hyperparameter search (random+narrowing or Optuna)"
    )
    add_search_arguments(s)
    add_common(s, "runs/search")


def run(a: argparse.Namespace) -> int:
    from ..search.cli import run_search_command

    return run_search_command(a)
