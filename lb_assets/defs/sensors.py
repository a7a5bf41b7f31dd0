"""``labeling_completion_sensor``: refresh a project's datasets when its labeling completes (or progresses).

Each tick reads the declared projects (projects.yaml, re-read every tick), adds partitions for new ones,
and polls ``get_overview()`` of every declared or already-partitioned project. The cursor is JSON::

    {"projects": {pid: {"counts": {...}, "last_activity_at": iso | null, "state": "<digest of both>",
                        "complete": bool, "changed_at": iso,
                        "triggered": "<digest>" | null, "run_key": str | null, "attempt": int}},
     "skipped": {pid: "reason"}, "poll_first": [pid, ...]}

A project triggers a run (export and everything downstream) when it is complete (nothing to label, in review
or in rework, at least one done) in a state (counts and Labelbox's last activity time, which moves on label
edits too) not triggered before, or, with ``trigger: progress``, whenever its
done count moved. ``run_key = f"{pid}:{digest}"`` so one state never triggers twice, unless that run
failed or was canceled: the state is then requested again as ``f"{pid}:{digest}:{attempt}"`` (at most
``MAX_ATTEMPTS`` runs per state). A project whose overview
fails is skipped with its reason (logged and kept in the cursor); the others proceed.

Overviews are fetched concurrently (``$LB_ASSETS_SENSOR_WORKERS``, default 8, calls at a time), each with a
deadline of its own (``$LB_ASSETS_SENSOR_CALL_TIMEOUT``, default 10 s; also the HTTP timeout) within a time
budget for the tick (``$LB_ASSETS_SENSOR_TICK_BUDGET``, default 40 s, below Dagster's 60 s tick limit). A
project whose call timed out or was not reached is skipped with that reason and polled first next tick
(``poll_first``), so none starves. A call past its deadline is abandoned, not waited for: its daemon thread
ends when the SDK gives up.
"""

# No `from __future__ import annotations` here: Dagster resolves Config and resource parameters from the
# annotations at definition time.

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import dagster as dg

from lb_assets.defs.execution import execution_config
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.partitions import LABELBOX_PROJECTS, labelbox_projects
from lb_assets.projects import ProjectSettings, load_projects
from lb_assets.redact import redact_text

SENSOR_NAME = "labeling_completion_sensor"
INTERVAL_ENV = "LB_ASSETS_SENSOR_INTERVAL"
DEFAULT_INTERVAL = 30
MAX_ATTEMPTS = 3  # refreshes of one state (a failed one is requested again, then left for a new state)
_COUNT_FIELDS = ("to_label", "in_review", "in_rework", "done", "skipped", "total", "labeled")


def sensor_interval() -> int:
    """Minimum seconds between ticks: ``$LB_ASSETS_SENSOR_INTERVAL`` or 30."""
    try:
        return max(1, int(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


CALL_TIMEOUT_ENV = "LB_ASSETS_SENSOR_CALL_TIMEOUT"
TICK_BUDGET_ENV = "LB_ASSETS_SENSOR_TICK_BUDGET"
WORKERS_ENV = "LB_ASSETS_SENSOR_WORKERS"
NOT_REACHED = "not reached this tick: time budget spent"


@dataclass(frozen=True)
class PollLimits:
    """Deadlines of one tick's Labelbox calls.

    Attributes:
        call_timeout: seconds one project's overview may take (also each HTTP request's timeout).
        tick_budget: seconds all overviews of a tick may take.
        workers: overview calls in flight at a time.
    """

    call_timeout: float = 10.0
    tick_budget: float = 40.0
    workers: int = 8

    @classmethod
    def from_env(cls) -> "PollLimits":
        """``$LB_ASSETS_SENSOR_CALL_TIMEOUT``, ``$LB_ASSETS_SENSOR_TICK_BUDGET``, ``$LB_ASSETS_SENSOR_WORKERS``."""
        default = cls()
        return cls(
            call_timeout=_env_number(CALL_TIMEOUT_ENV, default.call_timeout, 0.1),
            tick_budget=_env_number(TICK_BUDGET_ENV, default.tick_budget, 0.1),
            workers=int(_env_number(WORKERS_ENV, default.workers, 1)),
        )


def _env_number(name: str, default: float, minimum: float) -> float:
    try:
        return max(minimum, float(os.environ.get(name, default)))
    except ValueError:
        return default


def _start_call(fetch: Callable[[str], Any], pid: str) -> "Future[Any]":
    """Run ``fetch(pid)`` in a daemon thread (a hanging SDK call must not hold up interpreter exit)."""
    future: "Future[Any]" = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fetch(pid))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)

    threading.Thread(target=run, name=f"{SENSOR_NAME}:{pid}", daemon=True).start()
    return future


