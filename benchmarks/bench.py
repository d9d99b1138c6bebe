"""descentlab vs PyTorch throughput benchmark (a thin wrapper of ``descentlab.bench``).

    python benchmarks/bench.py                       # every case, all CPUs
    python benchmarks/bench.py --threads 1 --repeats 9 --json results.json
    python benchmarks/bench.py --only mlp_sgd simplecnn_adam
    DESCENTLAB_BACKEND=cupy python benchmarks/bench.py   # GPU: CuPy vs torch CUDA

See benchmarks/README.md for what each case measures.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parent.parent)
)  # a source checkout works too


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--repeats", type=int, default=5, help="timed blocks per side (median)"
    )
    p.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases")
    p.add_argument(
        "--threads",
        type=int,
        help="threads for NumPy's BLAS and PyTorch "
        "(default: every CPU this process may use)",
    )
    p.add_argument(
        "--size",
        choices=("full", "tiny"),
        default="full",
        help="tiny: small batches, for a quick check that everything runs",
    )
    p.add_argument(
        "--no-isolate",
        action="store_true",
        help="time both frameworks in this process (not in worker processes)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the memory case")
    p.add_argument(
        "--json", dest="json_out", help="also write the results as JSON here"
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        # before NumPy loads, in case threadpoolctl is not installed
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
        os.environ["DESCENTLAB_BENCH_THREADS"] = str(args.threads)
    from descentlab import bench
    from descentlab.io import atomic_write_json

    results = bench.main(
        repeats=args.repeats,
        only=args.only,
        threads=args.threads,
        size=args.size,
        memory=not args.no_memory,
        isolate=not args.no_isolate,
    )
    if args.json_out:
        atomic_write_json(args.json_out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
