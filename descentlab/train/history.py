"""Training history: per-step and per-epoch records, with a figure of the curves."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

EPOCH_KEYS = ("epoch", "loss", "acc", "val_loss", "val_acc", "lr", "seconds")
STEP_KEYS = ("loss", "lr")


class History:
    """What ``Trainer.fit`` returns.

    Attributes:
        step: {"loss": [...], "lr": [...]} one entry per optimizer step.
        epoch: {"epoch", "loss", "acc", "val_loss", "val_acc", "lr", "seconds"} one
            entry per finished epoch (val_* are NaN without validation data; loss/acc
            are running means over the epoch's batches, as Keras reports them).
        stopped: why training ended early ("early_stopping", "nonfinite", "interrupted",
            "callback", "max_steps") or None.
        nonfinite: {"step", "epoch", "cause"} when a non-finite loss/gradient
            stopped it.
        checkpoint: path of the checkpoint written on interruption, if any.
    """

    def __init__(self) -> None:
        self.step: dict[str, list[float]] = {k: [] for k in STEP_KEYS}
        self.epoch: dict[str, list[float]] = {k: [] for k in EPOCH_KEYS}
        self.stopped: str | None = None
        self.nonfinite: dict[str, Any] | None = None
        self.checkpoint: str | None = None

    def add_step(self, loss: float, lr: float) -> None:
        self.step["loss"].append(float(loss))
        self.step["lr"].append(float(lr))

    def add_epoch(self, logs: dict[str, float]) -> None:
        for k in EPOCH_KEYS:
            self.epoch[k].append(float(logs.get(k, math.nan)))

    @property
    def epochs_done(self) -> int:
        return len(self.epoch["epoch"])

    def last(self, key: str) -> float:
        values = self.epoch[key]
        return values[-1] if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "stopped": self.stopped,
            "nonfinite": self.nonfinite,
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls()
        h.step = {k: [float(v) for v in d["step"].get(k, [])] for k in STEP_KEYS}
        h.epoch = {k: [float(v) for v in d["epoch"].get(k, [])] for k in EPOCH_KEYS}
        h.stopped, h.nonfinite, h.checkpoint = (
            d.get("stopped"),
            d.get("nonfinite"),
            d.get("checkpoint"),
        )
        return h

    def plot(self, title: str | None = None) -> Any:
        """A ``matplotlib.figure.Figure`` of loss and accuracy vs epoch, train and
        validation (validation curves when any epoch has them; no accuracy panel for a
        loss without accuracy). Built without pyplot, so it never changes a backend;
        in Jupyter, display it by leaving it as a cell's last value.

        Raises:
            ValueError: no epoch has finished yet.
        """
        from matplotlib.figure import Figure  # noqa: PLC0415
        from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

        if not self.epochs_done:
            raise ValueError(
                "History.plot: no epoch has finished yet; nothing to plot."
            )
        ep = self.epoch["epoch"]

        def has(key: str) -> bool:
            return not all(math.isnan(v) for v in self.epoch[key])

        panels = [("loss", "cross-entropy loss")]
        if has("acc") or has("val_acc"):
            panels.append(("acc", "accuracy"))
        fig = Figure(figsize=(5.0 * len(panels), 3.8), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        prefix = f"{title}: " if title else ""
        for ax, (key, label) in zip(axes, panels, strict=True):
            if has(key):
                ax.plot(ep, self.epoch[key], "o-", label="train")
            if has("val_" + key):
                ax.plot(ep, self.epoch["val_" + key], "s--", label="validation")
            ax.set(xlabel="epoch", ylabel=label, title=prefix + label)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend()
        return fig

    def to_png(self, title: str | None = None, dpi: int = 110) -> bytes:
        """:meth:`plot` rendered as PNG bytes."""
        buf = io.BytesIO()
        self.plot(title).savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    def _repr_png_(self) -> bytes | None:
        return self.to_png(dpi=80) if self.epochs_done else None

    def _repr_html_(self) -> str:
        """Jupyter: the table of epochs and the curves."""
        return history_html(self)

    def __repr__(self) -> str:
        return (
            f"History(epochs={self.epochs_done}, steps={len(self.step['loss'])}, "
            f"last_loss={self.last('loss'):.4g}, "
            f"last_val_acc={self.last('val_acc'):.4g})"
        )


def _cell(v: float, key: str) -> str:
    if math.isnan(v):
        return "&ndash;"
    if key == "epoch":
        return str(int(v))
    return f"{v:.2e}" if key == "lr" else f"{v:.4f}" if key != "seconds" else f"{v:.1f}"


def history_html(history: History, title: str | None = None, max_rows: int = 12) -> str:
    """An HTML table of the epochs (the last ``max_rows``) followed by the curves."""
    keys = [k for k in EPOCH_KEYS if not all(math.isnan(v) for v in history.epoch[k])]
    n = history.epochs_done
    rows = range(max(0, n - max_rows), n)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{_cell(history.epoch[k][i], k)}</td>" for k in keys)
        + "</tr>"
        for i in rows
    )
    note = f" (stopped: {html.escape(history.stopped)})" if history.stopped else ""
    parts = [
        f"<p><b>History</b>: {n} epoch{'s' if n != 1 else ''}, "
        f"{len(history.step['loss'])} steps{note}</p>"
    ]
    if n:
        if n > max_rows:
            parts.append(f"<p>last {max_rows} epochs</p>")
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
        png = base64.b64encode(history.to_png(title, dpi=80)).decode("ascii")
        parts.append(f'<img src="data:image/png;base64,{png}" alt="training curves"/>')
    return "\n".join(parts)
