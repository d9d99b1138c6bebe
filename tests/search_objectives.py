"""Tiny top-level objectives for the search tests (importable by spawned workers)."""

from __future__ import annotations

import math
import time


def peak_lr(params, report):
    """Best (0) at lr = 1e-3; falls off with the distance in decades."""
    return -((math.log10(params["lr"]) + 3.0) ** 2)


def slow_quadratic(params, report):
    """-(x - 0.3)^2 after a short sleep, so that two workers overlap."""
    for step in (1, 2):
        time.sleep(0.05)
        report(step, -((params["x"] - 0.3) ** 2))
    return -((params["x"] - 0.3) ** 2)


def quadratic(params, report):
    return -((params["x"] - 0.3) ** 2)


def climbing(params, report):
    """Reports x at steps 1..5: trials with small x report low values from the start."""
    for step in range(1, 6):
        report(step, params["x"] * step / 5)
    return params["x"]


def fails_for_small_x(params, report):
    if params["x"] < 0.3:
        raise ValueError(f"x={params['x']:.3f} is too small")
    if params["x"] > 0.7:
        return float("nan")
    return params["x"]


def dies_once(params, report):
    """The first call (over all processes) kills its own process; later calls return x."""
    import os

    marker = os.environ.get("DESCENTLAB_TEST_DIE_MARKER")
    if marker:
        try:
            open(marker, "x").close()
        except FileExistsError:
            pass
        else:
            os._exit(3)
    time.sleep(0.05)
    return params["x"]


def blas_threads_seen(params, report):
    """The OpenBLAS thread count in this worker's environment (-1 when unset)."""
    import os

    time.sleep(0.05)
    return float(os.environ.get("OPENBLAS_NUM_THREADS", -1))


def interrupts(params, report):
    """As if Ctrl-C reached the process during the trial."""
    raise KeyboardInterrupt
