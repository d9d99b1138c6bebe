"""Mini-batch iteration without replacement, with exact mid-epoch resume."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend
from .._validation import check_scalar
from ..errors import CheckpointError, InvalidParameterError

_STATE_KEYS = (
    "epoch",
    "position",
    "permutation",
    "rng",
    "num_samples",
    "batch_size",
    "shuffle",
    "drop_last",
)


class DataLoader:
    """Iterate over ``(xb, yb)`` mini-batches, one epoch per ``for`` loop.

    Each epoch draws a fresh permutation ``perm = rng.permutation(N)`` from the
    loader's own ``np.random.Generator`` (sampling *without* replacement: every
    sample appears once per epoch) and batch ``b`` is
    ``x[perm[b*B:(b+1)*B]], y[perm[b*B:(b+1)*B]]``. Without shuffling batches
    are slices (views) of ``x`` and ``y``; with it they are copies. Either way
    the dtype is kept. When the active backend is CuPy, NumPy batches are moved
    to the GPU (``to_backend=True``); on NumPy nothing is copied for that.

    The loader is its own single cursor: ``epoch`` counts epochs fully handed
    out and ``position`` the batches handed out in the current one. Leaving a
    ``for`` loop early and starting another continues the same epoch.
    ``state_dict()`` taken after k batches and restored with
    ``load_state_dict()`` (even on a fresh loader over the same data) yields
    exactly the remaining batches and every later epoch of the original.

    Args:
        x: inputs, shape ``(N, ...)`` (NumPy, or CuPy when already on the GPU).
        y: targets, shape ``(N, ...)``.
        batch_size: samples per batch B (>= 1).
        shuffle: draw a new permutation each epoch (else keep data order).
        seed: int seed of ``np.random.default_rng``, a Generator to use (and
            advance) directly, or None for fresh entropy.
        drop_last: drop the final short batch; ``len(loader)`` is then
            ``N // B``, else ``ceil(N / B)``.
        to_backend: move batches to the active backend.

    Raises:
        InvalidParameterError: bad ``batch_size``/``seed``, empty data, x and y
            of different lengths, or ``drop_last`` with ``batch_size > N``.

    Example:
        >>> loader = DataLoader(x, y, batch_size=128, seed=0)
        >>> for xb, yb in loader:      # one epoch
        ...     ...
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int = 128,
        *,
        shuffle: bool = True,
        seed: int | np.random.Generator | None = 0,
        drop_last: bool = False,
        to_backend: bool = True,
    ) -> None:
        owner = "DataLoader"
        self.x, self.y = _as_array(x, "x"), _as_array(y, "y")
        if len(self.x) != len(self.y):
            raise InvalidParameterError(
                f"{owner}: x and y must hold the same number of samples. Got "
                f"len(x)={len(self.x)}, len(y)={len(self.y)}."
            )
        self.num_samples = len(self.x)
        if self.num_samples == 0:
            raise InvalidParameterError(
                f"{owner}: x and y are empty; need at least 1 sample."
            )
        self.batch_size = check_scalar(
            batch_size, "batch_size", numbers.Integral, min_val=1, owner=owner
        )
        if drop_last and batch_size > self.num_samples:
            raise InvalidParameterError(
                f"{owner}: with drop_last=True 'batch_size' must be at most the "
                f"{self.num_samples} samples, or every epoch is empty. "
                f"Got {batch_size}."
            )
        if not (seed is None or isinstance(seed, np.random.Generator)):
            check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=owner)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.to_backend = bool(to_backend)
        if isinstance(seed, np.random.Generator):
            self._rng = seed
        else:
            self._rng = np.random.default_rng(seed)
        self._index_xp = backend.get_array_module(self.x)
        self.epoch, self.position = 0, 0
        self._perm: np.ndarray | None = None

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        """Yield the rest of the current epoch (all of it at an epoch boundary)."""
        epoch, n_batches = self.epoch, len(self)
        if self.position == 0:
            self._perm = (
                self._rng.permutation(self.num_samples) if self.shuffle else None
            )
        for b in range(self.position, n_batches):
            if (self.epoch, self.position) != (epoch, b):
                raise RuntimeError(
                    "DataLoader: the loader moved during this loop (another loop "
                    "over it, or load_state_dict()); start a new `for` loop."
                )
            batch = self._batch(b)
            if b + 1 == n_batches:
                self.epoch, self.position, self._perm = epoch + 1, 0, None
            else:
                self.position = b + 1
            yield batch

    def _batch(self, b: int) -> tuple[Any, Any]:
        start, stop = (
            b * self.batch_size,
            min((b + 1) * self.batch_size, self.num_samples),
        )
        if self._perm is None:
            xb, yb = self.x[start:stop], self.y[start:stop]
        else:
            idx = self._perm[start:stop]
            if self._index_xp is not np:
                idx = self._index_xp.asarray(idx)
            xb, yb = self.x[idx], self.y[idx]
        if self.to_backend and isinstance(xb, np.ndarray) and backend.name() != "numpy":
            xb, yb = backend.asarray(xb), backend.asarray(yb)
        return xb, yb

    def state_dict(self) -> dict[str, Any]:
        """The cursor and RNG state: JSON scalars, nested dicts and one int64 array.

        Keys: ``epoch``, ``position``, ``permutation`` (the current epoch's
        ``(N,)`` order, or None at an epoch boundary or without shuffling),
        ``rng`` (``bit_generator.state`` with big ints as strings), and the
        settings it must be restored into (``num_samples``, ``batch_size``,
        ``shuffle``, ``drop_last``).
        """
        perm = None if self._perm is None or self.position == 0 else self._perm.copy()
        return {
            "epoch": self.epoch,
            "position": self.position,
            "permutation": perm,
            "rng": _to_jsonable(self._rng.bit_generator.state),
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the loader must have the same data size
        and settings.

        Raises:
            CheckpointError: a key is missing, a setting differs, or the
                position/permutation are inconsistent.
        """
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise CheckpointError(
                f"DataLoader.load_state_dict: missing key(s) {missing}."
            )
        for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
            if state[key] != getattr(self, key):
                raise CheckpointError(
                    f"DataLoader.load_state_dict: the state has {key}={state[key]!r} "
                    f"but this loader has {key}={getattr(self, key)!r}; they must "
                    "match."
                )
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position < len(self):
            raise CheckpointError(
                f"DataLoader.load_state_dict: need epoch >= 0 and 0 <= position < "
                f"{len(self)}. Got epoch={epoch}, position={position}."
            )
        perm = state["permutation"]
        if self.shuffle and position > 0:
            perm = None if perm is None else np.asarray(perm, dtype=np.int64)
            if (
                perm is None
                or perm.shape != (self.num_samples,)
                or not np.array_equal(np.sort(perm), np.arange(self.num_samples))
            ):
                raise CheckpointError(
                    "DataLoader.load_state_dict: 'permutation' must be a permutation "
                    f"of {self.num_samples} indices when resuming mid-epoch."
                )
        else:
            perm = None
        rng_state = _from_jsonable(state["rng"])
        bitgen_cls = getattr(np.random, rng_state.get("bit_generator", ""), None)
        if bitgen_cls is None:
            raise CheckpointError(
                "DataLoader.load_state_dict: unknown bit generator "
                f"{rng_state.get('bit_generator')!r}."
            )
        if type(self._rng.bit_generator) is not bitgen_cls:
            self._rng = np.random.Generator(bitgen_cls())
        self._rng.bit_generator.state = rng_state
        self.epoch, self.position, self._perm = epoch, position, perm

    def __repr__(self) -> str:
        return (
            f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, epoch={self.epoch}, "
            f"position={self.position})"
        )


def _as_array(a: Any, name: str) -> Any:
    if not (hasattr(a, "shape") and hasattr(a, "dtype")):
        a = np.asarray(a)
    if a.ndim == 0:
        raise InvalidParameterError(
            f"DataLoader: {name!r} must be an array of shape (N, ...). Got a scalar."
        )
    return a


def _to_jsonable(obj: Any) -> Any:
    """Make a bit_generator state JSON-safe: tagged arrays, big ints as strings."""
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        value = int(obj)
        return value if abs(value) < 2**53 else {"__int__": str(value)}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _from_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__int__" in obj:
            return int(obj["__int__"])
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
        return {k: _from_jsonable(v) for k, v in obj.items()}
    return obj
