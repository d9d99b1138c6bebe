"""Run a comparison plan into an output folder, locally (in-process or a pool).

``run_plan(plan, out)`` writes ``out/manifest.json`` first, then runs every
tuning trial, selects each cell's best setting, runs the seed reruns, and
writes ``results.json``, ``results.csv`` and the figures. Finished runs are
kept in ``out/trials/`` as they end: after Ctrl-C (:class:`Interrupted`) or a
crash, starting again on the same folder with the same settings runs only
what is missing.

The runs go to ``workers`` spawned processes, each with one BLAS thread (so
they do not fight over the cores, and a run's numbers do not depend on how
many run at once: a BLAS reduction's last bits depend on its thread count).
Only timings vary; numbers are reproduced bit for bit on the same machine
and library versions (the manifest records them).
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import numbers
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._threads import blas_threads_env
from .._validation import check_scalar
from ..errors import MissingDependencyError, OutputExistsError
from .manifest import build_manifest, write_manifest
from .plan import Plan, Task, select_best
from .protocol import run_trial
from .results import summarize, write_results
from .store import TrialStore, lock_folder
from .workloads import Workload

__all__ = ["Interrupted", "execute", "rerun", "run_plan", "run_task"]

Progress = Callable[[dict[str, Any]], Any]
#: BLAS threads of every run (recorded in the manifest).
BLAS_THREADS = 1


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a comparison; ``done`` of ``total`` runs are kept in ``out``."""

    def __init__(self, out: Path, done: int, total: int) -> None:
        super().__init__(f"interrupted: {done} of {total} runs kept in {out}")
        self.out, self.done, self.total = out, done, total


def _payload(plan: Plan, task: Task) -> tuple[Any, ...]:
    w = plan.workload(task.workload)
    return (task.key, w.to_dict(), task.optimizer, dict(task.params or {}), task.seed)


def run_task(payload: tuple[Any, ...]) -> dict[str, Any]:
    """Run one task (picklable payload from the plan) and return its record."""
    key, wdict, optimizer, params, seed = payload
    phase, _, _, index = key.split("/")
    record = run_trial(
        Workload.from_dict(wdict), optimizer, params, seed, test=phase == "seed"
    )
    return {"key": key, "phase": phase, "index": int(index), **record}


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C


def execute(
    payloads: Sequence[tuple[Any, ...]], workers: int, on_record: Callable[[dict], Any]
) -> None:
    """Run payloads in ``workers`` spawned processes with one BLAS thread each.

    Always in child processes, also for one worker: the last bits of a BLAS
    reduction depend on its thread count, and a rerun must match exactly.
    """
    if not payloads:
        return
    ctx = multiprocessing.get_context("spawn")
    with blas_threads_env(BLAS_THREADS):
        pool = ctx.Pool(min(workers, len(payloads)), initializer=_worker_init)
    try:
        for record in pool.imap_unordered(run_task, payloads):
            on_record(record)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _check_storage_support() -> None:
    """Fail now, in one line, rather than in every worker."""
    from .. import search

    if not hasattr(search, "run_configs"):
        raise MissingDependencyError(
            "compare: --storage needs descentlab.search.run_configs (shared batches "
            "of fixed runs), which this descentlab lacks; run without --storage."
        )
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "compare: --storage needs optuna: pip install 'descentlab[optuna]'"
        ) from None


def _prepare_out(
    out: Path, manifest: dict[str, Any], overwrite: bool, resume: bool
) -> bool:
    """Check ``out`` and write the manifest; True when continuing an earlier start."""
    path = out / "manifest.json"
    store = TrialStore(out)
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {}
        if old.get("settings_hash") == manifest["settings_hash"]:
            if resume:
                return True
            store.clear()
        elif not overwrite:
            raise OutputExistsError(
                f"compare: {str(out)!r} holds another comparison (different "
                "settings); choose another --out, or pass --overwrite to replace it."
            )
        else:
            store.clear()
    else:
        others = [p for p in out.iterdir() if p.name != ".lock"] if out.is_dir() else []
        if others and not overwrite:
            raise OutputExistsError(
                f"compare: output folder {str(out)!r} exists and is not empty; choose "
                "another --out or pass --overwrite to write into it."
            )
    write_manifest(path, manifest)
    return False


