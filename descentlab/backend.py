"""Array-module selection and dtype policy.

descentlab's layer, loss and optimizer code calls ``xp()`` for its array module,
so the same code runs on NumPy (default) or CuPy on an NVIDIA GPU::

    import descentlab.backend as B
    B.use("cupy")            # or: export DESCENTLAB_BACKEND=cupy
    xp = B.xp()              # -> the cupy module

The default floating dtype is float32; gradient checks switch to float64 with
``B.default_dtype(np.float64)`` or pass ``dtype=`` to layers.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

from .errors import InvalidParameterError, MissingDependencyError

_BACKENDS = ("numpy", "cupy")
_state: dict[str, Any] = {"name": None, "module": None, "dtype": np.dtype(np.float32)}


def _load(name: str) -> ModuleType:
    if name not in _BACKENDS:
        raise InvalidParameterError(
            f"backend.use: 'name' must be one of 'numpy', 'cupy'. Got {name!r}."
        )
    if name == "numpy":
        return np
    try:
        import cupy  # optional dependency, imported lazily
    except ImportError as exc:
        raise MissingDependencyError(
            "The 'cupy' backend needs CuPy and an NVIDIA GPU. Install it with "
            "`pip install descentlab[gpu]` (cupy-cuda12x) or the cupy build that "
            f"matches your CUDA version. Import failed with: {exc}"
        ) from exc
    return cupy


def use(name: str) -> ModuleType:
    """Select the array backend ("numpy" or "cupy") and return its module."""
    module = _load(name)
    _state["name"], _state["module"] = name, module
    return module


def name() -> str:
    """The name of the active backend."""
    xp()
    return _state["name"]


def xp() -> ModuleType:
    """The active array module (numpy unless ``use("cupy")`` or DESCENTLAB_BACKEND)."""
    if _state["module"] is None:
        name_ = os.environ.get("DESCENTLAB_BACKEND", "numpy").strip().lower() or "numpy"
        if name_ not in _BACKENDS:
            raise InvalidParameterError(
                "environment variable DESCENTLAB_BACKEND must be one of 'numpy', "
                f"'cupy' (or unset). Got {os.environ['DESCENTLAB_BACKEND']!r}."
            )
        use(name_)
    return _state["module"]


def default_dtype(dtype: Any = None) -> np.dtype:
    """Get, or set when given, the default floating dtype (float32 unless changed)."""
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise InvalidParameterError(
                f"backend.default_dtype: 'dtype' must be a floating dtype. Got {dt}."
            )
        _state["dtype"] = dt
    return _state["dtype"]


def get_array_module(a: Any) -> ModuleType:
    """numpy or cupy, whichever owns array ``a``."""
    if type(a).__module__.startswith("cupy"):
        return xp()
    return np


def to_numpy(a: Any) -> np.ndarray:
    """Copy an array of any backend to host memory as a NumPy array."""
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def asarray(a: Any, dtype: Any = None) -> Any:
    """Move ``a`` to the active backend, cast to ``dtype`` when given."""
    return xp().asarray(a, dtype=dtype)
