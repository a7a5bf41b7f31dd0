"""The asset graph: Labelbox project export -> Deep Lake frames -> annotated branch, + annotation dataset.

Every asset is partitioned by Labelbox project id (``labelbox_projects``) except
``labelbox_annotation_project``, which creates a project from media files and adds its partition.
The assets are thin: the work is done by ``lb_assets.labelbox``, ``lb_assets.media``, ``lb_assets.convert``
and ``lb_assets.store`` (imported inside the functions so loading the definitions stays fast).
"""

# No `from __future__ import annotations` here: Dagster resolves Config and resource parameters from the
# annotations at definition time.

import contextlib
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from lb_assets.defs import checks, pipeline
from lb_assets.defs.config import AnnotationProjectConfig, AnnotationsConfig, ExportConfig, FramesConfig
from lb_assets.defs.exports import export_path, refresh_export
from lb_assets.defs.failures import step_errors
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.partitions import ensure_partitions, labelbox_projects
from lb_assets.defs.preview import human_size, legend_entries, preview_markdown, render_preview, rows_table
from lb_assets.defs.projects import settings_for
from lb_assets.defs.resources import PresignerResource, StorageResource
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


@dg.asset(
    group_name=LABELBOX_GROUP,
    kinds={"labelbox"},
    owners=OWNERS,
    tags=TAGS,
    code_version="1",
    pool="labelbox_api",
    retry_policy=LABELBOX_RETRY,
    description="Uploads media files to Labelbox and creates an annotation project (run config: files, names). "
    "Adds the new project as a partition of the other assets.",
)
def labelbox_annotation_project(
    context: dg.AssetExecutionContext, config: AnnotationProjectConfig, labelbox: LabelboxResource
) -> dg.MaterializeResult:
    """Create (or reuse) a Labelbox dataset + project holding the configured media."""
    with step_errors("labelbox_annotation_project", config.lb_project_name, (labelbox.api_key,)):
        result = labelbox.upload_media(
            files=config.files,
            lb_dataset_name=config.lb_dataset_name,
            lb_project_name=config.lb_project_name,
            lb_ontology=config.lb_ontology_id,
            lb_batch_priority=config.lb_batch_priority,
            data_upload_strategy=config.data_upload_strategy,
            lb_batches_name=config.lb_batches_name,
            lb_iam_integration_id=config.lb_iam_integration_id,
            media_type=config.media_type.upper(),
        )
    ensure_partitions(context.instance, [result.project_id])
    context.log.info(f"Labelbox project {result.project_id} holds {len(result.data_row_ids)} data rows")
    return dg.MaterializeResult(
        metadata={
            "labelbox/project_id": result.project_id,
            "labelbox/dataset_id": result.dataset_id,
            "labelbox/data_rows": len(result.data_row_ids),
            "labelbox/files": len(config.files),
        }
    )


@dg.asset(
    partitions_def=labelbox_projects,
    group_name=LABELBOX_GROUP,
    kinds={"labelbox", "json"},
    owners=OWNERS,
    tags=TAGS,
    code_version="1",
    pool="labelbox_api",
    retry_policy=LABELBOX_RETRY,
    description="The project's Labelbox export v2 (NDJSON) on local storage; incremental after the first run.",
)
def labelbox_project_export(
    context: dg.AssetExecutionContext, config: ExportConfig, labelbox: LabelboxResource, storage: StorageResource
) -> dg.MaterializeResult:
    """Export (or refresh) one project; the data version is the file's sha256."""
    pid = context.partition_key
    export_dir = storage.export_dir(pid)
    secrets = (labelbox.api_key,)
    with step_errors("labelbox_project_export", pid, secrets), _one_writer(context, storage, "export", str(export_dir),
                                                                              secrets):
        outcome = refresh_export(
            labelbox, pid, storage.export_dir(pid), config.full_refresh, config.interpolated_frames, context.log
        )
    s = outcome.summary
    context.log.info(f"Project {pid}: {outcome.mode} export, {s.data_rows} data rows, {s.labels} labels")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(s.sha256),
        metadata={
            "labelbox/project_id": pid,
            "labelbox/export_mode": outcome.mode,
            "labelbox/export_reason": outcome.reason,
            "labelbox/delta_data_rows": outcome.delta_rows,
            "labelbox/max_last_activity_at": outcome.max_last_activity_at or "(no activity yet)",
            "labelbox/labeled_data_rows": s.labeled_rows,
            "labelbox/labels": s.labels,
            "labelbox/workflow_status_counts": dg.MetadataValue.json(dict(s.workflow_counts)),
            "labelbox/exported_at": _timestamp(s.exported_at),
            "labelbox/export_size": human_size(s.bytes),
            "labelbox/export_sha256": s.sha256,
            "dagster/row_count": s.data_rows,
            "dagster/uri": str(export_path(storage.export_dir(pid))),
        },
    )