def poll_overviews(
    fetch: Callable[[str], Any], pids: Sequence[str], limits: PollLimits
) -> tuple[dict[str, Any], dict[str, BaseException | str], list[str]]:
    """Call ``fetch(pid)`` for each pid, at most ``limits.workers`` at a time, each within its deadline.

    Calls past their deadline (or the tick's budget) are abandoned, not waited for; their slot is freed.

    Returns:
        (results by pid, failures by pid: the exception raised or a reason string,
         pids that timed out or were not reached, in ``pids`` order).
    """
    end = time.monotonic() + limits.tick_budget
    queue = list(pids)
    inflight: "dict[Future[Any], tuple[str, float]]" = {}  # future -> (pid, started)
    results: dict[str, Any] = {}
    failures: dict[str, BaseException | str] = {}
    while True:
        now = time.monotonic()
        while queue and now < end and len(inflight) < limits.workers:
            pid = queue.pop(0)
            inflight[_start_call(fetch, pid)] = (pid, now)
        if not inflight:
            break
        wake = min([end, *(started + limits.call_timeout for _, started in inflight.values())])
        wait(list(inflight), timeout=max(0.0, wake - now), return_when=FIRST_COMPLETED)
        now = time.monotonic()
        for future, (pid, started) in list(inflight.items()):
            if future.done():
                del inflight[future]
                error = future.exception()
                if error is None:
                    results[pid] = future.result()
                else:
                    failures[pid] = error
            elif now >= started + limits.call_timeout or now >= end:
                del inflight[future]
                failures[pid] = (
                    f"overview did not answer within {limits.call_timeout:g} s"
                    if now >= started + limits.call_timeout
                    else f"overview did not answer within the tick's time budget ({limits.tick_budget:g} s)"
                )
    failures.update({pid: NOT_REACHED for pid in queue})
    late = {pid for pid, why in failures.items() if isinstance(why, str)}
    return results, failures, [pid for pid in pids if pid in late]


def _poll_order(pids: list[str], poll_first: Any) -> list[str]:
    """``pids`` with last tick's timed-out and unreached projects first (round robin: none starves)."""
    first = [pid for pid in poll_first if pid in pids] if isinstance(poll_first, list) else []
    return list(dict.fromkeys([*first, *pids]))


