"""BLAS/OpenMP thread counts for processes that run side by side.

Each NumPy process uses every core for BLAS by default. Several such processes on
one machine (search workers, benchmark workers) oversubscribe the cores, and the
idle threads of one spin while another computes: on 2 cores, 2 search workers with
2 BLAS threads each ran 27x slower than with 1 each (benchmarks/bench_search.py).
The thread count of a library is read when it loads, so it must be in the
environment of a process *before* it imports NumPy: set it here, then spawn.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def blas_threads_env(n: int, *, respect_user: bool = False) -> Iterator[bool]:
    """Set OMP/OpenBLAS/MKL thread counts to ``n`` for processes started inside the
    block, and restore the environment after it. With ``respect_user``, leave the
    environment alone when any of the variables is already set (the user chose).
    Yields whether it changed anything."""
    if respect_user and any(v in os.environ for v in THREAD_VARS):
        yield False
        return
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update({v: str(int(n)) for v in THREAD_VARS})
    try:
        yield True
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
