"""Tests for the HTML report, the experiment registry and the shared helpers."""

import json
import sys
import time
import types
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from descentlab import experiments
from descentlab.errors import InvalidParameterError
from descentlab.experiments import _common
from descentlab.experiments.api import fmt
from descentlab.report import OutputExistsError, build_report, run_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GUIDE_ORDER = [
    "paths",
    "adagrad_step",
    "optimizers_mnist",
    "init_activations",
    "init_mnist",
    "batchnorm",
    "regularization",
    "hyperparameter_search",
    "schedules",
    "vanishing_gradients",
    "cnn",
    "architectures",
    "weight_sensitivity",
    "lr_range_test",
    "loss_landscape",
    "edge_of_stability",
    "optimizer_choice",
]
EVIL = '<script>alert("x")</script> & a<b'
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}


class _Collector(HTMLParser):
    """Collect <img> attributes and check that non-void tags are balanced."""

    def __init__(self):
        super().__init__()
        self.imgs, self.stack, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))
        elif tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def _parse(html_text):
    parser = _Collector()
    parser.feed(html_text)
    parser.close()
    return parser


def _fake_module(
    name, n_figures=1, fail=False, title="Fake experiment", interrupt=False
):
    """A module that follows the experiment contract, drawing tiny PNGs."""
    mod = types.ModuleType(f"_fake_exp_{name}")
    mod.TITLE = title
    mod.FORMULA = "loss = x^2 < 1 & y > 0"
    mod.EXPLANATION = f"Explains {name}: " + EVIL

    def run(size="quick", seed=0, out=None):
        if fail:
            raise RuntimeError(f"{name} exploded <on purpose>")
        if interrupt:
            raise KeyboardInterrupt
        t0 = 0.0  # no clock in tests: the fake's "seconds" is meaningless and unchecked
        out = _common.prepare_out(out, name)
        _common.status(f"{name} half done")
        figures = []
        for k in range(n_figures):
            with _common.plot_style() as plt:
                fig, ax = plt.subplots(figsize=(2, 1.5))
                ax.plot([0, 1], [k, 1 - k], color=_common.color("adam"))
                figures.append(_common.save_figure(fig, out, f"{name}_{k}"))
        return _common.make_result(
            name,
            out,
            t0,
            figures,
            [{"metric": "acc", "value": 0.5 + k} for k in range(2)],
            captions={f"{name}_0.png": f"Caption of {name} <0>"},
            texts={f"{name}_{n_figures - 1}.png": f"Text before {name}'s last figure"},
            tables=[
                {
                    "after": f"{name}_0.png",
                    "caption": f"{name} side table",
                    "rows": [{"k": "lr", "v": 0.125}],
                }
            ],
            budget={"digits": 300, "seeds": 3},
            takeaways=[f"{name} takes away 42"],
            book_figures=[{"book": "Fig. 6-9 (p. 178)", "figure": f"{name}_0.png"}],
            size=size,
            seed=seed,
        )

    mod.run = run
    return mod


@pytest.fixture
def fake_registry(monkeypatch):
    mods = {
        "alpha": _fake_module("alpha", 2, title=EVIL),
        "broken": _fake_module("broken", fail=True),
        "gamma": _fake_module("gamma", 1),
    }
    for _name, mod in mods.items():
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(
        experiments, "EXPERIMENTS", {name: mod.__name__ for name, mod in mods.items()}
    )
    return mods


# ------------------------------------------------------------------ build_report


def test_build_report_references_every_figure(tmp_path, fake_registry):
    """Check that index.html shows every figure, each file exists and is a PNG."""
    results = {
        n: experiments.run(n, out=tmp_path / "runs" / n) for n in ("alpha", "gamma")
    }
    report_dir = tmp_path / "report"
    index = build_report(results, report_dir)
    assert index == report_dir / "index.html"
    text = index.read_text(encoding="utf-8")
    parser = _parse(text)
    assert not parser.errors and not parser.stack
    srcs = [img["src"] for img in parser.imgs]
    assert len(srcs) == 3
    assert parser.imgs[0]["alt"] == "Caption of alpha <0>"
    assert "<b>Figure 1.1.</b> Caption of alpha &lt;0&gt;</figcaption>" in text
    for img in parser.imgs:
        assert img.get("alt")
        path = (report_dir / img["src"]).resolve()
        assert path.is_file() and path.read_bytes()[:8] == PNG_MAGIC
        assert not Path(img["src"]).is_absolute()
    for result in results.values():
        for fig in result["figures"]:
            assert any(src.endswith(fig) for src in srcs)


