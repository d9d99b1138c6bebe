"""Use a trained run: :func:`load_run` gives the model (weights loaded, evaluation
mode), the config, the history and the result of a ``descentlab train`` folder.

Inputs for :meth:`Run.predict` are MNIST-like images, white strokes on black,
values in [0, 1] (uint8 arrays are divided by 255). Any of these shapes is
accepted for N images (or one image without the N axis)::

    (N, 28, 28)   (N, 1, 28, 28)   (N, 784)

and is reshaped to what the model takes (``(N, 784)`` for the MLP, ``(N, 1, 28,
28)`` for the conv models). :func:`read_png` turns a PNG into such an image.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .data.datasets import DATASETS
from .errors import CheckpointError, InvalidParameterError, ShapeError
from .train.history import History, history_html

__all__ = ["Run", "load_run", "prepare_images", "read_png", "softmax"]

#: class names of the data sets, by config "data" (from their download specs)
CLASS_NAMES = {name: spec.classes for name, spec in DATASETS.items()}
SIDE = 28


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``exp(z - max z) / sum exp(z - max z)`` for logits of shape (N, C)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def prepare_images(x: Any, flat: bool, owner: str = "predict") -> np.ndarray:
    """``x`` as float32 in [0, 1] with shape (N, 784) if ``flat`` else (N, 1, 28, 28).

    Raises:
        ShapeError: a shape that is not 28x28 images (see the module doc).
        InvalidParameterError: not numbers, or floats outside [0, 1].
    """
    a = np.asarray(x)
    if a.dtype.kind not in "uif" or a.dtype == np.bool_:
        raise InvalidParameterError(
            f"{owner}: the images must be numbers. Got dtype {a.dtype}."
        )
    shape = a.shape
    if shape in ((SIDE, SIDE), (SIDE * SIDE,), (1, SIDE, SIDE)):
        a = a[None]
    ok = (
        (a.ndim == 3 and a.shape[1:] == (SIDE, SIDE))
        or (a.ndim == 4 and a.shape[1:] == (1, SIDE, SIDE))
        or (a.ndim == 2 and a.shape[1] == SIDE * SIDE)
    )
    if not ok or len(a) == 0:
        raise ShapeError(
            f"{owner}: expected 28x28 grayscale images as (N, 28, 28), "
            f"(N, 1, 28, 28) or (N, 784) (or one image without N). Got shape {shape}."
        )
    if a.dtype.kind in "ui":
        if a.min() < 0 or a.max() > 255:
            raise InvalidParameterError(
                f"{owner}: integer images must be in 0..255. Got values from "
                f"{a.min()} to {a.max()}."
            )
        a = a.astype(np.float32) / 255.0
    else:
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise InvalidParameterError(f"{owner}: the images contain NaN or inf.")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            hint = " (0..255 values? pass uint8 or divide by 255)" if hi > 1 else ""
            raise InvalidParameterError(
                f"{owner}: float images must be in [0, 1]. Got values from {lo:.4g} "
                f"to {hi:.4g}{hint}."
            )
    n = len(a)
    return a.reshape(n, SIDE * SIDE) if flat else a.reshape(n, 1, SIDE, SIDE)


def _area_weights(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging the input cells that each output cell covers
    (box filter: exact block means when shrinking, nearest-like when enlarging)."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = edges[i], edges[i + 1]
        for j in range(int(math.floor(lo)), min(int(math.ceil(hi)), n_in)):
            w[i, j] = min(hi, j + 1) - max(lo, j)
    return w / w.sum(axis=1, keepdims=True)


def read_png(path: str | os.PathLike, invert: str = "auto") -> tuple[np.ndarray, bool]:
    """A PNG as one MNIST-like (28, 28) float32 image, and whether it was inverted.

    Colour is turned to luminance (0.299 R + 0.587 G + 0.114 B), transparent pixels
    count as background; a non-square picture is padded to a square with the
    background value, then resized to 28x28 by area averaging. MNIST digits are
    white on black: ``invert="auto"`` inverts a picture whose border is mostly
    bright (a dark digit on white paper), ``"yes"``/``"no"`` force it.

    Raises:
        InvalidParameterError: missing file, not a PNG, or a bad ``invert``.
    """
    from matplotlib import image as mpimg  # noqa: PLC0415

    if invert not in ("auto", "yes", "no"):
        raise InvalidParameterError(
            f"read_png: 'invert' must be 'auto', 'yes' or 'no'. Got {invert!r}."
        )
    path = Path(path)
    if not path.is_file():
        raise InvalidParameterError(f"predict: no such file {str(path)!r}.")
    with path.open("rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            raise InvalidParameterError(
                f"predict: {str(path)!r} is not a PNG file (use .png, or an .npz "
                "with an 'x' array)."
            )
    img = np.asarray(mpimg.imread(path), dtype=np.float64)
    if img.dtype.kind != "f" or img.max() > 1.0:  # 16-bit PNGs come back in [0, 1] too
        img = img / 255.0
    alpha = None
    if img.ndim == 3:
        if img.shape[2] in (2, 4):
            alpha = img[..., -1]
            img = img[..., :-1]
        img = img[..., 0] if img.shape[2] == 1 else img[..., :3] @ [0.299, 0.587, 0.114]
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    if alpha is not None:
        a_border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
        # transparent background: take the colour of the opaque strokes' opposite
        strokes = img[alpha > 0.5]
        stroke = float(strokes.mean()) if strokes.size else 0.0
        bg = 1.0 - round(stroke)
        img = alpha * img + (1 - alpha) * bg
        border = np.where(a_border > 0.5, border, bg)
    inverted = invert == "yes" or (invert == "auto" and float(np.median(border)) > 0.5)
    if inverted:
        img, border = 1.0 - img, 1.0 - border
    h, w = img.shape
    if h != w:  # pad to a square with the background so the digit keeps its shape
        side = max(h, w)
        fill = float(np.median(border))
        square = np.full((side, side), fill)
        top, left = (side - h) // 2, (side - w) // 2
        square[top : top + h, left : left + w] = img
        img = square
    if img.shape != (SIDE, SIDE):
        img = (
            _area_weights(SIDE, img.shape[0])
            @ img
            @ _area_weights(SIDE, img.shape[1]).T
        )
    return np.clip(img, 0.0, 1.0).astype(np.float32), inverted


class Run:
    """A trained run folder: ``model`` (weights of ``checkpoint``, eval mode),
    ``config``, ``history`` (:class:`History`), ``result`` (result.json or None),
    ``info`` (run.json or None), ``path`` and ``checkpoint``."""

    def __init__(
        self,
        path: Path,
        checkpoint: Path,
        model: Any,
        config: dict[str, Any],
        history: History,
        result: dict[str, Any] | None,
        info: dict[str, Any] | None,
    ) -> None:
        self.path, self.checkpoint, self.model = path, checkpoint, model
        self.config, self.history, self.result, self.info = (
            config,
            history,
            result,
            info,
        )

    @property
    def flat(self) -> bool:
        """True when the model takes (N, 784) vectors (the MLP)."""
        return self.config["model"] == "mlp"

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES.get(self.config.get("data", ""), tuple("0123456789"))

    def logits(self, x: Any, batch_size: int = 500) -> np.ndarray:
        """Logits (N, 10) for images ``x`` (any shape of the module doc)."""
        from . import backend as B  # noqa: PLC0415

        xs = prepare_images(x, self.flat)
        self.model.eval()
        outs = [
            B.to_numpy(self.model.forward(B.asarray(xs[i : i + batch_size])))
            for i in range(0, len(xs), batch_size)
        ]
        return np.concatenate(outs).astype(np.float64)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities (N, 10), the softmax of the logits."""
        return softmax(self.logits(x))

    def predict(self, x: Any) -> np.ndarray:
        """Predicted classes (N,), int64."""
        return self.logits(x).argmax(axis=1)

    def evaluate(self, x: Any, y: Any) -> dict[str, Any]:
        """{"n", "loss" (mean cross-entropy), "acc", "per_class_acc"} on (x, y)."""
        y = np.asarray(y).astype(np.int64).ravel()
        p = self.predict_proba(x)
        if len(y) != len(p):
            raise ShapeError(
                f"evaluate: {len(p)} images but {len(y)} labels; they must match."
            )
        if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
            raise InvalidParameterError(
                f"evaluate: labels must be in 0..{p.shape[1] - 1}. Got values from "
                f"{y.min()} to {y.max()}."
            )
        picked = np.clip(p[np.arange(len(y)), y], 1e-12, None)
        pred = p.argmax(axis=1)
        per_class = {
            str(c): float((pred[y == c] == c).mean()) if (y == c).any() else None
            for c in range(p.shape[1])
        }
        return {
            "n": len(y),
            "loss": float(-np.log(picked).mean()),
            "acc": float((pred == y).mean()),
            "per_class_acc": per_class,
        }

    def __repr__(self) -> str:
        acc = (self.result or {}).get("test_acc")
        shown = f", test_acc={acc:.4f}" if isinstance(acc, float) else ""
        return (
            f"Run({str(self.path)!r}, model={self.config['model']!r}, "
            f"optimizer={self.config['optimizer']!r}, "
            f"epochs={self.history.epochs_done}{shown}, "
            f"checkpoint={self.checkpoint.name!r})"
        )

    def _repr_html_(self) -> str:
        """Jupyter: the key settings, the result and the history with its curves."""
        c, r = self.config, self.result or {}
        rows = [
            ("folder", str(self.path)),
            ("weights", self.checkpoint.name),
            ("model", c["model"]),
            ("optimizer", f"{c['optimizer']} (lr {c['lr']:g})"),
            ("schedule", c.get("schedule", "constant")),
            ("data", c.get("data", "")),
        ]
        for key in ("test_acc", "test_loss"):
            if isinstance(r.get(key), float):
                rows.append((key.replace("_", " "), f"{r[key]:.4f}"))
        table = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        title = f"{c['model']} + {c['optimizer']}"
        return (
            f"<p><b>Run</b> {html.escape(self.path.name)}</p><table>{table}</table>"
            + history_html(self.history, title)
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidParameterError(
            f"load_run: cannot read {str(path)!r}: {exc}"
        ) from None


def load_run(path: str | os.PathLike, checkpoint: str | None = None) -> Run:
    """Load a ``descentlab train`` run folder (or one of its .npz checkpoints).

    ``checkpoint``: ``"best"`` (best.npz, the best epoch by the run's monitor),
    ``"last"`` (checkpoint.npz, the last epoch) or a file name in the folder;
    default: best.npz when the run kept one, else checkpoint.npz.

    Raises:
        InvalidParameterError: the path is missing or not a run folder.
        CheckpointError: the checkpoint is damaged or does not fit the config.
    """
    from .train.checkpoint import load_checkpoint  # noqa: PLC0415
    from .train.run import build_model_from_config, validate_config  # noqa: PLC0415

    p = Path(path)
    if p.is_file() and p.suffix == ".npz" and checkpoint is None:
        p, checkpoint = p.parent, p.name
    if not p.exists():
        raise InvalidParameterError(f"load_run: no such folder {str(p)!r}.")
    if not p.is_dir() or not (p / "config.json").is_file():
        raise InvalidParameterError(
            f"load_run: {str(p)!r} is not a run folder (expected the --out folder "
            "of `descentlab train`, with config.json and checkpoint.npz)."
        )
    names = {"best": "best.npz", "last": "checkpoint.npz"}
    if checkpoint is None:
        checkpoint = "best" if (p / "best.npz").is_file() else "last"
    ckpt = p / names.get(checkpoint, checkpoint)
    if not ckpt.is_file():
        have = sorted(f.name for f in p.glob("*.npz"))
        raise InvalidParameterError(
            f"load_run: {str(p)!r} has no {ckpt.name} (checkpoints there: "
            f"{', '.join(have) or 'none'})."
        )
    saved = _read_json(p / "config.json")
    if not isinstance(saved, dict):
        raise InvalidParameterError(
            f"load_run: {str(p / 'config.json')!r} is not a config."
        )
    known = {k: v for k, v in saved.items() if k in _config_keys()}
    config = validate_config(known)
    state, meta = load_checkpoint(ckpt)
    model = build_model_from_config(config)
    if meta.get("model_class") not in (None, type(model).__name__):
        raise CheckpointError(
            f"load_run: {str(ckpt)!r} holds a {meta.get('model_class')} but "
            f"config.json describes a {type(model).__name__}."
        )
    model.load_state_dict(state["model"])
    model.eval()
    history = (
        History.from_dict(_read_json(p / "history.json"))
        if (p / "history.json").is_file()
        else History.from_dict(meta.get("history") or {"step": {}, "epoch": {}})
    )
    result = _read_json(p / "result.json") if (p / "result.json").is_file() else None
    info = _read_json(p / "run.json") if (p / "run.json").is_file() else None
    return Run(p, ckpt, model, config, history, result, info)


def _config_keys() -> frozenset[str]:
    from .train.run import DEFAULTS  # noqa: PLC0415

    return frozenset(DEFAULTS)
