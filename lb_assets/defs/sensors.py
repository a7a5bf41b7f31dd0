"""``labeling_completion_sensor``: refresh a project's datasets when its labeling completes (or progresses).

Each tick reads the declared projects (projects.yaml, re-read every tick), adds partitions for new ones,
and polls ``get_overview()`` of every declared or already-partitioned project. The cursor is JSON::

    {"projects": {pid: {"counts": {...}, "last_activity_at": iso | null, "state": "<digest of both>",
                        "complete": bool, "changed_at": iso,
                        "triggered": "<digest>" | null, "run_key": str | null, "attempt": int}},
     "skipped": {pid: "reason"}}

A project triggers a run (export and everything downstream) when it is complete (nothing to label, in review
or in rework, at least one done) in a state (counts and Labelbox's last activity time, which moves on label
edits too) not triggered before, or, with ``trigger: progress``, whenever its
done count moved. ``run_key = f"{pid}:{digest}"`` so one state never triggers twice, unless that run
failed or was canceled: the state is then requested again as ``f"{pid}:{digest}:{attempt}"`` (at most
``MAX_ATTEMPTS`` runs per state). A project whose overview
fails is skipped with its reason (logged and kept in the cursor); the others proceed.
"""

# No `from __future__ import annotations` here: Dagster resolves Config and resource parameters from the
# annotations at definition time.

import hashlib
import json
import os
from datetime import datetime, timezone
from typing import Any

import dagster as dg

from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.partitions import LABELBOX_PROJECTS, labelbox_projects
from lb_assets.defs.projects import ProjectSettings, load_projects
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


def evaluate_projects(
    labelbox: Any, declared: dict[str, ProjectSettings], existing: list[str], cursor: dict[str, Any], log: Any,
    busy: frozenset[str] = frozenset(), failed_run_keys: frozenset[str] = frozenset(),
) -> tuple[list[dg.RunRequest], dict[str, Any], list[str]]:
    """The decision of one tick (pure apart from the overview calls).

    Projects in ``busy`` (a run queued or in progress) are left for a later tick: two runs of one project
    would write the same export files and datasets. A project whose requested refresh ended failed or
    canceled (its run key in ``failed_run_keys``) is requested again for the same state, with a new run key.

    Returns:
        (run requests, new cursor, project ids to add as partitions).
    """
    previous = cursor.get("projects", {})
    projects: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    requests: list[dg.RunRequest] = []
    new_partitions = [pid for pid in declared if pid not in set(existing)]
    for pid in list(dict.fromkeys([*declared, *existing])):
        settings = declared.get(pid) or ProjectSettings(project_id=pid)
        before = previous.get(pid, {})
        if pid in busy:
            skipped[pid] = "a run of this project is queued or in progress"
            if before:
                projects[pid] = before
            continue
        try:
            overview = labelbox.get_overview(pid)
        except Exception as exc:  # noqa: BLE001 - one bad project must not stop the others
            reason = redact_text(f"{type(exc).__name__}: {exc}", [getattr(labelbox, "api_key", None) or ""])
            log.warning(f"{SENSOR_NAME}: skipping project {pid}: {reason}")
            skipped[pid] = reason
            if before:
                projects[pid] = before
            continue
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
        if (not reason and before.get("triggered") == digest and before.get("run_key") in failed_run_keys
                and int(before.get("attempt", 0)) + 1 < MAX_ATTEMPTS):
            attempt = int(before.get("attempt", 0)) + 1
            reason = f"its refresh {before['run_key']} failed; trying again (attempt {attempt + 1})"
        if reason:
            run_key = f"{pid}:{digest}" + (f":{attempt}" if attempt else "")
            entry.update(triggered=digest, run_key=run_key, attempt=attempt)
            log.info(f"{SENSOR_NAME}: project {pid} {reason}; requesting a refresh")
            requests.append(
                dg.RunRequest(
                    partition_key=pid,
                    run_key=run_key,
                    tags={"labelbox/project_id": pid, "labelbox/trigger": settings.trigger},
                )
            )
        projects[pid] = entry
    return requests, {"projects": projects, "skipped": skipped}, new_partitions


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
        requests, new_cursor, new_partitions = evaluate_projects(
            labelbox, declared, existing, cursor, context.log, busy, failed
        )
        partition_requests = [labelbox_projects.build_add_request(new_partitions)] if new_partitions else []
        skip = None
        if not requests:
            skip = "no project completed or progressed" + (
                f"; skipped {sorted(new_cursor['skipped'])}" if new_cursor["skipped"] else ""
            )
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps(new_cursor, sort_keys=True),
            dynamic_partitions_requests=partition_requests,
            skip_reason=skip,
        )

    return labeling_completion_sensor


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