@dg.asset(
    partitions_def=labelbox_projects,
    deps=[labelbox_project_export],
    group_name=DEEPLAKE_GROUP,
    kinds={"deeplake", "video", "image"},
    owners=OWNERS,
    tags=TAGS,
    code_version="1",
    retry_policy=MEDIA_RETRY,
    check_specs=checks.frame_dataset_specs("frame_dataset"),
    description="Deep Lake dataset of the project's frames (video) or images on main, with labelbox_meta. "
    "A refresh appends only data rows not decoded yet.",
)
def frame_dataset(
    context: dg.AssetExecutionContext, config: FramesConfig, storage: StorageResource, presigner: PresignerResource
) -> dg.MaterializeResult:
    """Decode new data rows onto a staging branch, check it, then publish it to main (write-audit-publish)."""
    from lb_assets.store import health, repair
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.atomic import read_meta
    from lb_assets.store.frames import build_frame_dataset
    from lb_assets.store.publish import Stage

    pid = context.partition_key
    path = storage.frames_path(pid)
    secrets = _secrets(presigner, storage)
    with step_errors("frame_dataset", pid, secrets), _one_writer(context, storage, "frames@main", path, secrets):
        export_file = _require_export(storage, pid)
        infos = pipeline.read_infos(export_file, pid)
        settings = config.apply(settings_for(pid))
        target = repair.rebuild_path(path, context.run_id) if config.repair else path
        stage = Stage.open(open_or_create(target, **storage.open_kwargs()), target, context.run_id,
                           storage.open_kwargs())
        reporter = pipeline.ProgressLogger(context.log, pid)
        started, size_before = time.monotonic(), pipeline.dataset_size(target) or 0
        with stage.writing():
            result = build_frame_dataset(
                stage.ds,
                infos,
                presigner.media_fetcher(settings.allowed_roots),
                storage=settings.frame_storage,
                batch_size=config.batch_size,
                frame_count_policy=settings.frame_count_policy,
                progress=reporter,
                before_commit=lambda: health.check_free_space(target),
                commit_every=config.commit_every,
                meta_key=stage.meta_key,
            )
            reporter.finish("frames" if infos and str(infos[0].media_type).lower() == "video" else "images")
        check, commit = stage.publish(
            f"lb_assets: publish frames of project {pid} (run {context.run_id})",
            check=lambda staged: checks.check_frame_counts(pipeline.row_keys(staged), infos),
            audits=(lambda staged: _verify_new_media(staged, stage),),
        )
        if config.repair and check.passed:
            aside = repair.swap_in(path, target)
            context.log.warning(f"Project {pid}: frame dataset rebuilt; the damaged one is kept at {aside}")
        ds = open_or_create(target if config.repair and not check.passed else path, **storage.open_kwargs())
        speed = _speed(result.rows_added, time.monotonic() - started, size_before, path)
    meta = read_meta(ds) or {}
    return dg.MaterializeResult(
        data_version=dg.DataVersion(commit),
        check_results=[_with_stage(check, stage)],
        metadata=_dataset_metadata(pid, path, ds, "main", commit)
        | {
            "deeplake/rows_added": result.rows_added,
            "deeplake/data_rows_added": result.data_rows_added,
            "deeplake/data_rows_skipped": result.data_rows_skipped,
            "deeplake/sources": len(meta.get("sources", [])),
            "deeplake/frame_storage": settings.frame_storage,
            "deeplake/published": check.passed,
            "labelbox/data_rows": _data_rows_table(infos),
        }
        | speed,
    )


