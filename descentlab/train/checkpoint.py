"""Checkpoint files: one .npz with model, optimizer, scheduler, loader, RNG and
trainer state, plus JSON metadata (format, version, model class, history, config).

Written atomically (temp file + rename) and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import __version__
from ..errors import CheckpointError
from ..io import load_state_npz, save_state_npz

FORMAT = "descentlab-checkpoint"
VERSION = 1


def rng_states(model: Any) -> list[dict]:
    """bit_generator states of every module that owns a Generator (e.g. Dropout)."""
    return [
        m.rng.bit_generator.state
        for m in model.modules()
        if isinstance(getattr(m, "rng", None), np.random.Generator)
    ]


def set_rng_states(model: Any, states: list[dict]) -> None:
    owners = [
        m
        for m in model.modules()
        if isinstance(getattr(m, "rng", None), np.random.Generator)
    ]
    if len(owners) != len(states):
        raise CheckpointError(
            f"checkpoint has {len(states)} random generators but the model has "
            f"{len(owners)} "
            "modules with one (e.g. Dropout); the model architecture differs."
        )
    for m, st in zip(owners, states, strict=True):
        st = dict(st)
        inner = st.get("state")
        if isinstance(inner, dict):
            st["state"] = {k: int(v) for k, v in inner.items()}
        m.rng.bit_generator.state = st


def save_checkpoint(
    path: str | os.PathLike, state: dict[str, Any], meta: dict[str, Any]
) -> None:
    save_state_npz(
        path,
        state,
        {"format": FORMAT, "version": VERSION, "descentlab": __version__, **meta},
    )


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(state, meta)``; CheckpointError for a foreign or truncated file."""
    state, meta = load_state_npz(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a descentlab training checkpoint "
            f"(format {meta.get('format')!r}, expected {FORMAT!r})."
        )
    if int(meta.get("version", -1)) > VERSION:
        raise CheckpointError(
            f"{str(path)!r} was written by a newer descentlab (checkpoint version "
            f"{meta.get('version')}, this version reads up to {VERSION})."
        )
    missing = [k for k in ("model", "optimizer", "trainer") if k not in state]
    if missing:
        raise CheckpointError(f"{str(path)!r} lacks the checkpoint entries {missing}.")
    return state, meta


def is_foreign_file(path: str | os.PathLike) -> bool:
    """True when ``path`` exists and is not a descentlab training checkpoint, i.e. a
    file a user made that writing a checkpoint there would destroy."""
    if not os.path.exists(path):
        return False
    try:
        load_checkpoint(path)
    except CheckpointError:
        return True
    return False
