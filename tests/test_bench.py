"""Smoke tests of the benchmark: it runs and returns its documented keys.

No timing assertions: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from descentlab import bench
from descentlab.errors import InvalidParameterError

ROOT = Path(__file__).resolve().parent.parent


def _check_case(case: dict, with_torch: bool) -> None:
    assert {
        "description",
        "unit",
        "items",
        "descentlab",
        "pytorch",
        "ratio",
        "gflops",
        "gemm_fraction",
    } <= set(case)
    assert case["items"] > 0
    dl = case["descentlab"]
    assert dl["seconds"] > 0 and dl["min_seconds"] > 0 and dl["throughput"] > 0
    if with_torch:
        assert case["pytorch"]["seconds"] > 0 and case["pytorch"]["throughput"] > 0
        assert case["ratio"] > 0
    else:
        assert case["pytorch"] is None and case["ratio"] is None


def test_main_returns_documented_keys():
    """Check that a tiny in-process run returns meta, cases (with the GEMM reference)
    and notes."""
    torch = pytest.importorskip("torch")
    res = bench.main(
        repeats=1,
        only=["mlp_sgd", "maxpool_bwd"],
        size="tiny",
        threads=1,
        isolate=False,
        verbose=False,
    )
    json.dumps(res)  # JSON-able
    assert set(res) == {"meta", "cases", "memory", "notes"}
    assert list(res["cases"]) == ["mlp_sgd", "maxpool_bwd", "gemm"]
    for case in res["cases"].values():
        _check_case(case, with_torch=True)
    mlp = res["cases"]["mlp_sgd"]
    assert mlp["unit"] == "images" and mlp["gflops"]["descentlab"] > 0
    assert mlp["gemm_fraction"] > 0
    meta = res["meta"]
    assert (
        meta["threads"] == 1 and meta["backend"] == "numpy" and meta["size"] == "tiny"
    )
    assert meta["torch"] == torch.__version__
    assert res["memory"] is None


def test_without_pytorch_ratios_are_none(monkeypatch):
    """Check that a missing PyTorch gives descentlab numbers, None ratios and a note."""
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    res = bench.main(
        repeats=1,
        only=["sgd_1m", "im2col"],
        size="tiny",
        threads=1,
        isolate=False,
        verbose=False,
    )
    for case in res["cases"].values():
        _check_case(case, with_torch=False)
    assert res["meta"]["torch"] is None
    assert any("PyTorch is not installed" in n for n in res["notes"])


def test_worker_processes_and_memory():
    """Check the default mode (a worker process per framework) and the memory case."""
    pytest.importorskip("torch")
    res = bench.main(
        repeats=1, only=["adam_1m", "memory"], size="tiny", threads=1, verbose=False
    )
    assert res["meta"]["isolated_processes"] is True
    _check_case(res["cases"]["adam_1m"], with_torch=True)
    mem = res["memory"]
    assert mem["descentlab"]["rss_delta_mib"] >= 0
    assert mem["descentlab"]["tracemalloc_peak_mib"] > 0
    assert mem["pytorch"]["rss_delta_mib"] >= 0
    assert "method" in mem
    assert "memory (one SimpleConvNet step)" in bench.format_table(res)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"only": ["nope"]}, "unknown case"),
        ({"size": "huge"}, "'size'"),
        ({"repeats": 0}, "'repeats'"),
    ],
)
def test_bad_arguments(kwargs, match):
    """Check that unknown cases, sizes and repeat counts are refused with a clear
    message."""
    with pytest.raises(InvalidParameterError, match=match):
        bench.main(verbose=False, **kwargs)


def test_script_writes_json(tmp_path):
    """Check that benchmarks/bench.py runs a case and writes the JSON it prints."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--size",
            "tiny",
            "--repeats",
            "1",
            "--threads",
            "1",
            "--only",
            "col2im",
            "--no-isolate",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "col2im" in proc.stdout
    data = json.loads(out.read_text())
    assert data["cases"]["col2im"]["descentlab"]["throughput"] > 0


def test_cli_bench_writes_into_out_and_refuses_a_used_folder(tmp_path, capsys):
    """Check `descentlab bench --out` writes bench.json, then refuses the non-empty
    folder."""
    from descentlab.cli import main

    args = [
        "bench",
        "--size",
        "tiny",
        "--repeats",
        "1",
        "--only",
        "mlp_sgd",
        "--no-memory",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(args) == 0
    data = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert set(data["cases"]) == {"mlp_sgd", "gemm"}
    assert data["cases"]["mlp_sgd"]["descentlab"]["throughput"] > 0
    capsys.readouterr()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["bench", "--threads", "0"]) == 2


def test_model_flops_count_every_conv_and_linear_by_hand():
    """Check a training step's flops for DeepConvNet equal 3 x 2 x the forward
    multiply-adds counted by hand from its layer shapes, whichever conv path
    (im2col or shifted GEMMs) each layer takes, and that the model's layers are
    left as they were."""
    import numpy as np

    from descentlab.bench.cases import _model_flops
    from descentlab.models import DeepConvNet

    model = DeepConvNet(seed=0)
    convs = [  # (C_out, C_in, output pixels)
        (16, 1, 28 * 28),
        (16, 16, 28 * 28),
        (32, 16, 14 * 14),
        (32, 32, 16 * 16),  # padding 2: 14 -> 16
        (64, 32, 8 * 8),
        (64, 64, 8 * 8),
    ]
    macs = sum(o * c * 9 * p for o, c, p in convs) + 64 * 4 * 4 * 50 + 50 * 10
    x1 = np.zeros((1, 1, 28, 28), dtype=np.float32)
    assert _model_flops(model, x1, 100) == 3 * 2 * 100 * macs
    assert all("forward" not in vars(m) for m in model.modules())
