"""The Trainer's Ctrl-C state: one small object, one way out of ``fit``.

With ``on_interrupt="checkpoint"`` the first Ctrl-C only sets ``requested``;
the loop stops at the next batch boundary and ``fit`` writes a checkpoint. A
second Ctrl-C raises ``KeyboardInterrupt`` at once, possibly inside a step or
an epoch end: ``torn`` is True there, the state is half updated and is not
saved (the last per-epoch checkpoint is kept when it is this run's own file).
With ``on_interrupt="raise"`` nothing is caught and nothing is written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class CtrlC:
    """Ctrl-C state of one ``fit``.

    Attributes:
        mode: ``"checkpoint"`` or ``"raise"`` (``Trainer(on_interrupt=...)``).
        requested: a Ctrl-C arrived; stop at the next batch boundary.
        torn: a step or an epoch end is half applied (the loader has moved on,
            the weights or the history not yet).
        own_checkpoint: the checkpoint file holds this run's state (resumed
            from it, or written by it), so it may be kept after a torn stop.
    """

    mode: str = "checkpoint"
    requested: bool = False
    torn: bool = False
    own_checkpoint: bool = False

    def reset(self, mode: str, own_checkpoint: bool) -> None:
        """Start a new ``fit``."""
        self.mode, self.own_checkpoint = mode, own_checkpoint
        self.requested = self.torn = False

    @contextlib.contextmanager
    def caught(self) -> Iterator[None]:
        """Turn a KeyboardInterrupt into a request, or let it through (``"raise"``)."""
        try:
            yield
        except KeyboardInterrupt:
            if self.mode == "raise":
                raise
            self.requested = True

    @contextlib.contextmanager
    def sigint_guard(self) -> Iterator[None]:
        """First Ctrl-C sets ``requested``; a second raises KeyboardInterrupt.

        Only in ``"checkpoint"`` mode, in the main thread, and when SIGINT is
        not ignored (a background job): elsewhere Ctrl-C is left alone.
        """
        if (
            self.mode != "checkpoint"
            or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        ):
            yield
            return

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
