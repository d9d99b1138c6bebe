"""descentlab.backend: array-module selection, DESCENTLAB_BACKEND, dtype policy.

Every test that touches the module-level backend state restores it through
monkeypatch, so the rest of the suite keeps running on NumPy.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import descentlab.backend as B
from descentlab import nn
from descentlab.errors import InvalidParameterError, MissingDependencyError

HAS_CUPY = importlib.util.find_spec("cupy") is not None


@pytest.fixture
def nn_fresh_backend(monkeypatch):
    """Backend state as on first import (nothing selected yet); restored afterwards."""
    monkeypatch.setitem(B._state, "name", None)
    monkeypatch.setitem(B._state, "module", None)
    monkeypatch.setitem(B._state, "dtype", np.dtype(np.float32))
    monkeypatch.delenv("DESCENTLAB_BACKEND", raising=False)
    return B


def test_default_backend_is_numpy_float32(nn_fresh_backend):
    """Check that with nothing configured the backend is numpy and the dtype float32."""
    assert B.xp() is np
    assert B.name() == "numpy"
    assert B.default_dtype() == np.float32


def test_use_numpy_returns_numpy(nn_fresh_backend):
    """Check that use("numpy") selects and returns the numpy module."""
    assert B.use("numpy") is np
    assert B.xp() is np and B.name() == "numpy"


@pytest.mark.parametrize("bad", ["torch", "NumPy", "", None])
def test_unknown_backend_name_is_refused(nn_fresh_backend, bad):
    """Check an unknown backend name raises InvalidParameterError with choices."""
    with pytest.raises(
        InvalidParameterError,
        match=r"^backend\.use: 'name' must be one of 'numpy', 'cupy'\. Got ",
    ):
        B.use(bad)
    assert B._state["module"] is None  # a failed use() selects nothing


@pytest.mark.skipif(HAS_CUPY, reason="cupy is installed here")
def test_use_cupy_without_cupy_gives_install_hint(nn_fresh_backend):
    """Check use("cupy") without CuPy raises MissingDependencyError with a hint."""
    with pytest.raises(
        MissingDependencyError, match=r"pip install descentlab\[gpu\]"
    ) as info:
        B.use("cupy")
    assert isinstance(info.value, ImportError)
    assert "cupy-cuda12x" in str(info.value)
    assert B.xp() is np  # still usable afterwards


def test_env_variable_selects_backend(nn_fresh_backend, monkeypatch):
    """Check that DESCENTLAB_BACKEND is read on first use (case and spaces ignored)."""
    monkeypatch.setenv("DESCENTLAB_BACKEND", " NumPy ")
    assert B.xp() is np
    assert B.name() == "numpy"


def test_env_variable_with_unknown_name_is_refused(nn_fresh_backend, monkeypatch):
    """Check a bad DESCENTLAB_BACKEND value raises an error naming the variable on first
    use."""
    monkeypatch.setenv("DESCENTLAB_BACKEND", "tensorflow")
    with pytest.raises(
        InvalidParameterError,
        match=r"^environment variable DESCENTLAB_BACKEND must be one of "
        r"'numpy', 'cupy' \(or unset\)\. Got 'tensorflow'\.$",
    ):
        B.xp()


@pytest.mark.skipif(HAS_CUPY, reason="cupy is installed here")
def test_env_variable_cupy_without_cupy_is_missing_dependency(
    nn_fresh_backend, monkeypatch
):
    """Check that DESCENTLAB_BACKEND=cupy without CuPy raises MissingDependencyError."""
    monkeypatch.setenv("DESCENTLAB_BACKEND", "cupy")
    with pytest.raises(MissingDependencyError, match="needs CuPy"):
        B.xp()


def test_env_variable_read_only_until_a_backend_is_chosen(
    nn_fresh_backend, monkeypatch
):
    """Check that with a backend active, DESCENTLAB_BACKEND changes are ignored."""
    B.use("numpy")
    monkeypatch.setenv("DESCENTLAB_BACKEND", "bogus")
    assert B.xp() is np


def test_default_dtype_set_and_get(nn_fresh_backend):
    """Check default_dtype(float64) makes new layers float64; int is refused."""
    assert B.default_dtype(np.float64) == np.float64
    assert B.default_dtype() == np.float64
    assert nn.Linear(2, 2).weight.dtype == np.float64
    assert nn.BatchNorm1d(2).running_var.dtype == np.float64
    with pytest.raises(
        InvalidParameterError,
        match=r"^backend\.default_dtype: 'dtype' must be a floating dtype\. "
        r"Got int32\.$",
    ):
        B.default_dtype(np.int32)
    assert B.default_dtype() == np.float64


def test_default_dtype_float32_for_new_layers(nn_fresh_backend):
    """Check that layers and Parameters created under the default policy are float32."""
    assert nn.Conv2d(1, 2, 3).weight.dtype == np.float32
    assert nn.Parameter([0.5]).dtype == np.float32
    assert B.asarray([1.0, 2.0], dtype=B.default_dtype()).dtype == np.float32


def test_array_helpers_on_numpy():
    """Check get_array_module, to_numpy and asarray for NumPy input."""
    a = np.arange(3.0)
    assert B.get_array_module(a) is np
    assert B.to_numpy(a) is a
    assert B.to_numpy([1, 2]).tolist() == [1, 2]
    out = B.asarray([1, 2], dtype=np.float32)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
