"""`descentlab predict`: class predictions of a trained run for images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .common import UsageError

EXAMPLES = """\
examples:
  descentlab predict runs/train --input digit.png
  descentlab predict runs/train --input a.png b.png --top 3
  descentlab predict runs/train --input batch.npz --out predictions.json

Inputs:
  PNG   any size, grayscale or colour (turned to luminance; transparency counts
        as background); a non-square picture is padded to a square, then it is
        resized to 28x28 by area averaging. MNIST digits are white on black, so
        a picture with a bright border (a dark digit on paper) is inverted
        (--invert auto, the default; yes/no force it).
  .npz  an array 'x' of images, shapes (N, 28, 28), (N, 1, 28, 28) or (N, 784)
        (or one image), uint8 0..255 or floats in [0, 1]; an optional 'y' of
        labels is reported next to each prediction."""


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a `descentlab train` folder")
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="best|last|FILE",
        help="which weights: best (best.npz), last (checkpoint.npz) or a file name "
        "in RUN_DIR (default: best when the run kept it, else last)",
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict the classes of images with a trained run",
        description="Predict classes with a trained run (the --out folder of "
        "`descentlab train`): one line per image with the class and its "
        "probability.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_args(p)
    p.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="FILE",
        help="PNG images and/or .npz files with an 'x' array (see below)",
    )
    p.add_argument(
        "--top", type=int, default=1, metavar="K", help="show the K most likely classes"
    )
    p.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="PNG: make the digit white on black (default: auto)",
    )
    p.add_argument(
        "--out", metavar="FILE.json", help="also write predictions and probabilities"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file"
    )


def load(a: argparse.Namespace) -> Any:
    from ..runs import load_run

    return load_run(a.run_dir, a.checkpoint)


def read_npz(path: Path, need_labels: bool = False) -> tuple[np.ndarray, Any]:
    """(x, y or None) from an .npz file; one-line errors for anything else."""
    from ..errors import InvalidParameterError

    if not path.is_file():
        raise InvalidParameterError(f"no such file {str(path)!r}.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise InvalidParameterError(
            f"{str(path)!r} is not a readable .npz file ({exc})."
        ) from None
    if "x" not in arrays:
        raise InvalidParameterError(
            f"{str(path)!r} has no array 'x' (it has: {', '.join(arrays) or 'none'})."
        )
    if need_labels and "y" not in arrays:
        raise InvalidParameterError(f"{str(path)!r} has no array 'y' of labels.")
    return arrays["x"], arrays.get("y")


def check_out(a: argparse.Namespace) -> None:
    """Refuse an --out that would replace a file (unless --overwrite) or a folder,
    before any work is done."""
    if not a.out:
        return
    out = Path(a.out)
    if out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a folder; give a file name.")
    if out.exists() and not a.overwrite:
        raise UsageError(f"{str(out)!r} exists; pass --overwrite to replace it.")


def write_json(a: argparse.Namespace, obj: dict) -> None:
    from ..io import atomic_write_json

    out = Path(a.out)
    atomic_write_json(out, obj)
    print(f"wrote {out}", file=sys.stderr)


def _inputs(a: argparse.Namespace) -> tuple[list[str], np.ndarray, list[Any]]:
    """(names, images (N, 28, 28) in [0, 1], labels or None per image)."""
    from ..errors import InvalidParameterError
    from ..runs import prepare_images, read_png

    names: list[str] = []
    images: list[np.ndarray] = []
    labels: list[Any] = []
    for item in a.input:
        path = Path(item)
        if path.suffix.lower() == ".npz":
            x, y = read_npz(path)
            x = prepare_images(x, flat=False, owner=repr(str(path)))[:, 0]
            n_y = None if y is None else len(np.ravel(y))
            if n_y is not None and n_y != len(x):
                raise InvalidParameterError(
                    f"{str(path)!r}: 'x' has {len(x)} images but 'y' {n_y} labels."
                )
            names += [f"{path.name}[{i}]" for i in range(len(x))]
            images.append(x)
            labels += list(np.ravel(y)) if y is not None else [None] * len(x)
        elif path.suffix.lower() == ".png":
            img, inverted = read_png(path, a.invert)
            names.append(path.name + (" (inverted)" if inverted else ""))
            images.append(img[None])
            labels.append(None)
        else:
            raise InvalidParameterError(
                f"--input {item!r}: expected a .png or .npz file."
            )
    return names, np.concatenate(images), labels


def run(a: argparse.Namespace) -> int:
    if a.top < 1:
        raise UsageError(f"predict: --top must be at least 1. Got {a.top}.")
    check_out(a)
    r = load(a)
    names, x, labels = _inputs(a)
    proba = r.predict_proba(x)
    classes = r.class_names
    k = min(a.top, proba.shape[1])
    rows = []
    for name, p, label in zip(names, proba, labels, strict=True):
        order = np.argsort(-p, kind="stable")[:k]
        best = int(order[0])
        line = f"{name}: {classes[best]} (p={p[best]:.3f})"
        if k > 1:
            line += "  top: " + ", ".join(f"{classes[c]} {p[c]:.3f}" for c in order)
        if label is not None:
            line += f"  label {classes[int(label)]}" + (
                "" if int(label) == best else "  WRONG"
            )
        print(line)
        rows.append(
            {
                "input": name,
                "class": best,
                "name": classes[best],
                "probability": float(p[best]),
                "probabilities": [float(v) for v in p],
                **({"label": int(label)} if label is not None else {}),
            }
        )
    if a.out:
        write_json(
            a,
            {
                "run": str(r.path),
                "checkpoint": str(r.checkpoint),
                "classes": list(classes),
                "predictions": rows,
            },
        )
    return 0
