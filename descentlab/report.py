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
import shutil
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
from .experiments._common import check_size, status_to, to_jsonable
from .io import atomic_write_json, atomic_write_text, check_output_dir

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
pre.error { background: #fff0f0; border-left: 4px solid var(--bad); padding: 0.6rem;
            white-space: pre-wrap; font-size: 0.85rem; }
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


def _table_html(rows: list[dict]) -> str:
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
        + "".join(f"<td>{_esc(_fmt(to_jsonable(r.get(c))))}</td>" for c in columns)
        + "</tr>\n"
        for r in rows
    )
    return (
        f'<div class="table-wrap"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}</tbody></table></div>\n"
    )


def _describe(name: str, result: Mapping) -> tuple[str, str, str]:
    """TITLE, FORMULA, EXPLANATION from the result dict or else the module."""
    module = None
    try:
        module = experiments.get(name)
    except Exception:  # noqa: BLE001  (a fake or broken module still gets a section)
        module = None
    pick = lambda key, attr, default: (
        result.get(key) or getattr(module, attr, None) or default
    )
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


def _section(index: int, name: str, result: Mapping, out: Path) -> str:
    title, formula, explanation = _describe(name, result)
    parts = [
        f'<section id="exp-{_esc(name)}">',
        f"<h2>{index}. {_esc(title)} <small>(<code>{_esc(name)}</code>)</small></h2>",
    ]
    if formula:
        parts.append(f'<pre class="formula">{_esc(formula)}</pre>')
    if explanation:
        parts.append(f"<p>{_esc(explanation)}</p>")
    if result.get("error"):
        parts.append(
            f'<p class="failed">This experiment failed: {_esc(result["error"])}</p>'
        )
        if result.get("traceback"):
            parts.append(f'<pre class="error">{_esc(result["traceback"])}</pre>')
    captions = result.get("captions") or {}
    for k, fig in enumerate(result.get("figures") or [], start=1):
        src, path = _figure_src(str(fig), result, out)
        caption = captions.get(str(fig)) if isinstance(captions, Mapping) else None
        alt = caption or _alt(title, path)
        parts.append(
            f'<figure><img src="{_esc(src)}" alt="{_esc(alt)}" loading="lazy">'
            f"<figcaption>Figure {index}.{k}: {_esc(caption or path.name)}"
            "</figcaption></figure>"
        )
    parts.append(_table_html(list(result.get("table") or [])))
    seconds = result.get("seconds")
    if isinstance(seconds, (int, float)):
        parts.append(f'<p class="time">Time: {seconds:.1f} s</p>')
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def build_report(
    results: Mapping[str, Mapping],
    out: str | Path,
    *,
    title: str = "descentlab experiment report",
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<out>/index.html`` for ``results`` (name -> result dict); return it.

    Each result follows the experiment contract (``descentlab.experiments``);
    a failed one has ``"error"`` (and optionally ``"traceback"``) instead of
    figures. An optional ``"captions"`` dict maps a figure path (as listed in
    ``"figures"``) to its caption and alt text; ``"title"``, ``"formula"`` and
    ``"explanation"`` keys override the module's TITLE/FORMULA/EXPLANATION.
    Figure paths are made relative to ``out`` so the folder can be moved or
    opened offline. ``info`` adds key/value lines (size, seed...) to the header.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = list(results.items())
    failures = sum(1 for _, r in items if r.get("error"))
    total = sum(float(r.get("seconds") or 0.0) for _, r in items)
    meta = {
        "descentlab": __version__,
        "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        **(info or {}),
        "experiments": f"{len(items)} ({failures} failed)",
        "total time": f"{total:.1f} s",
    }
    toc = "\n".join(
        f'<li><a href="#exp-{_esc(n)}">{_esc(_describe(n, r)[0])}</a>'
        + (' <span class="failed">(failed)</span>' if r.get("error") else "")
        + "</li>"
        for n, r in items
    )
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
            "figures": sum(row["figures"] for row in summary),
            "seconds": round(total, 1),
        }
    )
    sections = "\n\n".join(_section(i, n, r, out) for i, (n, r) in enumerate(items, 1))
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
<p class="meta">{" · ".join(f"{_esc(k)}: {_esc(v)}" for k, v in meta.items())}</p>
</header>
<nav aria-label="Contents">
<h2>Contents</h2>
<ol>
{toc}
</ol>
</nav>
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
def live_line(prefix: str, stream: Any = None) -> Iterator[None]:
    """Keep ``prefix`` plus the running experiment's latest ``status`` text on one
    terminal line (rewritten in place with ``\\r``), and clear it at the end."""
    stream = sys.stdout if stream is None else stream
    width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)

    def show(text: str) -> None:
        stream.write("\r\033[K" + f"{prefix} {text}".rstrip()[:width])
        stream.flush()

    show("")
    try:
        with status_to(show):
            yield
    finally:
        stream.write("\r\033[K")
        stream.flush()


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
        live = progress is print and sys.stdout.isatty()
    results: dict[str, dict] = {}
    width = len(str(len(chosen)))
    interrupted = False
    with _ctrl_c_noted() as noted:
        for i, name in enumerate(chosen, start=1):
            t0 = time.perf_counter()
            prefix = f"[{i:{width}d}/{len(chosen)}] {name} ..."
            try:
                with live_line(prefix) if live else contextlib.nullcontext():
                    result = dict(
                        experiments.run(name, size=size, seed=seed, out=out / name)
                    )
                result.setdefault("out", str((out / name).resolve()))
                status = ""
            except KeyboardInterrupt:  # write the report of what finished, then stop
                interrupted = True
                result = {
                    "name": name,
                    "error": "interrupted (Ctrl-C); the report stops here",
                    "figures": [],
                    "table": [],
                    "interrupted": True,
                }
                status = "  INTERRUPTED"
            except Exception as exc:  # noqa: BLE001  (one failure must not stop the report)
                result = {
                    "name": name,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                    "figures": [],
                    "table": [],
                }
                status = f"  FAILED: {type(exc).__name__}: {exc}"
            result["seconds"] = time.perf_counter() - t0
            results[name] = result
            seconds = result["seconds"]
            say(f"{prefix} {seconds:.1f} s{status}")
            if interrupted or noted["ctrl_c"]:
                interrupted = True
                break
    failures = sum(1 for r in results.values() if r.get("error"))
    index = build_report(results, out, info={"size": size, "seed": seed})
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
    if interrupted:
        raise KeyboardInterrupt  # after the partial report is written
    return failures
