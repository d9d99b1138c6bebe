"""The `descentlab` command: train end to end, resume, and one-line errors."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from descentlab.cli import main
from descentlab.io import load_state_npz
from descentlab.train import run as run_module

RUN_FILES = (
    "config.json",
    "checkpoint.npz",
    "history.csv",
    "history.json",
    "result.json",
    "curves.png",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch `train` run, then `--resume` to 3 epochs: exit codes, the folder's
    files, result.json and stdout after the first run, result.json after the
    resume."""
    out = tmp_path_factory.mktemp("cli") / "run"
    args = (
        "train --model mlp --hidden 32 --optimizer adam --lr 0.01 --schedule cosine "
        "--epochs 2 --n-train 300 --n-val 100 --batch-size 30 --quiet"
    ).split()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main([*args, "--out", str(out)])
    files = sorted(p.name for p in out.iterdir())
    first = json.loads((out / "result.json").read_text())
    rc_resume = main(
        ["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "3", "--quiet"]
    )
    return SimpleNamespace(
        out=out,
        rc=rc,
        files=files,
        first=first,
        stdout=stdout.getvalue(),
        rc_resume=rc_resume,
        again=json.loads((out / "result.json").read_text()),
    )


def test_train_writes_a_run_folder(trained):
    """Check that `train` writes config, checkpoint, history, result and curves."""
    assert trained.rc == 0
    for name in RUN_FILES:
        assert name in trained.files, name


def test_train_reports_the_test_accuracy(trained):
    """Check that `train` saves the epochs done and a learned test accuracy, and
    prints the accuracy."""
    first = trained.first
    assert first["epochs_done"] == 2 and 0.3 < first["test_acc"] <= 1.0
    assert "test accuracy" in trained.stdout


def test_resume_continues_with_the_saved_configuration(trained):
    """Check that `--resume` with more epochs trains on, with the configuration of the
    first run and the whole history."""
    assert trained.rc_resume == 0
    again = trained.again
    assert again["epochs_done"] == 3
    assert again["config"]["hidden"] == [32] and again["config"]["n_train"] == 300
    history = json.loads((trained.out / "history.json").read_text())
    assert len(history["epoch"]["loss"]) == 3


class _SigintAtStep5(run_module.CSVLogger):
    """A CSVLogger that sends this process a real SIGINT after step 5."""

    def on_train_batch_end(self, step, logs=None):
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, sigint_default_in_module):
    """A 2-epoch `train` (ref), and the same run hit by Ctrl-C at step 5 (cut): cut's
    exit code, stderr and checkpoint."""
    tmp = tmp_path_factory.mktemp("ctrl_c")
    args = (
        "train --model mlp --hidden 16 --epochs 2 --n-train 300 --n-val 100 "
        "--batch-size 50 --quiet"
    ).split()
    assert main([*args, "--out", str(tmp / "ref")]) == 0
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(stderr):
        mp.setattr(run_module, "CSVLogger", _SigintAtStep5)
        rc = main([*args, "--out", str(tmp / "cut")])
    return SimpleNamespace(
        rc=rc,
        err=stderr.getvalue(),
        ref=tmp / "ref" / "checkpoint.npz",
        ckpt=tmp / "cut" / "checkpoint.npz",
    )


def test_ctrl_c_exits_130_with_a_resume_hint(interrupted):
    """Check a real Ctrl-C in `train` exits 130 and names the checkpoint and the
    resume command."""
    ckpt = interrupted.ckpt
    assert interrupted.rc == 130
    assert f"interrupted at step 6; checkpoint {ckpt}" in interrupted.err
    assert f"continue with: descentlab train --resume {ckpt}" in interrupted.err


def test_resume_after_ctrl_c_matches_an_uninterrupted_run(interrupted):
    """Check that resuming a Ctrl-C'd `train` ends with the same weights as the
    uninterrupted run."""
    assert main(["train", "--resume", str(interrupted.ckpt), "--quiet"]) == 0
    ref, _ = load_state_npz(interrupted.ref)
    got, _ = load_state_npz(interrupted.ckpt)
    for key, value in ref["model"].items():
        assert np.array_equal(got["model"][key], value), key


