"""`descentlab playground` as a real process: URL, serving, a clean stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from descentlab.cli import main


def start(*args, browser=False):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(var, None)
    flags = [] if browser else ["--no-browser"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab", "playground", *flags, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        proc.kill()
        pytest.fail(f"no URL on the first line: {line!r} {proc.stderr.read()!r}")
    return proc, m.group(0), int(m.group(1))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serves_then_stops_cleanly_on_a_signal(sig):
    """Check that --port 0 serves on a free loopback port and that Ctrl-C (SIGINT) or
    SIGTERM, even during a training run, ends the process with status 0."""
    proc, url, port = start("--port", "0")
    try:
        with urllib.request.urlopen(url + "api/meta", timeout=20) as r:
            assert json.loads(r.read())["max_steps"] == 2000
        q = "model=mlp&n_train=2000&batch_size=10&epochs=20&n_val=0"
        req = urllib.request.Request(url + "api/train?" + q, method="POST")
        with urllib.request.urlopen(req, timeout=20) as r:
            assert r.status == 202
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "stopped" in out
        assert "Traceback" not in err
        assert time.monotonic() - t0 < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_busy_port_is_a_one_line_usage_error(capsys):
    """Check that a port already in use is refused with exit 2 and a hint."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["playground", "--no-browser", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port}" in err and "--port 0" in err
    assert len(err.strip().splitlines()) == 1


def test_port_out_of_range_is_refused(capsys):
    """Check that --port outside [0, 65535] is a usage error naming the range."""
    assert main(["playground", "--no-browser", "--port", "70000"]) == 2
    assert "[0, 65535]" in capsys.readouterr().err


def test_without_a_display_no_browser_is_started():
    """Check that without a display the command says to open the URL by hand (it never
    starts a text browser in the terminal) and still serves."""
    proc, url, _ = start("--port", "0", browser=True)
    try:
        assert "open the address above" in proc.stdout.readline()
        with urllib.request.urlopen(url, timeout=20) as r:
            assert b"descentlab playground" in r.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
