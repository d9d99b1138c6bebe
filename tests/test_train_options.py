"""`descentlab train` options: schedules with their own parameters and interval,
--early-stopping, best.npz, --config/--print-config, --resume's rules, run.json."""

import json
import math
import subprocess
import sys

import pytest

from descentlab.cli import main
from descentlab.errors import InvalidParameterError
from descentlab.train.run import build_scheduler, resolve_config, validate_config

TINY = ["--model", "mlp", "--hidden", "8", "--n-train", "200", "--n-val", "50"]


class _Opt:  # just what a Scheduler needs
    def __init__(self, lr):
        self.param_groups = [{"lr": lr}]


def _lrs(cfg, steps_per_epoch, epochs):
    """The lr seen by each step of a run, stepping the scheduler as the Trainer does."""
    cfg = validate_config({"model": "mlp", **cfg, "epochs": epochs})
    opt = _Opt(cfg["lr"])
    sched = build_scheduler(cfg, opt, steps_per_epoch)
    seen = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            seen.append(opt.param_groups[0]["lr"])
            if sched is not None and sched.interval == "step":
                sched.step()
        if sched is not None and sched.interval == "epoch":
            sched.step()
    return seen


def test_exp_schedule_decays_per_epoch_by_default():
    """Check --schedule exp multiplies the lr by gamma once per epoch (default 0.95),
    constant within an epoch, instead of per batch (0.95**50 = 8% after one epoch)."""
    lrs = _lrs({"schedule": "exp", "lr": 0.1}, steps_per_epoch=50, epochs=3)
    assert lrs[:50] == [0.1] * 50
    assert lrs[50] == pytest.approx(0.1 * 0.95) and lrs[100] == pytest.approx(
        0.1 * 0.95**2
    )
    custom = _lrs({"schedule": "exp", "lr": 0.1, "gamma": 0.5}, 10, 3)
    assert custom[10] == pytest.approx(0.05) and custom[20] == pytest.approx(0.025)
    per_step = _lrs(
        {"schedule": "exp", "lr": 0.1, "gamma": 0.99, "schedule_interval": "step"},
        10,
        1,
    )
    assert per_step[5] == pytest.approx(0.1 * 0.99**5)


def test_step_multistep_warmup_and_min_lr_parameters():
    """Check --step-size/--gamma for step, --milestones for multistep, --min-lr for
    cosine and --warmup as a linear ramp before the schedule, each in its interval."""
    step = _lrs({"schedule": "step", "lr": 1.0, "step_size": 2, "gamma": 0.1}, 4, 5)
    assert [step[4 * e] for e in range(5)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    multi = _lrs({"schedule": "multistep", "lr": 1.0, "milestones": [1, 3]}, 2, 4)
    assert [multi[2 * e] for e in range(4)] == pytest.approx([1, 0.1, 0.1, 0.01])
    cos = _lrs({"schedule": "cosine", "lr": 1.0, "min_lr": 0.2}, 10, 2)
    assert cos[0] == 1.0 and cos[-1] == pytest.approx(0.2, abs=0.01) and min(cos) >= 0.2
    warm = _lrs({"schedule": "constant", "lr": 1.0, "warmup": 4}, 10, 1)
    assert warm[:6] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1])
    wc = _lrs({"schedule": "warmup-cosine", "lr": 1.0, "warmup": 5}, 10, 2)
    assert wc[5] == pytest.approx(1.0) and wc[2] == pytest.approx(0.4)


@pytest.mark.parametrize(
    "cfg, pattern",
    [
        (
            {"schedule": "cosine", "step_size": 3},
            "--step-size applies to --schedule step",
        ),
        ({"schedule": "exp", "milestones": [2]}, "--milestones applies to"),
        ({"schedule": "onecycle", "warmup": 3}, "--warmup applies to"),
        ({"schedule": "plateau", "schedule_interval": "step"}, "steps per epoch"),
        ({"schedule": "multistep", "milestones": [3, 2]}, "increasing positive"),
        ({"schedule": "exp", "gamma": 1.5}, "'gamma' must be a float in"),
        ({"monitor": "val_acc", "n_val": 0}, "needs validation data"),
        ({"early_stopping": 0}, "'early_stopping' must be an int in"),
    ],
)
def test_bad_schedule_and_callback_settings_are_refused(cfg, pattern):
    """Check every misplaced or out-of-range setting fails with a message naming it."""
    with pytest.raises(InvalidParameterError, match=pattern):
        validate_config({"model": "mlp", **cfg})


