"""Shared fixtures."""

import signal

import pytest


@pytest.fixture
def sigint_default():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal, even when
    the test run itself was started with SIGINT ignored (a background job); the
    previous disposition is restored afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


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
