"""Throughput benchmark: descentlab against PyTorch, same shapes, dtype and threads.

Run it as ``descentlab bench [--repeats 5] [--only CASE ...] [--json out.json]`` or
``python benchmarks/bench.py --threads 2``; on a GPU machine
``DESCENTLAB_BACKEND=cupy descentlab bench`` times the CuPy backend against
PyTorch on CUDA. Every case is float32 (NCHW for images); ``CASES`` lists the names and
benchmarks/README.md what each one times.

Modules: ``cases`` (the registry ``{name: builder}``: adding a case is one
decorated function), ``timing`` (in-process and worker-process sides, the
alternating measurement), ``memory`` (the peak-memory case), ``table`` (the text
table), ``_common`` (sizes, the Case record, thread control).

Method: each case builds a descentlab callable and a PyTorch callable for the
same work; a training step feeds both models the same initial weights, and
descentlab's data layer skips its dx there as PyTorch does for an input that
needs no gradient (and as ``Trainer.fit`` does). Each framework runs in its own
worker process (``isolate=True``; in one process the idle thread pool of one
framework spins while the other works, which on a 2-core machine ruins every
multi-threaded number). Both are warmed up, then timed alternately (descentlab
first on even repeats, PyTorch first on odd ones) so that a burst of load from
other processes hits both; each timed block repeats the call until it lasts
``min_time`` seconds, and the median block time per call is reported.
``ratio`` = PyTorch time / descentlab time, i.e. the throughput ratio
(> 1: descentlab is faster). Thread counts are set equal: ``torch.set_num_threads``
and threadpoolctl's limit on NumPy's BLAS (if threadpoolctl is missing, the
OMP/OPENBLAS/MKL variables are set, which only work before NumPy is loaded;
``benchmarks/bench.py`` sets them first). GFLOP/s counts 2 flops per
multiply-add of the GEMM work (training step = 3x forward) and is compared with
the ``gemm`` reference measured in the same run.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend as B
from .._threads import usable_cpus
from ..errors import InvalidParameterError
from ._common import (
    CASE_INFO,
    SIZES,
    Case,
    Ctx,
    import_torch,
    loadavg,
    set_threads,
)
from .cases import CASES as BUILDERS
from .cases import GEMM_CASES
from .memory import memory_case
from .table import format_table
from .timing import LocalSide, WorkerSide, measure, sync_fn

#: every case name, in run order (the timed cases, then ``memory``)
CASES: tuple[str, ...] = (*BUILDERS, "memory")

__all__ = ["CASES", "SIZES", "format_table", "main"]


def main(
    repeats: int = 5,
    only: Sequence[str] | None = None,
    *,
    threads: int | None = None,
    size: str = "full",
    memory: bool = True,
    isolate: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the benchmark; print a table (``verbose``) and return a JSON-able dict.

    Args:
        repeats: timed blocks per side and case (the median is reported).
        only: case names to run (default: all of ``CASES``).
        threads: threads for both NumPy's BLAS and PyTorch (default: the CPUs this
            process may use, or env DESCENTLAB_BENCH_THREADS).
        size: "full" (the documented shapes) or "tiny" (small batches; for tests).
        memory: include the ``memory`` case when ``only`` does not name it.
        isolate: time each framework in its own worker process (default). In one
            process, the idle threads of one framework's pool spin while the other
            runs, which on a 2-core machine ruins every multi-threaded number.
        verbose: print the table.

    Returns:
        {"meta": {...}, "cases": {name: {"description", "unit", "items",
        "descentlab": {"seconds", "min_seconds", "throughput"}, "pytorch": same or
        None, "ratio", "gflops", "gemm_fraction"}}, "memory": {...} or None,
        "notes": [...]}.
    """
    names = list(CASES if only is None else only)
    _check_arguments(names, size, repeats)
    if threads is None:
        threads = int(os.environ.get("DESCENTLAB_BENCH_THREADS", 0)) or usable_cpus()
    notes: list[str] = []
    torch_mod, device = import_torch(notes)
    _select_cases(names, keep_memory=only is not None or memory, notes=notes)
    how, undo_threads = set_threads(threads, torch_mod)
    meta = _meta(threads, how, isolate, repeats, size, torch_mod, device)
    results: dict[str, Any] = {
        "meta": meta,
        "cases": {},
        "memory": None,
        "notes": notes,
    }
    try:
        timed_names = [n for n in names if n != "memory"]
        results["cases"] = _run_cases(
            timed_names, repeats, size, threads, torch_mod, device, isolate
        )
        _add_gemm_fractions(results["cases"])
        if "memory" in names:
            results["memory"] = memory_case(
                SIZES[size]["cnn"], threads, torch_mod is not None
            )
    finally:
        undo_threads()
    meta["loadavg_after"] = loadavg()
    _note_load(meta["loadavg_before"], threads, notes)
    if verbose:
        print(format_table(results))
    return results


