"""`descentlab compare`: a fair optimizer comparison (or a rerun of one)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from .common import UsageError, add_common


def _names(text: str) -> list[str]:
    return [v.strip().lower() for v in text.split(",") if v.strip()]


def _items(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..compare import DEFAULT_OPTIMIZERS, DEFAULT_WORKLOADS

    c = sub.add_parser(
        "compare",
        help="compare optimizers fairly: equal tuning budgets, seeds, profiles",
        description=(
            "Tune every optimizer with the same number of quasi-random trials "
            "(shared points in shared dimensions) on each workload, rerun each "
            "one's best setting on fresh seeds, and write results.csv/json, "
            "manifest.json and figures. Running again with the same --out "
            "continues an interrupted comparison."
        ),
    )
    c.add_argument(
        "--optimizers",
        type=_names,
        default=None,
        help=f"comma-separated (default: {','.join(DEFAULT_OPTIMIZERS)})",
    )
    c.add_argument(
        "--workloads",
        type=_items,
        default=None,
        help=(
            f"comma-separated names (default: {','.join(DEFAULT_WORKLOADS)}; see "
            "--list) or paths of workload .json files"
        ),
    )
    c.add_argument(
        "--trials",
        type=int,
        default=None,
        help="tuning trials per optimizer (default 6)",
    )
    c.add_argument(
        "--seeds", type=int, default=None, help="seed reruns of each best (default 3)"
    )
    c.add_argument(
        "--workers", type=int, default=1, help="parallel worker processes (default 1)"
    )
    c.add_argument(
        "--storage",
        default=None,
        help=(
            "Optuna storage (journal file or database URL, as for `search`) shared "
            "by every process that runs the same comparison on it (needs optuna)"
        ),
    )
    c.add_argument(
        "--study",
        default=None,
        help="study name prefix in --storage (default: compare-<settings hash>)",
    )
    c.add_argument(
        "--rerun",
        metavar="MANIFEST",
        default=None,
        help="rerun the comparison of DIR/manifest.json into --out",
    )
    c.add_argument(
        "--list", action="store_true", help="list workloads and search spaces"
    )
    c.add_argument("--quiet", action="store_true", help="no progress line")
    add_common(c, "runs/compare")


def _list() -> int:
    from ..compare import SPACES, WORKLOADS, available_workloads

    ready = set(available_workloads())
    print("workloads:")
    for name, w in WORKLOADS.items():
        note = "" if name in ready else "  [data not downloaded]"
        print(f"  {name:15s} {w.summary()}{note}")
    print("search spaces (shared axis in brackets):")
    for opt, dims in SPACES.items():
        text = ", ".join(
            f"{d.name} [{d.axis}] {d.lo:g}..{d.hi:g} {d.scale}" for d in dims
        )
        print(f"  {opt:9s} {text}")
    return 0


class _Progress:
    """One status line: rewritten in place on a terminal, every 5% otherwise."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.tty = stream, stream.isatty()
        self.last = -1

    def __call__(self, event: dict[str, Any]) -> None:
        done, total, r = event["done"], event["total"], event["record"]
        elapsed = event["elapsed"]
        left = elapsed / max(done, 1) * (total - done)
        what = (
            f"{r['phase']} {r['optimizer']} on {r['workload']} #{r['index'] + 1}: "
            f"val acc {r['final_val_acc']:.3f}"
        )
        line = (
            f"compare: {done}/{total} runs, {_clock(elapsed)} elapsed, "
            f"~{_clock(left)} left ({what})"
        )
        if self.tty:
            self.stream.write("\r\033[K" + line[:150])
        elif done * 20 // total != self.last or done == total:
            self.last = done * 20 // total
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def _fmt_range(st: dict[str, Any], digits: int = 3) -> str:
    med, lo, hi = st["median"], st["min"], st["max"]
    if not math.isfinite(med) and math.isnan(med):
        return "-"
    if lo == hi:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _fmt_steps(st: dict[str, Any]) -> str:
    def one(v: float) -> str:
        return "never" if math.isinf(v) else f"{v:.0f}"

    if st["min"] == st["max"]:
        return one(st["median"])
    return f"{one(st['median'])} [{one(st['min'])}, {one(st['max'])}]"


