"""Trials left behind by killed workers: find them, mark them FAIL, queue a retry.

A worker records ``{"host", "pid", "start"}`` (user attribute ``dl_worker``) on
each trial it claims; the process that queued a trial records itself as
``dl_queued_by``. :func:`recover_orphaned_trials` (run before every claim)
handles three cases:

- Database storages with heartbeats, on any machine: Optuna's public
  ``optuna.storages.fail_stale_trials`` fails RUNNING trials whose heartbeat is
  older than the grace period and re-queues them (the storage's
  ``RetryHeartbeatStaleTrialCallback``).
- This host, any storage: a RUNNING trial whose worker process is gone (or a
  zombie; the process start time guards against a reused pid) is failed at
  once and (when descentlab queued it) re-queued as a WAITING copy with the
  same parameters, at most ``max_retry`` times (``retry_history`` in its
  system attributes, as Optuna's callback writes it).
- ``stale_after`` seconds: RUNNING trials that cannot be checked from here
  (another host's on a journal file, or no recorded worker) started longer ago
  than that are failed the same way.

WAITING trials queued by an ``optuna_search`` call on this host that is gone
are failed as never run (that call's trials are its own; see ``run_id``).
"""

from __future__ import annotations

import os
import socket
import warnings
from datetime import datetime
from typing import Any

from ._optuna_internals import fail_trial

__all__ = ["alive", "identity", "recover_orphaned_trials"]

WORKER = "dl_worker"  # user attr: who runs the trial
QUEUED_BY = "dl_queued_by"  # user attr: who queued it
RUN = "dl_run"  # user attr: id of the optuna_search call that queued it
BATCH = "dl_batch"  # user attr: name of a shared batch of configurations


def _proc_stat(pid: int) -> list[str] | None:
    """Fields after the command name in ``/proc/PID/stat`` (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_start(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def identity() -> dict[str, Any]:
    """``{"host", "pid", "start"}`` of this process."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _proc_start(pid)}


def alive(pid: Any, start: Any = None) -> bool:
    """False only when process ``pid`` on this POSIX host is certainly gone.

    A zombie (exited, not yet reaped by its parent) counts as gone, and so does
    a live process whose start time differs from ``start`` (the pid was reused).
    """
    if os.name != "posix" or not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):
        return False
    return start is None or len(fields) <= 19 or fields[19] == start


def _requeue(study: Any, ft: Any, max_retry: int) -> None:
    import optuna

    history = list(ft.system_attrs.get("retry_history", [])) + [ft.number]
    if len(history) > max_retry:
        return
    attrs = {k: v for k, v in ft.user_attrs.items() if k not in (WORKER, "error")}
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=ft.params,
            distributions=ft.distributions,
            user_attrs=attrs,
            system_attrs={
                **ft.system_attrs,
                "failed_trial": ft.system_attrs.get("failed_trial", ft.number),
                "retry_history": history,
            },
        )
    )


def recover_orphaned_trials(
    study: Any,
    *,
    stale_after: float | None = None,
    max_retry: int = 2,
    now: datetime | None = None,
) -> list[int]:
    """Fail (and re-queue) trials of killed workers; returns the failed numbers.

    Args:
        study: an ``optuna.Study``.
        stale_after: also fail RUNNING trials that cannot be checked from here and
            started more than this many seconds before ``now``.
        max_retry: how many times one trial is re-queued.
        now: the clock (default ``datetime.now()``; trial start times are local).

    Heartbeat-stale trials of database storages are failed by Optuna and not
    included in the returned list.
    """
    import optuna

    state = optuna.trial.TrialState
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    host = socket.gethostname()
    now = datetime.now() if now is None else now
    failed = []
    for ft in study.get_trials(deepcopy=False, states=(state.RUNNING, state.WAITING)):
        ua = ft.user_attrs
        key = WORKER if ft.state == state.RUNNING else QUEUED_BY
        who = ua.get(key) if isinstance(ua.get(key), dict) else {}
        local = who.get("host") == host and "pid" in who
        dead = local and not alive(who.get("pid"), who.get("start"))
        reason = None
        if ft.state == state.RUNNING:
            if dead:
                reason = f"stale: worker process {who['pid']} on {host} is gone"
            elif (
                stale_after is not None
                and not local
                and ft.datetime_start is not None
                and (now - ft.datetime_start).total_seconds() > stale_after
            ):
                reason = (
                    f"stale: still running after {stale_after:g} s "
                    "(worker presumed dead)"
                )
        elif ua.get(RUN) and dead:
            reason = (
                f"stale: queued by search process {who['pid']} on {host}, which is gone"
            )
        if reason is not None and fail_trial(study, ft, reason):
            failed.append(ft.number)
            if ft.state == state.RUNNING and (ua.get(RUN) or ua.get(BATCH)):
                _requeue(study, ft, max_retry)
    return failed
