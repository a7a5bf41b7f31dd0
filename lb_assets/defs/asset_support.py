"""What the asset modules share: groups, owners and retry policies, the one-writer lease, metadata builders.

Plain helpers over ``lb_assets.store`` and Dagster metadata types; the assets themselves live in
``lb_assets.defs.assets`` (upload, export, frames) and ``lb_assets.defs.annotation_assets`` (annotations).
"""

# No `from __future__ import annotations`: the asset modules' conventions, kept alike.

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from lb_assets.defs import observe
from lb_assets.defs.exports import local_export
from lb_assets.defs.metadata import DeepLakeMetadataSet, column_schema
from lb_assets.defs.preview import legend_entries, preview_markdown, render_preview, rows_table
from lb_assets.defs.resources import StorageResource
from lb_assets.errors import ConfigError
from lb_assets.redact import redact_url

if TYPE_CHECKING:
    from lb_assets.store.publish import Stage

OWNERS = ["team:ml-data"]
LABELBOX_GROUP = "labelbox"
DEEPLAKE_GROUP = "deeplake"
BRANCH = "labelbox"
TAGS = {"domain": "annotation"}

LABELBOX_RETRY = dg.RetryPolicy(max_retries=3, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
MEDIA_RETRY = dg.RetryPolicy(max_retries=2, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def secrets_of(*resources: Any) -> tuple[str, ...]:
    """The secrets a step's errors and logs must not show, as each resource names its own (``secrets()``)."""
    return tuple(secret for resource in resources if resource is not None for secret in resource.secrets() if secret)


@contextlib.contextmanager
def one_writer(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    storage: StorageResource,
    what: str,
    path: str,
    secrets: tuple[str | None, ...],
) -> Iterator[None]:
    """Hold the partition's one-writer lease ``what`` (waiting for another run) and name storage failures."""
    from lb_assets.store import lease
    from lb_assets.store.health import storage_errors

    location = storage.lease_dir(context.partition_key)
    with (
        storage_errors(path, (*secrets, *storage.secrets())),
        lease.hold(
            location, what, context.run_id, storage.lease_wait_seconds, storage.lease_ttl_seconds, log=context.log
        ),
    ):
        yield


def with_stage(check: dg.AssetCheckResult, stage: "Stage") -> dg.AssetCheckResult:
    """The check result with the staging branch it read (kept for inspection when the check failed)."""
    metadata = dict(check.metadata or {})
    metadata["deeplake/staging_branch"] = dg.MetadataValue.text(
        stage.name if not check.passed else f"{stage.name} (published and deleted)"
    )
    return check._replace(metadata=metadata)


def verify_new_media(staged: Any, stage: "Stage") -> None:
    """The frames or images this run added read back as image files (storage lost nothing)."""
    from lb_assets.store.schema import media_column
    from lb_assets.store.verify import verify_media

    names = {c.name for c in staged.schema.columns}
    column = next((c for c in (media_column("video"), media_column("image")) if c in names), None)
    if column is not None:
        verify_media(staged, column, stage.rows_before, len(staged), f"staging branch {stage.name}")


def speed_metadata(rows: int, seconds: float, size_before: int, path: str) -> dict[str, Any]:
    """Numeric metadata the asset page plots across runs: rows per second, seconds, bytes written (local)."""
    size = observe.dataset_size(path)
    return dict(
        DeepLakeMetadataSet(
            rows_per_second=round(rows / seconds, 2) if seconds > 0 else 0.0,
            build_seconds=round(seconds, 2),
            bytes_written=max(0, size - size_before) if size is not None else None,
        )
    )


def row_keys(ds: Any) -> list[str]:
    """Every row key of a dataset, in row order (`lb_assets.store.row_keys.read_row_keys`)."""
    from lb_assets.store.row_keys import read_row_keys

    return read_row_keys(ds)


def settings_metadata(settings: Any) -> dict[str, Any]:
    """``labelbox/project_settings``: the project's effective settings for this run (projects.yaml + run config)."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(settings).items()}
    return {"labelbox/project_settings": dg.MetadataValue.json(values)}


def require_export(storage: StorageResource, pid: str) -> Path:
    """A local file of the project's current export (a checked cached copy when the export is on s3)."""
    try:
        return local_export(storage.export_location(pid))
    except ConfigError as exc:
        raise ConfigError(f"Project {pid}: {exc}") from None


def open_existing(path: str, storage: StorageResource, pid: str) -> Any:
    from lb_assets.store.datasets import open_or_create

    ds = open_or_create(path, **storage.open_kwargs())
    if len(ds) == 0:
        raise ConfigError(
            f"Project {pid}: the frame dataset {redact_url(path)} is empty; materialize frame_dataset first"
        )
    return ds


def media_type_from_meta(ds: Any) -> str | None:
    if "labelbox_meta" not in ds.metadata.keys():
        return None
    value = dict(ds.metadata["labelbox_meta"]).get("type")
    return str(value).lower() if value else None


def dataset_metadata(pid: str, path: str, ds: Any, branch: str, commit: str) -> dict[str, Any]:
    """Where a dataset is (``dagster/uri``, redacted), which commit and branch, its rows, columns and size."""
    size = observe.dataset_size(path)
    return (
        {"labelbox/project_id": pid, "dagster/uri": redact_url(path)}
        | column_schema(ds)
        | dict(
            DeepLakeMetadataSet(
                branch=branch,
                commit_id=f"{branch}@{commit}",
                columns=columns_text(c.name for c in ds.schema.columns),
                size_bytes=size,
            )
        )
    )


def columns_text(names: Iterable[str]) -> str:
    """Sorted column names, comma-separated; the ``lb_meta/*`` columns are counted, not listed."""
    names = sorted(names)
    meta = [n for n in names if n.startswith("lb_meta/")]
    text = ", ".join(n for n in names if not n.startswith("lb_meta/"))
    return f"{text} + {len(meta)} lb_meta/* columns" if meta else text


def timestamp_value(iso: str) -> Any:
    """An ISO 8601 time as ``MetadataValue.timestamp`` (shown in the UI's time zone); text if unparsable."""
    try:
        return dg.MetadataValue.timestamp(datetime.fromisoformat(iso.replace("Z", "+00:00")))
    except (ValueError, TypeError, AttributeError):
        return iso


def data_rows_table(infos: list[Any]) -> dg.MetadataValue:
    """The first data rows of the export: id, global key, frames (1 per image), resolution, workflow status."""
    return rows_table(
        [
            {
                "data_row_id": i.data_row_id,
                "global_key": i.global_key or "",
                "frames": (i.frame_count or 0) if str(i.media_type).lower() == "video" else 1,
                "resolution": f"{i.width}x{i.height}",
                "workflow_status": i.workflow_status or "",
            }
            for i in infos[: observe.TABLE_ROWS]
        ],
        {
            "data_row_id": "string",
            "global_key": "string",
            "frames": "int",
            "resolution": "string",
            "workflow_status": "string",
        },
    )


def annotation_metadata(result: Any, tap: observe.ConversionTap, plan: Any) -> dict[str, Any]:
    """What an annotation write did: columns, rows written and labeled, coverage, a sample of rows."""
    return dict(DeepLakeMetadataSet(rows_written=result.rows_written)) | {
        "deeplake/annotation_columns": dg.MetadataValue.json({name: spec.kind for name, spec in plan.columns.items()}),
        "labelbox/labeled_rows": result.labeled_rows,
        "labelbox/labeled_data_rows": tap.labeled_data_rows,
        "labelbox/data_rows": tap.data_rows,
        "labelbox/skipped_unknown_tools": dg.MetadataValue.json(dict(tap.skipped)),
        "deeplake/sample_rows": rows_table(
            tap.table,
            {"row_key": "string", "global_key": "string", "workflow_status": "string", "annotations": "string"},
        ),
    }


def preview_metadata(
    context: dg.AssetExecutionContext, ds: Any, keys: list[str], tap: observe.ConversionTap
) -> dict[str, Any]:
    """``deeplake/preview``: the frame with the most kinds of drawable annotations, drawn, with a legend."""
    best = tap.picker.best
    if best.row_key is None or best.row_key not in keys:
        return {}
    names = {c.name for c in ds.schema.columns}
    column = "frames" if "frames" in names else "image"
    index = keys.index(best.row_key)
    try:
        image = ds[column][index]
        png = render_preview(image, best.values, tap.kinds)
        global_key = str(ds["lb_meta/global_key"][index]) if "lb_meta/global_key" in names else ""
    except (KeyError, ValueError, TypeError, OSError) as exc:
        context.log.warning(f"No preview picture: {type(exc).__name__}: {exc}")
        return {}
    legend = legend_entries(best.values, tap.kinds)
    return {"deeplake/preview": preview_markdown(png, preview_caption(best.row_key, global_key), legend)}


def preview_caption(row_key: str, global_key: str = "") -> str:
    """``"Frame 5 of clip.mp4 (row_key abc:5)"`` for video rows, ``"street.jpg (row_key abc:0)"`` for images."""
    data_row, _, frame = row_key.rpartition(":")
    name = global_key or data_row or row_key
    what = f"Frame {frame} of {name}" if frame not in ("", "0") else name
    return f"{what} (row_key {row_key})"