def test_report_html_is_offline_valid_and_escaped(tmp_path, fake_registry):
    """Check HTML5 doctype, no external URLs, and that titles/text are escaped."""
    results = {"alpha": experiments.run("alpha", out=tmp_path / "alpha")}
    text = build_report(results, tmp_path).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in text and '<meta charset="utf-8">' in text
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; a&lt;b" in text
    assert "loss = x^2 &lt; 1 &amp; y &gt; 0" in text
    assert 'id="exp-alpha"' in text and 'href="#exp-alpha"' in text
    assert "Time per experiment" in text


def test_report_table_shows_key_numbers(tmp_path, fake_registry):
    """Check that the result table rows appear as an HTML table."""
    results = {"gamma": experiments.run("gamma", out=tmp_path / "gamma")}
    text = build_report(results, tmp_path).read_text(encoding="utf-8")
    assert "<th>metric</th>" in text and "<td>1.5</td>" in text


def test_report_places_texts_tables_takeaways_banner_and_book_map(
    tmp_path, fake_registry
):
    """Check the optional result keys: each lands where the contract says."""
    results = {
        n: experiments.run(n, out=tmp_path / "runs" / n) for n in ("alpha", "gamma")
    }
    text = build_report(results, tmp_path / "rep", info={"size": "quick"}).read_text(
        encoding="utf-8"
    )
    assert not _parse(text).errors
    # the text of a figure comes right before it, a side table right after it
    before = text.index("<p>Text before alpha&#x27;s last figure</p>")
    assert text.index('src="../runs/alpha/alpha_0.png"') < before
    assert before < text.index('src="../runs/alpha/alpha_1.png"')
    side = text.index("<caption>alpha side table</caption>")
    assert text.index("Figure 1.1.") < side < text.index("Figure 1.2.")
    assert "<td>0.125</td>" in text[side:]
    # banner with size and each experiment's budget; takeaways open the page
    banner = text[text.index('<aside class="banner"') : text.index("</aside>")]
    assert "size <b>quick</b>" in banner and "digits 300; seeds 3" in banner
    assert "descentlab playground" in banner
    takeaways = text.index('<section id="takeaways">')
    assert takeaways < text.index("<nav")
    assert text.count("takes away 42") == 2
    # the book's figure maps to this page's figure number, with a working anchor
    assert '<a href="#fig-2-1">Figure 2.1</a>' in text
    assert 'id="fig-2-1"' in text


# ------------------------------------------------------------------ run_report


def test_run_report_survives_a_failing_experiment(tmp_path, fake_registry):
    """Check a failing experiment is reported, counted, and does not stop the others."""
    lines = []
    out = tmp_path / "rep"
    failures = run_report(
        out=out, names=["alpha", "broken", "gamma"], progress=lines.append
    )
    assert failures == 1
    assert lines[0].startswith("[1/3] alpha ... ") and lines[0].endswith(" s")
    assert lines[1].startswith("[2/3] broken ... ") and "FAILED" in lines[1]
    assert lines[2].startswith("[3/3] gamma ... ")
    assert any(line.strip().startswith("total") for line in lines)
    text = (out / "index.html").read_text(encoding="utf-8")
    assert (
        "This experiment failed: RuntimeError: broken exploded &lt;on purpose&gt;"
    ) in text
    assert (out / "gamma" / "gamma_0.png").is_file()
    assert (out / "alpha" / "alpha.json").is_file()
    parser = _parse(text)
    assert not parser.errors
    for img in parser.imgs:
        assert (out / img["src"]).is_file()
    summary = json.loads((out / "report.json").read_text())
    assert summary["failures"] == 1
    assert [e["ok"] for e in summary["experiments"]] == [True, False, True]


def test_run_report_refuses_non_empty_out(tmp_path, fake_registry):
    """Check that a non-empty output folder is refused unless overwrite=True."""
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_report(out=out, names=["gamma"], progress=None)
    assert issubclass(OutputExistsError, FileExistsError)
    assert run_report(out=out, names=["gamma"], progress=None, overwrite=True) == 0
    assert (out / "keep.txt").read_text() == "old"
    assert (out / "index.html").is_file()


def test_run_report_live_line_shows_status_then_the_result(
    tmp_path, fake_registry, capsys
):
    """Check live=True rewrites one status line, then prints each time."""
    lines = []
    assert (
        run_report(
            out=tmp_path / "r",
            names=["alpha", "gamma"],
            progress=lines.append,
            live=True,
        )
        == 0
    )
    shown = capsys.readouterr().out
    clear = "\r\x1b[K"
    # each status is drawn from the line start, then the rest of the row is erased
    assert "\r[1/2] alpha ... alpha half done\x1b[K" in shown
    assert "\r[2/2] gamma ... gamma half done\x1b[K" in shown
    assert shown.endswith(clear)  # the live line is cleared before the result line
    assert lines[0].startswith("[1/2] alpha ... ") and lines[0].endswith(" s")
    assert (
        run_report(
            out=tmp_path / "q", names=["gamma"], progress=lines.append, live=False
        )
        == 0
    )
    assert capsys.readouterr().out == ""  # not a terminal: nothing but progress lines