def test_early_stopping_flag_stops_and_best_checkpoint_is_kept(tmp_path, capsys):
    """Check --early-stopping 1 on a run whose val_loss rises stops after exactly one
    epoch without improvement, and best.npz holds the best epoch's weights."""
    from descentlab.runs import load_run

    out = tmp_path / "r"
    argv = ["train", *TINY, "--optimizer", "sgd", "--lr", "3.0", "--epochs", "30"]
    assert main([*argv, "--early-stopping", "1", "--quiet", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    val = json.loads((out / "history.json").read_text())["epoch"]["val_loss"]
    best = min(range(len(val)), key=val.__getitem__)
    assert result["stopped"] == "early_stopping"
    assert len(val) == best + 2  # one epoch without improvement, then stop
    assert result["best_epoch"] == best + 1
    assert "[stopped: early_stopping]" in capsys.readouterr().out
    run = load_run(out)  # best.npz by default
    assert run.checkpoint.name == "best.npz"
    from descentlab.train.checkpoint import load_checkpoint

    _, meta = load_checkpoint(out / "best.npz")
    assert len(meta["history"]["epoch"]["epoch"]) == best + 1


def test_config_file_toml_and_json_with_flags_winning(tmp_path, capsys):
    """Check --config reads TOML (hyphen or underscore keys, optional [train] table)
    and a run's config.json, that flags override it, and --print-config exits 0
    without touching the output folder."""
    toml = tmp_path / "t.toml"
    toml.write_text(
        '[train]\nmodel = "mlp"\nhidden = [16]\noptimizer = "sgd"\n'
        'schedule = "step"\nstep-size = 2\ngamma = 0.3\nepochs = 4\n'
    )
    out = tmp_path / "never"
    assert (
        main(
            [
                "train",
                "--config",
                str(toml),
                "--lr",
                "0.2",
                "--print-config",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["model"], cfg["hidden"], cfg["optimizer"]) == ("mlp", [16], "sgd")
    assert (cfg["step_size"], cfg["gamma"], cfg["lr"]) == (2, 0.3, 0.2)
    assert cfg["schedule_interval"] == "epoch" and not out.exists()
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps(cfg))
    assert main(["train", "--config", str(saved), "--seed", "4", "--print-config"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again == {**cfg, "seed": 4}


@pytest.mark.parametrize(
    "content, suffix, pattern",
    [
        ("model = ", ".toml", "cannot read"),
        ('{"nope": 1}', ".json", r"unknown config keys \['nope'\]"),
        ("[1, 2]", ".json", "must hold a table of settings"),
        ("x", ".yaml", "must be a .toml or .json file"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, content, suffix, pattern):
    """Check malformed, unknown-key, non-table and wrong-type config files exit 2 with
    one `error:` line naming the problem (in a real process)."""
    path = tmp_path / f"c{suffix}"
    path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "descentlab", "train", "--config", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    import re

    assert re.search(pattern, done.stderr), done.stderr


def test_resume_refuses_a_new_seed_and_config_and_records_sessions(tmp_path, capsys):
    """Check --resume refuses --seed that differs from the checkpoint and --config,
    accepts the same seed, and run.json keeps the first session under 'sessions'."""
    out = tmp_path / "r"
    assert main(["train", *TINY, "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    ckpt = str(out / "checkpoint.npz")
    first = json.loads((out / "run.json").read_text())
    assert main(["train", "--resume", ckpt, "--seed", "3", "--quiet"]) == 2
    assert "seed=0 (given 3)" in capsys.readouterr().err
    assert main(["train", "--resume", ckpt, "--config", ckpt]) == 2
    assert "--config and --resume do not mix" in capsys.readouterr().err
    assert (
        main(["train", "--resume", ckpt, "--seed", "0", "--epochs", "2", "--quiet"])
        == 0
    )
    info = json.loads((out / "run.json").read_text())
    assert info["argv"][-3:] == ["--epochs", "2", "--quiet"]
    assert [s["start"] for s in info["sessions"]] == [first["start"]]
    assert info["sessions"][0]["end"] is not None


def test_a_resume_in_the_same_second_is_still_a_new_session(tmp_path):
    """Check run.json tells sessions apart by their id, not their start time (one
    second resolution): a resume that starts in the same second as the first
    run keeps the first run's record under 'sessions'; the same session
    rewriting its record (at its end) adds none."""
    from descentlab.train.run import _write_run_info

    path = tmp_path / "run.json"
    start = "2026-12-02T04:50:00+00:00"
    first = {"session": "a" * 32, "start": start, "end": None}
    _write_run_info(path, first, resumed=False)
    _write_run_info(path, {**first, "end": start}, resumed=True)
    assert "sessions" not in json.loads(path.read_text())
    second = {"session": "b" * 32, "start": start, "end": None}
    _write_run_info(path, second, resumed=True)
    info = json.loads(path.read_text())
    assert info["session"] == "b" * 32
    assert [s["session"] for s in info["sessions"]] == ["a" * 32]
    assert info["sessions"][0]["end"] == start


def test_resume_of_a_checkpoint_without_the_new_settings_keeps_per_step_schedules():
    """Check a checkpoint config written before schedule_interval existed resumes
    with the per-step stepping it was trained with."""
    cfg = validate_config({"model": "mlp", "schedule": "exp"})
    assert cfg["schedule_interval"] == "epoch"
    from descentlab.train import run as run_module

    legacy = {k: v for k, v in cfg.items() if k not in run_module.LEGACY_DEFAULTS}
    legacy = {k: v for k, v in legacy.items() if k not in ("gamma", "monitor")}
    resolved = {**run_module.LEGACY_DEFAULTS, **legacy}
    assert validate_config(resolved)["schedule_interval"] == "step"
    assert resolve_config({"model": "mlp"})["keep_best"] is True


def test_run_json_records_argv_versions_host_times_and_commit(tmp_path):
    """Check run.json of a real `descentlab train` process: its argv, Python and NumPy
    versions, BLAS info, host, start <= end, and the git commit when the package
    runs from a checkout (absent otherwise)."""
    import platform
    import socket

    import numpy as np

    from descentlab.train.runinfo import git_commit

    out = tmp_path / "r"
    argv = ["train", *TINY, "--epochs", "1", "--quiet", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "descentlab", *argv], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["argv"] == ["descentlab", *argv]
    assert info["python"] == platform.python_version()
    assert info["numpy"] == np.__version__
    assert info["host"] == socket.gethostname()
    assert info["start"] <= info["end"] and info["end"].endswith("+00:00")
    assert info.get("blas"), info
    commit = git_commit()
    assert info.get("git_commit") == commit
    if commit is not None:
        assert len(commit) == 40 and int(commit, 16) >= 0
    # a package folder outside any checkout has no commit
    assert git_commit(tmp_path / "descentlab") is None
    assert not math.isnan(json.loads((out / "result.json").read_text())["test_acc"])


def test_toml_without_tomllib_or_tomli_names_the_extra(tmp_path, monkeypatch):
    """Check that where neither tomllib (3.11+) nor tomli can be imported, a TOML
    config fails with a message naming `descentlab[toml]` and the JSON alternative,
    while a JSON config still loads."""
    from descentlab.errors import MissingDependencyError
    from descentlab.train.config_file import load_config_file

    monkeypatch.setitem(sys.modules, "tomllib", None)  # None: the import fails
    monkeypatch.setitem(sys.modules, "tomli", None)
    (tmp_path / "c.toml").write_text('model = "mlp"\n')
    with pytest.raises(MissingDependencyError, match=r"descentlab\[toml\].*JSON"):
        load_config_file(tmp_path / "c.toml")
    (tmp_path / "c.json").write_text('{"batch-size": 7}')
    assert load_config_file(tmp_path / "c.json") == {"batch_size": 7}
