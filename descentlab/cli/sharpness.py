"""`descentlab sharpness RUN_DIR`: top Hessian eigenvalues and trace of a train run."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from .landscape import add_out_arguments, add_sample_arguments, prepare


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sharpness",
        help="top Hessian eigenvalues and trace of a train run (final or every epoch)",
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="folder of a `descentlab train` run"
    )
    add_sample_arguments(p)
    p.add_argument("-k", type=int, default=3, help="eigenvalues (default: 3)")
    p.add_argument(
        "--iters", type=int, default=100, help="Lanczos steps at most (default: 100)"
    )
    p.add_argument(
        "--tol", type=float, default=1e-3, help="relative residual (default: 1e-3)"
    )
    p.add_argument(
        "--trace-samples",
        type=int,
        default=30,
        help="Hutchinson probes (default: 30; 0 skips the trace)",
    )
    p.add_argument(
        "--trajectory",
        action="store_true",
        help="at every saved epoch (needs a run trained with --save-every-epoch)",
    )
    add_out_arguments(p, "sharpness")


def stability_threshold(cfg: dict) -> tuple[float, str] | None:
    """The lr's curvature limit for GD at a constant lr: 2/lr (SGD), 2(1+mu)/lr
    (heavy-ball momentum mu); None for adaptive optimizers or schedules."""
    if cfg["schedule"] != "constant":
        return None
    lr, mu = cfg["lr"], cfg["momentum"]
    if cfg["optimizer"] == "sgd" and not mu:
        return 2.0 / lr, f"2/lr = {2.0 / lr:.4g}"
    if cfg["optimizer"] in ("sgd", "momentum"):
        mu = 0.9 if mu is None else mu
        return 2.0 * (1 + mu) / lr, f"2(1+mu)/lr = {2.0 * (1 + mu) / lr:.4g}"
    return None


def run(a: argparse.Namespace) -> int:
    from ..experiments._common import to_jsonable
    from ..io import atomic_write_json

    t0 = time.perf_counter()
    _check_trace_samples(a)
    run, x, y, out = prepare(a, "sharpness")
    rows: list[dict[str, Any]] = []
    for epoch, model in _points(a, run):
        row = _measure(epoch, model, x, y, a)
        rows.append(row)
        print(_row_line(row))
    thr = stability_threshold(run.cfg)
    if thr:
        opt = run.cfg["optimizer"]
        print(f"stability limit of {opt} at lr {run.cfg['lr']:g}: {thr[1]}")
    result = {
        "run_dir": str(run.path),
        "n_samples": len(x),
        "k": a.k,
        "rows": rows,
        "threshold": thr[0] if thr else None,
        "seconds": time.perf_counter() - t0,
    }
    files = []
    if a.trajectory:
        _plot_trajectory(rows, run.cfg, thr, out)
        files.append("sharpness.png")
    atomic_write_json(out / "sharpness.json", to_jsonable(result))
    names = ", ".join([*files, "sharpness.json"])
    print(
        f"{len(rows)} point(s) on {len(x)} samples in {result['seconds']:.1f} s; "
        f"{names} in {out}"
    )
    return 0


def _check_trace_samples(a: argparse.Namespace) -> None:
    """--trace-samples is 0 (no trace) or at least 2 (a standard error needs 2)."""
    from .._validation import check_scalar
    from ..errors import InvalidParameterError

    check_scalar(a.trace_samples, "trace_samples", int, min_val=0, owner="sharpness")
    if a.trace_samples == 1:
        raise InvalidParameterError(
            "sharpness: '--trace-samples' must be 0 or at least 2. Got 1."
        )


def _points(a: argparse.Namespace, run: Any) -> list[tuple[Any, Any]]:
    """(epoch, model) pairs to measure: every saved epoch, or the final weights."""
    from ..errors import InvalidParameterError

    if a.trajectory and len(run.snapshots) < 1:
        raise InvalidParameterError(
            f"sharpness: {a.run_dir!r} has no saved epochs (RUN_DIR/weights); train "
            "it with --save-every-epoch or leave out --trajectory."
        )
    if a.trajectory:
        return [(e, run.model_at(s)) for e, s in run.snapshots]
    return [("final", run.model)]


def _measure(epoch: Any, model: Any, x: Any, y: Any, a: argparse.Namespace) -> dict:
    """Loss, top-k Hessian eigenvalues and (with --trace-samples) the trace."""
    from ..diagnostics import hessian_operator, hessian_trace, top_hessian_eigenvalues
    from ..nn import SoftmaxCrossEntropy

    op = hessian_operator(model, SoftmaxCrossEntropy(), x, y)
    eig = top_hessian_eigenvalues(
        None,
        None,
        None,
        None,
        k=a.k,
        iters=a.iters,
        tol=a.tol,
        seed=a.seed,
        operator=op,
    )
    row = {
        "epoch": epoch,
        "loss": op.loss_value,
        "eigenvalues": eig.values,
        "lanczos_steps": eig.iterations,
        "converged": eig.converged,
    }
    if a.trace_samples:
        tr = hessian_trace(
            None,
            None,
            None,
            None,
            samples=a.trace_samples,
            seed=a.seed,
            operator=op,
        )
        row.update(trace=tr.estimate, trace_stderr=tr.stderr)
    return row


def _row_line(row: dict) -> str:
    """The progress line of one measured point."""
    trace = (
        f", trace {row['trace']:.4g} +- {row['trace_stderr']:.2g}"
        if "trace" in row
        else ""
    )
    values = ", ".join(f"{v:.4g}" for v in row["eigenvalues"])
    note = "" if row["converged"] else ", not converged"
    return (
        f"epoch {row['epoch']}: loss {row['loss']:.4g}, top eigenvalues {values} "
        f"({row['lanczos_steps']} Lanczos steps{note}){trace}"
    )


def _plot_trajectory(
    rows: list[dict], cfg: dict, thr: tuple[float, str] | None, out: Any
) -> None:
    """Write sharpness.png: the eigenvalues per epoch, with the stability limit."""
    from ..diagnostics.plots import figure_png, plot_sharpness
    from ..io import atomic_write_bytes

    fig = plot_sharpness(
        [r["epoch"] for r in rows],
        np.array([r["eigenvalues"] for r in rows]),
        title=f"sharpness ({cfg['model']} + {cfg['optimizer']})",
        threshold=thr[0] if thr else None,
        threshold_label=thr[1] if thr else "",
    )
    atomic_write_bytes(out / "sharpness.png", figure_png(fig))