def run_plan(
    plan: Plan,
    out: str | Path,
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: Progress | None = None,
    rerun_of: str | None = None,
    figures: bool = True,
    resume: bool = True,
    storage: str | None = None,
    study: str | None = None,
) -> dict[str, Any]:
    """Run (or continue) ``plan`` into ``out``; return the results dict.

    ``resume=False`` starts afresh even when ``out`` holds the same comparison.
    ``storage`` (an Optuna storage URL or journal file, as for ``descentlab
    search``) shares the runs with every process that runs the same plan on
    it (see :mod:`.shared`), in the studies ``<study>-tune`` and
    ``<study>-seed`` (default study: ``compare-`` and the settings hash).

    Raises OutputExistsError when ``out`` holds other files or another
    comparison (unless ``overwrite``) or another process is writing it, and
    :class:`Interrupted` on Ctrl-C (finished runs are kept).
    """
    check_scalar(workers, "workers", numbers.Integral, min_val=1, owner="compare")
    if storage is not None:
        _check_storage_support()
    out = Path(out)
    manifest = build_manifest(plan, rerun_of=rerun_of)
    with lock_folder(out):
        _prepare_out(out, manifest, overwrite, resume)
        store = TrialStore(out)
        records: dict[str, Any] = {}
        t0 = time.perf_counter()
        total = plan.n_runs

        def on_record(record: dict[str, Any]) -> None:
            store.put(record)
            records[record["key"]] = record
            if progress is not None:
                progress(
                    {
                        "done": len(records),
                        "total": total,
                        "record": record,
                        "elapsed": time.perf_counter() - t0,
                    }
                )

        run = functools.partial(
            _phase if storage is None else _shared_phase,
            plan,
            store=store,
            records=records,
            workers=workers,
            on_record=on_record,
        )
        if storage is not None:
            study = study or f"compare-{manifest['settings_hash'][:16]}"
            run = functools.partial(run, storage=storage, study=study)
        try:
            _tune_then_rerun(plan, run, records)
        except KeyboardInterrupt:
            # counted on disk: a Ctrl-C between store.put and the bookkeeping
            # in on_record must not under-report what is kept
            raise Interrupted(out, store.count(), total) from None
        return _finish(out, plan, records, manifest["settings_hash"], figures)


def _tune_then_rerun(plan: Plan, run: Callable, records: dict[str, Any]) -> None:
    """The tuning phase, then each cell's best setting on the rerun seeds."""
    run(plan.tune_tasks())
    best = {}
    for w, o in plan.cells():
        tune = [records[f"tune/{w}/{o}/{k:03d}"] for k in range(plan.trials)]
        best[w, o] = tune[select_best(tune)]["params"]
    run(plan.seed_tasks(best))


def _finish(
    out: Path, plan: Plan, records: dict, settings_hash: str, figures: bool
) -> dict[str, Any]:
    """Summarise the runs, draw the figures, write and return the results."""
    results = summarize(plan, records)
    results["settings_hash"] = settings_hash
    results["figures"] = []
    if figures:
        from .plots import write_figures

        results["figures"] = [p.name for p in write_figures(out, plan, results)]
    write_results(out, results)
    return results


def _phase(
    plan: Plan,
    tasks: list[Task],
    *,
    store: TrialStore,
    records: dict[str, Any],
    workers: int,
    on_record: Callable[[dict], Any],
) -> None:
    pending = []
    for task in tasks:
        old = store.get(task.key)
        if old is not None and old["params"] == dict(task.params or {}):
            records[task.key] = old
        else:
            pending.append(_payload(plan, task))
    execute(pending, workers, on_record)


def rerun(
    manifest_path: str | Path,
    out: str | Path,
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: Progress | None = None,
    figures: bool = True,
    storage: str | None = None,
    study: str | None = None,
) -> dict[str, Any]:
    """Run the comparison a manifest describes into ``out`` (another folder).

    The manifest is checked first (format, descentlab version, content hash).
    When ``results.json`` lies beside the manifest, the result's ``"rerun"``
    says whether every number (timings excepted) is identical to it.
    """
    from .manifest import load_manifest
    from .results import same_numbers

    manifest_path = Path(manifest_path)
    plan, manifest = load_manifest(manifest_path)
    if Path(out).resolve() == manifest_path.parent.resolve():
        raise OutputExistsError(
            "compare: --rerun writes into another folder than the manifest's; "
            "choose another --out."
        )
    results = run_plan(
        plan,
        out,
        workers=workers,
        overwrite=overwrite,
        progress=progress,
        rerun_of=manifest["settings_hash"],
        figures=figures,
        storage=storage,
        study=study,
    )
    original = manifest_path.parent / "results.json"
    identical = None
    if original.is_file():
        old = json.loads(original.read_text(encoding="utf-8"))
        new = json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
        identical = same_numbers(old, new)
    results["rerun"] = {"of": str(manifest_path), "identical": identical}
    return results


def _shared_phase(
    plan: Plan,
    tasks: list[Task],
    *,
    store: TrialStore,
    records: dict[str, Any],
    workers: int,
    on_record: Callable[[dict], Any],
    storage: str,
    study: str,
) -> None:
    from .shared import run_shared_phase

    configs = []
    for task in tasks:
        key, wdict, optimizer, params, seed = _payload(plan, task)
        configs.append(
            {
                "key": key,
                "workload": wdict,
                "optimizer": optimizer,
                "params": params,
                "seed": seed,
            }
        )
    phase = tasks[0].phase if tasks else "none"

    def on_new(record: dict[str, Any]) -> None:
        if record["key"] not in records:
            on_record(record)

    for record in run_shared_phase(
        configs,
        storage=storage,
        study=f"{study}-{phase}",
        out=store.folder.parent,
        workers=workers,
        on_new=on_new,
    ):
        records[record["key"]] = record
