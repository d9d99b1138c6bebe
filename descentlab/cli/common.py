"""Helpers shared by the subcommands: usage errors, common flags, list parsing."""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(Exception):
    """The command line is invalid (exit 2)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, with no usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def add_common(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument(
        "--out", default=out_default, help=f"output folder (default: {out_default})"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an existing non-empty output folder",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def csv_ints(text: str) -> list[int]:
    """argparse type of a list flag: ``"100,100"`` -> ``[100, 100]`` (at least one)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def add_size_arguments(parser: argparse.ArgumentParser, full_help: str) -> None:
    """``--quick`` (the default) or ``--full``, never both."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="quick size (default)")
    size.add_argument("--full", action="store_true", help=full_help)
