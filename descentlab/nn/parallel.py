"""Batch chunks on a thread pool: the CPU fast paths of the conv-stack layers.

NumPy releases the GIL inside BLAS calls, large copies and ufuncs, so a layer can
split its batch into chunks and run them on a few Python threads, each with a
single BLAS thread; on 2 cores that beats one large call with 2 BLAS threads
(the pieces fit in cache, and no BLAS thread pool spins).

Determinism: ``batch_chunks`` depends on the batch size and the per-sample work
only, never on the thread count, every chunk runs with one BLAS thread, and
results are combined in chunk order. So a training run gives the same bits with
1, 2 or 16 threads.

``set_num_threads(n)`` / ``num_threads()``: the pool size (default: env
``DESCENTLAB_NUM_THREADS``, else the CPUs this process may use).
``training_threads()``: the context ``Trainer.fit`` (and the benchmark's training
step) runs in: one BLAS thread throughout while the pool has several threads.
``reference_paths()``: a context in which layers take their plain NumPy path (the
reference the fast paths are tested against); ``fast_paths_enabled()`` says which
is active (env ``DESCENTLAB_FAST_PATHS=0`` turns the fast paths off). The fast
paths are used with the NumPy backend only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import backend as B
from .._threads import usable_cpus

#: bytes of per-chunk scratch (e.g. a conv's patch matrix) a chunk aims for: small
#: enough to stay in L2/L3, large enough that per-call overhead stays negligible
CHUNK_BYTES = 2 << 20
#: a batch is cut into at least this many chunks (when it has as many samples and
#: each chunk keeps MIN_CHUNK_BYTES of work), so that 2-8 threads get balanced
#: work; a constant, not the thread count
MIN_CHUNKS = 8
#: below this much work per chunk, dispatch overhead outweighs the parallelism
MIN_CHUNK_BYTES = 256 << 10

_state = threading.local()
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_threads: int | None = None
_blas: list[Any] | None = None  # objects with get_num_threads()/set_num_threads(n)


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer >= 1; got {raw!r}.") from None
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {raw!r}.")
    return value


def num_threads() -> int:
    """Threads the fast paths use (default: DESCENTLAB_NUM_THREADS or usable CPUs)."""
    if _threads is not None:
        return _threads
    return _env_int("DESCENTLAB_NUM_THREADS") or usable_cpus()


def set_num_threads(n: int | None) -> int | None:
    """Use ``n`` threads for the fast paths (None: back to the default); returns
    the previous setting (None when it was the default)."""
    global _threads
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(
            f"set_num_threads: 'n' must be an int >= 1 or None. Got {n!r}."
        )
    old, _threads = _threads, n
    return old


def fast_paths_enabled() -> bool:
    """True when layers take their chunked fast paths (NumPy backend, not disabled)."""
    if getattr(_state, "reference", False):
        return False
    if os.environ.get("DESCENTLAB_FAST_PATHS", "1").strip() == "0":
        return False
    return B.name() == "numpy"


@contextlib.contextmanager
def reference_paths() -> Iterator[None]:
    """Inside the block (this thread), layers run their plain NumPy reference path."""
    old = getattr(_state, "reference", False)
    _state.reference = True
    try:
        yield
    finally:
        _state.reference = old


def batch_chunks(
    n: int, sample_bytes: int, chunk_bytes: int = CHUNK_BYTES
) -> list[slice]:
    """Split a batch of ``n`` into contiguous slices of near-equal size.

    With W = n * sample_bytes, the count is ceil(W / chunk_bytes), raised to
    min(MIN_CHUNKS, ceil(W / MIN_CHUNK_BYTES)), at most n: a function of the
    batch and the layer's shapes only (never of the threads).
    """
    if n <= 0:
        return []
    work = n * max(int(sample_bytes), 1)
    count = max(-(-work // chunk_bytes), min(MIN_CHUNKS, -(-work // MIN_CHUNK_BYTES)))
    count = max(1, min(n, count))
    base, extra = divmod(n, count)
    out, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        out.append(slice(start, stop))
        start = stop
    return out


# ------------------------------------------------------------------ BLAS threads
def _openblas_ctypes() -> list[Any]:
    """OpenBLAS thread control through ctypes (Linux), used without threadpoolctl."""

    class _Ctl:
        def __init__(self, lib, get, set_):
            self._get, self._set = getattr(lib, get), getattr(lib, set_)

        def get_num_threads(self) -> int:
            return int(self._get())

        def set_num_threads(self, n: int) -> None:
            self._set(int(n))

    found: list[Any] = []
    try:
        with open("/proc/self/maps") as fh:
            paths = {ln.split()[-1] for ln in fh if "openblas" in ln.lower()}
    except OSError:
        return found
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (
            ("scipy_", "64_"),
            ("scipy_", ""),
            ("", "64_"),
            ("", ""),
        ):
            get = f"{prefix}openblas_get_num_threads{suffix}"
            set_ = f"{prefix}openblas_set_num_threads{suffix}"
            if hasattr(lib, get) and hasattr(lib, set_):
                found.append(_Ctl(lib, get, set_))
                break
    return found


def _blas_controllers() -> list[Any]:
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = _openblas_ctypes()
        else:
            _blas = [
                c
                for c in ThreadpoolController().lib_controllers
                if c.user_api == "blas"
            ]
    return _blas


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread inside the block (best effort: threadpoolctl, else
    OpenBLAS through ctypes; another BLAS without threadpoolctl is left alone)."""
    ctls = _blas_controllers()
    old = [c.get_num_threads() for c in ctls]
    for c, n in zip(ctls, old, strict=True):
        if n != 1:
            c.set_num_threads(1)
    try:
        yield
    finally:
        for c, n in zip(ctls, old, strict=True):
            if n != 1:
                c.set_num_threads(n)


@contextlib.contextmanager
def training_threads() -> Iterator[None]:
    """The thread policy of a training loop: while the fast paths run on a pool
    of more than one thread, every BLAS call in the block (Linear layers too)
    uses one BLAS thread, so that BLAS never switches between 1 and N threads
    around each chunked layer (its worker threads then fall asleep and have to
    be woken, and they spin against the pool for the cores). With one pool
    thread, or on the reference path, BLAS keeps its own setting."""
    if num_threads() > 1 and fast_paths_enabled():
        with single_blas_thread():
            yield
    else:
        yield


# ------------------------------------------------------------------ the pool
def _executor(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != n:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(n, thread_name_prefix="descentlab-chunk")
            _pool_size = n
        return _pool


def run_chunks(fn: Callable[[Any], Any], chunks: Sequence[Any]) -> list[Any]:
    """[fn(c) for c in chunks], on the thread pool, results in chunk order.

    Each call runs with one BLAS thread; ``fn`` must write only its own chunk's
    part of any shared output. Exceptions propagate (the first in chunk order).
    """
    n = min(num_threads(), len(chunks))
    with single_blas_thread():
        if n <= 1 or getattr(_state, "in_pool", False):
            return [fn(c) for c in chunks]

        def task(c: slice) -> Any:
            _state.in_pool = True  # a nested call runs serially in this worker
            return fn(c)

        futures = [_executor(n).submit(task, c) for c in chunks]
        return [f.result() for f in futures]


def sum_in_order(parts: Sequence[Any]) -> Any:
    """parts[0] + parts[1] + ... left to right (a fixed order, so fixed bits)."""
    total = np.array(parts[0], copy=True)
    for p in parts[1:]:
        total += p
    return total
