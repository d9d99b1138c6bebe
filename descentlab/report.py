"""The HTML report: every experiment's figures, key numbers, formula and explanation.

``run_report(size="quick", out="descentlab-report")`` runs the experiments one by
one into ``out/<name>/`` and writes ``out/index.html``: one self-contained page
(inline CSS, no scripts, no external URLs) that works offline. A failing
experiment is recorded in its section and counted; it does not stop the others.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import __version__, experiments
from .errors import OutputExistsError
from .experiments.api import check_size, fmt, to_jsonable
from .io import atomic_write_json, atomic_write_text, check_output_dir
from .terminal import is_live, live_line

__all__ = ["OutputExistsError", "build_report", "run_report"]


_CSS = """
:root { --fg: #1b1b1b; --muted: #5a5a5a; --line: #d9d9d9; --accent: #0072B2;
        --bad: #b00020; --bg-alt: #f6f7f9; }
* { box-sizing: border-box; }
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.9rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.4rem; border-bottom: 2px solid var(--accent); padding-bottom: 0.2rem;
     margin-top: 2.8rem; }
a { color: var(--accent); }
.meta, .time { color: var(--muted); font-size: 0.92rem; }
nav ol { columns: 2; padding-left: 1.6rem; }
pre.formula { background: var(--bg-alt); border-left: 4px solid var(--accent);
              padding: 0.6rem 0.9rem; white-space: pre-wrap; font-size: 0.95rem; }
figure { margin: 1.2rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.6rem; text-align: right; }
th { background: var(--bg-alt); }
td:first-child, th:first-child { text-align: left; }
.table-wrap { overflow-x: auto; }
.failed { color: var(--bad); font-weight: bold; }
.banner { background: var(--bg-alt); border-left: 4px solid var(--accent);
          padding: 0.5rem 1rem; margin: 1rem 0; font-size: 0.95rem; }
.banner p { margin: 0.4rem 0; }
.budget { color: var(--muted); font-size: 0.92rem; }
#takeaways ul { padding-left: 1.4rem; }
#takeaways li { margin: 0.3rem 0; }
caption { caption-side: top; text-align: left; color: var(--muted);
          font-size: 0.9rem; padding-bottom: 0.3rem; }
pre.error { background: #fff0f0; border-left: 4px solid var(--bad); padding: 0.6rem;
            white-space: pre-wrap; font-size: 0.85rem; }
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table_html(rows: list[dict], caption: str | None = None) -> str:
    rows = [r for r in rows if isinstance(r, Mapping)]
    if not rows:
        return ""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{_esc(fmt(to_jsonable(r.get(c))))}</td>" for c in columns)
        + "</tr>\n"
        for r in rows
    )
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}</tbody></table></div>\n"
    )


def _describe(name: str, result: Mapping) -> tuple[str, str, str]:
    """TITLE, FORMULA, EXPLANATION from the result dict or else the module."""
    module = None
    try:
        module = experiments.get(name)
    except Exception:  # a fake or broken module still gets a section
        module = None

    def pick(key: str, attr: str, default: str) -> Any:
        return result.get(key) or getattr(module, attr, None) or default

    return (
        str(pick("title", "TITLE", name)),
        str(pick("formula", "FORMULA", "")),
        str(pick("explanation", "EXPLANATION", "")),
    )


def _figure_src(fig: str, result: Mapping, out: Path) -> tuple[str, Path]:
    """(relative URL for <img src>, absolute file path) of one figure."""
    path = Path(fig)
    if not path.is_absolute():
        path = Path(result.get("out") or out) / path
    path = path.resolve()
    rel = os.path.relpath(path, out.resolve())
    return Path(rel).as_posix(), path


def _alt(title: str, fig_path: Path) -> str:
    return f"{title}: {fig_path.stem.replace('_', ' ')}"


def _mapping(result: Mapping, key: str) -> Mapping:
    value = result.get(key)
    return value if isinstance(value, Mapping) else {}


def _paragraphs(text: Any) -> str:
    """Plain text (a string or a list of strings) as escaped <p> paragraphs."""
    items = text if isinstance(text, (list, tuple)) else str(text).split("\n\n")
    return "\n".join(f"<p>{_esc(t)}</p>" for t in items if str(t).strip())


def _tables_by_place(result: Mapping, figures: list[str]) -> dict[str | None, list]:
    """{figure (or None = end of section): [html of each table placed after it]}."""
    placed: dict[str | None, list] = {}
    main_after = result.get("table_after")
    main_after = main_after if main_after in figures else None
    main = _table_html(list(result.get("table") or []), result.get("table_caption"))
    if main:
        placed.setdefault(main_after, []).append(main)
    for t in result.get("tables") or []:
        if not isinstance(t, Mapping):
            continue
        after = t.get("after") if t.get("after") in figures else None
        block = _table_html(list(t.get("rows") or []), t.get("caption"))
        if block:
            placed.setdefault(after, []).append(block)
    return placed


