"""The ``descentlab`` command: an argparse front end that only dispatches.

Each subcommand lives in its own module of this package with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``; ``COMMANDS`` lists them in
the order ``--help`` shows them. Adding a command is one module and one line.

Errors print one line on stderr starting with ``error:``; exit code 2 for bad
usage (invalid arguments, existing output folder), 1 for a failed run, 130 on
Ctrl-C. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from .. import __version__
from ..errors import InvalidParameterError, MissingDependencyError, OutputExistsError
from .common import Parser, UsageError

USAGE_ERRORS = (InvalidParameterError, OutputExistsError)

#: subcommand name -> module (relative to this package) with add_parser/run
COMMANDS: dict[str, str] = {
    "train": ".train",
    "run": ".run",
    "report": ".report",
    "search": ".search",
    "bench": ".bench",
    "lr-find": ".lr_find",
    "landscape": ".landscape",
    "sharpness": ".sharpness",
    "playground": ".playground",
    "compare": ".compare",
}


def _command_module(name: str):
    return importlib.import_module(COMMANDS[name], __name__)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="descentlab", description="A deep-learning optimization laboratory."
    )
    parser.add_argument(
        "--version", action="version", version=f"descentlab {__version__}"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks on errors"
    )
    sub = parser.add_subparsers(
        dest="command", metavar="{" + ",".join(COMMANDS) + "}", parser_class=Parser
    )
    for name in COMMANDS:
        _command_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code. Output folders it locked are
    released when it returns (see ``descentlab.io.check_output_dir``)."""
    from .._outlock import release_output_dirs

    try:
        return _main(argv)
    finally:
        release_output_dirs()


def _main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 2
        return _command_module(args.command).run(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (UsageError, *USAGE_ERRORS) as exc:
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
        print(
            f"error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for the "
            "traceback)"
            if not isinstance(exc, (ValueError, OSError))
            else f"error: {_one_line(exc)}",
            file=sys.stderr,
        )
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
