"""Stream a project's export v2 to an NDJSON file, atomically and in bounded memory.

Unlike the seed (D15), filters are configurable, rows are never held in memory, an empty project gives
an empty file (not an error), and errors on the export's ERRORS stream fail the export clearly (or, with
``fail_on_errors=False``, are logged, redacted, and counted in the summary).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import requests

from lb_assets.errors import ConfigError, ExportRowError, LabelboxOperationError
from lb_assets.labelbox.client import labelbox_errors, map_labelbox_error
from lb_assets.redact import redact_text

logger = logging.getLogger(__name__)

EXPORT_PARAMS: dict[str, bool] = {
    "attachments": True,
    "metadata_fields": True,
    "data_row_details": True,
    "project_details": True,
    "label_details": True,
    "performance_details": True,
}
SDK_ID_FILTER_LIMIT = 2000
DEFAULT_WAIT_SECONDS = 7200.0
ERROR_LINES_SHOWN = 3
PROGRESS_INTERVAL = 0.2  # seconds between ``export_rows`` progress events
_WORKFLOW_FILTER = {"tolabel": "ToLabel", "inreview": "InReview", "inrework": "InRework", "done": "Done"}
_SDK_TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z")


def _filter_time(value: str | datetime | None, name: str) -> str | None:
    """A filter bound in a format the SDK accepts (datetimes and ISO strings become UTC ``...+0000``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")
    text = str(value).strip()
    for fmt in _SDK_TIME_FORMATS:
        try:
            datetime.strptime(text, fmt)
            return text
        except ValueError:
            continue
    try:
        return _filter_time(datetime.fromisoformat(text.replace("Z", "+00:00")), name)
    except ValueError:
        raise ConfigError(f"Export filter {name}={text!r} is not a date/time (use ISO 8601)") from None


def _normalize_workflow_status(value: str | None) -> str | None:
    if value is None:
        return None
    key = str(value).replace("_", "").replace(" ", "").lower()
    if key not in _WORKFLOW_FILTER:
        raise ConfigError(
            f"Export filter workflow_status={value!r} is not supported; use one of TO_LABEL, IN_REVIEW, IN_REWORK, DONE"
        )
    return _WORKFLOW_FILTER[key]


@dataclass(frozen=True)
class ExportFilters:
    """Which data rows of a project to export (filters combine with AND).

    Attributes:
        last_activity_start: rows active at or after this time (datetime or ISO string; naive = UTC).
        last_activity_end: rows active at or before this time.
        workflow_status: TO_LABEL | IN_REVIEW | IN_REWORK | DONE (Labelbox's ``ToLabel`` spellings work too).
        data_row_ids: only these data rows (at most 2,000; not together with ``global_keys``).
        global_keys: only the data rows with these global keys (at most 2,000).
        batch_ids: only rows of these batches.
    """

    last_activity_start: str | datetime | None = None
    last_activity_end: str | datetime | None = None
    workflow_status: str | None = None
    data_row_ids: Sequence[str] | None = None
    global_keys: Sequence[str] | None = None
    batch_ids: Sequence[str] | None = None

    def to_sdk(self) -> dict[str, Any]:
        """The ``filters`` dict for ``project.export``.

        Raises:
            ConfigError: a filter value is invalid (named in the message).
        """
        out: dict[str, Any] = {}
        start = _filter_time(self.last_activity_start, "last_activity_start")
        end = _filter_time(self.last_activity_end, "last_activity_end")
        if start is not None or end is not None:
            out["last_activity_at"] = [start, end]
        status = _normalize_workflow_status(self.workflow_status)
        if status is not None:
            out["workflow_status"] = status
        if self.data_row_ids is not None and self.global_keys is not None:
            raise ConfigError("Export filters data_row_ids and global_keys cannot be combined")
        for name in ("data_row_ids", "global_keys", "batch_ids"):
            values = getattr(self, name)
            if values is None:
                continue
            if isinstance(values, str):
                raise ConfigError(f"Export filter {name} must be a list of strings, not one string")
            values = [str(v) for v in values]
            if not values:
                raise ConfigError(f"Export filter {name} is an empty list (omit it to export every row)")
            if len(values) > SDK_ID_FILTER_LIMIT:
                raise ConfigError(
                    f"Export filter {name} has {len(values)} ids; Labelbox accepts at most {SDK_ID_FILTER_LIMIT}"
                )
            out[name] = values
        return out


@dataclass(frozen=True)
class ExportSummary:
    """What an export file holds.

    Attributes:
        path: the NDJSON file.
        project_id: the exported project.
        data_rows: rows in the file.
        labeled_rows: rows with at least one label in the project.
        labels: labels in the project, over all rows.
        workflow_counts: rows per workflow status (``UNKNOWN`` when the export has no project details).
        bytes: file size.
        sha256: hex digest of the file.
        exported_at: ISO time the file was written (UTC).
        error_lines: lines on the export's ERRORS stream (only non-zero with ``fail_on_errors=False``).
    """

    path: Path
    project_id: str
    data_rows: int
    labeled_rows: int
    labels: int
    workflow_counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    sha256: str = ""
    exported_at: str = ""
    error_lines: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-serializable form (for Dagster metadata or state files)."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


class _SummaryWriter:
    """Writes NDJSON lines to a file while counting and hashing them."""

    def __init__(self, fh: BinaryIO, project_id: str | None) -> None:
        self.fh = fh
        self.project_id = project_id
        self.rows = 0
        self.labeled_rows = 0
        self.labels = 0
        self.workflow: Counter[str] = Counter()
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, row: dict[str, Any], line: bytes | None = None) -> None:
        if line is None:
            line = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        line = line.rstrip(b"\r\n") + b"\n"
        if self.project_id is None:
            self.project_id = _single_project_id(row)
        block = ((row.get("projects") or {}).get(self.project_id) or {}) if self.project_id else {}
        labels = block.get("labels") or []
        self.rows += 1
        self.labels += len(labels)
        self.labeled_rows += bool(labels)
        status = (block.get("project_details") or {}).get("workflow_status") or "UNKNOWN"
        self.workflow[str(status)] += 1
        self.fh.write(line)
        self.size += len(line)
        self.digest.update(line)

    def summary(self, path: Path) -> ExportSummary:
        return ExportSummary(
            path=path,
            project_id=self.project_id or "",
            data_rows=self.rows,
            labeled_rows=self.labeled_rows,
            labels=self.labels,
            workflow_counts=dict(sorted(self.workflow.items())),
            bytes=self.size,
            sha256=self.digest.hexdigest(),
            exported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )


def _single_project_id(row: dict[str, Any]) -> str | None:
    projects = row.get("projects") or {}
    return next(iter(projects)) if len(projects) == 1 else None


def _tmp_path(dest: Path) -> Path:
    """A temporary file beside ``dest``, unique to this writer (concurrent writers never share one)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _write_atomically(
    dest: Path,
    project_id: str | None,
    rows: Iterable[tuple[dict[str, Any], bytes | None]],
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> ExportSummary:
    """Write rows to ``dest.tmp`` then replace ``dest``; on any failure ``dest`` is untouched.

    ``progress`` gets ``{"event": "export_rows", "rows", "bytes"}`` at most every `PROGRESS_INTERVAL`
    seconds and ``{"event": "export_done", ...}`` once the rows are written.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(dest)
    try:
        with open(tmp, "wb") as fh:
            writer = _SummaryWriter(fh, project_id)
            last = time.monotonic()
            for row, line in rows:
                writer.write(row, line)
                if progress is not None and time.monotonic() - last >= PROGRESS_INTERVAL:
                    last = time.monotonic()
                    progress({"event": "export_rows", "rows": writer.rows, "bytes": writer.size})
            if progress is not None:
                progress({"event": "export_done", "rows": writer.rows, "bytes": writer.size})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return writer.summary(dest)


def _error_lines(task: Any, limit: int = ERROR_LINES_SHOWN, count_all: bool = False) -> tuple[list[str], int]:
    """The first ``limit`` lines of an export task's ERRORS stream, redacted, and how many lines were read.

    With ``count_all`` the whole stream is read (to count it); otherwise reading stops after ``limit`` lines.
    """
    import labelbox

    lines: list[str] = []
    total = 0
    for out in task.get_buffered_stream(stream_type=labelbox.StreamType.ERRORS):
        total += 1
        if len(lines) < limit:
            lines.append(redact_text(json.dumps(out.json, ensure_ascii=False))[:300])
        elif not count_all:
            break
    return lines, total


def _stream_rows(task: Any, project_id: str) -> Iterator[tuple[dict[str, Any], None]]:
    for out in task.get_buffered_stream():
        row = out.json
        if not isinstance(row, dict):
            raise LabelboxOperationError(
                "export stream", project_id, f"export line is a {type(row).__name__}, not an object"
            )
        yield row, None