def _section(index: int, name: str, result: Mapping, out: Path) -> str:
    title, formula, explanation = _describe(name, result)
    parts = [
        f'<section id="exp-{_esc(name)}">',
        f"<h2>{index}. {_esc(title)} <small>(<code>{_esc(name)}</code>)</small></h2>",
    ]
    budget = _mapping(result, "budget")
    if budget:
        parts.append(
            '<p class="budget">This run: '
            + "; ".join(f"{_esc(k)} {_esc(fmt(v))}" for k, v in budget.items())
            + "</p>"
        )
    if formula:
        parts.append(f'<pre class="formula">{_esc(formula)}</pre>')
    if explanation:
        parts.append(_paragraphs(explanation))
    if result.get("error"):
        parts.append(
            f'<p class="failed">This experiment failed: {_esc(result["error"])}</p>'
        )
        if result.get("traceback"):
            parts.append(f'<pre class="error">{_esc(result["traceback"])}</pre>')
    captions, texts = _mapping(result, "captions"), _mapping(result, "texts")
    figures = [str(f) for f in result.get("figures") or []]
    tables = _tables_by_place(result, figures)
    for k, fig in enumerate(figures, start=1):
        if texts.get(fig):
            parts.append(_paragraphs(texts[fig]))
        src, path = _figure_src(fig, result, out)
        caption = captions.get(fig)
        alt = caption or _alt(title, path)
        parts.append(
            f'<figure id="fig-{index}-{k}"><img src="{_esc(src)}" alt="{_esc(alt)}">'
            f"<figcaption><b>Figure {index}.{k}.</b> {_esc(caption or path.name)}"
            "</figcaption></figure>"
        )
        parts.extend(tables.get(fig, []))
    parts.extend(tables.get(None, []))
    seconds = result.get("seconds")
    if isinstance(seconds, (int, float)):
        parts.append(f'<p class="time">Time: {seconds:.1f} s</p>')
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _figure_numbers(items: list[tuple[str, Mapping]]) -> dict[tuple[str, str], str]:
    """{(experiment, figure path): "i.k"} as the page numbers its figures."""
    numbers_: dict[tuple[str, str], str] = {}
    for i, (name, r) in enumerate(items, start=1):
        for k, fig in enumerate(r.get("figures") or [], start=1):
            numbers_[(name, str(fig))] = f"{i}.{k}"
    return numbers_


def _takeaways_html(items: list[tuple[str, Mapping]]) -> str:
    lines = []
    for name, r in items:
        for t in r.get("takeaways") or []:
            title = _describe(name, r)[0]
            lines.append(
                f'<li>{_esc(t)} <a href="#exp-{_esc(name)}">({_esc(title)})</a></li>'
            )
    if not lines:
        return ""
    return (
        '<section id="takeaways">\n<h2>What to take away</h2>\n<ul>\n'
        + "\n".join(lines)
        + "\n</ul>\n</section>"
    )


def _book_map_html(items: list[tuple[str, Mapping]]) -> str:
    """Table: the book's figure -> this page's figure, from each "book_figures"."""
    numbers_ = _figure_numbers(items)
    rows = []
    for name, r in items:
        for entry in r.get("book_figures") or []:
            if not isinstance(entry, Mapping):
                continue
            fig = str(entry.get("figure", ""))
            here = numbers_.get((name, fig))
            if here is None:
                continue
            idx = here.replace(".", "-")
            rows.append(
                f"<tr><td>{_esc(entry.get('book', ''))}</td>"
                f'<td><a href="#fig-{idx}">Figure {here}</a></td>'
                f"<td>{_esc(entry.get('note', ''))}</td></tr>"
            )
    if not rows:
        return ""
    return (
        '<section id="book-figures">\n<h2>The book\'s figures on this page</h2>\n'
        '<div class="table-wrap"><table>\n<thead><tr><th>book (Deep Learning from '
        "Scratch)</th><th>this page</th><th>what differs</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table></div>\n</section>"
    )