def test_resume_refuses_a_changed_configuration(tmp_path, capsys):
    """Check --resume with a different optimizer or lr is refused (exit 2, one line
    naming both values), while --epochs may change."""
    out = tmp_path / "run"
    args = [
        "train",
        "--model",
        "mlp",
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--n-train",
        "300",
        "--n-val",
        "100",
        "--quiet",
    ]
    assert main([*args, "--out", str(out)]) == 0
    ckpt = str(out / "checkpoint.npz")
    capsys.readouterr()
    assert main(["train", "--resume", ckpt, "--optimizer", "sgd", "--lr", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "\n" not in err and "lr=0.001 (given 0.5)" in err and "optimizer='adam'" in err
    )
    assert main(["train", "--resume", ckpt, "--epochs", "2", "--quiet"]) == 0


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["train", "--lr", "-1"], "'lr' must be a float in \\(0.0, inf\\). Got -1.0."),
        (["train", "--model", "vgg"], "invalid choice: 'vgg'"),
        (["train", "--epochs", "0"], "'epochs' must be an int in \\[1, inf\\]"),
        (["train", "--batch-size", "x"], "invalid int value: 'x'"),
        (["train", "--n-train", "4900"], "'n_train' must be at most 3500"),
        (["run", "nosuch"], "nosuch"),
        (
            ["train", "--model", "lenet5", "--dropout", "0.5"],
            "--dropout apply to --model mlp only; lenet5 has a fixed architecture",
        ),
        (["report", "--quick", "--full"], "not allowed with argument"),
    ],
)
def test_bad_usage_is_one_line_exit_2(argv, pattern, tmp_path, capsys):
    """Check that bad arguments give exit code 2 and one `error:` line, no traceback."""
    rc = main([*argv, "--out", str(tmp_path / "o")] if argv[0] != "report" else argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    import re

    assert re.search(pattern, err), err


def test_existing_output_folder_is_refused_unless_overwrite(tmp_path, capsys):
    """Check that a non-empty --out is refused (exit 2) and accepted with
    --overwrite."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    args = [
        "train",
        "--model",
        "mlp",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--n-train",
        "100",
        "--n-val",
        "0",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (out / "mine.txt").read_text() == "keep me"


def test_corrupt_checkpoint_is_a_failed_run(tmp_path, capsys):
    """Check that resuming from a corrupt checkpoint exits 1 with one clear line."""
    bad = tmp_path / "checkpoint.npz"
    bad.write_bytes(b"not a zip")
    assert main(["train", "--resume", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not an .npz file" in err and "\n" not in err


def test_run_list_names_all_experiments(capsys):
    """Check that `run --list` prints every experiment name in report order, each
    with its module's title."""
    from descentlab import experiments

    assert main(["run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == experiments.names()
    assert names[0] == "paths" and "optimizer_choice" in names
    for name, line in zip(names, lines, strict=True):
        assert line.split(None, 1)[1] == experiments.get(name).TITLE


def test_subprocess_error_has_no_traceback(tmp_path):
    """Check the installed entry point: exit code 2 and one stderr line for a bad lr."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "descentlab.cli",
            "train",
            "--lr",
            "-3",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")


def test_diverging_run_exits_1_with_one_clear_line(tmp_path, capsys):
    """Check a NaN loss stops `train` with exit 1, a one-line cause and a hint, and no
    NumPy overflow warnings."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any stray warning would fail the run
        rc = main(
            [
                "train",
                "--model",
                "mlp",
                "--optimizer",
                "sgd",
                "--lr",
                "1000",
                "--epochs",
                "2",
                "--n-train",
                "300",
                "--n-val",
                "100",
                "--quiet",
                "--out",
                str(tmp_path / "nan"),
            ]
        )
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: training stopped at step ") and "\n" not in err
    assert "loss is nan" in err or "not finite" in err
    assert "Try a smaller --lr" in err
    result = json.loads((tmp_path / "nan" / "result.json").read_text())
    assert result["stopped"] == "nonfinite" and result["nonfinite"]["step"] >= 1