def evaluate_projects(
    labelbox: Any,
    declared: dict[str, ProjectSettings],
    existing: list[str],
    cursor: dict[str, Any],
    log: Any,
    busy: frozenset[str] = frozenset(),
    failed_run_keys: frozenset[str] = frozenset(),
    limits: PollLimits | None = None,
) -> tuple[list[dg.RunRequest], dict[str, Any], list[str]]:
    """The decision of one tick (pure apart from the overview calls).

    Projects in ``busy`` (a run queued or in progress) are left for a later tick: two runs of one project
    would write the same export files and datasets. A project whose requested refresh ended failed or
    canceled (its run key in ``failed_run_keys``) is requested again for the same state, with a new run key.
    Overviews are fetched within ``limits`` (see ``poll_overviews``); projects that timed out or were not
    reached are skipped and polled first next tick.

    Returns:
        (run requests, new cursor, project ids to add as partitions).
    """
    previous = cursor.get("projects", {})
    projects: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    requests: list[dg.RunRequest] = []
    new_partitions = [pid for pid in declared if pid not in set(existing)]
    order = _poll_order(list(dict.fromkeys([*declared, *existing])), cursor.get("poll_first"))
    overviews, failures, late = poll_overviews(
        labelbox.get_overview, [pid for pid in order if pid not in busy], limits or PollLimits()
    )
    for pid in order:
        before = previous.get(pid, {})
        if pid in busy or pid in failures:
            skipped[pid] = (
                "run in progress (a run of this project is queued or running)"
                if pid in busy
                else _failure_reason(failures[pid], labelbox)
            )
            if pid not in busy:
                log.warning(f"{SENSOR_NAME}: skipping project {pid}: {skipped[pid]}")
            if before:
                projects[pid] = before
            continue
        settings = declared.get(pid) or ProjectSettings(project_id=pid)
        projects[pid], request = _decide(pid, settings, overviews[pid], before, failed_run_keys, log)
        if request is not None:
            requests.append(request)
    return requests, {"projects": projects, "skipped": skipped, "poll_first": late}, new_partitions


def _failure_reason(failure: BaseException | str, labelbox: Any) -> str:
    """A skipped project's reason for the log and cursor, with the API key scrubbed."""
    text = failure if isinstance(failure, str) else f"{type(failure).__name__}: {failure}"
    return redact_text(text, [getattr(labelbox, "api_key", None) or ""])


def _decide(
    pid: str,
    settings: ProjectSettings,
    overview: Any,
    before: dict[str, Any],
    failed_run_keys: frozenset[str],
    log: Any,
) -> tuple[dict[str, Any], dg.RunRequest | None]:
    """One polled project's new cursor entry and, when it is due, its refresh request."""
    counts = {name: int(getattr(overview, name, 0) or 0) for name in _COUNT_FIELDS}
    last_activity = getattr(overview, "last_activity_at", None)
    # the state: counts and last activity (label edits move only the latter)
    digest = hashlib.sha1(json.dumps([counts, last_activity], sort_keys=True).encode()).hexdigest()[:12]
    complete = bool(overview.is_complete)
    entry = {
        "counts": counts,
        "last_activity_at": last_activity,
        "state": digest,
        "complete": complete,
        "changed_at": before.get("changed_at") if before.get("state") == digest else _now(),
        "triggered": before.get("triggered"),
        "run_key": before.get("run_key"),
        "attempt": before.get("attempt", 0),
    }
    reason = _trigger_reason(settings.trigger, complete, counts, before, digest)
    attempt = 0
    if (
        not reason
        and before.get("triggered") == digest
        and before.get("run_key") in failed_run_keys
        and int(before.get("attempt", 0)) + 1 < MAX_ATTEMPTS
    ):
        attempt = int(before.get("attempt", 0)) + 1
        reason = f"its refresh {before['run_key']} failed; trying again (attempt {attempt + 1})"
    if not reason:
        return entry, None
    run_key = f"{pid}:{digest}" + (f":{attempt}" if attempt else "")
    entry.update(triggered=digest, run_key=run_key, attempt=attempt)
    log.info(f"{SENSOR_NAME}: project {pid} {reason}; requesting a refresh")
    tags = {"labelbox/project_id": pid, "labelbox/trigger": settings.trigger}
    run_config = execution_config(counts["total"])  # small projects in one process, big ones a process per step
    return entry, dg.RunRequest(partition_key=pid, run_key=run_key, tags=tags, run_config=run_config)