def _banner_html(items: list[tuple[str, Mapping]], info: Mapping[str, Any]) -> str:
    size = info.get("size")
    what = (
        "quick size: small budgets so that the whole page runs in minutes on a "
        "laptop; numbers are noisier than at full size"
        if size == "quick"
        else "full size: the book-scale budgets"
        if size == "full"
        else ""
    )
    rows = []
    for name, r in items:
        budget = _mapping(r, "budget")
        if budget:
            text = "; ".join(f"{k} {fmt(v)}" for k, v in budget.items())
            rows.append(
                f'<li><a href="#exp-{_esc(name)}">{_esc(name)}</a>: {_esc(text)}</li>'
            )
    head = " · ".join(f"{_esc(k)} <b>{_esc(v)}</b>" for k, v in info.items())
    return (
        '<aside class="banner" role="note">\n'
        f"<p>{head}{' — ' + _esc(what) if what else ''}.</p>\n"
        + (
            "<details><summary>Budgets of this run (digits, epochs, steps, seeds)"
            f"</summary><ul>\n{chr(10).join(rows)}\n</ul></details>\n"
            if rows
            else ""
        )
        + "<p>Every number in the text is formatted from this run's own results. "
        "For the same optimizers moving live under your hands, run "
        "<code>descentlab playground</code> (the interactive companion of this "
        "page).</p>\n</aside>"
    )


def _toc_html(items: list[tuple[str, Mapping]]) -> str:
    """The contents list: one linked title per experiment, failures marked."""
    return "\n".join(
        f'<li><a href="#exp-{_esc(n)}">{_esc(_describe(n, r)[0])}</a>'
        + (' <span class="failed">(failed)</span>' if r.get("error") else "")
        + "</li>"
        for n, r in items
    )


def _summary_rows(
    items: list[tuple[str, Mapping]], failures: int, total: float
) -> list[dict[str, Any]]:
    """The time-per-experiment table: one row per experiment and a total."""
    summary = [
        {
            "#": i,
            "experiment": n,
            "status": "failed" if r.get("error") else "ok",
            "figures": len(r.get("figures") or []),
            "seconds": round(float(r.get("seconds") or 0.0), 1),
        }
        for i, (n, r) in enumerate(items, start=1)
    ]
    summary.append(
        {
            "#": "",
            "experiment": "total",
            "status": f"{failures} failed",
            "figures": sum(int(row["figures"]) for row in summary),
            "seconds": round(total, 1),
        }
    )
    return summary


