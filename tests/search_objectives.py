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
    """The first call (over all processes) kills its own process; later calls return
    x."""
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


def hangs_once(params, report):
    """The first call (over all processes) writes its pid to the marker file and
    hangs until it is killed from outside; later calls return x."""
    import os

    marker = os.environ["DESCENTLAB_TEST_HANG_MARKER"]
    try:
        os.close(os.open(marker + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        time.sleep(0.02)
        return params["x"]
    with open(marker + ".tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(marker + ".tmp", marker)  # the test sees a complete pid
    time.sleep(120)
    return params["x"]


def config_value(config, report):
    """A batch objective: value and a JSON result from a fixed configuration."""
    import os

    time.sleep(float(config.get("sleep", 0.0)))
    report(1, config["x"] / 2)
    return {"value": -((config["x"] - 0.3) ** 2), "pid": os.getpid(), "x": config["x"]}


def config_hangs_once(config, report):
    """Batch objective: like hangs_once, for configurations."""
    value = hangs_once({"x": config["x"]}, report)
    return {"value": value, "x": config["x"]}
