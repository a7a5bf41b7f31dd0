"""Keep one project's export v2 file up to date: full the first time, incremental afterwards.

Files in the project's export directory:
``export.ndjson`` (the current export, replaced atomically), ``export_state.json`` (max ``last_activity_at`` and
the summary of the current export), ``.delta-<id>.ndjson`` / ``.merged-<id>.ndjson`` (scratch files of an
incremental refresh, unique to each writer; callers hold the project's ``export`` lease besides).

An incremental refresh exports the data rows whose ``last_activity_at`` is at or after the previous export's
maximum (floored to the second, the filter's resolution) and merges them by data row id (delta wins). Label edits,
label deletions and workflow moves bump ``last_activity_at`` so they arrive in the delta. Data rows removed from the
project never show up in a delta: when the merged row count differs from the project's overview total, the refresh
falls back to a full export. A failure at any point leaves ``export.ndjson`` and its state as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from lb_assets.errors import LabelboxOperationError

logger = logging.getLogger(__name__)

EXPORT_FILE = "export.ndjson"
STATE_FILE = "export_state.json"
ONTOLOGY_FILE = "ontology.json"


class _ExportClient(Protocol):
    def export_project(self, project_id: str, dest: Path, filters: Any = None, interpolated_frames: bool = False) -> Any: ...

    def get_overview(self, project_id: str) -> Any: ...


@dataclass(frozen=True)
class ExportOutcome:
    """What a refresh did: the summary of the current export and how it was produced."""

    summary: Any  # lb_assets.labelbox.export.ExportSummary
    mode: str  # "full" | "incremental"
    delta_rows: int
    reason: str
    max_last_activity_at: str | None


def export_path(export_dir: Path) -> Path:
    """The current export file of a project."""
    return export_dir / EXPORT_FILE


def read_state(export_dir: Path) -> dict[str, Any]:
    """The saved state of the current export ({} when there is none or it is unreadable)."""
    path = export_dir / STATE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring unreadable export state %s (%s); next export is full", path, exc)
        return {}


def refresh_export(
    client: _ExportClient,
    project_id: str,
    export_dir: Path,
    full_refresh: bool = False,
    interpolated_frames: bool = False,
    log: logging.Logger | Any = logger,
) -> ExportOutcome:
    """Bring ``export_dir/export.ndjson`` up to date with Labelbox.

    Args:
        client: ``LabelboxResource`` (or anything with ``export_project`` and ``get_overview``).
        project_id: Labelbox project id.
        export_dir: local directory of this project's export files.
        full_refresh: export everything even when an incremental refresh is possible.
        interpolated_frames: ask Labelbox for interpolated video frames.
        log: logger (Dagster's ``context.log`` in assets).

    Returns:
        The outcome, with the summary of the current (merged) export.
    """
    from lb_assets.labelbox.export import ExportFilters, merge_exports

    dest = export_path(export_dir)
    state = read_state(export_dir)
    since = state.get("max_last_activity_at")
    reason = _full_reason(full_refresh, dest, state, since, interpolated_frames)
    if reason is None:
        scratch_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        delta_path = export_dir / f".delta-{scratch_id}.ndjson"
        merged_path = export_dir / f".merged-{scratch_id}.ndjson"
        start = _filter_start(since)
        log.info(f"Project {project_id}: incremental export of data rows active since {start}")
        delta = client.export_project(
            project_id, delta_path, filters=ExportFilters(last_activity_start=start), interpolated_frames=interpolated_frames
        )
        merged = merge_exports(dest, delta_path, merged_path)
        expected = _overview_total(client, project_id, log)
        if expected is None or expected != merged.data_rows:
            reason = ("the project's data row count is unknown" if expected is None else
                      f"merged export has {merged.data_rows} data rows but the project has {expected} (rows removed)")
            log.info(f"Project {project_id}: {reason}; falling back to a full export")
            for scratch in (delta_path, merged_path):
                scratch.unlink(missing_ok=True)
        else:
            max_activity = max_last_activity(merged_path) or since
            os.replace(merged_path, dest)
            summary = replace(merged, path=dest)
            _write_state(export_dir, summary, max_activity, interpolated_frames)
            delta_path.unlink(missing_ok=True)
            return ExportOutcome(summary, "incremental", delta.data_rows, "new activity merged", max_activity)
    log.info(f"Project {project_id}: full export ({reason})")
    summary = client.export_project(project_id, dest, interpolated_frames=interpolated_frames)
    max_activity = max_last_activity(dest)
    _write_state(export_dir, summary, max_activity, interpolated_frames)
    return ExportOutcome(summary, "full", summary.data_rows, reason or "full refresh", max_activity)


def max_last_activity(path: Path) -> str | None:
    """The largest ``data_row.details.last_activity_at`` in an export file (None when absent)."""
    from lb_assets.labelbox.export import iter_export_rows

    best: str | None = None
    for row in iter_export_rows(path):
        value = ((row.get("data_row") or {}).get("details") or {}).get("last_activity_at")
        if isinstance(value, str) and (best is None or _parse_time(value) > _parse_time(best)):
            best = value
    return best


def _full_reason(
    full_refresh: bool, dest: Path, state: dict[str, Any], since: str | None, interpolated_frames: bool
) -> str | None:
    if full_refresh:
        return "full_refresh requested"
    if not dest.exists() or not state:
        return "no previous export"
    if not since:
        return "previous export has no last_activity_at"
    if bool(state.get("interpolated_frames")) != interpolated_frames:
        return "interpolated_frames changed"
    return None


def _overview_total(client: _ExportClient, project_id: str, log: Any) -> int | None:
    try:
        return int(client.get_overview(project_id).total)
    except LabelboxOperationError as exc:  # unknown: the caller falls back to a full export
        log.warning(f"Project {project_id}: overview unavailable ({exc}); a full export will be made")
        return None


def _parse_time(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _filter_start(value: str) -> str:
    """Floor to the second, in the ISO format Labelbox's export filter accepts (``%Y-%m-%dT%H:%M:%S%z``)."""
    return _parse_time(value).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _write_state(export_dir: Path, summary: Any, max_activity: str | None, interpolated_frames: bool) -> None:
    state = {
        "max_last_activity_at": max_activity,
        "interpolated_frames": interpolated_frames,
        "summary": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(summary).items()},
    }
    tmp = export_dir / f".{STATE_FILE}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, export_dir / STATE_FILE)


def snapshot_ontology(client: Any, project_id: str, export_dir: Path) -> str | None:
    """Fetch the ontology the export names and save it beside the export; its sha256 (None: no ontology yet).

    The annotation steps convert with this snapshot, so the ontology is fetched once per refresh and a change
    of ontology changes the export's data version.
    """
    from lb_assets.labelbox.ontology import ontology_id_from_export

    ontology_id = ontology_id_from_export(export_path(export_dir), project_id)
    if not ontology_id:
        return None
    text = json.dumps(client.fetch_ontology(ontology_id), sort_keys=True, separators=(",", ":"))
    tmp = export_dir / f".{ONTOLOGY_FILE}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.write_text(text)
    os.replace(tmp, export_dir / ONTOLOGY_FILE)
    return hashlib.sha256(text.encode()).hexdigest()


def read_ontology_snapshot(export_dir: Path) -> dict[str, Any] | None:
    """The ontology saved with the current export (None when there is none)."""
    path = export_dir / ONTOLOGY_FILE
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring unreadable ontology snapshot %s (%s)", path, exc)
        return None
    return value if isinstance(value, dict) else None
