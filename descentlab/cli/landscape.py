"""`descentlab landscape RUN_DIR`: loss landscape around a trained run's weights."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "landscape",
        help="1-D/2-D filter-normalized loss landscape of a train run (+ its path)",
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="folder of a `descentlab train` run"
    )
    add_sample_arguments(p)
    p.add_argument("--points", type=int, default=41, help="1-D points (default: 41)")
    p.add_argument("--grid", type=int, default=15, help="2-D grid side (default: 15)")
    p.add_argument(
        "--span", type=float, default=1.0, help="alpha range -span..span (default: 1)"
    )
    add_out_arguments(p, "landscape")


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--n-samples",
        type=int,
        default=500,
        help="training samples the loss is measured on (default: 500)",
    )


def add_out_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--out", help=f"output folder (default: RUN_DIR/{name})")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an existing non-empty output folder",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def prepare(a: argparse.Namespace, name: str):
    """(run, x, y, out): the run folder, its first n training samples, the output."""
    from .._validation import check_scalar
    from ..io import check_output_dir
    from ..train.run_folder import open_run

    run = open_run(a.run_dir, owner=name)
    check_scalar(a.n_samples, "n_samples", int, min_val=1, owner=name)
    x, y = run.train
    x, y = x[: a.n_samples], y[: a.n_samples]
    out = Path(a.out) if a.out else Path(a.run_dir) / name
    check_output_dir(out, a.overwrite, owner=name)
    return run, x, y, out


def run(a: argparse.Namespace) -> int:
    from ..experiments._common import to_jsonable
    from ..io import atomic_write_json
    from ..nn import SoftmaxCrossEntropy

    t0 = time.perf_counter()
    _check_grid_arguments(a)
    run, x, y, out = prepare(a, "landscape")
    model, lossf = run.model, SoftmaxCrossEntropy()
    name = f"{run.cfg['model']} + {run.cfg['optimizer']}"
    result: dict = {"run_dir": str(run.path), "n_samples": len(x), "seed": a.seed}
    result.update(_random_planes(model, lossf, x, y, a, out, name))
    files = ["landscape_1d.png", "landscape_2d.png"]
    if len(run.snapshots) >= 3:
        result.update(_trajectory_plane(run, model, lossf, x, y, a.grid, out, name))
        files.append("trajectory.png")
    result["seconds"] = time.perf_counter() - t0
    atomic_write_json(out / "landscape.json", to_jsonable(result))
    print(_summary(name, result, len(run.snapshots), files, out))
    return 0


def _check_grid_arguments(a: argparse.Namespace) -> None:
    """--points and --grid >= 3, --span > 0."""
    from .._validation import check_scalar

    check_scalar(a.points, "points", int, min_val=3, owner="landscape")
    check_scalar(a.grid, "grid", int, min_val=3, owner="landscape")
    check_scalar(
        a.span,
        "span",
        float,
        min_val=0.0,
        include_boundaries="neither",
        owner="landscape",
    )


def _random_planes(model, lossf, x, y, a: argparse.Namespace, out: Path, name: str):
    """Loss along one random direction and on a plane of two; writes both plots."""
    from ..diagnostics import loss_line, loss_surface, random_direction
    from ..diagnostics.plots import figure_png, plot_lines, plot_surface
    from ..io import atomic_write_bytes

    rng = np.random.default_rng(a.seed)
    d1, d2 = random_direction(model, rng), random_direction(model, rng)
    alphas = np.linspace(-a.span, a.span, a.points)
    line = loss_line(model, lossf, x, y, d1, alphas)
    grid = np.linspace(-a.span, a.span, a.grid)
    Z = loss_surface(model, lossf, x, y, d1, d2, grid, grid)
    atomic_write_bytes(
        out / "landscape_1d.png",
        figure_png(
            plot_lines(
                alphas,
                {name: line},
                title=f"loss along a filter-normalized direction ({name})",
            )
        ),
    )
    atomic_write_bytes(
        out / "landscape_2d.png",
        figure_png(
            plot_surface(
                grid,
                grid,
                Z,
                title=f"loss on two filter-normalized directions ({name})",
            )
        ),
    )
    return {
        "alphas": alphas,
        "line": line,
        "grid": grid,
        "surface": Z,
        "loss_at_final": float(line[a.points // 2]),
    }


def _trajectory_plane(run, model, lossf, x, y, n_grid: int, out: Path, name: str):
    """Loss on the top-2 PCA plane of the saved snapshots, with the path drawn."""
    from ..diagnostics import loss_surface, parameter_vector, trajectory_pca
    from ..diagnostics.plots import figure_png, plot_surface
    from ..io import atomic_write_bytes

    pca = trajectory_pca([parameter_vector(run.model_at(s)) for _, s in run.snapshots])
    c = pca.coords
    pad = 0.25 * (c.max(axis=0) - c.min(axis=0)) + 1e-12
    ga = np.linspace(c[:, 0].min() - pad[0], c[:, 0].max() + pad[0], n_grid)
    gb = np.linspace(c[:, 1].min() - pad[1], c[:, 1].max() + pad[1], n_grid)
    Zp = loss_surface(model, lossf, x, y, pca.directions[0], pca.directions[1], ga, gb)
    ev = pca.explained_variance_ratio
    atomic_write_bytes(
        out / "trajectory.png",
        figure_png(
            plot_surface(
                ga,
                gb,
                Zp,
                path=c,
                title=f"training path on its top-2 PCA directions ({name})",
                xlabel=f"PC 1 ({100 * ev[0]:.1f} % of variance)",
                ylabel=f"PC 2 ({100 * ev[1]:.1f} % of variance)",
            )
        ),
    )
    return {
        "trajectory_coords": c,
        "epochs": [e for e, _ in run.snapshots],
        "explained_variance_ratio": ev,
        "pca_grid_alpha": ga,
        "pca_grid_beta": gb,
        "pca_surface": Zp,
    }


def _summary(name: str, result: dict, n_snapshots: int, files: list, out: Path) -> str:
    """The line printed at the end: losses, the trajectory (or why none), files."""
    line = result["line"]
    span = f"{np.nanmin(line):.4g}..{np.nanmax(line):.4g}"
    if "trajectory_coords" in result:
        ev = 100 * result["explained_variance_ratio"]
        extra = (
            f"; trajectory of {n_snapshots} snapshots on PCs explaining "
            f"{ev[0]:.1f} % + {ev[1]:.1f} %"
        )
    elif n_snapshots:
        extra = f"; no trajectory ({n_snapshots} snapshots, PCA needs 3)"
    else:
        extra = "; no trajectory (train with --save-every-epoch to get one)"
    return (
        f"landscape of {name}: loss {result['loss_at_final']:.4g} at the final "
        f"weights, {span} along the line{extra}; {', '.join(files)} in {out} "
        f"({result['seconds']:.1f} s)"
    )
