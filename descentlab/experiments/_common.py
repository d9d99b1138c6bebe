"""Helpers shared by every experiment: output folder, figures, JSON, style.

matplotlib is imported only inside :func:`pyplot` (with the non-interactive
"Agg" backend), so importing an experiment module never needs a display.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import palette
from .._validation import check_option, check_scalar
from ..io import atomic_write_bytes, atomic_write_json
from ..train.callbacks import Callback

__all__ = [
    "DEFAULT_OUT",
    "EpochStatus",
    "OPTIMIZER_COLORS",
    "OPTIMIZER_LABELS",
    "SERIES_COLORS",
    "SIZES",
    "check_size",
    "color",
    "label",
    "make_result",
    "plot_style",
    "prepare_out",
    "pyplot",
    "save_figure",
    "save_results",
    "smooth",
    "status",
    "status_to",
    "to_jsonable",
]

SIZES = ("quick", "full")
DEFAULT_OUT = Path("descentlab-out")

#: Colours and labels live in :mod:`descentlab.palette` (one colour per optimizer,
#: other palettes for other families); re-exported here for the experiments.
OPTIMIZER_COLORS = palette.OPTIMIZER_COLORS
OPTIMIZER_LABELS = palette.OPTIMIZER_LABELS
SERIES_COLORS = palette.SERIES_COLORS


_STATUS_LISTENERS: list[Callable[[str], Any]] = []


def status(text: str) -> None:
    """Say what a running experiment is doing now (e.g. "DeepConvNet: epoch 3/10").

    Shown on the live progress line of ``descentlab report``/``run`` in a terminal;
    a no-op when nobody listens (tests, scripts).
    """
    if _STATUS_LISTENERS:
        _STATUS_LISTENERS[-1](text)


@contextlib.contextmanager
def status_to(listener: Callable[[str], Any]) -> Iterator[None]:
    """Send :func:`status` texts to ``listener`` inside the ``with`` block."""
    _STATUS_LISTENERS.append(listener)
    try:
        yield
    finally:
        _STATUS_LISTENERS.remove(listener)


class EpochStatus(Callback):
    """Trainer callback: :func:`status` ``"<label>: epoch e/E done"`` per epoch."""

    def __init__(self, label: str) -> None:
        self.label = label

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        status(f"{self.label}: epoch {epoch + 1}/{self.trainer.epochs} done")


def color(name: str, index: int = 0) -> str:
    """Colour of optimizer ``name`` (:mod:`descentlab.palette`); other names get
    series colour ``index``."""
    key = name.lower()
    if key in OPTIMIZER_COLORS:
        return OPTIMIZER_COLORS[key]
    return SERIES_COLORS[index % len(SERIES_COLORS)]


def label(name: str) -> str:
    """Display name of an optimizer ("adagrad" -> "AdaGrad"); other names unchanged."""
    return palette.optimizer_label(name)


def check_size(size: str) -> str:
    """Return ``size`` if it is "quick" or "full"; else raise InvalidParameterError."""
    return check_option(size, "size", SIZES, owner="experiment")


def prepare_out(out: str | Path | None, name: str) -> Path:
    """The experiment's output folder (default ``./descentlab-out/<name>``), created."""
    path = DEFAULT_OUT / name if out is None else Path(out)
    if path.exists() and not path.is_dir():
        from ..errors import InvalidParameterError  # noqa: PLC0415

        raise InvalidParameterError(
            f"experiment {name}: 'out' must be a folder. Got the file {str(path)!r}."
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend selected."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "legend.framealpha": 0.85,
    "figure.constrained_layout.use": True,
}


@contextlib.contextmanager
def plot_style() -> Iterator[Any]:
    """Context manager applying descentlab's figure style; yields pyplot.

    Usage::

        with plot_style() as plt:
            fig, ax = plt.subplots()
    """
    plt = pyplot()
    from cycler import cycler  # noqa: PLC0415  (ships with matplotlib)

    rc = dict(_STYLE)
    rc["axes.prop_cycle"] = cycler(color=list(SERIES_COLORS))
    with plt.rc_context(rc):
        yield plt


def save_figure(
    fig: Any, out: str | Path, stem: str, *, svg: bool = False, dpi: int = 110
) -> Path:
    """Write ``fig`` as ``<out>/<stem>.png`` (and .svg if asked), atomically; close it.

    Returns the PNG path.
    """
    plt = pyplot()
    out = Path(out)
    try:
        formats = ["png"] + (["svg"] if svg else [])
        for fmt in formats:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=dpi)
            atomic_write_bytes(out / f"{stem}.{fmt}", buf.getvalue())
    finally:
        plt.close(fig)
    return out / f"{stem}.png"


def to_jsonable(obj: Any) -> Any:
    """Convert results to JSON types: arrays to lists, NaN/inf to None, Paths to str."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(
        f"save_results: cannot store a {type(obj).__name__} in JSON; results may hold "
        "only numbers, strings, booleans, None, arrays, lists and dicts."
    )


def save_results(out: str | Path, name: str, results: dict) -> Path:
    """Write ``results`` to ``<out>/<name>.json`` atomically; returns the path."""
    path = Path(out) / f"{name}.json"
    atomic_write_json(path, to_jsonable(results))
    return path


def make_result(
    name: str,
    out: Path,
    t0: float,
    figures: Sequence[Path | str],
    table: list[dict],
    **numbers_: Any,
) -> dict:
    """Assemble an experiment's result dict, write ``<out>/<name>.json``, return it.

    ``figures`` may be absolute or relative to ``out``; they are stored relative
    to ``out``. ``seconds`` is measured from ``t0`` (``time.perf_counter()``).
    """
    out = Path(out).resolve()
    rel = []
    for f in figures:
        p = Path(f)
        if p.is_absolute() or (not (out / p).exists() and p.exists()):
            p = p.resolve().relative_to(out)  # a path as save_figure returns it
        rel.append(p.as_posix())
    result = {
        "name": name,
        "out": str(out),
        "figures": rel,
        "table": table,
        "seconds": time.perf_counter() - t0,
        **numbers_,
    }
    save_results(out, name, result)
    return result


def smooth(values: Any, window: int) -> np.ndarray:
    """Trailing moving average: ``s[i] = mean(values[max(0, i-window+1) : i+1])``.

    Same length as ``values``; the first ``window - 1`` entries average fewer points.
    """
    check_scalar(window, "window", numbers.Integral, min_val=1, owner="smooth")
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return v
    c = np.cumsum(np.concatenate([[0.0], v]))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)
