"""A dependency-free Keras-style progress line (one per epoch), as a callback."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from ..terminal import CLEAR_TO_EOL, fit_parts, is_live, terminal_width
from .callbacks import Callback


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s}s"


class ProgressBar(Callback):
    """``Epoch 3/10  37/40 [=====>..] loss 0.2345  acc 0.9310  lr 1.00e-03  ETA 2s``.

    On a live terminal (a TTY, ``$TERM`` not ``dumb``) the line is redrawn in place
    at most every ``interval`` seconds and always fits the terminal width: the bar
    shrinks, then the least useful fields (img/s, lr, the bar, ETA) are left out, so
    it never wraps. Elsewhere (a pipe, a log file) one plain line is written per
    epoch, with no escape codes.
    """

    def __init__(
        self, stream: TextIO | None = None, *, width: int = 24, interval: float = 0.1
    ):
        self.stream, self.width, self.interval = stream, width, interval

    def on_train_begin(self, logs=None):
        self._out = self.stream or sys.stderr
        self._tty = is_live(self._out)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._t0, self._last, self._seen = (
            epoch,
            time.perf_counter(),
            0.0,
            0,
        )

    def _line(
        self, done: int, total: int, logs: dict, final: bool, columns: int | None
    ) -> str:
        """The line's fields, as ``(priority, text)``; the bar is sized to the room
        left by the other fields (at most ``self.width``)."""
        elapsed = time.perf_counter() - self._t0
        rate = self._seen / elapsed if elapsed > 0 else math.nan
        head = [
            (0, f"Epoch {self._epoch + 1}/{self.trainer.epochs}"),
            (1, f"{done}/{total}"),
        ]
        tail = [(0, f"loss {logs.get('loss', math.nan):.4f}")]
        if not math.isnan(logs.get("acc", math.nan)):  # none for regression losses
            tail.append((1, f"acc {logs['acc']:.4f}"))
        tail.append((5, f"lr {logs.get('lr', math.nan):.2e}"))
        if final:
            if not math.isnan(logs.get("val_loss", math.nan)):
                tail.append((1, f"val_loss {logs['val_loss']:.4f}"))
            if not math.isnan(logs.get("val_acc", math.nan)):
                tail.append((1, f"val_acc {logs['val_acc']:.4f}"))
            tail.append((3, _fmt_seconds(elapsed)))
        else:
            eta = elapsed / done * (total - done) if done else math.nan
            tail.append((3, f"ETA {_fmt_seconds(eta)}"))
        tail.append((6, f"{rate:,.0f} img/s"))
        if columns is None:  # not a terminal: the full line
            return "  ".join(
                t for _, t in head + [(0, self._bar(done, total, self.width))] + tail
            )
        return self._fit(head, tail, done, total, columns)

    def _fit(self, head, tail, done: int, total: int, columns: int) -> str:
        """The parts that fit ``columns - 1``, the bar (priority 4) using the room
        the kept parts leave, at most ``self.width``; lower priorities go first."""
        parts = [*head, (4, None), *tail]  # None: the bar, sized last
        while True:
            text = [t for _, t in parts if t is not None]
            used = len("  ".join(text))
            if any(t is None for _, t in parts):
                room = min(self.width, columns - 1 - used - 4)  # "  [" + "]"
                if room >= 5:
                    return fit_parts(
                        [(p, t or self._bar(done, total, room)) for p, t in parts],
                        columns,
                    )
            elif used <= columns - 1 or len(parts) == 1:
                return fit_parts(parts, columns)
            drop = max(range(len(parts)), key=lambda i: (parts[i][0], i))
            if parts[drop][0] == 0:  # only essentials are left: cut what remains
                return fit_parts([(p, t) for p, t in parts if t is not None], columns)
            del parts[drop]

    @staticmethod
    def _bar(done: int, total: int, width: int) -> str:
        filled = int(width * done / max(total, 1))
        return (
            "["
            + "=" * filled
            + (">" if filled < width else "")
            + "." * max(width - filled - 1, 0)
            + "]"
        )

    def on_train_batch_end(self, step, logs=None):
        logs = logs or {}
        self._seen += int(logs.get("size", 0))
        now = time.perf_counter()
        if self._tty and now - self._last >= self.interval:
            self._last = now
            line = self._line(
                int(logs.get("batch", 0)) + 1,
                int(logs.get("batches", 0)),
                logs,
                False,
                terminal_width(self._out),
            )
            self._out.write("\r" + line + CLEAR_TO_EOL)  # a shorter line leaves no tail
            self._out.flush()

    def on_epoch_end(self, epoch, logs=None):
        total = int(self.trainer.batches_per_epoch)
        if self._tty:
            line = self._line(total, total, logs or {}, True, terminal_width(self._out))
            self._out.write("\r" + line + CLEAR_TO_EOL + "\n")
        else:
            self._out.write(self._line(total, total, logs or {}, True, None) + "\n")
        self._out.flush()
