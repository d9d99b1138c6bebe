"""Shared fixtures."""

import contextlib
import signal

import pytest


@contextlib.contextmanager
def _sigint_raises_keyboard_interrupt():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def sigint_default():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal, even when
    the test run itself was started with SIGINT ignored (a background job); the
    previous disposition is restored afterwards."""
    with _sigint_raises_keyboard_interrupt():
        yield


@pytest.fixture(scope="module")
def sigint_default_in_module():
    """``sigint_default`` for the whole module, for module-scoped fixtures; child
    processes started meanwhile also get SIGINT's default action."""
    with _sigint_raises_keyboard_interrupt():
        yield


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """``quick_run(name)``: the quick, seed-0 result of experiment ``name``, run at
    most once per test session (several test files share it)."""
    from descentlab import experiments

    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            out = tmp_path_factory.mktemp(f"quick_{name}")
            cache[name] = experiments.run(name, size="quick", seed=0, out=out)
        return cache[name]

    return get
