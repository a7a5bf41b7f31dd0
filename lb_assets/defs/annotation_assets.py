"""The annotated ``labelbox`` branch and the separate annotation dataset, written from one conversion.

``labelbox_annotations`` is a multi-asset producing ``annotated_branch`` and ``annotation_dataset`` (either can be
materialized alone: ``can_subset``). The export is converted once per run with the ontology snapshot saved
beside it (masks downloaded once), and the converted rows are handed to both writers (`lb_assets.fanout`).
Each writer holds its dataset's one-writer lease, writes a staging branch, and publishes it only when its
blocking check passes (`lb_assets.store.publish`).
"""

# No `from __future__ import annotations` here: Dagster resolves Config and resource parameters from the
# annotations at definition time.

import contextlib
from collections.abc import Iterator
from typing import Any

import dagster as dg

from lb_assets import pipeline
from lb_assets.defs import checks, observe
from lb_assets.defs.asset_support import (
    BRANCH,
    DEEPLAKE_GROUP,
    MEDIA_RETRY,
    OWNERS,
    TAGS,
    annotation_metadata,
    dataset_metadata,
    media_type_from_meta,
    one_writer,
    open_existing,
    preview_metadata,
    require_export,
    row_keys,
    secrets_of,
    settings_metadata,
    with_stage,
)
from lb_assets.defs.config import AnnotationsConfig
from lb_assets.defs.exports import ExportPlace, export_uri, read_ontology_snapshot, snapshot_ontology
from lb_assets.defs.failures import step_errors
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.metadata import DeepLakeMetadataSet
from lb_assets.defs.partitions import labelbox_projects
from lb_assets.defs.resources import PresignerResource, StorageResource
from lb_assets.errors import ConfigError
from lb_assets.projects import settings_for

ANNOTATED_BRANCH = "annotated_branch"
ANNOTATION_DATASET = "annotation_dataset"


def _spec(key: str, deps: list[str], description: str) -> dg.AssetSpec:
    """One of the two annotation assets: same group, kinds, owners, tags and code version."""
    return dg.AssetSpec(
        key,
        deps=deps,
        group_name=DEEPLAKE_GROUP,
        kinds={"deeplake", "labelbox"},
        owners=OWNERS,
        tags=TAGS,
        code_version="2",
        skippable=True,
        description=description,
    )


@dg.multi_asset(
    name="labelbox_annotations",
    specs=[
        _spec(
            ANNOTATED_BRANCH,
            ["frame_dataset"],
            "The 'labelbox' branch of the frame dataset with the current annotations as a new commit "
            "(main keeps no annotation column).",
        ),
        _spec(
            ANNOTATION_DATASET,
            ["labelbox_project_export", "frame_dataset"],
            "A separate Deep Lake dataset of row_key + annotations + lb_meta, row for row with the frame "
            "dataset (same length, labelbox_meta and row keys) so the two can be joined or combined.",
        ),
    ],
    check_specs=[
        *checks.annotated_branch_specs(ANNOTATED_BRANCH),
        *checks.annotation_dataset_specs(ANNOTATION_DATASET),
    ],
    can_subset=True,
    partitions_def=labelbox_projects,
    retry_policy=MEDIA_RETRY,
)
def labelbox_annotations(
    context: dg.AssetExecutionContext,
    config: AnnotationsConfig,
    labelbox: LabelboxResource,
    storage: StorageResource,
    presigner: PresignerResource,
) -> Iterator[dg.MaterializeResult]:
    """Convert the export once and write the selected annotation assets, each staged, checked and published."""
    from lb_assets.fanout import fan_out

    pid = context.partition_key
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    secrets = secrets_of(labelbox, presigner, storage)
    with step_errors("labelbox_annotations", pid, secrets), contextlib.ExitStack() as held:
        frames = open_existing(storage.frames_path(pid), storage, pid)
        writers: dict[str, Any] = {}
        if ANNOTATED_BRANCH in selected:
            held.enter_context(one_writer(context, storage, f"frames@{BRANCH}", storage.frames_path(pid), secrets))
            writers[ANNOTATED_BRANCH] = _BranchWriter(context, storage, frames)
        if ANNOTATION_DATASET in selected:
            path = storage.annotations_path(pid)
            held.enter_context(one_writer(context, storage, "annotations@main", path, secrets))
            writers[ANNOTATION_DATASET] = _DatasetWriter(context, storage, frames, config.repair)
        settings, plan, tap, rows = _converted_rows(context, config, labelbox, storage, presigner, frames)
        written = fan_out(rows, {name: _consumer(writer, plan) for name, writer in writers.items()})
        tap.finish()
        results = [writer.publish(written[name], tap, plan, settings) for name, writer in writers.items()]
    yield from results


