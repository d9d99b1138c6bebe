"""benchmarks/gpu.sh as far as a CPU allows: CUDA version -> CuPy wheel, and its
argument checks (the dry run itself is documented in benchmarks/README.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    "line, package",
    [
        (
            "| NVIDIA-SMI 550.54.15  Driver Version: 550.54.15  CUDA Version: 12.4 |",
            "cupy-cuda12x",
        ),
        (
            "| NVIDIA-SMI 580.65.06  Driver Version: 580.65.06  CUDA Version: 13.0 |",
            "cupy-cuda13x",
        ),
        ("CUDA Version: 11.8", "cupy-cuda11x"),
    ],
)
def test_cuda_version_picks_the_cupy_wheel(line, package):
    """Check that nvidia-smi's CUDA version line maps to the matching CuPy package."""
    res = _run("--cupy-for", line)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == package


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cupy-for", "CUDA Version: 10.2"], "CUDA 10 has no known CuPy wheel"),
        (["--cupy-for", "no version here"], "no 'CUDA Version: X.Y'"),
        (["--repeats", "0"], "--repeats must be an integer >= 1"),
        (["--wheels", "/nonexistent/wheels"], "--wheels: no folder"),
        (["--frobnicate"], "unknown argument '--frobnicate'"),
    ],
)
def test_bad_input_is_refused_with_a_message(args, message):
    """Check unknown versions and bad arguments stop with exit 2 and a clear line."""
    res = _run(*args)
    assert res.returncode == 2
    assert message in res.stderr


def test_refuses_a_non_empty_output_folder(tmp_path):
    """Check that the script never writes into a folder that already has files."""
    (tmp_path / "keep.txt").write_text("user data")
    res = _run("--dry-run", "--out", str(tmp_path))
    assert res.returncode == 2
    assert "is not empty" in res.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
