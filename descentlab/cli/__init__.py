"""The ``descentlab`` command: an argparse front end that only dispatches.

Each subcommand lives in its own module of this package with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``; ``COMMANDS`` lists them in
the order ``--help`` shows them. Adding a command is one module and one line.

Errors print one line on stderr starting with ``error:``; exit code 2 for bad
usage (invalid arguments, existing output folder), 1 for a failed run, 130 on
Ctrl-C. ``--debug`` (before or after the subcommand) shows the traceback too.
Python warnings reach the terminal as one ``warning: ...`` line each (with the
file and line only under ``--debug``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence

from .. import __version__
from ..errors import InvalidParameterError, MissingDependencyError, OutputExistsError
from .common import Parser, UsageError

USAGE_ERRORS = (InvalidParameterError, OutputExistsError)

#: subcommand name -> module (relative to this package) with add_parser/run
COMMANDS: dict[str, str] = {
    "train": ".train",
    "evaluate": ".evaluate",
    "predict": ".predict",
    "run": ".run",
    "report": ".report",
    "search": ".search",
    "bench": ".bench",
    "lr-find": ".lr_find",
    "landscape": ".landscape",
    "sharpness": ".sharpness",
    "playground": ".playground",
    "compare": ".compare",
    "data": ".data",
}


def _command_module(name: str):
    return importlib.import_module(COMMANDS[name], __name__)


EPILOG = """\
environment:
  DESCENTLAB_DATA     cache folder for downloaded MNIST/Fashion-MNIST (default: the
                      platform cache, e.g. ~/.cache/descentlab); --data-root wins
  DESCENTLAB_BACKEND  array backend: numpy (default) or cupy (needs a GPU and cupy)
  COLUMNS             width of the progress line (default: the terminal's)

Run `descentlab COMMAND --help` for a command's flags and examples.
"""

DEBUG_HELP = "show the full traceback on errors (accepted anywhere on the line)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="descentlab",
        description="A deep-learning optimization laboratory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"descentlab {__version__}"
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(
        dest="command", metavar="{" + ",".join(COMMANDS) + "}", parser_class=Parser
    )
    for name in COMMANDS:
        _command_module(name).add_parser(sub)
    _add_debug(sub)
    return parser


def _add_debug(sub: argparse._SubParsersAction) -> None:
    """--debug after the (sub)subcommand, too; SUPPRESS, so that a subcommand does
    not reset a --debug given before it."""
    for command in sub.choices.values():
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_debug(action)


@contextlib.contextmanager
def _one_line_warnings(debug: bool) -> Iterator[None]:
    """Show each warning as ``warning: message`` on stderr (plus where it came from
    under --debug) instead of ``file.py:NN: RuntimeWarning`` and a source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        where = f" [{category.__name__} at {filename}:{lineno}]" if debug else ""
        print(f"warning: {_one_line(message)}{where}", file=sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


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
    debug = "--debug" in argv[: argv.index("--") if "--" in argv else len(argv)]
    try:
        with _one_line_warnings(debug):
            args = build_parser().parse_args(argv)
            if not args.command:
                build_parser().print_help()
                return 2
            args.argv = ["descentlab", *argv]  # as typed, for run records
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
            print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        elif isinstance(exc, (ValueError, OSError)):  # the message says it all
            print(f"error: {_one_line(exc)}", file=sys.stderr)
        else:
            print(
                f"error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug "
                "for the traceback)",
                file=sys.stderr,
            )
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
