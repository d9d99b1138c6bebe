"""`descentlab search`: tiny Optuna and random searches, --summary, errors, joining."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from descentlab.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--samples", "100", "--epochs", "1", "--trials", "3", "--quiet"]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _is_png(path):
    return Path(path).read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def optuna():
    return pytest.importorskip("optuna")


@pytest.fixture(scope="module")
def study_dir(optuna, tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "run"
    assert main(["search", *TINY, "--out", str(out)]) == 0
    return out


def test_optuna_search_writes_table_and_figures(study_dir, capsys):
    """Check that a tiny Optuna search writes 3 trials, both PNGs and the journal."""
    rows = _rows(study_dir / "trials.csv")
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert {r["status"] for r in rows} <= {"complete", "pruned"}
    assert all(0.0 <= float(r["val_acc"]) <= 1.0 for r in rows if r["val_acc"])
    assert set(rows[0]) >= {"lr", "weight_decay", "val_acc"}
    assert (study_dir / "optuna.journal").is_file()
    assert _is_png(study_dir / "trials.png") and _is_png(study_dir / "best.png")
    meta = json.loads((study_dir / "trials.json").read_text())["meta"]
    assert meta == {"kind": "optuna", "study_name": "descentlab"}


def test_ctrl_c_exits_130_with_how_to_continue(optuna, tmp_path, capsys, monkeypatch):
    """Check Ctrl-C during `search` exits 130 and says how to continue or summarise."""
    from descentlab.search import cli as search_cli

    monkeypatch.setattr(
        search_cli, "_objective", lambda args: "search_objectives:interrupts"
    )
    out = tmp_path / "cut"
    assert main(["search", *TINY, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted: study 'descentlab' keeps every finished trial" in err
    assert f"--summary --out {out}" in err
    monkeypatch.undo()
    assert main(["search", "--summary", "--out", str(out)]) == 0
    assert "1 failed, 2 not run" in capsys.readouterr().out


def test_summary_prints_best_trials(study_dir, capsys):
    """Check that --summary prints the study's counts and its best trials, runs none."""
    (study_dir / "trials.png").unlink()
    assert main(["search", "--summary", "--top", "2", "--out", str(study_dir)]) == 0
    text = capsys.readouterr().out
    assert "study 'descentlab' (maximize): 3 trials" in text
    ranks = [line.split() for line in text.splitlines() if line.strip()[:1] in "12"]
    assert [r[0] for r in ranks] == ["1", "2"]
    assert len(_rows(study_dir / "trials.csv")) == 3  # no trial was run
    assert _is_png(study_dir / "trials.png")


def test_same_study_continues_in_its_folder(study_dir, tmp_path, capsys):
    """Check that a second run of a study may write into its non-empty folder without
    --overwrite (numbering goes on), while another study or folder is refused."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(study_dir, out)
    assert main(["search", *TINY, "--trials", "2", "--out", str(out)]) == 0
    assert [int(r["number"]) for r in _rows(out / "trials.csv")] == list(range(5))
    assert "study 'descentlab': 5 trials" in capsys.readouterr().out
    assert main(["search", *TINY, "--study", "other", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not the folder of study 'other'" in err
    assert len(err.splitlines()) == 1
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    for extra in ([], ["--random-search"]):
        assert main(["search", *TINY, *extra, "--out", str(stray)]) == 2
        assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in stray.iterdir()) == ["notes.txt"]


def test_random_search_rounds(tmp_path, capsys):
    """Check that --random-search runs R rounds of N trials with narrowed ranges."""
    out = tmp_path / "rs"
    args = ["search", "--random-search", "--rounds", "2", *TINY, "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "round 0: lr in [1e-06, 0.01], weight_decay in [1e-08, 0.0001]" in text
    assert "round 1: lr in" in text and "best val_acc" in text
    data = json.loads((out / "trials.json").read_text())
    assert [t["round"] for t in data["trials"]] == [0, 0, 0, 1, 1, 1]
    assert len(data["spaces"]) == 2 and data["meta"]["kind"] == "rounds"
    assert _is_png(out / "trials.png") and _is_png(out / "best.png")
    assert not (out / "optuna.journal").exists()
    assert main(args) == 2  # never joins: the folder is not empty now
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--space", "lr=log:1:0"], "'lo' must be less than 'hi'"),
        (["--space", "lr=gauss:1:2"], "must start with one of 'log:'"),
        (["--space", "lr"], "must have the form NAME=SPEC"),
        (["--space", "momentum=uniform:0:1"], "cannot tune 'momentum'"),
        (["--trials", "0"], "'--trials' must be an int in [1, inf]. Got 0."),
        (["--random-search", "--workers", "2"], "does not use --workers"),
        (["--rounds", "2"], "only --random-search uses --rounds"),
        (["--keep", "1.5", "--random-search"], "'--keep' must be a float in (0, 1]"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, match):
    """Check that bad specs and options exit 2 with one 'error:' line and no folder."""
    out = tmp_path / "never"
    assert main(["search", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert match in err
    assert not out.exists()


def test_missing_optuna_suggests_random_search(tmp_path, capsys, monkeypatch):
    """Check that without optuna the search exits 1 with the pip line and a
    --random-search hint, and that --random-search still works."""
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["search", *TINY, "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err.strip()
    pip = "error: optuna is not installed: pip install 'descentlab[optuna]'"
    assert err.startswith(pip)
    assert "--random-search" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a").exists()
    assert main(["search", "--summary", "--out", str(tmp_path / "a")]) == 1
    capsys.readouterr()
    argv = [
        "search",
        "--random-search",
        "--rounds",
        "1",
        *TINY,
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(argv) == 0
    assert len(_rows(tmp_path / "b" / "trials.csv")) == 3


def test_help_documents_the_output_folder_rule(capsys):
    """Check that `search --help` explains the --out rule for joining a study."""
    with pytest.raises(SystemExit) as exc:
        main(["search", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "refuses an existing non-empty --out unless --overwrite" in text
    assert "holds the storage file it uses" in text and "--sampler-seed" in text
    assert "lr=log:1e-6:1e-2" in text and "--random-search never joins" in text


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def test_subprocess_bad_space_one_line_exit_2(tmp_path):
    """Check `python -m descentlab.cli search` with a bad spec: exit 2, one line."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "descentlab.cli",
            "search",
            "--space",
            "lr=log:x:1",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: parse_space:")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_two_processes_join_one_journal(optuna, tmp_path):
    """Check that two concurrent `descentlab search` processes on one journal and study
    finish 3 + 3 trials with distinct numbers 0..5, 3 per process."""
    shared = tmp_path / "shared"
    journal = shared / "optuna.journal"
    base = [
        sys.executable,
        "-m",
        "descentlab.cli",
        "search",
        *TINY,
        "--pruner",
        "none",
        "--study",
        "joint",
    ]
    cmds = [
        [*base, "--out", str(shared), "--sampler-seed", "1"],
        [
            *base,
            "--out",
            str(tmp_path / "b"),
            "--storage",
            str(journal),
            "--sampler-seed",
            "2",
        ],
    ]
    procs = [
        subprocess.Popen(
            c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
        )
        for c in cmds
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    from descentlab.search import load_study

    study = load_study(journal, "joint")
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(6))
    assert {t.state.name for t in trials} == {"COMPLETE"}
    pids = [t.user_attrs["dl_worker"]["pid"] for t in trials]
    assert sorted(pids.count(p) for p in set(pids)) == [3, 3]
    assert len(_rows(tmp_path / "b" / "trials.csv")) >= 3
