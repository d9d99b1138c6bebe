"""Run a comparison's runs through an Optuna storage shared by many processes.

Each phase of the plan (the tuning trials, then the seed reruns) is one fixed
batch of configurations handed to :func:`descentlab.search.run_configs` on
the study ``compare-<settings hash>-<phase>``: every process (on any machine)
that runs the same comparison with the same ``--storage`` joins the batch,
each run is claimed by exactly one worker, and every process ends with all
the records. The seed batch is decided from the tuning records read back from
the storage, so every process derives the same one.

Each local worker is a spawned process with one BLAS thread that joins the
batch itself, so a run's numbers are the same as in a local comparison. Its
finished runs are also written to ``out/trials/`` as they end (the progress
line counts them); runs finished elsewhere arrive when the batch completes.
Ctrl-C stops the local workers; a killed worker's run is re-queued by the
storage's recovery and the same command continues the batch.
"""

from __future__ import annotations

import math
import multiprocessing
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._threads import blas_threads_env
from ..errors import DescentlabError
from .runner import BLAS_THREADS, run_task
from .store import TrialStore

__all__ = ["decode", "encode", "run_shared_phase", "storage_objective"]

_INF = "__nonfinite__"


def encode(obj: Any) -> Any:
    """JSON-safe copy: inf/-inf/NaN become ``{"__nonfinite__": "inf"}`` etc."""
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return {_INF: repr(obj)}
    return obj


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(obj, dict):
        if set(obj) == {_INF}:
            return float(obj[_INF])
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def storage_objective(config: dict[str, Any], report: Any = None) -> dict[str, Any]:
    """The batch objective: one run; value = final validation accuracy (0 if NaN)."""
    payload = (
        config["key"],
        config["workload"],
        config["optimizer"],
        config["params"],
        config["seed"],
    )
    record = run_task(payload)
    acc = record["final_val_acc"]
    return {"value": acc if math.isfinite(acc) else 0.0, "record": encode(record)}


def _child(args: tuple[Any, ...]) -> list[tuple[str, Any, str]]:
    configs, storage, study, out = args
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    from ..search import run_configs

    store = TrialStore(out)

    def on_trial(res: Any) -> None:
        if res.status == "complete":
            store.put(decode(res.result["record"]))

    results = run_configs(
        "descentlab.compare.shared:storage_objective",
        configs,
        storage=storage,
        study_name=study,
        direction="maximize",
        n_workers=1,
        wait=True,
        on_trial=on_trial,
    )
    return [(r.status, r.result, r.error) for r in results]


def run_shared_phase(
    configs: list[dict[str, Any]],
    *,
    storage: str,
    study: str,
    out: Path,
    workers: int,
    on_new: Callable[[dict[str, Any]], Any],
) -> list[dict[str, Any]]:
    """Run one batch with ``workers`` local processes; return every record.

    ``on_new`` is called with each record that appears in ``out/trials`` while
    the batch runs. Raises DescentlabError naming a run that failed.
    """
    store = TrialStore(out)
    keys = [c["key"] for c in configs]
    seen = {k for k in keys if store.get(k) is not None}
    ctx = multiprocessing.get_context("spawn")
    with blas_threads_env(BLAS_THREADS):
        pool = ctx.Pool(workers)
    try:
        pending = [
            pool.apply_async(_child, ((configs, storage, study, out),))
            for _ in range(workers)
        ]
        while not all(p.ready() for p in pending):
            time.sleep(0.2)
            for k in keys:
                if k not in seen and (record := store.get(k)) is not None:
                    seen.add(k)
                    on_new(record)
        outcomes = pending[0].get()
        for p in pending[1:]:
            p.get()  # raise a child's error
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    records = []
    for key, (status, result, error) in zip(keys, outcomes, strict=True):
        if status != "complete":
            raise DescentlabError(
                f"compare: run {key} is {status} in study {study!r}"
                + (f" ({error})" if error else "")
                + "; rerun the same command to retry it."
            )
        record = decode(result["record"])
        if key not in seen:
            store.put(record)
            on_new(record)
        records.append(record)
    return records
