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

Where the files are: a local directory (``<local root>/exports/<project id>/``, given as a ``Path``), or, for an
``s3://`` storage root, objects under ``<root>/<project id>/export/`` (a `RemoteExport`). A remote refresh works on
a local copy in the cache directory, then uploads ``export.ndjson`` (streamed in parts) and writes
``export_state.json`` last; each object is replaced atomically. Readers take the state's sha256 and size, download
the export into the cache as ``export-<sha256>.ndjson`` and check it, so a stale or half-replaced pair is never
used (they retry until the writer's state arrives).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, Union

from lb_assets.errors import ConfigError, LabelboxOperationError, StorageWriteError
from lb_assets.store.objects import Objects

logger = logging.getLogger(__name__)

EXPORT_FILE = "export.ndjson"
STATE_FILE = "export_state.json"
ONTOLOGY_FILE = "ontology.json"
READ_DEADLINE_SECONDS = 60.0  # how long a reader waits for an export and its state to agree
READ_POLL_SECONDS = 1.0
CACHE_KEEP_SECONDS = 3600.0  # cached exports of other versions unused this long are removed


class _ExportClient(Protocol):
    def export_project(
        self, project_id: str, dest: Path, filters: Any = None, interpolated_frames: bool = False
    ) -> Any: ...

    def get_overview(self, project_id: str) -> Any: ...


@dataclass(frozen=True)
class ExportOutcome:
    """What a refresh did: the summary of the current export and how it was produced."""

    summary: Any  # lb_assets.labelbox.export.ExportSummary
    mode: str  # "full" | "incremental"
    delta_rows: int
    reason: str
    max_last_activity_at: str | None


@dataclass(frozen=True)
class RemoteExport:
    """A project's export files kept as objects under the storage root, with a local cache for readers."""

    objects: Objects  # <root>/<project id>/export/
    cache_dir: Path  # local; holds export-<sha256>.ndjson copies and the scratch of a refresh


ExportPlace = Union[Path, RemoteExport]


def export_path(export_dir: Path) -> Path:
    """The current export file of a project (a local export directory)."""
    return export_dir / EXPORT_FILE


def export_uri(place: ExportPlace) -> str:
    """Where the current export is: a local path or an ``s3://`` URL."""
    return place.objects.url(EXPORT_FILE) if isinstance(place, RemoteExport) else str(export_path(place))


def _read_beside_export(place: ExportPlace, name: str) -> tuple[bytes | None, str]:
    """The bytes of file ``name`` beside the export (None when absent) and where it is, for messages."""
    if isinstance(place, RemoteExport):
        return place.objects.read_bytes(name), place.objects.url(name)
    path = place / name
    return _read_file(path), str(path)


def read_state(place: ExportPlace) -> dict[str, Any]:
    """The saved state of the current export ({} when there is none or it is unreadable)."""
    data, where = _read_beside_export(place, STATE_FILE)
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except ValueError as exc:
        logger.warning("Ignoring unreadable export state %s (%s); next export is full", where, exc)
        return {}
    return value if isinstance(value, dict) else {}


def _read_file(path: Path) -> bytes | None:
    """A local file's content (None when it is missing or unreadable)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("Ignoring unreadable %s (%s)", path, exc)
        return None


def local_export(place: ExportPlace, deadline_seconds: float = READ_DEADLINE_SECONDS) -> Path:
    """A local file of the current export: the file itself, or a checked copy of the remote one in the cache.

    Raises:
        ConfigError: There is no export yet.
        StorageWriteError: The remote export did not match its state within ``deadline_seconds``.
    """
    if not isinstance(place, RemoteExport):
        path = export_path(place)
        if not path.exists():
            raise ConfigError(f"no export at {path}; materialize labelbox_project_export first")
        return path
    deadline = time.monotonic() + deadline_seconds
    while True:
        state = read_state(place)
        if not state:
            raise ConfigError(f"no export at {export_uri(place)}; materialize labelbox_project_export first")
        cached = _cached_export(place, state)
        if cached is not None:
            _prune_cache(place.cache_dir, keep=cached)
            return cached
        if time.monotonic() >= deadline:
            raise StorageWriteError(
                f"the export at {export_uri(place)} does not match its state {place.objects.url(STATE_FILE)} "
                f"(sha256 {_state_summary(state).get('sha256')}); materialize labelbox_project_export again"
            )
        time.sleep(READ_POLL_SECONDS)


def refresh_export(
    client: _ExportClient,
    project_id: str,
    export_dir: ExportPlace,
    full_refresh: bool = False,
    interpolated_frames: bool = False,
    log: logging.Logger | Any = logger,
) -> ExportOutcome:
    """Bring the project's ``export.ndjson`` up to date with Labelbox.

    Args:
        client: ``LabelboxResource`` (or anything with ``export_project`` and ``get_overview``).
        project_id: Labelbox project id.
        export_dir: local directory of this project's export files, or a `RemoteExport`.
        full_refresh: export everything even when an incremental refresh is possible.
        interpolated_frames: ask Labelbox for interpolated video frames.
        log: logger (Dagster's ``context.log`` in assets).

    Returns:
        The outcome, with the summary of the current (merged) export (for a remote export, its ``path`` is the
        checked local copy in the cache).
    """
    if isinstance(export_dir, RemoteExport):
        return _refresh_remote(client, project_id, export_dir, full_refresh, interpolated_frames, log)
    return _refresh_local(client, project_id, export_dir, full_refresh, interpolated_frames, log)


def _refresh_local(
    client: _ExportClient, project_id: str, export_dir: Path, full_refresh: bool, interpolated_frames: bool, log: Any
) -> ExportOutcome:
    from lb_assets.labelbox.export import ExportFilters, merge_exports

    dest = export_path(export_dir)
    state = read_state(export_dir)
    saved_since = state.get("max_last_activity_at")
    since = saved_since if isinstance(saved_since, str) else None
    reason = _full_reason(full_refresh, dest, state, since, interpolated_frames)
    if reason is None and since:  # no reason means ``since`` is set
        scratch_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        delta_path = export_dir / f".delta-{scratch_id}.ndjson"
        merged_path = export_dir / f".merged-{scratch_id}.ndjson"
        start = _filter_start(since)
        log.info(f"Project {project_id}: incremental export of data rows active since {start}")
        delta = client.export_project(
            project_id,
            delta_path,
            filters=ExportFilters(last_activity_start=start),
            interpolated_frames=interpolated_frames,
        )
        merged = merge_exports(dest, delta_path, merged_path)
        expected = _overview_total(client, project_id, log)
        if expected is None or expected != merged.data_rows:
            reason = (
                "the project's data row count is unknown"
                if expected is None
                else f"merged export has {merged.data_rows} data rows but the project has {expected} (rows removed)"
            )
            log.info(f"Project {project_id}: {reason}; falling back to a full export")
            for scratch in (delta_path, merged_path):
                scratch.unlink(missing_ok=True)
        else:
            max_activity: str | None = max_last_activity(merged_path) or since
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


def _refresh_remote(
    client: _ExportClient,
    project_id: str,
    remote: RemoteExport,
    full_refresh: bool,
    interpolated_frames: bool,
    log: Any,
) -> ExportOutcome:
    """Refresh in a local scratch directory (the remote export as base), upload the export, then its state."""
    work = remote.cache_dir / f".work-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    work.mkdir(parents=True)
    try:
        state = {} if full_refresh else read_state(remote)
        base = _cached_export(remote, state) if state else None
        if base is not None:
            _link_or_copy(base, export_path(work))
            (work / STATE_FILE).write_text(json.dumps(state))
        elif state:
            log.warning(
                f"Project {project_id}: the export at {export_uri(remote)} does not match its state; "
                "making a full export"
            )
        outcome = _refresh_local(client, project_id, work, full_refresh, interpolated_frames, log)
        remote.objects.put_file(export_path(work), EXPORT_FILE)
        cached = _cache_file(remote, outcome.summary.sha256)
        os.replace(export_path(work), cached)
        new_state = read_state(work)
        new_state["summary"]["path"] = export_uri(remote)
        remote.objects.put_bytes(json.dumps(new_state, indent=2, sort_keys=True).encode(), STATE_FILE)  # last
        log.info(f"Project {project_id}: export stored at {export_uri(remote)}")
        return replace(outcome, summary=replace(outcome.summary, path=cached))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _state_summary(state: dict[str, Any]) -> dict[str, Any]:
    summary = state.get("summary")
    return summary if isinstance(summary, dict) else {}


def _cache_file(remote: RemoteExport, sha256: str) -> Path:
    remote.cache_dir.mkdir(parents=True, exist_ok=True)
    return remote.cache_dir / f"export-{sha256}.ndjson"


def _cached_export(remote: RemoteExport, state: dict[str, Any]) -> Path | None:
    """The export the state describes, from the cache or downloaded and checked (None: the remote one differs)."""
    summary = _state_summary(state)
    sha, size = summary.get("sha256"), summary.get("bytes")
    if not isinstance(sha, str) or len(sha) != 64:
        return None
    cached = _cache_file(remote, sha)
    if cached.exists() and cached.stat().st_size == size:
        os.utime(cached)
        return cached
    tmp = remote.cache_dir / f".download-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        if not remote.objects.get_file(EXPORT_FILE, tmp):
            return None
        if tmp.stat().st_size != size or _sha256(tmp) != sha:
            logger.info("Export %s differs from its state (a writer is replacing it)", export_uri(remote))
            return None
        os.replace(tmp, cached)
        return cached
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _link_or_copy(src: Path, dest: Path) -> None:
    """``dest`` as a hard link of ``src`` (exports are replaced, never written in place), or a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _prune_cache(cache_dir: Path, keep: Path) -> None:
    """Remove cached exports of other versions unused for `CACHE_KEEP_SECONDS`."""
    cutoff = time.time() - CACHE_KEEP_SECONDS
    for old in cache_dir.glob("export-*.ndjson"):
        try:
            if old != keep and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError as exc:  # another reader removed it first
            logger.debug("Could not remove cached export %s (%s)", old, exc)


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


def snapshot_ontology(client: Any, project_id: str, export_dir: ExportPlace) -> str | None:
    """Fetch the ontology the export names and save it beside the export; its sha256 (None: no ontology yet).

    The annotation steps convert with this snapshot, so the ontology is fetched once per refresh and a change
    of ontology changes the export's data version.
    """
    from lb_assets.labelbox.ontology import ontology_id_from_export

    ontology_id = ontology_id_from_export(local_export(export_dir), project_id)
    if not ontology_id:
        return None
    text = json.dumps(client.fetch_ontology(ontology_id), sort_keys=True, separators=(",", ":"))
    if isinstance(export_dir, RemoteExport):
        export_dir.objects.put_bytes(text.encode(), ONTOLOGY_FILE)
    else:
        tmp = export_dir / f".{ONTOLOGY_FILE}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
        tmp.write_text(text)
        os.replace(tmp, export_dir / ONTOLOGY_FILE)
    return hashlib.sha256(text.encode()).hexdigest()


def read_ontology_snapshot(export_dir: ExportPlace) -> dict[str, Any] | None:
    """The ontology saved with the current export (None when there is none)."""
    data, where = _read_beside_export(export_dir, ONTOLOGY_FILE)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError as exc:
        logger.warning("Ignoring unreadable ontology snapshot %s (%s)", where, exc)
        return None
    return value if isinstance(value, dict) else None