def print_table(results: dict[str, Any], stream: Any = None) -> None:
    from ..compare.plots import optimizer_label, params_text

    stream = sys.stdout if stream is None else stream
    for w in results["workloads"]:
        print(f"{w}:", file=stream)
        head = ("optimizer", "best setting", "val acc", "test acc", "steps to target")
        rows = [head]
        for c in results["cells"]:
            if c["workload"] != w:
                continue
            reached = f" ({c['reached']}/{len(c['seeds'])})"
            rows.append(
                (
                    optimizer_label(c["optimizer"]),
                    params_text(c["best_params"]),
                    _fmt_range(c["val_acc"]),
                    _fmt_range(c["test_acc"]),
                    _fmt_steps(c["steps_to_target"]) + reached,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for r in rows:
            print(
                "  " + "  ".join(v.ljust(n) for v, n in zip(r, widths, strict=True)),
                file=stream,
            )
    prof = results["profile"]
    rho = prof["rho"]
    taus = prof["taus"]
    print(
        "performance profile (share of workloads reached within tau x the fastest):",
        file=stream,
    )
    for o in results["optimizers"]:
        marks = [f"tau={t:g}: {rho[o][taus.index(t)]:.2f}" for t in (1.0, 2.0, 4.0)]
        print(f"  {optimizer_label(o):9s} " + ", ".join(marks), file=stream)


def run(a: argparse.Namespace) -> int:
    from ..compare import Interrupted

    if a.list:
        return _list()
    if a.workers < 1:
        raise UsageError(f"--workers must be at least 1. Got {a.workers}.")
    progress = None if a.quiet else _Progress(sys.stderr)
    t0 = time.perf_counter()
    try:
        results = _rerun(a, progress) if a.rerun is not None else _compare(a, progress)
    except Interrupted as exc:
        if progress is not None:
            progress.end()
        print(
            f"error: interrupted; {exc.done} of {exc.total} runs are kept in "
            f"{exc.out}; run the same command again to continue.",
            file=sys.stderr,
        )
        return 130
    if progress is not None:
        progress.end()
    print_table(results)
    print(f"compare: {time.perf_counter() - t0:.1f} s -> {a.out}")
    return _report_rerun_check(results.get("rerun"))


def _rerun(a: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """--rerun MANIFEST: the manifest's comparison again, into --out."""
    from ..compare import rerun

    given = [
        f"--{k}"
        for k in ("optimizers", "workloads", "trials", "seeds")
        if getattr(a, k) is not None
    ]
    if given:
        raise UsageError(
            f"--rerun takes every setting from the manifest; drop {', '.join(given)}."
        )
    return rerun(a.rerun, a.out, **_run_options(a, progress))


def _compare(a: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """A new (or continued) comparison from the flags, into --out."""
    from ..compare import DEFAULT_OPTIMIZERS, DEFAULT_WORKLOADS, make_plan, run_plan

    plan = make_plan(
        a.optimizers or list(DEFAULT_OPTIMIZERS),
        a.workloads or list(DEFAULT_WORKLOADS),
        trials=6 if a.trials is None else a.trials,
        seeds=3 if a.seeds is None else a.seeds,
        seed=a.seed,
    )
    return run_plan(plan, a.out, **_run_options(a, progress))


def _run_options(a: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """The keyword arguments ``rerun`` and ``run_plan`` share."""
    return {
        "workers": a.workers,
        "overwrite": a.overwrite,
        "progress": progress,
        "storage": a.storage,
        "study": a.study,
    }


def _report_rerun_check(check: dict[str, Any] | None) -> int:
    """Print how a rerun compares with the original; 1 if its numbers differ."""
    if check is not None:
        if check["identical"] is None:
            print("rerun: no results.json beside the manifest to compare with")
        elif check["identical"]:
            print("rerun: every number equals the original's (timings excluded)")
        else:
            print("rerun: numbers DIFFER from the original's results.json")
            return 1
    return 0