@dg.asset(
    partitions_def=labelbox_projects,
    deps=[frame_dataset],
    group_name=DEEPLAKE_GROUP,
    kinds={"deeplake", "labelbox"},
    owners=OWNERS,
    tags=TAGS,
    code_version="1",
    retry_policy=MEDIA_RETRY,
    check_specs=checks.annotated_branch_specs("annotated_branch"),
    description="The 'labelbox' branch of the frame dataset with the current annotations as a new commit "
    "(main keeps no annotation column).",
)
def annotated_branch(
    context: dg.AssetExecutionContext,
    config: AnnotationsConfig,
    labelbox: LabelboxResource,
    storage: StorageResource,
    presigner: PresignerResource,
) -> dg.MaterializeResult:
    """Apply the export's annotations on a staging branch of ``labelbox``, check it, then publish it."""
    from lb_assets.store import health
    from lb_assets.store.annotations import apply_annotations
    from lb_assets.store.branches import ensure_branch, sync_branch
    from lb_assets.store.publish import Stage

    pid = context.partition_key
    path = storage.frames_path(pid)
    secrets = (labelbox.api_key, *_secrets(presigner, storage))
    with step_errors("annotated_branch", pid, secrets), _one_writer(context, storage, f"frames@{BRANCH}", path, secrets):
        if config.repair:
            raise ConfigError(f"Project {pid}: the labelbox branch lives in the frame dataset; repair it by "
                              "materializing frame_dataset with repair: true, then annotated_branch")
        main = _open_existing(path, storage, pid)
        plan, tap, rows = _converted_rows(context, config, labelbox, storage, presigner, main)
        stage = Stage.open(ensure_branch(main, BRANCH, sync=False), path, context.run_id, storage.open_kwargs())
        with stage.writing():
            sync_branch(stage.ds, "main")
            result = apply_annotations(stage.ds, rows, plan, commit_message=f"Labelbox annotations of project {pid}",
                                       before_commit=lambda: health.check_free_space(path))
            tap.finish()
        main_keys = pipeline.row_keys(main)
        contains, commit = stage.publish(
            f"lb_assets: publish annotations of project {pid} (run {context.run_id})",
            check=lambda staged: checks.check_branch_contains_main(main_keys, pipeline.row_keys(staged)),
        )
        branch = stage.published
        branch_keys = pipeline.row_keys(branch)
    check_results = [
        _with_stage(contains, stage),
        checks.check_coverage(tap.labeled_frames, tap.frames, tap.labeled_data_rows, tap.data_rows),
        checks.check_unknown_tools(tap.skipped, tap.invalid_by_data_row, tap.clipped),
    ]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(commit),
        check_results=check_results,
        metadata=_dataset_metadata(pid, path, branch, BRANCH, commit)
        | _preview(context, branch, branch_keys, tap)
        | _annotation_metadata(result, tap, plan)
        | {"deeplake/published": contains.passed},
    )


@dg.asset(
    partitions_def=labelbox_projects,
    deps=[labelbox_project_export, frame_dataset],
    group_name=DEEPLAKE_GROUP,
    kinds={"deeplake", "labelbox"},
    owners=OWNERS,
    tags=TAGS,
    code_version="1",
    retry_policy=MEDIA_RETRY,
    check_specs=checks.annotation_dataset_specs("annotation_dataset"),
    description="A separate Deep Lake dataset of row_key + annotations + lb_meta, row for row with the frame "
    "dataset (same length, labelbox_meta and row keys) so the two can be joined or combined.",
)
def annotation_dataset(
    context: dg.AssetExecutionContext,
    config: AnnotationsConfig,
    labelbox: LabelboxResource,
    storage: StorageResource,
    presigner: PresignerResource,
) -> dg.MaterializeResult:
    """Write the annotation dataset on a staging branch, check it against the frames, then publish it."""
    from lb_assets.store import health, repair
    from lb_assets.store.annotation_dataset import write_annotations_into
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.publish import Stage

    pid = context.partition_key
    path = storage.annotations_path(pid)
    secrets = (labelbox.api_key, *_secrets(presigner, storage))
    with step_errors("annotation_dataset", pid, secrets), _one_writer(context, storage, "annotations@main", path, secrets):
        frames = _open_existing(storage.frames_path(pid), storage, pid)
        plan, tap, rows = _converted_rows(context, config, labelbox, storage, presigner, frames)
        target = repair.rebuild_path(path, context.run_id) if config.repair else path
        stage = Stage.open(open_or_create(target, **storage.open_kwargs()), target, context.run_id,
                           storage.open_kwargs())
        with stage.writing():
            result = write_annotations_into(stage.ds, frames, rows, plan, target,
                                            before_commit=lambda: health.check_free_space(target))
            tap.finish()
        check, commit = stage.publish(
            f"lb_assets: publish the annotation dataset of project {pid}",
            check=lambda staged: checks.check_union_compatible(frames, staged),
        )
        if config.repair and check.passed:
            aside = repair.swap_in(path, target)
            context.log.warning(f"Project {pid}: annotation dataset rebuilt; the damaged one is kept at {aside}")
        ann = open_or_create(target if config.repair and not check.passed else path, **storage.open_kwargs())
    return dg.MaterializeResult(
        data_version=dg.DataVersion(commit),
        check_results=[_with_stage(check, stage)],
        metadata=_dataset_metadata(pid, path, ann, "main", commit)
        | _annotation_metadata(result, tap, plan)
        | {"deeplake/published": check.passed},
    )


