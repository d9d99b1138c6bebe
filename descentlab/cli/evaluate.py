"""`descentlab evaluate`: loss, accuracy and per-class accuracy of a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """\
examples:
  descentlab evaluate runs/train                 the run's own test split
  descentlab evaluate runs/train --data mnist    the official MNIST test set
  descentlab evaluate runs/train --data mine.npz --out eval.json

--data takes a data set name (mnist-sample, mnist, fashion-mnist; the run's
splits are recreated from its seed) or an .npz file with arrays x (images, see
`descentlab predict --help` for the shapes) and y (labels 0..9)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from .predict import add_run_args

    e = sub.add_parser(
        "evaluate",
        help="loss and accuracy of a trained run on a data set",
        description="Evaluate a trained run (the --out folder of `descentlab "
        "train`) on a test set: mean cross-entropy, accuracy, per-class accuracy.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_args(e)
    e.add_argument(
        "--data",
        metavar="NAME|FILE.npz",
        help="data set name or .npz with x and y (default: the run's own data set)",
    )
    e.add_argument(
        "--split",
        choices=("test", "val", "train"),
        default="test",
        help="which split of a named data set (default: test)",
    )
    e.add_argument("--data-root", metavar="DIR", help="cache folder for downloads")
    e.add_argument("--mirror", metavar="URL", help="base URL for downloads")
    e.add_argument("--out", metavar="FILE.json", help="also write the numbers as JSON")
    e.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file"
    )


def _data(run, a: argparse.Namespace):
    from ..errors import InvalidParameterError
    from ..train.run import DATASETS, load_data

    name = a.data or run.config["data"]
    if name in DATASETS:
        cfg = {**run.config, "data": name}
        for key in ("data_root", "mirror"):
            if getattr(a, key) is not None:
                cfg[key] = getattr(a, key)
        train, val, test = load_data(cfg)
        pair = {"train": train, "val": val, "test": test}[a.split]
        if pair is None:
            raise InvalidParameterError(
                "evaluate: the run has no validation split (n_val=0); use "
                "--split test or train."
            )
        return pair, f"{name} ({a.split})"
    from .predict import read_npz

    x, y = read_npz(Path(name), need_labels=True)
    return (x, y), name


def run(a: argparse.Namespace) -> int:
    from .predict import check_out, load, write_json

    check_out(a)
    r = load(a)
    (x, y), what = _data(r, a)
    ev = r.evaluate(x, y)
    print(
        f"{r.path}: {what}, {ev['n']} images: accuracy {ev['acc']:.4f}, "
        f"loss {ev['loss']:.4f} (weights {r.checkpoint.name})"
    )
    names = r.class_names
    parts = [
        f"{names[int(c)]} {v:.3f}"
        for c, v in ev["per_class_acc"].items()
        if v is not None
    ]
    print("  per class: " + ", ".join(parts))
    if a.out:
        write_json(
            a,
            {
                "run": str(r.path),
                "checkpoint": str(r.checkpoint),
                "data": what,
                **ev,
            },
        )
    return 0
