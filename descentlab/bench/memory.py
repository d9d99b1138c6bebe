"""The ``memory`` case: peak memory of one SimpleConvNet + Adam training step,
each framework in a fresh subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ._common import child_env, set_threads
from .cases import torch_simple_convnet, torch_train_step, train_step


def status_kib(field_name: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def memory_child(framework: str, batch: int, threads: int, mode: str = "rss") -> None:
    """Subprocess entry: build SimpleConvNet + Adam, run one training step, print JSON.

    mode "rss": the peak resident memory during the step minus the resident memory
    just before it (Linux: VmHWM reset through /proc/self/clear_refs, then
    VmHWM - VmRSS; elsewhere ru_maxrss delta, a lower bound). mode "tracemalloc":
    the peak of Python-tracked allocations during the step (NumPy reports its
    buffers to tracemalloc; PyTorch does not, so only for descentlab).
    """
    import gc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    if framework == "descentlab":
        step = _descentlab_step(x, y, threads)
    else:
        step = _torch_step(x, y, threads)
    gc.collect()
    if mode == "tracemalloc":
        out = _tracemalloc_peak(step)
    else:
        out = _rss_delta(step)
    print(json.dumps(out))


def _descentlab_step(x: np.ndarray, y: np.ndarray, threads: int) -> Callable[[], Any]:
    """One SimpleConvNet + Adam training step of descentlab, ready to call."""
    from ..models import SimpleConvNet
    from ..nn import SoftmaxCrossEntropy
    from ..optim import Adam

    set_threads(threads, None)
    model = SimpleConvNet(seed=0)
    return train_step(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y)


def _torch_step(x: np.ndarray, y: np.ndarray, threads: int) -> Callable[[], Any]:
    """The same training step in PyTorch, ready to call."""
    import torch

    set_threads(threads, torch)
    tm = torch_simple_convnet(torch)
    return torch_train_step(
        torch,
        tm,
        torch.optim.Adam(tm.parameters()),
        torch.from_numpy(x),
        torch.from_numpy(y),
    )


def _tracemalloc_peak(step: Callable[[], Any]) -> dict[str, Any]:
    """Peak of the Python-tracked allocations during ``step()``, in MiB."""
    import tracemalloc

    out: dict[str, Any] = {}
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    step()
    out["tracemalloc_peak_mib"] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()
    return out


def _rss_delta(step: Callable[[], Any]) -> dict[str, Any]:
    """Peak resident memory during ``step()`` minus that before it, in MiB."""
    import resource

    out: dict[str, Any] = {}
    scale = (
        1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    )  # ru_maxrss KiB or bytes
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = status_kib("VmRSS")
        step()
        # status_kib gives None where /proc lacks the line: TypeError, caught
        out["rss_delta_mib"] = (status_kib("VmHWM") - before) / 1024  # type: ignore[operator]
        out["rss_method"] = "VmHWM - VmRSS (peak reset before the step)"
    except (OSError, TypeError):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["rss_delta_mib"] = (after - before) * scale
        out["rss_method"] = "ru_maxrss delta (lower bound)"
    return out


def run_memory_child(framework: str, batch: int, threads: int, mode: str) -> dict:
    env = child_env(threads)
    code = (
        f"from descentlab.bench.memory import memory_child; "
        f"memory_child({framework!r}, {batch}, {threads}, {mode!r})"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if res.returncode != 0:
        raise RuntimeError(
            res.stderr.strip().splitlines()[-1] if res.stderr else "failed"
        )
    return json.loads(res.stdout.strip().splitlines()[-1])


def memory_case(batch: int, threads: int, have_torch: bool) -> dict[str, Any]:
    dl = run_memory_child("descentlab", batch, threads, "rss")
    dl.update(run_memory_child("descentlab", batch, threads, "tracemalloc"))
    result: dict[str, Any] = {
        "description": "peak memory of one SimpleConvNet + Adam training step, "
        f"batch {batch}",
        "method": "fresh subprocess per framework; model, data and optimizer built, "
        "then "
        "the peak resident set size (VmHWM, reset just before) minus the resident "
        "size before one training step (the first, so Adam's state is included); "
        "for descentlab also the tracemalloc peak of the step",
        "descentlab": dl,
        "pytorch": None,
        "ratio": None,
    }
    if have_torch:
        result["pytorch"] = run_memory_child("pytorch", batch, threads, "rss")
        if dl["rss_delta_mib"] > 0:
            result["ratio"] = result["pytorch"]["rss_delta_mib"] / dl["rss_delta_mib"]
    return result
