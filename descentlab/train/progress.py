"""A dependency-free Keras-style progress line (one per epoch), as a callback."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from .callbacks import Callback


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s}s"


_CLEAR_TO_EOL = "\033[K"  # ANSI: erase from the cursor to the end of the line


class ProgressBar(Callback):
    """``Epoch 3/10  37/40 [=========>.] loss 0.2345 acc 0.931 lr 1.0e-03 ETA 2s 1234 img/s``.

    Redrawn in place (carriage return) at most every ``interval`` seconds when the
    stream is a terminal; otherwise a single line per epoch is written.
    """

    def __init__(
        self, stream: TextIO | None = None, *, width: int = 24, interval: float = 0.1
    ):
        self.stream, self.width, self.interval = stream, width, interval

    def on_train_begin(self, logs=None):
        self._out = self.stream or sys.stderr
        self._tty = bool(getattr(self._out, "isatty", lambda: False)())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._t0, self._last, self._seen = (
            epoch,
            time.perf_counter(),
            0.0,
            0,
        )

    def _line(self, done: int, total: int, logs: dict, final: bool) -> str:
        elapsed = time.perf_counter() - self._t0
        filled = int(self.width * done / max(total, 1))
        bar = (
            "=" * filled
            + (">" if filled < self.width else "")
            + "." * max(self.width - filled - 1, 0)
        )
        rate = self._seen / elapsed if elapsed > 0 else math.nan
        parts = [
            f"Epoch {self._epoch + 1}/{self.trainer.epochs}",
            f"{done}/{total}",
            f"[{bar}]",
            f"loss {logs.get('loss', math.nan):.4f}",
        ]
        if not math.isnan(
            logs.get("acc", math.nan)
        ):  # no accuracy for regression losses
            parts.append(f"acc {logs['acc']:.4f}")
        parts.append(f"lr {logs.get('lr', math.nan):.2e}")
        if final:
            if not math.isnan(logs.get("val_loss", math.nan)):
                parts.append(f"val_loss {logs['val_loss']:.4f}")
            if not math.isnan(logs.get("val_acc", math.nan)):
                parts.append(f"val_acc {logs['val_acc']:.4f}")
            parts.append(f"{_fmt_seconds(elapsed)}")
        else:
            eta = elapsed / done * (total - done) if done else math.nan
            parts.append(f"ETA {_fmt_seconds(eta)}")
        parts.append(f"{rate:,.0f} img/s")
        return "  ".join(parts)

    def on_train_batch_end(self, step, logs=None):
        logs = logs or {}
        self._seen += int(logs.get("size", 0))
        now = time.perf_counter()
        if self._tty and now - self._last >= self.interval:
            self._last = now
            line = self._line(
                int(logs.get("batch", 0)) + 1, int(logs.get("batches", 0)), logs, False
            )
            self._out.write(
                "\r" + line + _CLEAR_TO_EOL
            )  # a shorter line leaves no tail
            self._out.flush()

    def on_epoch_end(self, epoch, logs=None):
        total = int(self.trainer.batches_per_epoch)
        line = self._line(total, total, logs or {}, True)
        self._out.write(("\r" + line + _CLEAR_TO_EOL if self._tty else line) + "\n")
        self._out.flush()