def test_ctrl_c_writes_the_report_of_what_finished_then_raises(tmp_path, monkeypatch):
    """Check an interrupt mid-report writes index.html for the finished experiments,
    marks the interrupted one, skips the rest, then raises KeyboardInterrupt."""
    mods = {
        "alpha": _fake_module("alpha"),
        "stop": _fake_module("stop", interrupt=True),
        "gamma": _fake_module("gamma"),
    }
    for mod in mods.values():
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(
        experiments, "EXPERIMENTS", {n: m.__name__ for n, m in mods.items()}
    )
    lines = []
    with pytest.raises(KeyboardInterrupt):
        run_report(out=tmp_path / "r", progress=lines.append, live=False)
    summary = json.loads((tmp_path / "r" / "report.json").read_text())
    assert summary["interrupted"] is True
    assert [(e["name"], e["ok"]) for e in summary["experiments"]] == [
        ("alpha", True),
        ("stop", False),
    ]
    text = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "alpha_0.png" in text and "interrupted (Ctrl-C)" in text
    assert not (tmp_path / "r" / "gamma").exists()
    assert any("stop ..." in line and "INTERRUPTED" in line for line in lines)


def test_a_swallowed_ctrl_c_still_stops_the_report(
    tmp_path, monkeypatch, sigint_default
):
    """Check a Ctrl-C that an experiment swallows (as Python does inside a finalizer)
    still ends the report after that experiment, with its result kept."""
    import os
    import signal

    def swallowing_run(size="quick", seed=0, out=None):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the handler runs here
        except KeyboardInterrupt:
            pass
        return gamma_run(size=size, seed=seed, out=out)

    mods = {"beta": _fake_module("beta"), "gamma": _fake_module("gamma")}
    gamma_run = mods["gamma"].run
    mods["beta"].run = swallowing_run
    for mod in mods.values():
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(
        experiments, "EXPERIMENTS", {n: m.__name__ for n, m in mods.items()}
    )
    with pytest.raises(KeyboardInterrupt):
        run_report(out=tmp_path / "r", progress=None, live=False)
    summary = json.loads((tmp_path / "r" / "report.json").read_text())
    assert summary["interrupted"] and [e["name"] for e in summary["experiments"]] == [
        "beta"
    ]
    assert summary["experiments"][0]["ok"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_status_reaches_the_innermost_listener_only_while_listening():
    """Check status() is a no-op without listeners and goes to the innermost one."""
    outer, inner = [], []
    _common.status("nobody hears this")
    with _common.status_to(outer.append):
        _common.status("a")
        with _common.status_to(inner.append):
            _common.status("b")
        _common.status("c")
    _common.status("d")
    assert outer == ["a", "c"] and inner == ["b"]


def test_epoch_status_callback_reports_each_epoch():
    """Check EpochStatus says '<label>: epoch e/E done' after each epoch."""
    from descentlab.models import MLP
    from descentlab.nn import SoftmaxCrossEntropy
    from descentlab.optim import SGD
    from descentlab.train import Trainer

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 3, 20)
    model = MLP((4, 5, 3), seed=0)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.1),
        callbacks=[_common.EpochStatus("tiny")],
        verbose=0,
    )
    seen = []
    with _common.status_to(seen.append):
        trainer.fit((x, y), epochs=3, batch_size=10)
    assert seen == [f"tiny: epoch {e}/3 done" for e in (1, 2, 3)]


def test_run_report_empty_existing_dir_is_fine(tmp_path, fake_registry):
    """Check that an existing but empty folder is accepted without overwrite."""
    out = tmp_path / "empty"
    out.mkdir()
    assert run_report(out=out, names=["gamma"], progress=None) == 0


