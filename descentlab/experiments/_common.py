"""Helpers shared by every experiment: output folder, figures, JSON, style.

matplotlib is imported only inside :func:`pyplot`, which builds
``matplotlib.figure.Figure`` objects directly: no display is needed and the
user's pyplot backend (e.g. Jupyter's inline one) is never switched or used.
"""

from __future__ import annotations

import contextlib
import io
import numbers
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import palette
from .._validation import check_scalar
from ..io import atomic_write_bytes, atomic_write_json
from ..train.callbacks import Callback
from .api import SIZES, check_size, status, status_to, to_jsonable

__all__ = [
    "DEFAULT_OUT",
    "EpochStatus",
    "Run",
    "OPTIMIZER_COLORS",
    "OPTIMIZER_LABELS",
    "SERIES_COLORS",
    "SIZES",
    "check_size",
    "color",
    "experiment",
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

DEFAULT_OUT = Path("descentlab-out")

#: Colours and labels live in :mod:`descentlab.palette` (one colour per optimizer,
#: other palettes for other families); re-exported here for the experiments.
OPTIMIZER_COLORS = palette.OPTIMIZER_COLORS
OPTIMIZER_LABELS = palette.OPTIMIZER_LABELS
SERIES_COLORS = palette.SERIES_COLORS


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


class _Figures:
    """The slice of the pyplot interface that the experiments use, built on
    ``matplotlib.figure.Figure`` without pyplot's global state: figures are not
    registered with any backend, so ``close`` has nothing to do."""

    _SUBPLOTS_KW = (
        "sharex",
        "sharey",
        "squeeze",
        "width_ratios",
        "height_ratios",
        "subplot_kw",
        "gridspec_kw",
    )

    def __init__(self) -> None:
        import matplotlib  # noqa: PLC0415
        from matplotlib.colors import Normalize  # noqa: PLC0415
        from matplotlib.lines import Line2D  # noqa: PLC0415
        from matplotlib.patches import Rectangle  # noqa: PLC0415

        self.cm = matplotlib.cm
        self.Normalize = Normalize
        self.rc_context = matplotlib.rc_context
        self.Rectangle, self.Line2D = Rectangle, Line2D

    @staticmethod
    def figure(**kw: Any) -> Any:
        from matplotlib.figure import Figure  # noqa: PLC0415

        return Figure(**kw)

    def subplots(self, nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Any, Any]:
        grid = {k: kw.pop(k) for k in self._SUBPLOTS_KW if k in kw}
        fig = self.figure(**kw)
        return fig, fig.subplots(nrows, ncols, **grid)

    @staticmethod
    def get_cmap(name: str) -> Any:
        import matplotlib  # noqa: PLC0415

        return matplotlib.colormaps[name]

    @staticmethod
    def close(fig: Any = None) -> None:
        pass


def pyplot() -> _Figures:
    """A pyplot-like factory of ``Figure`` objects (``subplots``, ``figure``,
    ``Rectangle``, ``Line2D``, ``cm``, ``get_cmap``, ``rc_context``, ``close``) that
    never selects a backend nor touches pyplot's figure manager."""
    return _Figures()


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
    """Context manager applying descentlab's figure style; yields :func:`pyplot`.

    Usage::

        with plot_style() as plt:
            fig, ax = plt.subplots()
    """
    plt = pyplot()
    from cycler import cycler  # noqa: PLC0415  (ships with matplotlib)

    rc = dict(_STYLE)
    rc["axes.prop_cycle"] = cycler(color=list(SERIES_COLORS))
    with plt.rc_context(rc):  # type: ignore[arg-type]
        yield plt


def save_figure(
    fig: Any, out: str | Path, stem: str, *, svg: bool = False, dpi: int = 110
) -> Path:
    """Write ``fig`` as ``<out>/<stem>.png`` (and .svg if asked), atomically.

    Returns the PNG path.
    """
    out = Path(out)
    formats = ["png"] + (["svg"] if svg else [])
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi)
        atomic_write_bytes(out / f"{stem}.{fmt}", buf.getvalue())
    return out / f"{stem}.png"


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


@dataclass
class Run:
    """One run of an experiment: what every ``run()`` body needs and returns through.

    ``out`` is the experiment's folder (created), ``rng`` a generator seeded
    with ``seed``, ``t0`` the start time; :meth:`result` assembles and writes the
    result dict (with ``size`` and ``seed``) as :func:`make_result` does.
    """

    name: str
    size: str
    seed: int
    out: Path
    t0: float = field(default_factory=time.perf_counter)

    @property
    def quick(self) -> bool:
        return self.size == "quick"

    def pick(self, by_size: dict[str, Any]) -> Any:
        """``by_size[self.size]``: the setting of a {"quick": .., "full": ..} table."""
        return by_size[self.size]

    def result(self, figures: Sequence[Path | str], table: list[dict], **numbers_):
        return make_result(
            self.name,
            self.out,
            self.t0,
            figures,
            table,
            size=self.size,
            seed=self.seed,
            **numbers_,
        )


def experiment(name: str) -> Callable[[Callable[[Run], dict]], Callable[..., dict]]:
    """Decorator turning ``body(run: Run) -> dict`` into the contract's
    ``run(size="quick", seed=0, out=None) -> dict``.

    It checks ``size`` and ``seed``, creates the output folder and starts the
    clock, so an experiment module holds only its own work::

        @experiment(NAME)
        def run(r: Run) -> dict:
            ...
            return r.result(figures, table, captions=captions, runs=runs)
    """

    def wrap(body: Callable[[Run], dict]) -> Callable[..., dict]:
        def run(
            size: str = "quick", seed: int = 0, out: str | Path | None = None
        ) -> dict:
            t0 = time.perf_counter()
            check_size(size)
            check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=name)
            return body(Run(name, size, int(seed), prepare_out(out, name), t0))

        run.__doc__ = body.__doc__
        run.__name__ = run.__qualname__ = "run"
        run.__module__ = body.__module__
        return run

    return wrap


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