def _consumer(writer: Any, plan: Any) -> Any:
    return lambda rows: writer.write(rows, plan)


class _BranchWriter:
    """Writes the ``labelbox`` branch of the frame dataset through a staging branch."""

    def __init__(self, context: dg.AssetExecutionContext, storage: StorageResource, main: Any) -> None:
        from lb_assets.store.branches import ensure_branch
        from lb_assets.store.publish import Stage

        self.context, self.main = context, main
        self.pid, self.path = context.partition_key, storage.frames_path(context.partition_key)
        self.stage = Stage.open(
            ensure_branch(main, BRANCH, sync=False), self.path, context.run_id, storage.open_kwargs()
        )

    def write(self, rows: Iterator[Any], plan: Any) -> Any:
        """Bring main's new rows onto the stage and rewrite every annotation column (one commit)."""
        from lb_assets.store import health
        from lb_assets.store.annotations import apply_annotations
        from lb_assets.store.branches import sync_branch

        with self.stage.writing():
            sync_branch(self.stage.ds, "main")
            return apply_annotations(
                self.stage.ds,
                rows,
                plan,
                commit_message=f"Labelbox annotations of project {self.pid}",
                before_commit=lambda: health.check_free_space(self.path),
            )

    def publish(self, result: Any, tap: observe.ConversionTap, plan: Any, settings: Any) -> dg.MaterializeResult:
        """Publish when the branch holds every row of main; the materialization with all its checks."""
        main_keys = row_keys(self.main)
        contains, commit = self.stage.publish(
            f"lb_assets: publish annotations of project {self.pid} (run {self.context.run_id})",
            check=lambda staged: checks.check_branch_contains_main(main_keys, row_keys(staged)),
        )
        branch = self.stage.published
        return dg.MaterializeResult(
            asset_key=ANNOTATED_BRANCH,
            data_version=dg.DataVersion(commit),
            check_results=_of(
                ANNOTATED_BRANCH,
                [
                    with_stage(contains, self.stage),
                    checks.check_coverage(tap.labeled_frames, tap.frames, tap.labeled_data_rows, tap.data_rows),
                    checks.check_unknown_tools(tap.skipped, tap.invalid_by_data_row, tap.clipped),
                ],
            ),
            metadata=dataset_metadata(self.pid, self.path, branch, BRANCH, commit)
            | preview_metadata(self.context, branch, row_keys(branch), tap)
            | annotation_metadata(result, tap, plan)
            | settings_metadata(settings)
            | dict(DeepLakeMetadataSet(published=contains.passed)),
        )


