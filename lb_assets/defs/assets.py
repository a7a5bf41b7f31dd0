"""The asset graph: Labelbox project export -> Deep Lake frames -> annotated branch + annotation dataset.

This module holds the upload, the export and the frame dataset; the two annotation assets, written from one
conversion of the export, are in ``lb_assets.defs.annotation_assets``.

Every asset is partitioned by Labelbox project id (``labelbox_projects``) except
``labelbox_annotation_project``, which creates a project from media files and adds its partition.
The assets are thin: the work is done by ``lb_assets.labelbox``, ``lb_assets.media``, ``lb_assets.convert``
and ``lb_assets.store`` (imported inside the functions so loading the definitions stays fast).
"""

# No `from __future__ import annotations` here: Dagster resolves Config and resource parameters from the
# annotations at definition time.

import hashlib

import dagster as dg

from lb_assets.defs.annotation_assets import labelbox_annotations
from lb_assets.defs.asset_support import (
    LABELBOX_GROUP,
    LABELBOX_RETRY,
    OWNERS,
    TAGS,
    one_writer,
    secrets_of,
    timestamp_value,
)
from lb_assets.defs.config import AnnotationProjectConfig, ExportConfig
from lb_assets.defs.exports import export_uri, refresh_export, snapshot_ontology
from lb_assets.defs.failures import step_errors
from lb_assets.defs.frame_assets import frame_dataset
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.partitions import ensure_partitions, labelbox_projects
from lb_assets.defs.resources import StorageResource


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
    with step_errors("labelbox_annotation_project", config.lb_project_name, secrets_of(labelbox)):
        result = labelbox.upload_media(
            files=config.files,
            lb_dataset_name=config.lb_dataset_name,
            lb_project_name=config.lb_project_name,
            lb_ontology=config.lb_ontology_id,
            lb_batch_priority=config.lb_batch_priority,
            data_upload_strategy=config.data_upload_strategy.value,
            lb_batches_name=config.lb_batches_name,
            lb_iam_integration_id=config.lb_iam_integration_id,
            media_type=config.media_type.value,
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
    description="The project's Labelbox export v2 (NDJSON) under the storage root (local or s3://); incremental "
    "after the first run.",
)
def labelbox_project_export(
    context: dg.AssetExecutionContext, config: ExportConfig, labelbox: LabelboxResource, storage: StorageResource
) -> dg.MaterializeResult:
    """Export (or refresh) one project and snapshot its ontology; the data version covers both."""
    pid = context.partition_key
    export_dir = storage.export_location(pid)
    secrets = secrets_of(labelbox, storage)
    with (
        step_errors("labelbox_project_export", pid, secrets),
        one_writer(context, storage, "export", export_uri(export_dir), secrets),
    ):
        outcome = refresh_export(
            labelbox, pid, export_dir, config.full_refresh, config.interpolated_frames, context.log
        )
        ontology_sha = snapshot_ontology(labelbox, pid, export_dir)
    s = outcome.summary
    context.log.info(f"Project {pid}: {outcome.mode} export, {s.data_rows} data rows, {s.labels} labels")
    version = s.sha256 if ontology_sha is None else hashlib.sha256(f"{s.sha256}:{ontology_sha}".encode()).hexdigest()
    return dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata={
            "labelbox/project_id": pid,
            "labelbox/export_mode": outcome.mode,
            "labelbox/export_reason": outcome.reason,
            "labelbox/delta_data_rows": outcome.delta_rows,
            "labelbox/max_last_activity_at": outcome.max_last_activity_at or "(no activity yet)",
            "labelbox/labeled_data_rows": s.labeled_rows,
            "labelbox/labels": s.labels,
            "labelbox/workflow_status_counts": dg.MetadataValue.json(dict(s.workflow_counts)),
            "labelbox/exported_at": timestamp_value(s.exported_at),
            "labelbox/export_bytes": dg.MetadataValue.int(s.bytes),
            "labelbox/export_sha256": s.sha256,
            "labelbox/ontology_sha256": ontology_sha or "(no ontology yet)",
            "dagster/row_count": s.data_rows,
            "dagster/uri": export_uri(export_dir),
        },
    )


ALL_ASSETS = [labelbox_annotation_project, labelbox_project_export, frame_dataset, labelbox_annotations]
PROJECT_ASSETS = [labelbox_project_export, frame_dataset, labelbox_annotations]
