"""`descentlab bench`: throughput benchmark against PyTorch."""

from __future__ import annotations

import argparse

from .common import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..bench import CASES

    b = sub.add_parser("bench", help="throughput benchmark vs PyTorch (when installed)")
    b.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed repeats per case, the median is reported (default: 5)",
    )
    b.add_argument(
        "--only",
        nargs="+",
        metavar="CASE",
        choices=CASES,
        help="run only these cases, of: " + ", ".join(CASES),
    )
    b.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads for NumPy's BLAS and PyTorch (default: every usable CPU)",
    )
    b.add_argument(
        "--size",
        choices=("full", "tiny"),
        default="full",
        help="tiny: small batches, a quick check that everything runs (default: full)",
    )
    b.add_argument("--no-memory", action="store_true", help="skip the peak-memory case")
    b.add_argument(
        "--json", dest="json_out", help="also write the results as JSON here"
    )
    b.add_argument(
        "--out",
        help="also write bench.json into this folder (refused if it "
        "is not empty, unless --overwrite)",
    )
    b.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an existing non-empty output folder",
    )


def run(a: argparse.Namespace) -> int:
    from ..bench import main as bench_main
    from ..io import atomic_write_json, check_output_dir

    out = check_output_dir(a.out, a.overwrite, owner="bench") if a.out else None
    if a.threads is not None and a.threads < 1:
        raise UsageError(f"bench: --threads must be >= 1. Got {a.threads}.")
    results = bench_main(
        repeats=a.repeats,
        only=a.only,
        threads=a.threads,
        size=a.size,
        memory=not a.no_memory,
    )
    if a.json_out:
        atomic_write_json(a.json_out, results)
    if out is not None:
        atomic_write_json(out / "bench.json", results)
    return 0