class _DatasetWriter:
    """Writes the separate annotation dataset through a staging branch (or a rebuild, with ``repair``)."""

    def __init__(self, context: dg.AssetExecutionContext, storage: StorageResource, frames: Any, repair: bool) -> None:
        from lb_assets.store import repair as repairs
        from lb_assets.store.atomic import read_meta
        from lb_assets.store.datasets import open_or_create
        from lb_assets.store.publish import Stage

        self.context, self.frames, self.repair, self.storage = context, frames, repair, storage
        self.frames_meta = read_meta(frames)  # here, before the writers' threads start (see write_annotations_into)
        self.pid, self.path = context.partition_key, storage.annotations_path(context.partition_key)
        self.target = repairs.rebuild_path(self.path, context.run_id) if repair else self.path
        self.stage = Stage.open(
            open_or_create(self.target, **storage.open_kwargs()), self.target, context.run_id, storage.open_kwargs()
        )

    def write(self, rows: Iterator[Any], plan: Any) -> Any:
        """Align with the frames and rewrite every annotation column (one commit)."""
        from lb_assets.store import health
        from lb_assets.store.annotation_dataset import write_annotations_into

        with self.stage.writing():
            return write_annotations_into(
                self.stage.ds,
                self.frames,
                rows,
                plan,
                self.target,
                before_commit=lambda: health.check_free_space(self.target),
                frames_meta=self.frames_meta,
            )

    def publish(self, result: Any, tap: observe.ConversionTap, plan: Any, settings: Any) -> dg.MaterializeResult:
        """Publish when the dataset lines up with the frames (and swap a repaired one in)."""
        from lb_assets.store import repair as repairs
        from lb_assets.store.datasets import open_or_create

        check, commit = self.stage.publish(
            f"lb_assets: publish the annotation dataset of project {self.pid}",
            check=lambda staged: checks.check_union_compatible(self.frames, staged),
        )
        if self.repair and check.passed:
            aside = repairs.swap_in(self.path, self.target)
            self.context.log.warning(f"Project {self.pid}: annotation dataset rebuilt; the damaged one is at {aside}")
        shown = self.target if self.repair and not check.passed else self.path
        ann = open_or_create(shown, **self.storage.open_kwargs())
        return dg.MaterializeResult(
            asset_key=ANNOTATION_DATASET,
            data_version=dg.DataVersion(commit),
            check_results=_of(ANNOTATION_DATASET, [with_stage(check, self.stage)]),
            metadata=dataset_metadata(self.pid, self.path, ann, "main", commit)
            | annotation_metadata(result, tap, plan)
            | settings_metadata(settings)
            | dict(DeepLakeMetadataSet(published=check.passed)),
        )


def _of(asset: str, results: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    """The check results, naming the asset they check (a multi-asset has several)."""
    return [result._replace(asset_key=dg.AssetKey(asset)) for result in results]


def _converted_rows(
    context: dg.AssetExecutionContext,
    config: AnnotationsConfig,
    labelbox: LabelboxResource,
    storage: StorageResource,
    presigner: PresignerResource,
    frames: Any,
) -> tuple[Any, Any, observe.ConversionTap, Iterator[Any]]:
    """The effective settings, the ontology plan, a coverage tap and the lazily converted rows of the export."""
    pid = context.partition_key
    export_file = require_export(storage, pid)
    settings = config.apply(settings_for(pid))
    media_type = settings.media_type or media_type_from_meta(frames) or "video"
    plan = pipeline.column_plan(
        _ontology(labelbox, pid, storage.export_location(pid)), media_type, settings.group_mapping
    )
    settings = settings.with_overrides(media_type=media_type)
    tap = observe.ConversionTap(plan, context.log, pid)
    masks = pipeline.FetcherMaskSource(presigner.mask_fetcher(labelbox.api_key, labelbox.endpoint))
    return (
        settings,
        plan,
        tap,
        tap.wrap(
            pipeline.iter_converted(
                export_file, pid, plan, policy=settings.label_policy, strict=settings.strict, masks=masks
            )
        ),
    )


def _ontology(labelbox: LabelboxResource, pid: str, export_dir: ExportPlace) -> dict[str, Any]:
    """The ontology snapshot saved with the export (taken now for an export made before snapshots)."""
    snapshot = read_ontology_snapshot(export_dir)
    if snapshot is None and snapshot_ontology(labelbox, pid, export_dir) is not None:
        snapshot = read_ontology_snapshot(export_dir)
    if snapshot is None:
        raise ConfigError(f"Project {pid}: the export at {export_uri(export_dir)} names no ontology id")
    return snapshot