ALL_ASSETS = [labelbox_annotation_project, labelbox_project_export, frame_dataset, annotated_branch, annotation_dataset]
PROJECT_ASSETS = [labelbox_project_export, frame_dataset, annotated_branch, annotation_dataset]


def _secrets(presigner: PresignerResource, storage: StorageResource | None = None) -> tuple[str | None, ...]:
    return (presigner.api_key, presigner.sas_token, presigner.header_value,
            storage.deeplake_token if storage is not None else None)


@contextlib.contextmanager
def _one_writer(
    context: dg.AssetExecutionContext, storage: StorageResource, what: str, path: str, secrets: tuple[str | None, ...]
) -> Iterator[None]:
    """Hold the partition's one-writer lease ``what`` (waiting for another run) and name storage failures."""
    from lb_assets.store import lease
    from lb_assets.store.health import storage_errors

    directory = storage.lease_dir(context.partition_key)
    with storage_errors(path, secrets), lease.hold(
        directory, what, context.run_id, storage.lease_wait_seconds, log=context.log
    ):
        yield


def _with_stage(check: dg.AssetCheckResult, stage: "Stage") -> dg.AssetCheckResult:
    """The check result with the staging branch it read (kept for inspection when the check failed)."""
    metadata = dict(check.metadata or {})
    metadata["deeplake/staging_branch"] = dg.MetadataValue.text(
        stage.name if not check.passed else f"{stage.name} (published and deleted)"
    )
    return check._replace(metadata=metadata)


def _verify_new_media(staged: Any, stage: "Stage") -> None:
    """The frames or images this run added read back as image files (storage lost nothing)."""
    from lb_assets.store.schema import media_column
    from lb_assets.store.verify import verify_media

    names = {c.name for c in staged.schema.columns}
    column = next((c for c in (media_column("video"), media_column("image")) if c in names), None)
    if column is not None:
        verify_media(staged, column, stage.rows_before, len(staged), f"staging branch {stage.name}")


def _speed(rows: int, seconds: float, size_before: int, path: str) -> dict[str, Any]:
    """Numeric metadata the asset page plots across runs: rows per second, seconds, bytes written (local)."""
    out: dict[str, Any] = {
        "deeplake/rows_per_second": dg.MetadataValue.float(round(rows / seconds, 2) if seconds > 0 else 0.0),
        "deeplake/build_seconds": dg.MetadataValue.float(round(seconds, 2)),
    }
    size = pipeline.dataset_size(path)
    if size is not None:
        out["deeplake/bytes_written"] = dg.MetadataValue.int(max(0, size - size_before))
    return out


def _require_export(storage: StorageResource, pid: str) -> Path:
    path = export_path(storage.export_dir(pid))
    if not path.exists():
        raise ConfigError(f"Project {pid}: no export at {path}; materialize labelbox_project_export first")
    return path


def _open_existing(path: str, storage: StorageResource, pid: str) -> Any:
    from lb_assets.store.datasets import open_or_create

    ds = open_or_create(path, **storage.open_kwargs())
    if len(ds) == 0:
        raise ConfigError(f"Project {pid}: the frame dataset {redact_url(path)} is empty; materialize frame_dataset first")
    return ds


