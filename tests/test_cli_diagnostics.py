"""`descentlab lr-find`, `landscape` and `sharpness` end to end on a tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from descentlab.cli import main

TINY = ["--model", "mlp", "--hidden", "16", "--n-train", "200", "--n-val", "50"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("diag") / "run"
    argv = ["train", *TINY, "--optimizer", "sgd", "--lr", "0.1", "--epochs", "3"]
    argv += ["--batch-size", "50", "--save-every-epoch", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_train_save_every_epoch_keeps_initial_and_each_epoch(run_dir):
    """Check weights/epoch_0000..0003 hold the initial and per-epoch weights, the
    last equal to the final checkpoint's model."""
    from descentlab.train import load_checkpoint
    from descentlab.train.snapshots import load_weight_snapshots

    snaps = load_weight_snapshots(run_dir / "weights")
    assert [e for e, _ in snaps] == [0, 1, 2, 3]
    state, _ = load_checkpoint(run_dir / "checkpoint.npz")
    for k, v in state["model"].items():
        assert np.array_equal(snaps[-1][1][k], v)
    assert not np.array_equal(snaps[0][1]["0.weight"], snaps[1][1]["0.weight"])


def test_lr_find_writes_curve_and_json_and_prints_the_suggestion(tmp_path, capsys):
    """Check lr-find prints the suggested lr with its reason and writes both files."""
    out = tmp_path / "lr"
    argv = ["lr-find", *TINY, "--optimizer", "sgd", "--steps", "40", "--out", str(out)]
    assert main(argv) == 0
    line = capsys.readouterr().out.strip()
    data = json.loads((out / "lr_find.json").read_text())
    assert (out / "lr_find.png").stat().st_size > 10_000
    assert f"suggested lr {data['suggestion']:.3g} for sgd: where the" in line
    assert len(data["lrs"]) == len(data["losses"]) == len(data["raw_losses"]) <= 40
    assert data["suggestion"] == data["steepest_lr"]
    assert data["valley"][0] < data["suggestion"] < data["valley"][1]


def test_lr_find_refuses_training_only_flags(tmp_path, capsys):
    """Check --epochs (a train flag that makes no sense here) is a usage error."""
    assert main(["lr-find", "--epochs", "3", "--out", str(tmp_path / "x")]) == 2
    assert "unrecognized arguments: --epochs" in capsys.readouterr().err


def test_landscape_draws_lines_surface_and_trajectory(run_dir, tmp_path, capsys):
    """Check the loss at alpha=0 is the final model's eval loss on the same samples."""
    from descentlab.nn import SoftmaxCrossEntropy
    from descentlab.train.run_folder import open_run

    out = tmp_path / "land"
    argv = ["landscape", str(run_dir), "--points", "5", "--grid", "4"]
    argv += ["--n-samples", "60", "--out", str(out)]
    assert main(argv) == 0
    assert "trajectory of 4 snapshots" in capsys.readouterr().out
    for name in ("landscape_1d.png", "landscape_2d.png", "trajectory.png"):
        assert (out / name).stat().st_size > 5_000
    data = json.loads((out / "landscape.json").read_text())
    run = open_run(run_dir, owner="test")
    run.model.eval()
    x, y = run.train[0][:60], run.train[1][:60]
    assert data["loss_at_final"] == SoftmaxCrossEntropy().forward(run.model(x), y)
    assert np.allclose(data["trajectory_coords"][-1], 0.0)
    assert len(data["surface"]) == 4 and len(data["surface"][0]) == 4


def test_sharpness_final_and_along_the_trajectory(run_dir, tmp_path, capsys):
    """Check eigenvalues per saved epoch, sorted, and the 2/lr line of plain SGD."""
    out = tmp_path / "sharp"
    argv = ["sharpness", str(run_dir), "-k", "2", "--trace-samples", "3"]
    argv += ["--n-samples", "60", "--trajectory", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "2/lr = 20" in text
    data = json.loads((out / "sharpness.json").read_text())
    assert [r["epoch"] for r in data["rows"]] == [0, 1, 2, 3]
    for r in data["rows"]:
        assert r["eigenvalues"][0] >= r["eigenvalues"][1]
    assert data["threshold"] == pytest.approx(20.0)
    assert (out / "sharpness.png").stat().st_size > 5_000
    assert (
        main(
            [
                "sharpness",
                str(run_dir),
                "-k",
                "1",
                "--trace-samples",
                "0",
                "--n-samples",
                "60",
                "--out",
                str(tmp_path / "s2"),
            ]
        )
        == 0
    )
    final = json.loads((tmp_path / "s2" / "sharpness.json").read_text())["rows"]
    assert final[0]["epoch"] == "final"
    assert final[0]["eigenvalues"][0] == pytest.approx(
        data["rows"][-1]["eigenvalues"][0], rel=1e-6
    )


def test_folder_without_checkpoint_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for cmd in ("landscape", "sharpness"):
        assert main([cmd, str(tmp_path / "empty")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "has no checkpoint.npz" in err


def test_trajectory_needs_saved_epochs(tmp_path, capsys):
    out = tmp_path / "plain"
    argv = ["train", *TINY, "--epochs", "1", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["sharpness", str(out), "--trajectory", "--n-samples", "20"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--save-every-epoch" in err
