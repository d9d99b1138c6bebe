"""What the benchmark modules share: sizes, the Case record, the builders' context,
thread control, the PyTorch import and the worker processes' environment."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend as B
from .._threads import THREAD_VARS, blas_threads_env

# batch sizes, optimizer sizes and the shortest timed block, per size preset
SIZES: dict[str, dict[str, Any]] = {
    "full": dict(
        mlp=128,
        cnn=100,
        params=(1000, 1000),
        gemm=384,
        trainer_batches=10,
        min_time=0.05,
    ),
    "tiny": dict(
        mlp=8, cnn=4, params=(100, 100), gemm=32, trainer_batches=2, min_time=0.001
    ),
}
MLP_SIZES = (784, 100, 100, 100, 100, 10)


@dataclass
class Case:
    description: str
    unit: str  # what ``items`` counts: images or params
    items: int  # units of work per call
    dl: Callable[[], Any]
    torch: Callable[[], Any] | None = None
    flops: float | None = None  # floating-point operations per call


CASE_INFO = ("description", "unit", "items", "flops")


class Ctx:
    """What the case builders share: array module, torch, device, sizes, rng."""

    def __init__(self, size: str, torch_mod: Any, device: str | None):
        self.size = SIZES[size]
        self.xp = B.xp()
        self.torch: Any = torch_mod if device is not None else None
        self.device = device
        self.rng = np.random.default_rng(0)

    def randn(self, *shape) -> tuple[Any, Any]:
        """A float32 N(0, 1) array on the backend and the same values in torch."""
        a = self.rng.standard_normal(shape, dtype=np.float32)
        return self.xp.asarray(a), self.tensor(a)

    def labels(self, n: int) -> tuple[Any, Any]:
        y = self.rng.integers(0, 10, n)
        return self.xp.asarray(y), self.tensor(y)

    def tensor(self, a: np.ndarray) -> Any:
        if self.torch is None:
            return None
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def copy_weights(self, dl_model, torch_model) -> None:
        """Give the torch model descentlab's initial weights (state_dict keys match)."""
        state = {k: self.torch.from_numpy(v) for k, v in dl_model.state_dict().items()}
        torch_model.load_state_dict(state)
        torch_model.to(self.device)


def child_env(threads: int) -> dict[str, str]:
    """Environment of a subprocess: this copy of descentlab first on PYTHONPATH, and
    the thread variables set before its NumPy and PyTorch load."""
    pkg_parent = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([pkg_parent, *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, **{v: str(threads) for v in THREAD_VARS}}


def set_threads(n: int, torch_mod: Any) -> tuple[str, Callable[[], None]]:
    """Limit NumPy's BLAS, descentlab's chunk pool and PyTorch to ``n`` threads;
    returns (how, restore)."""
    restore: list[Callable[[], object]] = []
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(n)
        restore.append(limits.restore_original_limits)
        how = "threadpoolctl"
    except ImportError:
        env = contextlib.ExitStack()
        env.enter_context(blas_threads_env(n))
        restore.append(env.close)
        how = (
            "environment (OMP/OPENBLAS/MKL_NUM_THREADS, effective only if set before "
            "NumPy loads; pip install threadpoolctl)"
        )
    from ..nn import parallel

    old_pool = parallel.set_num_threads(n)
    restore.append(lambda: parallel.set_num_threads(old_pool))
    if torch_mod is not None:
        old = torch_mod.get_num_threads()
        torch_mod.set_num_threads(n)
        restore.append(lambda: torch_mod.set_num_threads(old))

    def undo() -> None:
        for fn in reversed(restore):
            fn()

    return how, undo


def import_torch(notes: list[str]) -> tuple[Any, str | None]:
    try:
        import torch
    except ImportError:
        notes.append(
            "PyTorch is not installed: PyTorch columns and ratios are None "
            "(pip install 'descentlab[torch]')."
        )
        return None, None
    if B.name() == "cupy":
        if not torch.cuda.is_available():
            notes.append("backend is cupy but PyTorch has no CUDA: ratios are None.")
            return torch, None
        return torch, "cuda"
    return torch, "cpu"


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None
