"""The command line as a user meets it, in real processes: help, --debug anywhere,
`run` without a name, --only lists, one-line warnings, a progress line that fits
the terminal."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from descentlab.terminal import LiveLine, fit, fit_parts, is_live

TINY = ["--model", "mlp", "--hidden", "8", "--n-train", "200", "--n-val", "50"]


def _cli(*argv, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "descentlab", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_train_help_has_description_examples_defaults_and_short_usage():
    """Check `train --help`: a description, an examples epilog, help and a default on
    every flag, and a usage that names no optimizer or schedule."""
    done = _cli("train", "--help", env={"COLUMNS": "100"})
    assert done.returncode == 0
    text = done.stdout
    usage = text.split("\n\n")[0]
    assert "adagrad" not in usage and "warmup-cosine" not in usage
    assert "[--optimizer NAME]" in usage and "[--schedule NAME]" in usage
    assert "examples:" in text and "descentlab train --resume" in text
    assert "Train a model on MNIST" in text
    assert re.search(
        r"--activation NAME\s+MLP activation: relu.*\(default: relu\)", text
    )
    # every option line has help text (no flag stands alone on its line)
    options = [ln for ln in text.splitlines() if re.match(r"^  --?\w", ln)]
    assert len(options) > 30
    for ln in options:
        flag_only = re.fullmatch(r"\s+(-\w, )?--[\w-]+( [A-Z|,.\w]+)?", ln)
        if flag_only:  # long flags put their help on the next line
            nxt = text.splitlines()[text.splitlines().index(ln) + 1]
            assert nxt.startswith(" " * 20) and nxt.strip(), ln
    assert "(default: 5)" in text and "(default: adam)" in text
    # --resume documents what it honours
    assert "It honours --epochs" in text and "--seed" in text


def test_top_level_help_documents_the_environment():
    """Check the top-level help names DESCENTLAB_DATA and DESCENTLAB_BACKEND."""
    done = _cli("--help")
    assert done.returncode == 0
    assert "DESCENTLAB_DATA" in done.stdout and "DESCENTLAB_BACKEND" in done.stdout


def test_debug_is_accepted_after_the_subcommand_and_shows_the_traceback():
    """Check `--debug` after the subcommand parses, and that it adds the traceback
    to the one `error:` line that a plain run prints."""
    plain = _cli("train", "--epochs", "0", "--out", "unused")
    assert plain.returncode == 2
    assert plain.stderr.startswith("error: ") and plain.stderr.count("\n") == 1
    for argv in (
        ["train", "--epochs", "0", "--debug"],
        ["--debug", "train", "--epochs", "0"],
    ):
        done = _cli(*argv, "--out", "unused")
        assert done.returncode == 2, done.stderr
        assert "Traceback (most recent call last)" in done.stderr
        assert done.stderr.rstrip().splitlines()[-1] == plain.stderr.rstrip()


def test_run_without_a_name_is_an_error_with_the_list():
    """Check `descentlab run` alone exits 2 with an `error:` line, then the names."""
    done = _cli("run")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: run: missing the experiment NAME")
    assert [ln.split()[0] for ln in lines[1:]][:2] == ["paths", "adagrad_step"]
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["run", "report"])
def test_quick_and_full_are_one_choice_in_run_and_report(command):
    """Check `run` and `report` both take --quick (the default) and --full, and
    refuse the two together in one error line."""
    helped = _cli(command, "--help", env={"COLUMNS": "100"})
    assert "--quick" in helped.stdout and "--full" in helped.stdout
    done = _cli(command, "--quick", "--full")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: argument --full: not allowed with argument --quick "
        f"(see `descentlab {command} --help`)"
    ]


@pytest.mark.parametrize(
    "argv, valid",
    [(["report", "--only"], "schedules"), (["bench", "--only"], "conv_forward")],
)
def test_only_lists_the_valid_names_in_help_and_on_a_bad_name(argv, valid):
    """Check `--only` names the valid choices in --help and when given a bad one."""
    helped = _cli(argv[0], "--help", env={"COLUMNS": "200"})
    assert valid in helped.stdout
    bad = _cli(*argv, "nosuch")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "'nosuch'" in bad.stderr
    assert valid in bad.stderr and bad.stderr.count("\n") == 1


_WARN = textwrap.dedent(
    """
    import sys, types, warnings
    from descentlab import cli

    mod = types.ModuleType("descentlab.cli.warner")
    mod.add_parser = lambda sub: sub.add_parser("warner")
    def run(args):
        warnings.warn("the sky is\\n falling", RuntimeWarning)
        return 0
    mod.run = run
    sys.modules["descentlab.cli.warner"] = mod
    cli.COMMANDS["warner"] = ".warner"
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_warnings_reach_the_terminal_as_one_warning_line(tmp_path):
    """Check a warning raised in a command is printed as one `warning:` line (no
    file:line or source), and with --debug says where it came from."""
    script = tmp_path / "warner.py"
    script.write_text(_WARN)
    done = subprocess.run(
        [sys.executable, str(script), "warner"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stderr == "warning: the sky is falling\n"
    debug = subprocess.run(
        [sys.executable, str(script), "warner", "--debug"],
        capture_output=True,
        text=True,
    )
    assert debug.stderr.startswith("warning: the sky is falling [RuntimeWarning at ")
    assert debug.stderr.count("\n") == 1


def _read_pty(master):
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child has closed its side
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def _rows(screen_text):
    """The texts a terminal would draw, split at \\r and \\n, escapes removed."""
    plain = screen_text.replace("\x1b[K", "")
    return [r for r in re.split(r"[\r\n]", plain) if r]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("columns", [60, 100])
def test_progress_line_fits_the_terminal_width_on_a_tty(tmp_path, columns):
    """Check, on a real pseudo-terminal `columns` wide, that every progress line of
    `descentlab train` is shorter than the width (so it never wraps) and still shows
    the epoch and the loss."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab", "train", *TINY, "--epochs", "2"]
        + ["--batch-size", "10", "--out", str(tmp_path / "r")],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    shown = _read_pty(master)
    os.close(master)
    assert proc.wait(timeout=120) == 0, shown
    epochs = [r for r in _rows(shown) if r.startswith("Epoch ")]
    assert any(r.startswith("Epoch 2/2") and "val_loss" in r for r in epochs), shown
    assert all(len(r) <= columns - 1 for r in epochs), shown
    assert all("loss " in r for r in epochs)
    if columns >= 100:  # room for everything: the bar and the rate are kept
        assert any("[=" in r and "img/s" in r for r in epochs), shown


def test_progress_is_plain_lines_in_a_pipe_and_on_a_dumb_terminal(tmp_path):
    """Check that with stderr in a pipe there is one line per epoch and no escape
    codes or carriage returns; TERM=dumb is not a live terminal either."""
    done = _cli(
        "train", *TINY, "--epochs", "2", "--out", str(tmp_path / "r"), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert [ln.split("  ")[0] for ln in done.stderr.splitlines()] == [
        "Epoch 1/2",
        "Epoch 2/2",
    ]

    class FakeTTY:
        def isatty(self):
            return True

    os.environ["TERM"] = "dumb"
    try:
        assert not is_live(FakeTTY())
    finally:
        os.environ["TERM"] = "xterm"
    assert is_live(FakeTTY())


def test_fit_and_live_line_never_exceed_the_width(monkeypatch):
    """Check fit() cuts to width-1 with '...', fit_parts() drops the least important
    parts first and keeps order, and LiveLine rewrites in place within the width."""
    import io

    assert fit("abcdefghij", 8) == "abcd..." and fit("abc", 8) == "abc"
    parts = [(0, "Epoch 1/9"), (6, "999 img/s"), (1, "loss 0.1234"), (5, "lr 1e-3")]
    assert fit_parts(parts, 80) == "Epoch 1/9  999 img/s  loss 0.1234  lr 1e-3"
    assert fit_parts(parts, 36) == "Epoch 1/9  loss 0.1234  lr 1e-3"
    assert fit_parts(parts, 25) == "Epoch 1/9  loss 0.1234"
    monkeypatch.setenv("COLUMNS", "30")
    out = io.StringIO()
    line = LiveLine(out, live=True)
    line.show("x" * 100)
    line.show("short")
    line.clear()
    assert out.getvalue() == (
        "\r" + "x" * 26 + "...\x1b[K" + "\rshort\x1b[K" + "\r\x1b[K"
    )
    quiet = io.StringIO()
    LiveLine(quiet).show("anything")  # a StringIO is not a terminal
    assert quiet.getvalue() == ""