def export_project(
    client: Any,
    project_id: str,
    dest: Path,
    filters: ExportFilters | None = None,
    interpolated_frames: bool = False,
    *,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    fail_on_errors: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> ExportSummary:
    """Export one project (export v2) to ``dest`` as NDJSON, streamed row by row.

    The file is written to a temporary file unique to this writer beside ``dest`` and moved over ``dest`` only when
    complete, so a failure midway leaves the previous file intact. Memory stays bounded whatever the project size.

    Args:
        client: a ``labelbox.Client`` (see ``make_client``).
        project_id: the project to export.
        dest: the NDJSON file to write.
        filters: which rows to export (all when None).
        interpolated_frames: ask Labelbox for interpolated video frames too.
        wait_seconds: how long to wait for the export task.
        fail_on_errors: raise when the export's ERRORS stream has lines (default). When False, the error
            lines are logged as a warning (redacted), counted in ``ExportSummary.error_lines``, and the rows
            that did export are written.
        progress: called with ``{"event": "export_rows" | "export_done", "rows": n, "bytes": n}`` while the
            rows stream to disk (at most every `PROGRESS_INTERVAL` seconds, and once at the end).

    Returns:
        The summary of the written file (0 rows for an empty project or no matching row).

    Raises:
        LabelboxOperationError: (or a subclass) the export failed or timed out, or reported errors while
            ``fail_on_errors`` is True.
        ConfigError: invalid filters.
    """
    sdk_filters = (filters or ExportFilters()).to_sdk()
    params = dict(EXPORT_PARAMS, interpolated_frames=bool(interpolated_frames))
    with labelbox_errors("get_project", project_id):
        project = client.get_project(project_id)
    with labelbox_errors("export", project_id):
        task = project.export(params=params, filters=sdk_filters)
        logger.info("Project %s: export task %s started (filters %s)", project_id, task.uid, sorted(sdk_filters))
        task.wait_till_done(timeout_seconds=int(wait_seconds))
        status = task.status
        if status != "COMPLETE":
            raise LabelboxOperationError(
                "export", project_id, f"export task {task.uid} is {status} after waiting {wait_seconds:g}s"
            )
        error_count = 0
        if task.has_errors():
            lines, error_count = _error_lines(task, count_all=not fail_on_errors)
            if fail_on_errors:
                raise LabelboxOperationError("export", project_id, "the export reported errors: " + " | ".join(lines))
            logger.warning(
                "Project %s: the export reported %d error line(s); continuing with the rows that exported "
                "(fail_on_errors=False). First: %s",
                project_id,
                error_count,
                " | ".join(lines),
            )
        has_result = task.has_result()
    if not has_result:
        logger.info("Project %s: export is empty (no data row matches)", project_id)
        summary = _write_atomically(Path(dest), project_id, [], progress)
    else:
        from labelbox.schema.export_task import ExportTask
        from lbox.exceptions import LabelboxError

        try:
            summary = _write_atomically(Path(dest), project_id, _stream_rows(task, project_id), progress)
        except (
            LabelboxError,
            ExportTask.ExportTaskException,
            requests.RequestException,
            AssertionError,
            ValueError,
        ) as exc:  # the SDK asserts chunk sizes and raises ValueError on missing streams
            raise map_labelbox_error(exc, "export stream", project_id) from None
    if error_count:
        summary = replace(summary, error_lines=error_count)
    logger.info(
        "Project %s: exported %d data rows (%d labeled, %d labels) to %s",
        project_id,
        summary.data_rows,
        summary.labeled_rows,
        summary.labels,
        summary.path,
    )
    return summary


def iter_export_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of an NDJSON export file, one at a time (blank lines skipped).

    Raises:
        ConfigError: the file does not exist.
        ExportRowError: a line is not a JSON object (names the file and row).
    """
    for _index, row, _line in _iter_lines(Path(path)):
        yield row


DUPLICATES_LOGGED = 20


def _row_id(row: Any) -> str | None:
    data_row = row.get("data_row") if isinstance(row, dict) else None
    drid = data_row.get("id") if isinstance(data_row, dict) else None
    return str(drid) if drid else None


def _last_index_by_id(rows: Iterable[Any], where: str) -> dict[str, int]:
    """First pass: data row id -> index of its last occurrence; each duplicate is logged (the first few)."""
    last: dict[str, int] = {}
    duplicates = 0
    for index, row in enumerate(rows):
        drid = _row_id(row)
        if drid is None:
            continue
        if drid in last:
            duplicates += 1
            if duplicates <= DUPLICATES_LOGGED:
                logger.warning(
                    "%s: data row %s appears twice, at rows %d and %d; the later row (%d) is used for media and labels",
                    where,
                    drid,
                    last[drid],
                    index,
                    index,
                )
        last[drid] = index
    if duplicates > DUPLICATES_LOGGED:
        logger.warning("%s: %d duplicate data row occurrences in all; only the last of each is used", where, duplicates)
    return last


def _rows_of(source: Path | str | Sequence[dict[str, Any]]) -> Iterator[Any]:
    return iter_export_rows(Path(source)) if isinstance(source, (str, Path)) else iter(source)


def iter_unique_rows(source: Path | str | Sequence[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each data row once: the LAST occurrence of every ``data_row.id``, with its index in the source.

    The rule for duplicate data row ids in one export: the later row wins for media and labels alike, and
    takes the position of its last occurrence (earlier copies are left out, each duplicate is logged with
    the data row id and both row indexes). Rows without a ``data_row.id`` are yielded as they are (parsing
    them reports the error). A file is read twice (ids and indexes are held, never the rows).

    Args:
        source: An NDJSON export file (as for `iter_export_rows`) or a list of export rows (``project_json``).

    Yields:
        ``(index in the source, row)`` in source order.

    Raises:
        ConfigError: the file does not exist.
        ExportRowError: a line is not a JSON object.
    """
    where = str(source) if isinstance(source, (str, Path)) else "project_json"
    last = _last_index_by_id(_rows_of(source), where)
    for index, row in enumerate(_rows_of(source)):
        drid = _row_id(row)
        if drid is None or last.get(drid) == index:
            yield index, row


def _json_error(exc: ValueError) -> str:
    """What is wrong with a line: the JSON error's message, or the decoding error of a line that is not UTF-8."""
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def _iter_lines(path: Path) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    if not path.exists():
        raise ConfigError(f"Export file {path} does not exist")
    with open(path, "rb") as fh:
        index = 0
        for raw in fh:
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError as exc:
                raise ExportRowError(f"{path}: not valid JSON ({_json_error(exc)})", row_index=index) from None
            if not isinstance(row, dict):
                raise ExportRowError(f"{path}: not a JSON object", row_index=index)
            yield index, row, raw
            index += 1


def _data_row_id(row: dict[str, Any], path: Path, index: int) -> str:
    drid = (row.get("data_row") or {}).get("id")
    if not isinstance(drid, str) or not drid:
        raise ExportRowError(f"{path}: row has no data_row.id", row_index=index)
    return drid


def merge_exports(base: Path, delta: Path, dest: Path, project_id: str | None = None) -> ExportSummary:
    """Merge a delta export into a base export by ``data_row.id`` (delta wins), atomically.

    Rows keep the base order, replaced in place by their delta version; delta rows new to the base are
    appended in delta order. Only an index of ids and byte offsets is held, never the rows. ``dest``
    may be ``base`` itself.

    Args:
        base: the previous export file.
        delta: the newer export of some rows.
        dest: the merged file to write.
        project_id: the project (read from the rows when None).

    Raises:
        ConfigError: a file does not exist.
        ExportRowError: a line is not JSON or has no ``data_row.id``.
    """
    base, delta, dest = Path(base), Path(delta), Path(dest)
    offsets: dict[str, tuple[int, int]] = {}
    order: list[str] = []
    position = 0
    if not delta.exists():
        raise ConfigError(f"Export file {delta} does not exist")
    with open(delta, "rb") as fh:
        index = 0
        for raw in fh:
            start, position = position, position + len(raw)
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError as exc:
                raise ExportRowError(f"{delta}: not valid JSON ({_json_error(exc)})", row_index=index) from None
            drid = _data_row_id(row if isinstance(row, dict) else {}, delta, index)
            if drid not in offsets:
                order.append(drid)
            offsets[drid] = (start, len(raw))
            index += 1

    def merged_rows(delta_fh: BinaryIO) -> Iterator[tuple[dict[str, Any], bytes]]:
        used: set[str] = set()
        for index, row, raw in _iter_lines(base):
            drid = _data_row_id(row, base, index)
            if drid in offsets:
                if drid in used:
                    continue
                used.add(drid)
                yield _read_at(delta_fh, offsets[drid])
            else:
                yield row, raw
        for drid in order:
            if drid not in used:
                yield _read_at(delta_fh, offsets[drid])

    with open(delta, "rb") as delta_fh:
        summary = _write_atomically(dest, project_id, merged_rows(delta_fh))
    logger.info("Merged %s (+%d delta rows) into %s: %d rows", base, len(offsets), dest, summary.data_rows)
    return summary


def _read_at(fh: BinaryIO, where: tuple[int, int]) -> tuple[dict[str, Any], bytes]:
    fh.seek(where[0])
    raw = fh.read(where[1])
    return json.loads(raw), raw
