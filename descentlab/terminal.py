"""Terminal output that behaves: one status line rewritten in place on a terminal,
fitted to its width so it never wraps (a wrapped line leaves stale rows behind, as
``\\r`` returns only to the start of the last row), and plain lines otherwise.

A stream is *live* when it is a TTY and ``$TERM`` is not ``dumb``; on anything
else (a pipe, a file, a dumb terminal) nothing is rewritten and no escape codes are
written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

__all__ = ["fit", "fit_parts", "is_live", "live_line", "terminal_width"]

CLEAR_TO_EOL = "\033[K"  # ANSI: erase from the cursor to the end of the line


def is_live(stream: Any) -> bool:
    """True when ``stream`` is a terminal that understands ``\\r`` + erase-line."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def terminal_width(stream: Any = None, default: int = 80) -> int:
    """Columns of the terminal: ``$COLUMNS`` when set, else the size of ``stream``'s
    own terminal (the progress line goes to stderr, which may be a terminal while
    stdout is redirected), else of stdout's, else ``default``; at least 20."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(20, int(columns))
    if stream is not None:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            return max(20, os.get_terminal_size(stream.fileno()).columns)
    return max(20, shutil.get_terminal_size((default, 24)).columns)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width - 1`` characters (the last column is left free: writing
    into it makes some terminals wrap at once), ending in ``...`` when cut."""
    room = max(width - 1, 1)
    if len(text) <= room:
        return text
    return text[: max(room - 3, 0)] + "..." if room > 3 else text[:room]


def fit_parts(parts: Sequence[tuple[int, str]], width: int, sep: str = "  ") -> str:
    """Join the ``(priority, text)`` parts with ``sep``, leaving out the parts of the
    lowest priority (highest number) until the line fits ``width - 1`` columns; the
    order of the kept parts is unchanged. Whatever still does not fit is cut."""
    kept = list(parts)
    while len(kept) > 1 and len(sep.join(t for _, t in kept)) > width - 1:
        drop = max(range(len(kept)), key=lambda i: (kept[i][0], i))
        del kept[drop]
    return fit(sep.join(t for _, t in kept), width)


class LiveLine:
    """One line of status on ``stream``: :meth:`show` rewrites it in place on a live
    terminal (and does nothing elsewhere), :meth:`clear` erases it."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.live = is_live(self.stream) if live is None else live
        self.shown = False

    def show(self, text: str) -> None:
        if not self.live:
            return
        self.stream.write("\r" + fit(text, terminal_width(self.stream)) + CLEAR_TO_EOL)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.live and self.shown:
            self.stream.write("\r" + CLEAR_TO_EOL)
            self.stream.flush()
            self.shown = False


@contextlib.contextmanager
def live_line(
    prefix: str, stream: Any = None, live: bool | None = None
) -> Iterator[None]:
    """Keep ``prefix`` plus the running experiment's latest ``status`` text on one
    terminal line (rewritten in place), and clear it at the end. Does nothing when
    the stream (default stdout) is not a live terminal, unless ``live=True``."""
    from .experiments.api import status_to  # noqa: PLC0415

    line = LiveLine(sys.stdout if stream is None else stream, live)
    if not line.live:
        yield
        return

    def show(text: str) -> None:
        line.show(f"{prefix} {text}".rstrip())

    show("")
    try:
        with status_to(show):
            yield
    finally:
        line.clear()
