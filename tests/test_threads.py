"""Tests for descentlab._threads: BLAS thread counts for side-by-side processes."""

import os

from descentlab._threads import THREAD_VARS, blas_threads_env, usable_cpus


def test_blas_threads_env_sets_and_restores(monkeypatch):
    """Check every variable is set inside the block and restored (or removed) after
    it."""
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with blas_threads_env(2) as changed:
        assert changed
        assert [os.environ[v] for v in THREAD_VARS] == ["2", "2", "2"]
    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert (
        "OPENBLAS_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ
    )


def test_blas_threads_env_respects_a_user_choice(monkeypatch):
    """Check respect_user leaves the environment alone when the user set a variable."""
    monkeypatch.setenv("MKL_NUM_THREADS", "5")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with blas_threads_env(1, respect_user=True) as changed:
        assert not changed
        assert (
            os.environ["MKL_NUM_THREADS"] == "5" and "OMP_NUM_THREADS" not in os.environ
        )


def test_usable_cpus_is_positive_and_at_most_cpu_count():
    """Check the CPU count is between 1 and os.cpu_count()."""
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)
