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
