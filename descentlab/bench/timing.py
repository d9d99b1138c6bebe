"""Timing: one framework's callable in this process or in a worker process, and
the alternating median-of-blocks measurement of two sides."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from .. import backend as B
from ._common import CASE_INFO, Ctx, child_env, import_torch, set_threads
from .cases import CASES


def sync_fn(torch_mod: Any, device: str | None) -> Callable[[str], None]:
    """Wait for queued GPU work before a timer is read (no-op on the CPU)."""
    dl_gpu = B.name() == "cupy"
    torch_gpu = device is not None and device != "cpu"

    def sync(side: str) -> None:
        if side == "descentlab" and dl_gpu:
            B.xp().cuda.Device().synchronize()
        elif side == "pytorch" and torch_gpu:
            torch_mod.cuda.synchronize()

    return sync


class LocalSide:
    """Times one framework's callable in this process."""

    def __init__(self, fn: Callable[[], Any], sync: Callable[[], None]):
        self.fn, self.sync, self.inner = fn, sync, 1

    def calibrate(self, min_time: float) -> None:
        """Warm up, then choose the calls per block (a block lasts >= min_time)."""
        self.fn()  # warm-up: lazy state, allocator, caches
        self.sync()
        self.inner = 1
        self.inner = max(1, min(10_000, math.ceil(min_time / max(self.block(), 1e-9))))

    def block(self) -> float:
        """Seconds per call over one block of ``inner`` calls."""
        fn = self.fn
        self.sync()
        t0 = time.perf_counter()
        for _ in range(self.inner):
            fn()
        self.sync()
        return (time.perf_counter() - t0) / self.inner


class WorkerSide:
    """Times one framework in its own process (its thread pool cannot spin against
    the other framework's); driven line by line with JSON over stdin/stdout."""

    def __init__(self, side: str, threads: int, size: str):
        env = child_env(threads)
        code = "from descentlab.bench.timing import worker; worker()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, side, str(threads), size],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None  # PIPEs
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker exited with code {self.proc.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"bench worker: {reply['error']}")
        return reply

    def calibrate(self, min_time: float) -> None:
        self.ask(op="calibrate", min_time=min_time)

    def block(self) -> float:
        return self.ask(op="block")["seconds"]

    def close(self) -> None:
        """End the worker: EOF on its stdin; killed if it has not exited in 120 s
        (its numbers are already in; on a crowded machine exit can be slow)."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None  # opened with PIPE
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def worker() -> None:
    """Subprocess side of isolated timing: ``setup`` a case, ``calibrate``, and
    time ``block``s."""
    side, threads, size = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    notes: list[str] = []
    torch_mod, device = import_torch(notes) if side == "pytorch" else (None, None)
    set_threads(threads, torch_mod)
    ctx, sync = Ctx(size, torch_mod, device), sync_fn(torch_mod, device)
    timer = None
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "setup":
                case = CASES[cmd["case"]](ctx)
                fn = case.dl if side == "descentlab" else case.torch
                timer = None if fn is None else LocalSide(fn, lambda: sync(side))
                reply: dict[str, Any] = {
                    "available": fn is not None,
                    **{k: getattr(case, k) for k in CASE_INFO},
                }
            elif cmd["op"] == "calibrate":
                timer.calibrate(cmd["min_time"])  # type: ignore[union-attr]
                reply = {"inner": timer.inner}  # type: ignore[union-attr]
            else:
                reply = {"seconds": timer.block()}  # type: ignore[union-attr]
        except Exception as exc:  # reported to the parent, which raises it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


def measure(
    sides: dict[str, Any], repeats: int, min_time: float, pause: float = 0.0
) -> dict[str, dict[str, float]]:
    """Median seconds per call of each side, timed alternately.

    Side A then B on even repeats, B then A on odd ones; ``pause`` seconds between
    blocks let the previous side's idle BLAS/OpenMP threads stop spinning.
    """
    for timer in sides.values():
        timer.calibrate(min_time)
    times: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    for r in range(repeats):
        for side in order if r % 2 == 0 else order[::-1]:
            if pause:
                time.sleep(pause)
            times[side].append(sides[side].block())
    return {
        side: {"seconds": statistics.median(ts), "min_seconds": min(ts)}
        for side, ts in times.items()
    }