def _converted_rows(
    context: dg.AssetExecutionContext,
    config: AnnotationsConfig,
    labelbox: LabelboxResource,
    storage: StorageResource,
    presigner: PresignerResource,
    frames: Any,
) -> tuple[Any, pipeline.ConversionTap, Any]:
    """The ontology plan, a progress/coverage tap, and the lazily converted rows of the partition's export."""
    pid = context.partition_key
    export_file = _require_export(storage, pid)
    settings, plan = _plan(labelbox, export_file, pid, config, frames)
    tap = pipeline.ConversionTap(plan, context.log, pid)
    masks = pipeline.FetcherMaskSource(presigner.mask_fetcher(labelbox.api_key, labelbox.endpoint))
    return plan, tap, tap.wrap(pipeline.iter_converted(export_file, pid, plan, settings, masks))


def _plan(labelbox: LabelboxResource, export_file: Path, pid: str, config: AnnotationsConfig, frames: Any) -> tuple[Any, Any]:
    settings = config.apply(settings_for(pid))
    media_type = settings.media_type or _media_type_from_meta(frames) or "video"
    plan = pipeline.build_plan(labelbox, export_file, pid, media_type, settings.group_mapping)
    return settings.with_overrides(media_type=media_type), plan


def _media_type_from_meta(ds: Any) -> str | None:
    if "labelbox_meta" not in ds.metadata.keys():
        return None
    value = dict(ds.metadata["labelbox_meta"]).get("type")
    return str(value).lower() if value else None


def _dataset_metadata(pid: str, path: str, ds: Any, branch: str, commit: str) -> dict[str, Any]:
    """Where a dataset is (``dagster/uri``, redacted), which commit and branch, its rows, columns and size."""
    size = pipeline.dataset_size(path)
    meta: dict[str, Any] = {
        "labelbox/project_id": pid,
        "deeplake/branch": branch,
        "deeplake/commit_id": commit,
        "dagster/row_count": len(ds),
        "dagster/uri": redact_url(path),
        "deeplake/columns": columns_text(c.name for c in ds.schema.columns),
    }
    if size is not None:
        meta["deeplake/size"] = human_size(size)
    return meta


def columns_text(names: Iterable[str]) -> str:
    """Sorted column names, comma-separated; the ``lb_meta/*`` columns are counted, not listed."""
    names = sorted(names)
    meta = [n for n in names if n.startswith("lb_meta/")]
    text = ", ".join(n for n in names if not n.startswith("lb_meta/"))
    return f"{text} + {len(meta)} lb_meta/* columns" if meta else text


def _timestamp(iso: str) -> Any:
    """An ISO 8601 time as ``MetadataValue.timestamp`` (shown in the UI's time zone); text if unparsable."""
    try:
        return dg.MetadataValue.timestamp(datetime.fromisoformat(iso.replace("Z", "+00:00")))
    except (ValueError, TypeError, AttributeError):
        return iso


def _data_rows_table(infos: list[Any]) -> dg.MetadataValue:
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
            for i in infos[: pipeline.TABLE_ROWS]
        ],
        {"data_row_id": "string", "global_key": "string", "frames": "int", "resolution": "string",
         "workflow_status": "string"},
    )


def _annotation_metadata(result: Any, tap: pipeline.ConversionTap, plan: Any) -> dict[str, Any]:
    return {
        "deeplake/annotation_columns": dg.MetadataValue.json(
            {name: spec.kind for name, spec in plan.columns.items()}
        ),
        "deeplake/rows_written": result.rows_written,
        "labelbox/labeled_rows": result.labeled_rows,
        "labelbox/labeled_data_rows": tap.labeled_data_rows,
        "labelbox/data_rows": tap.data_rows,
        "labelbox/skipped_unknown_tools": dg.MetadataValue.json(dict(tap.skipped)),
        "deeplake/sample_rows": rows_table(
            tap.table,
            {"row_key": "string", "global_key": "string", "workflow_status": "string", "annotations": "string"},
        ),
    }


def _preview(context: dg.AssetExecutionContext, ds: Any, keys: list[str], tap: pipeline.ConversionTap) -> dict[str, Any]:
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