def _trigger_reason(trigger: str, complete: bool, counts: dict[str, int], before: dict[str, Any], digest: str) -> str:
    if before.get("triggered") == digest:
        return ""
    if complete:
        return "labeling is complete"
    if trigger == "progress" and counts["done"] > 0 and counts["done"] != before.get("counts", {}).get("done"):
        return f"labeling progressed to {counts['done']} done"
    return ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_labeling_completion_sensor(
    target: dg.AssetSelection, minimum_interval_seconds: int | None = None
) -> dg.SensorDefinition:
    """Build the completion sensor targeting ``target`` (the export and everything downstream)."""

    @dg.sensor(
        name=SENSOR_NAME,
        target=target,
        minimum_interval_seconds=minimum_interval_seconds or sensor_interval(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests a refresh of a Labelbox project's datasets when its labeling completes "
        "(or progresses, per project) and adds partitions for newly declared projects.",
    )
    def labeling_completion_sensor(context: dg.SensorEvaluationContext, labelbox: LabelboxResource) -> dg.SensorResult:
        cursor = _load_cursor(context.cursor, context.log)
        declared = load_projects()
        existing = list(context.instance.get_dynamic_partitions(LABELBOX_PROJECTS))
        busy = _busy_projects(context.instance, [*declared, *existing])
        failed = _failed_run_keys(context.instance, cursor)
        limits = PollLimits.from_env()
        requests, new_cursor, new_partitions = evaluate_projects(
            _ShortDeadlineOverviews(labelbox, limits.call_timeout),
            declared,
            existing,
            cursor,
            context.log,
            busy,
            failed,
            limits,
        )
        partition_requests = [labelbox_projects.build_add_request(new_partitions)] if new_partitions else []
        skip = None
        if not requests:
            skip = "no project completed or progressed" + _skipped_summary(new_cursor["skipped"])
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps(new_cursor, sort_keys=True),
            dynamic_partitions_requests=partition_requests,
            skip_reason=skip,
        )

    return labeling_completion_sensor


def _skipped_summary(skipped: dict[str, str], width: int = 120) -> str:
    """``"; skipped: pid (reason), ..."`` for the tick's skip reason (reasons shortened)."""
    if not skipped:
        return ""
    parts = [f"{pid} ({why if len(why) <= width else why[:width] + '...'})" for pid, why in sorted(skipped.items())]
    return "; skipped: " + ", ".join(parts)


class _ShortDeadlineOverviews:
    """The resource's ``get_overview`` with the sensor's short HTTP timeout."""

    def __init__(self, labelbox: LabelboxResource, timeout: float) -> None:
        self._labelbox = labelbox
        self._timeout = timeout
        self.api_key = labelbox.api_key  # for scrubbing reasons

    def get_overview(self, project_id: str) -> Any:
        """``labelbox.get_overview`` with each HTTP request limited to the call deadline."""
        return self._labelbox.get_overview(project_id, timeout_seconds=self._timeout)


_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _busy_projects(instance: dg.DagsterInstance, project_ids: list[str]) -> frozenset[str]:
    """Projects with a run queued or in progress (any run of their partition, from the sensor or the UI)."""
    return frozenset(
        pid
        for pid in dict.fromkeys(project_ids)
        if instance.get_runs_count(filters=dg.RunsFilter(tags={"dagster/partition": pid}, statuses=_ACTIVE))
    )


def _failed_run_keys(instance: dg.DagsterInstance, cursor: dict[str, Any]) -> frozenset[str]:
    """The cursor's requested run keys whose latest run ended FAILURE or CANCELED."""
    failed = set()
    for entry in cursor.get("projects", {}).values():
        key = entry.get("run_key") if isinstance(entry, dict) else None
        if not key:
            continue
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1)
        if runs and runs[0].status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            failed.add(key)
    return frozenset(failed)


def _load_cursor(raw: str | None, log: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        log.warning(f"{SENSOR_NAME}: unreadable cursor, starting afresh")
        return {}
    return value if isinstance(value, dict) else {}