def build_report(
    results: Mapping[str, Mapping],
    out: str | Path,
    *,
    title: str = "descentlab experiment report",
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<out>/index.html`` for ``results`` (name -> result dict); return it.

    Each result follows the experiment contract (``descentlab.experiments``,
    whose docstring lists the optional keys the page renders: captions, texts,
    tables, budget, takeaways, book_figures); a failed one has ``"error"`` (and
    optionally ``"traceback"``) instead of figures. ``"title"``, ``"formula"``
    and ``"explanation"`` keys override the module's TITLE/FORMULA/EXPLANATION.
    Figure paths are made relative to ``out`` so the folder can be moved or
    opened offline. ``info`` (size, seed...) goes into the banner.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = list(results.items())
    failures = sum(1 for _, r in items if r.get("error"))
    total = sum(float(r.get("seconds") or 0.0) for _, r in items)
    meta = {
        **(info or {}),
        "experiments": f"{len(items)} ({failures} failed)",
        "total time": f"{total:.1f} s",
    }
    toc = _toc_html(items)
    summary = _summary_rows(items, failures, total)
    sections = "\n\n".join(_section(i, n, r, out) for i, (n, r) in enumerate(items, 1))
    generated = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{_esc(title)}</h1>
<p class="meta">descentlab {_esc(__version__)} · generated {_esc(generated)}</p>
{_banner_html(items, meta)}
</header>
{_takeaways_html(items)}
<nav aria-label="Contents">
<h2>Contents</h2>
<ol>
{toc}
</ol>
</nav>
{_book_map_html(items)}
<main>
{sections}
<section id="summary">
<h2>Time per experiment</h2>
{_table_html(summary)}
</section>
</main>
</body>
</html>
"""
    path = out / "index.html"
    atomic_write_text(path, page)
    return path


@contextlib.contextmanager
def _ctrl_c_noted() -> Iterator[dict[str, bool]]:
    """Ctrl-C raises KeyboardInterrupt as usual and is also remembered, so that one
    Python swallows (it cannot leave a finalizer or weakref callback) still stops."""
    seen = {"ctrl_c": False}
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield seen  # not ours to change (another thread, or SIGINT ignored/handled)
        return

    def handler(signum, frame):
        seen["ctrl_c"] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_one(
    name: str, size: str, seed: int, out: Path, prefix: str, live: bool
) -> tuple[dict, str]:
    """(result, status suffix) of one experiment; a failure or Ctrl-C becomes a
    result with ``error`` (and ``interrupted``) instead of an exception."""
    try:
        with live_line(prefix, live=True) if live else contextlib.nullcontext():
            result = dict(experiments.run(name, size=size, seed=seed, out=out / name))
        result.setdefault("out", str((out / name).resolve()))
        return result, ""
    except KeyboardInterrupt:  # write the report of what finished, then stop
        return {
            "name": name,
            "error": "interrupted (Ctrl-C); the report stops here",
            "figures": [],
            "table": [],
            "interrupted": True,
        }, "  INTERRUPTED"
    except Exception as exc:  # one failure must not stop the report
        return {
            "name": name,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "figures": [],
            "table": [],
        }, f"  FAILED: {type(exc).__name__}: {exc}"


def _write_status(
    out: Path, size: str, seed: int, failures: int, interrupted: bool, results: dict
) -> None:
    """``out/report.json``: each experiment's status and time."""
    atomic_write_json(
        out / "report.json",
        {
            "size": size,
            "seed": seed,
            "failures": failures,
            "interrupted": interrupted,
            "experiments": [
                {
                    "name": n,
                    "ok": not r.get("error"),
                    "seconds": r["seconds"],
                    "error": r.get("error"),
                }
                for n, r in results.items()
            ],
        },
    )


def _say_times(say: Callable, results: dict, index: Path, failures: int) -> None:
    """The time per experiment, the total and where the report is."""
    total = sum(r["seconds"] for r in results.values())
    say("time per experiment:")
    for name, r in results.items():
        flag = (
            "  INTERRUPTED"
            if r.get("interrupted")
            else "  FAILED"
            if r.get("error")
            else ""
        )
        say(f"  {name:<24s} {r['seconds']:8.1f} s{flag}")
    say(f"  {'total':<24s} {total:8.1f} s")
    say(f"report: {index}" + (f"  ({failures} failed)" if failures else ""))


def run_report(
    size: str = "quick",
    seed: int = 0,
    out: str | Path = "descentlab-report",
    overwrite: bool = False,
    names: Iterable[str] | None = None,
    progress: Callable[[str], Any] | None = print,
    live: bool | None = None,
) -> int:
    """Run experiments into ``out/<name>/`` and write ``out/index.html``.

    Args:
        size: "quick" or "full", passed to every experiment.
        seed: passed to every experiment.
        out: report folder; refused if it exists and is not empty, unless ``overwrite``.
        overwrite: write into a non-empty ``out`` (files are replaced, none deleted).
        names: experiments to run (default: all, in registry order).
        progress: called with one line per finished experiment, e.g.
            ``"[ 3/13] optimizers_mnist ... 12.3 s"``, and with a time summary at
            the end; None for silence.
        live: show the running experiment and what it is doing on a line of
            stdout that is rewritten in place (default: when ``progress`` is
            ``print`` and stdout is a terminal).

    Returns:
        The number of failed experiments (0 when all succeeded). The report is
        at ``out/index.html`` either way; ``out/report.json`` lists each
        experiment's status and time. On Ctrl-C the report of the experiments
        finished so far is written, then KeyboardInterrupt is raised.

    Raises:
        OutputExistsError: ``out`` is non-empty and ``overwrite`` is False.
        InvalidParameterError: bad ``size`` or an unknown experiment name.
    """
    check_size(size)
    chosen = experiments.names() if names is None else list(names)
    for name in chosen:
        if name not in experiments.EXPERIMENTS:
            experiments.get(name)  # raises with the list of valid names
    out = check_output_dir(out, overwrite, owner="report")
    say = progress or (lambda _line: None)
    if live is None:
        live = progress is print and is_live(sys.stdout)
    results: dict[str, dict] = {}
    width = len(str(len(chosen)))
    interrupted = False
    with _ctrl_c_noted() as noted:
        for i, name in enumerate(chosen, start=1):
            t0 = time.perf_counter()
            prefix = f"[{i:{width}d}/{len(chosen)}] {name} ..."
            result, status = _run_one(name, size, seed, out, prefix, live)
            interrupted = bool(result.get("interrupted"))
            result["seconds"] = time.perf_counter() - t0
            results[name] = result
            seconds = result["seconds"]
            say(f"{prefix} {seconds:.1f} s{status}")
            if interrupted or noted["ctrl_c"]:
                interrupted = True
                break
    failures = sum(1 for r in results.values() if r.get("error"))
    index = build_report(results, out, info={"size": size, "seed": seed})
    _write_status(out, size, seed, failures, interrupted, results)
    _say_times(say, results, index, failures)
    if interrupted:
        raise KeyboardInterrupt  # after the partial report is written
    return failures