def test_run_report_rejects_unknown_names_and_sizes(tmp_path, fake_registry):
    """Check bad names and sizes fail before anything is written."""
    with pytest.raises(InvalidParameterError, match="alpha, broken, gamma"):
        run_report(out=tmp_path / "a", names=["nope"], progress=None)
    with pytest.raises(InvalidParameterError, match="size"):
        run_report(size="huge", out=tmp_path / "b", names=["gamma"], progress=None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_run_report_with_a_real_experiment(tmp_path):
    """Check a real experiment through the report: figures, captions, its numbers."""
    out = tmp_path / "rep"
    assert run_report(out=out, names=["adagrad_step"], progress=None) == 0
    result = json.loads((out / "adagrad_step" / "adagrad_step.json").read_text())
    text = (out / "index.html").read_text(encoding="utf-8")
    for fig in result["figures"]:
        assert f'src="adagrad_step/{fig}"' in text
    for row in result["table"]:
        for value in row.values():
            assert f"<td>{fmt(value)}</td>" in text or f"<td>{value}</td>" in text


# ------------------------------------------------------------------ registry


def test_registry_order_and_lazy_get():
    """Check the names in report order and the unknown-name error."""
    assert list(experiments.EXPERIMENTS) == GUIDE_ORDER
    assert experiments.names() == GUIDE_ORDER
    for key, value in experiments.EXPERIMENTS.items():
        assert value == f"descentlab.experiments.{key}"
    with pytest.raises(InvalidParameterError, match="paths, adagrad_step, optimizers"):
        experiments.get("pathz")
    mod = experiments.get("paths")
    assert isinstance(mod.TITLE, str) and isinstance(mod.FORMULA, str)
    assert isinstance(mod.EXPLANATION, str) and callable(mod.run)


# ------------------------------------------------------------------ _common helpers


def test_check_size():
    """Check that only "quick" and "full" are accepted."""
    assert _common.check_size("quick") == "quick"
    assert _common.check_size("full") == "full"
    with pytest.raises(InvalidParameterError, match="'quick', 'full'"):
        _common.check_size("fast")


def test_smooth_trailing_mean():
    """Check the trailing moving average against a direct loop."""
    v = np.random.default_rng(0).normal(size=23)
    s = _common.smooth(v, 5)
    expected = [v[max(0, i - 4) : i + 1].mean() for i in range(len(v))]
    assert np.allclose(s, expected)
    assert np.allclose(_common.smooth(v, 1), v)
    with pytest.raises(InvalidParameterError, match="window"):
        _common.smooth(v, 0)


def test_save_results_is_plain_json(tmp_path):
    """Check arrays, numpy scalars and NaN become JSON lists, numbers and null."""
    path = _common.save_results(
        tmp_path,
        "x",
        {
            "a": np.arange(3),
            "b": np.float32(1.5),
            "c": float("nan"),
            "d": (1, np.inf),
            "e": {"f": np.array([[1.0]])},
            "p": tmp_path / "f.png",
        },
    )
    data = json.loads(path.read_text())
    assert data == {
        "a": [0, 1, 2],
        "b": 1.5,
        "c": None,
        "d": [1, None],
        "e": {"f": [[1.0]]},
        "p": (tmp_path / "f.png").as_posix(),
    }
    with pytest.raises(TypeError, match="object"):
        _common.save_results(tmp_path, "y", {"bad": object()})


def test_optimizer_colors_are_fixed_and_distinct():
    """Check one distinct colour per optimizer name, case-insensitive."""
    names = [
        "sgd",
        "momentum",
        "nesterov",
        "adagrad",
        "rmsprop",
        "adam",
        "adamw",
        "nadam",
        "lion",
    ]
    colors = [_common.color(n) for n in names]
    assert len(set(colors)) == len(names)
    assert _common.color("Adam") == _common.color("adam")


def test_prepare_out_default_and_file_clash(tmp_path, monkeypatch):
    """Check the default ./descentlab-out/<name> folder and refusal of a file path."""
    monkeypatch.chdir(tmp_path)
    assert _common.prepare_out(None, "demo") == Path("descentlab-out") / "demo"
    assert (tmp_path / "descentlab-out" / "demo").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidParameterError, match="folder"):
        _common.prepare_out(tmp_path / "f", "demo")


def test_experiment_decorator_checks_size_and_seed_and_makes_the_folder(tmp_path):
    """Check the shared run() skeleton: validation, folder, size/seed in the result."""
    seen = {}

    @_common.experiment("toy")
    def run(r):
        """Toy experiment."""
        seen["run"] = r
        return r.result([], [{"a": 1}], answer=42)

    with pytest.raises(InvalidParameterError, match="size"):
        run("huge")
    with pytest.raises(InvalidParameterError, match="seed"):
        run("quick", seed=-1)
    result = run("quick", seed=3, out=tmp_path / "toy")
    assert seen["run"].out == tmp_path / "toy" and (tmp_path / "toy").is_dir()
    assert (result["size"], result["seed"], result["answer"]) == ("quick", 3, 42)
    saved = json.loads((tmp_path / "toy" / "toy.json").read_text())
    assert saved["answer"] == 42 and run.__doc__ == "Toy experiment."
