"""GraphQL handlers for streamable project exports (``project.export()``), filters really applied.

An export builds the export-v2 rows at creation time (``projects[pid]`` added from the project's live
state, blocks included or omitted per params), stores the NDJSON bytes on the task and serves them in
chunks cut on newlines at ``/exports/<task>/<stream>/<start>-<end>``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lb_assets.sandbox.operations_common import GraphQLError, Request, not_found, operation
from lb_assets.sandbox.state import TASK_NAMES, DataRowRecord, Project, ProjectRow, SandboxState, Task, format_ts

STREAM_TYPES = ("RESULT", "ERRORS")
_QUEUE_STATUS = {
    "Done": "DONE",
    "InReview": "IN_REVIEW",
    "InRework": "IN_REWORK",
    "ToLabel": "TO_LABEL",
    "Skipped": "SKIPPED",
}
_FILTER_TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z")


# ----------------------------------------------------------------------------- filters
def parse_filter_time(value: object, tz_name: str | None) -> datetime:
    """Parse a filter bound as the SDK sends it; naive values are in ``tz_name`` (default UTC).

    Raises:
        GraphQLError: the value is not a string in one of the SDK's date formats.
    """
    if not isinstance(value, str):
        raise GraphQLError(f"export filter: invalid date {value!r}")
    moment: datetime | None = None
    for fmt in _FILTER_TIME_FORMATS:
        try:
            moment = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    if moment is None:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise GraphQLError(f"export filter: invalid date {value!r}") from exc
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(tz_name or "UTC"))
        except ZoneInfoNotFoundError as exc:
            raise GraphQLError(f"export filter: unknown timezone {tz_name!r}") from exc
    return moment


def _time_predicate(spec: dict[str, Any]) -> Callable[[datetime], bool]:
    """A predicate on datetimes from ``{"operator", "timezone", "value"}``."""
    operator, tz_name, value = spec.get("operator"), spec.get("timezone"), spec.get("value")
    if operator == "BETWEEN":
        value = value or {}
        low = parse_filter_time(value["min"], tz_name) if value.get("min") else None
        high = parse_filter_time(value["max"], tz_name) if value.get("max") else None
    elif operator == "GREATER_THAN_OR_EQUAL":
        low, high = parse_filter_time(value, tz_name), None
    elif operator == "LESS_THAN_OR_EQUAL":
        low, high = None, parse_filter_time(value, tz_name)
    else:
        raise GraphQLError(f"export filter: unsupported date operator {operator!r}")
    return lambda moment: (low is None or moment >= low) and (high is None or moment <= high)


def _label_times(row: ProjectRow) -> list[datetime]:
    out = []
    for label in row.labels:
        stamp = (label.get("label_details") or {}).get("created_at")
        if isinstance(stamp, str):
            try:
                out.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
            except ValueError:
                continue
    return out


def select_rows(state: SandboxState, project: Project, query: list[dict[str, Any]]) -> list[ProjectRow]:
    """The project's rows matching every entry of an export ``searchQuery.query``.

    Raises:
        GraphQLError: an unknown filter type or malformed value (named in the message).
    """
    rows = list(project.rows.values())
    for entry in query or []:
        kind = entry.get("type")
        ids = set(entry.get("ids") or [])
        if kind == "data_row_id":
            rows = [r for r in rows if r.data_row_id in ids]
        elif kind == "global_key":
            rows = [r for r in rows if state.data_rows[r.data_row_id].global_key in ids]
        elif kind == "batch":
            rows = [r for r in rows if r.batch_id in ids]
        elif kind == "task_queue_status":
            status = entry.get("status")
            wanted = _QUEUE_STATUS.get(status) if isinstance(status, str) else None
            if wanted is None:
                raise GraphQLError(f"export filter: unknown task_queue_status {entry.get('status')!r}")
            rows = [r for r in rows if r.workflow_status == wanted]
        elif kind == "task_queue_not_exist":
            rows = [r for r in rows if r.workflow_status == "TO_LABEL"]
        elif kind == "data_row_last_activity_at":
            keep = _time_predicate(entry.get("value") or {})
            rows = [r for r in rows if keep(r.last_activity_at)]
        elif kind == "labeled_at":
            keep = _time_predicate(entry.get("value") or {})
            rows = [r for r in rows if any(keep(t) for t in _label_times(r))]
        else:
            raise GraphQLError(f"export filter: unsupported filter type {kind!r}", "SANDBOX_UNSUPPORTED_FILTER")
    return rows


# ----------------------------------------------------------------------------- rows
def build_export_row(state: SandboxState, project: Project, row: ProjectRow, params: dict[str, Any]) -> dict[str, Any]:
    """The export-v2 row of one project data row, blocks included per export ``params``."""
    record: DataRowRecord = state.data_rows[row.data_row_id]
    out = copy.deepcopy(record.row)
    data_row = out["data_row"]
    activity = format_ts(row.last_activity_at)
    if params.get("includeDataRowDetails"):
        dataset = state.datasets.get(record.dataset_id, {})
        details = {
            "dataset_id": record.dataset_id,
            "dataset_name": dataset.get("name"),
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "created_by": state.user["email"],
        }
        details.update(data_row.get("details") or {})
        details["last_activity_at"] = activity
        data_row["details"] = details
    else:
        data_row.pop("details", None)
    for key, param in (
        ("attachments", "includeAttachments"),
        ("metadata_fields", "includeMetadata"),
        ("embeddings", "includeEmbeddings"),
    ):
        if params.get(param):
            out.setdefault(key, [])
        else:
            out.pop(key, None)
    labels = []
    for label in row.labels:
        label = copy.deepcopy(label)
        if params.get("includeLabelDetails"):
            label.setdefault(
                "label_details",
                {
                    "created_at": activity,
                    "updated_at": activity,
                    "created_by": state.user["email"],
                    "content_last_updated_at": activity,
                    "reviews": [],
                },
            )
        else:
            label.pop("label_details", None)
        if params.get("includePerformanceDetails"):
            label.setdefault(
                "performance_details",
                {"seconds_to_create": 0, "seconds_to_review": 0, "skipped": row.workflow_status == "SKIPPED"},
            )
        else:
            label.pop("performance_details", None)
        labels.append(label)
    entry: dict[str, Any] = {"name": project.name, "labels": labels}
    if params.get("includeProjectDetails"):
        batch = state.batches.get(row.batch_id or "", {})
        entry["project_details"] = {
            "ontology_id": project.ontology_id,
            "task_name": TASK_NAMES[row.workflow_status],
            "batch_id": row.batch_id,
            "batch_name": batch.get("name"),
            "workflow_status": row.workflow_status,
            "priority": batch.get("priority", 5),
            "consensus_expected_label_count": 1,
            "workflow_history": [],
        }
    entry["project_tags"] = []
    out["projects"] = {project.id: entry}
    return out


def _ndjson(items: list[dict[str, Any]]) -> tuple[bytes, int]:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items).encode("utf-8"), len(items)


# ----------------------------------------------------------------------------- handlers
@operation("exportDataRowsInProjectPyApi")
def export_data_rows_in_project(req: Request) -> dict[str, Any]:
    """Start (and at once complete) a streamable export of a project."""
    state = req.state
    payload = req.var("input")
    filters = payload.get("filters") or {}
    project = state.project_or_none(filters.get("projectId"))
    if project is None:
        raise not_found("Project", filters.get("projectId"))
    params = payload.get("params") or {}
    rows = select_rows(state, project, (filters.get("searchQuery") or {}).get("query") or [])
    task = state.add_task("export-data-rows", payload.get("taskName") or f"Export of {project.name}")
    result = [build_export_row(state, project, row, params) for row in rows]
    for kind, items in (("RESULT", result), ("ERRORS", project.export_errors)):
        if items:
            task.streams[kind] = _ndjson(items)
    _drop_old_streams(state)
    return {"exportDataRowsInProject": {"taskId": task.id, "isStreamable": True}}


def _drop_old_streams(state: SandboxState) -> None:
    """Free the streams of all but the newest ``max_export_streams`` exports (long-running sandboxes)."""
    with_streams = [task for task in state.tasks.values() if task.streams]
    for task in with_streams[: max(len(with_streams) - state.max_export_streams, 0)]:
        task.streams.clear()
        state.expired_exports.add(task.id)


def _task_stream(req: Request) -> tuple[Task, tuple[bytes, int] | None, str]:
    where = req.var("where") or {}
    task_id = where.get("id")
    task = req.state.tasks.get(task_id) if isinstance(task_id, str) else None
    if task is None:
        raise not_found("Task", where.get("id"))
    if task.id in req.state.expired_exports:
        raise GraphQLError(
            f"{req.name}: the streams of export task {task.id} were freed "
            f"(only the newest {req.state.max_export_streams} exports are kept)"
        )
    stream_type = req.var("streamType")
    if stream_type not in STREAM_TYPES:
        raise GraphQLError(f"{req.name}: unknown streamType {stream_type!r}")
    return task, task.streams.get(stream_type), stream_type


@operation("GetExportMetadataHeaderPyApi")
def export_metadata_header(req: Request) -> dict[str, Any]:
    """Size and line count of an export stream (null when empty)."""
    _, stream, _ = _task_stream(req)
    header = {"totalSize": len(stream[0]), "totalLines": stream[1]} if stream else None
    return {"task": {"exportMetadataHeader": header}}


def chunk_end(data: bytes, offset: int, chunk_bytes: int) -> int:
    """Inclusive end of the chunk starting at ``offset``: the first newline at or after ``chunk_bytes``."""
    last = len(data) - 1
    if chunk_bytes <= 0:
        return last
    newline = data.find(b"\n", offset + chunk_bytes - 1)
    return last if newline < 0 else newline


@operation("GetExportFileFromOffsetPyApi")
def export_file_from_offset(req: Request) -> dict[str, Any]:
    """The URL of the next chunk of an export stream, from a byte offset."""
    task, stream, stream_type = _task_stream(req)
    if not stream:
        return {"task": {"exportFileFromOffset": None}}
    data = stream[0]
    try:
        offset = int(req.var("offset"))
    except (TypeError, ValueError) as exc:
        raise GraphQLError(f"{req.name}: offset must be an integer string") from exc
    if not 0 <= offset < len(data):
        raise GraphQLError(f"{req.name}: offset {offset} outside stream of {len(data)} bytes")
    end = chunk_end(data, offset, req.state.export_chunk_bytes)
    first_line = data.count(b"\n", 0, offset)
    last_line = first_line + max(data.count(b"\n", offset, end + 1) - 1, 0)
    url = f"{req.state.base_url}/exports/{task.id}/{stream_type}/{offset}-{end}"
    return {
        "task": {
            "exportFileFromOffset": {
                "offsets": {"start": offset, "end": end},
                "lines": {"start": first_line, "end": last_line},
                "file": url,
            }
        }
    }


def export_chunk(state: SandboxState, path: str) -> bytes | None:
    """Bytes for an ``/exports/<task>/<stream>/<start>-<end>`` path, or None when unknown."""
    parts = path.strip("/").split("/")
    if len(parts) != 4 or parts[0] != "exports":
        return None
    task = state.tasks.get(parts[1])
    stream = task.streams.get(parts[2]) if task else None
    try:
        start, end = (int(x) for x in parts[3].split("-", 1))
    except ValueError:
        return None
    if stream is None or not 0 <= start <= end < len(stream[0]):
        return None
    return stream[0][start : end + 1]
