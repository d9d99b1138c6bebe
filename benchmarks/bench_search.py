"""Search throughput: Optuna trials per minute with 1 vs 2 worker processes.

The objective is the real MLP objective (784-100x4-10, SGD, 400 training and
100 validation digits of the shipped MNIST sample) when descentlab.train is
available, else a fixed NumPy workload. Both runs use a fresh journal file, the
random sampler and no pruning, so every trial does the same work; the 2-worker
time includes starting the spawned processes. BLAS is limited to one thread per
process (``--threads``) so that two workers do not fight over the cores.

    python benchmarks/bench_search.py [--trials 16] [--epochs 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":
    _threads = "1"
    if "--threads" in sys.argv:
        _threads = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads

import tempfile
import time

import numpy as np


def synthetic(params: dict, report) -> float:
    """A fixed NumPy workload (~0.2 s) standing in for training."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 400)).astype(np.float32)
    for epoch in range(1, 6):
        for _ in range(20):
            a = np.tanh(a @ a.T / 400.0)
        report(epoch, float(a.mean()))
    return float(-abs(np.log10(params["lr"]) + 3))


def _objective(epochs: int) -> tuple[object, str]:
    try:
        import descentlab.train  # noqa: F401
        from descentlab.search import mnist_sample_objective
    except ImportError:
        return synthetic, "synthetic NumPy workload (descentlab.train not available)"
    obj = mnist_sample_objective(
        500, 0.2, epochs=epochs, seed=0, batch_size=100, hidden=(100, 100, 100, 100)
    )
    return obj, f"MLP 784-100x4-10, SGD, {epochs} epochs on 400 train / 100 val digits"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    from descentlab.search import LogUniform, optuna_search

    objective, what = _objective(args.epochs)
    space = {"lr": LogUniform(1e-3, 1e-1), "weight_decay": LogUniform(1e-8, 1e-4)}
    rates = {}
    print(
        f"objective: {what}; {args.trials} trials per run; "
        f"{args.threads} BLAS thread(s) per process; {os.cpu_count()} CPUs"
    )
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            res = optuna_search(
                objective,
                space,
                study_name="bench",
                out=tmp,
                n_trials=args.trials,
                n_workers=workers,
                seed=0,
                sampler="random",
                pruner="none",
                metric="val_acc",
            )
            seconds = time.perf_counter() - start
        assert len(res) == args.trials
        done = sum(t.status == "complete" for t in res)
        mean_trial = sum(t.seconds for t in res) / len(res)
        rates[workers] = 60.0 * args.trials / seconds
        print(
            f"{workers} worker(s): {seconds:6.2f} s total, "
            f"{rates[workers]:6.1f} trials/min, "
            f"mean trial {mean_trial:.3f} s, {done}/{args.trials} complete, "
            f"best val_acc {res.best(1)[0].value if done else float('nan'):.3f}"
        )
    print(f"speed-up 2 vs 1 workers: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