def _check_arguments(names: list[str], size: Any, repeats: Any) -> None:
    """Known case names, a known size, repeats an int >= 1."""
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise InvalidParameterError(
            f"bench: unknown case(s) {unknown}; valid names are {', '.join(CASES)}."
        )
    if size not in SIZES:
        raise InvalidParameterError(
            f"bench: 'size' must be 'full' or 'tiny'. Got {size!r}."
        )
    if not isinstance(repeats, int) or repeats < 1:
        raise InvalidParameterError(
            f"bench: 'repeats' must be an int >= 1. Got {repeats!r}."
        )


def _select_cases(names: list[str], *, keep_memory: bool, notes: list[str]) -> None:
    """Drop ``memory`` where it does not apply; add ``gemm``, the GFLOP/s reference,
    when a case that compares with it runs (in place)."""
    if "memory" in names and not keep_memory:
        names.remove("memory")
    if B.xp() is not np and "memory" in names:
        notes.append("memory case skipped on the cupy backend (it measures host RSS).")
        names.remove("memory")
    if GEMM_CASES & set(names) and "gemm" not in names:
        names.insert(names.index("memory") if "memory" in names else len(names), "gemm")


def _meta(
    threads: int,
    how: Any,
    isolate: bool,
    repeats: int,
    size: str,
    torch_mod: Any,
    device: Any,
) -> dict[str, Any]:
    """The run's settings, versions, machine and load average before it."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "backend": B.name(),
        "device": device or "cpu",
        "threads": threads,
        "thread_control": how,
        "isolated_processes": isolate,
        "repeats": repeats,
        "size": size,
        "numpy": np.__version__,
        "torch": getattr(torch_mod, "__version__", None),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": loadavg(),
    }


def _add_gemm_fractions(cases: dict[str, Any]) -> None:
    """Each case's GFLOP/s as a fraction of the ``gemm`` reference (in place)."""
    gemm = cases.get("gemm")
    for c in cases.values():
        if gemm and c.get("gflops"):
            c["gemm_fraction"] = (
                c["gflops"]["descentlab"] / gemm["gflops"]["descentlab"]
            )


def _note_load(loadavg_before: Any, threads: int, notes: list[str]) -> None:
    """Warn in ``notes`` when the machine was too busy for multi-threaded timings."""
    load = (loadavg_before or [0.0])[0]
    if threads > 1 and load + threads > usable_cpus() + 0.5:
        notes.append(
            f"load average {load} with {threads} threads on {usable_cpus()} CPUs: "
            "multi-threaded timings wait for busy cores and are unreliable; "
            "compare with --threads 1."
        )


def _run_cases(
    names: list[str],
    repeats: int,
    size: str,
    threads: int,
    torch_mod: Any,
    device: str | None,
    isolate: bool,
) -> dict[str, Any]:
    """Time each case, in worker processes (``isolate``) or in this process."""
    min_time, pause = SIZES[size]["min_time"], 0.0
    out: dict[str, Any] = {}
    if not isolate:
        ctx, sync = Ctx(size, torch_mod, device), sync_fn(torch_mod, device)
        for name in names:
            case = BUILDERS[name](ctx)
            sides: dict[str, Any] = {
                "descentlab": LocalSide(case.dl, lambda: sync("descentlab"))
            }
            if case.torch is not None:
                sides["pytorch"] = LocalSide(case.torch, lambda: sync("pytorch"))
            out[name] = _summarise(case, measure(sides, repeats, min_time))
        return out
    if threads > 1:
        pause = 0.1  # idle pool threads spin ~0.1 s before sleeping (OpenBLAS, OpenMP)
    workers = {"descentlab": WorkerSide("descentlab", threads, size)}
    if device is not None:
        workers["pytorch"] = WorkerSide("pytorch", threads, size)
    try:
        for name in names:
            info = {side: w.ask(op="setup", case=name) for side, w in workers.items()}
            sides = {side: workers[side] for side, i in info.items() if i["available"]}
            case = Case(**{k: info["descentlab"][k] for k in CASE_INFO}, dl=None)  # type: ignore[arg-type]
            out[name] = _summarise(case, measure(sides, repeats, min_time, pause))
    finally:
        for w in workers.values():
            w.close()
    return out


def _summarise(case: Case, timed: dict[str, dict[str, float]]) -> dict[str, Any]:
    def side(name: str) -> dict[str, float] | None:
        t = timed.get(name)
        if t is None:
            return None
        return {**t, "throughput": case.items / t["seconds"]}

    dl, pt = side("descentlab"), side("pytorch")
    assert dl is not None  # descentlab is always timed
    out = {
        "description": case.description,
        "unit": case.unit,
        "items": case.items,
        "descentlab": dl,
        "pytorch": pt,
        "ratio": pt["seconds"] / dl["seconds"] if pt else None,
        "gflops": None,
        "gemm_fraction": None,
    }
    if case.flops:
        out["gflops"] = {
            "descentlab": case.flops / dl["seconds"] / 1e9,
            "pytorch": case.flops / pt["seconds"] / 1e9 if pt else None,
        }
    return out
