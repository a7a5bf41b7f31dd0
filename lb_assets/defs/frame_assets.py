"""``frame_dataset``: a project's new frames built in shards by separate steps, then checked and published.

One asset in the lineage, computed by a graph: ``plan_frames`` splits the data rows not yet published into
shards (``shard_frames`` frames each) and branches one shard branch per shard; ``build_frame_shard`` runs once
per shard (Dagster dynamic fan-out: with the multiprocess or Celery executor the shards run in parallel, on
different workers), each on its own branch, committing every ``commit_every`` data rows so a retried or
relaunched run resumes; ``publish_frames`` takes the dataset's one-writer lease, merges the shards into the
run's staging branch in order, runs the blocking check on it and publishes (`lb_assets.store.publish`).
"""

# No `from __future__ import annotations` here: Dagster resolves Config and resource parameters from the
# annotations at definition time.

import time
from dataclasses import dataclass
from typing import Any

import dagster as dg

from lb_assets import pipeline
from lb_assets.defs import checks, observe
from lb_assets.defs.asset_support import (
    DEEPLAKE_GROUP,
    MEDIA_RETRY,
    OWNERS,
    TAGS,
    data_rows_table,
    dataset_metadata,
    one_writer,
    require_export,
    secrets_of,
    settings_metadata,
    speed_metadata,
    verify_new_media,
    with_stage,
)
from lb_assets.defs.config import FramesConfig
from lb_assets.defs.failures import step_errors
from lb_assets.defs.metadata import DeepLakeMetadataSet
from lb_assets.defs.partitions import labelbox_projects
from lb_assets.defs.resources import PresignerResource, StorageResource
from lb_assets.projects import settings_for

ASSET = "frame_dataset"
CHECK_OUTPUT = f"{ASSET}_{checks.FRAME_COUNTS}"


@dataclass(frozen=True)
class ShardJob:
    """What one shard step builds: the dataset (a rebuild's path under ``repair``) and the shard."""

    path: str
    shard: Any  # lb_assets.store.shards.ShardPlan


@dataclass(frozen=True)
class FramePlan:
    """The build's plan and the dataset it goes to (a rebuild's path under ``repair``)."""

    path: str
    build: Any  # lb_assets.store.shards.BuildPlan
    started: float = 0.0  # when the plan was made (time.time()): the build's wall time runs from here
    size_before: int = 0  # bytes of a local dataset before the build


@dataclass(frozen=True)
class ShardDone:
    """What a shard step did."""

    shard: Any
    rows_added: int
    data_rows_added: int
    seconds: float
    resumed: int = 0  # data rows an earlier attempt had committed on the shard branch


@dg.op(ins={"export": dg.In(dg.Nothing)}, out={"shards": dg.DynamicOut(ShardJob), "plan": dg.Out(FramePlan)})
def plan_frames(context: dg.OpExecutionContext, config: FramesConfig, storage: StorageResource):
    """Split the data rows not yet published into shards; open the run's staging branch and branch the shards."""
    from lb_assets.store import repair
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.publish import Stage
    from lb_assets.store.shards import create_shard_branches, plan_shards

    pid = context.partition_key
    path = storage.frames_path(pid)
    secrets = secrets_of(storage)
    with step_errors("frame_dataset (plan)", pid, secrets), one_writer(context, storage, "frames@main", path, secrets):
        target = repair.rebuild_path(path, context.run_id) if config.repair else path
        infos = pipeline.read_infos(require_export(storage, pid), pid)
        published = open_or_create(target, **storage.open_kwargs())
        plan = plan_shards(published, infos, config.shard_frames)
        stage = Stage.open(published, target, context.run_id, storage.open_kwargs())  # publish_frames resumes it
        with stage.writing():
            create_shard_branches(stage.ds, plan, config.apply(settings_for(pid)).frame_storage)
    context.log.info(
        f"Project {pid}: {sum(len(s.data_row_ids) for s in plan.shards)} new data rows in "
        f"{len(plan.shards)} shard(s); {plan.skipped} already in the dataset"
    )
    size = observe.dataset_size(target) or 0
    yield dg.Output(FramePlan(target, plan, time.time(), size), output_name="plan")
    for shard in plan.shards:
        yield dg.DynamicOutput(ShardJob(target, shard), output_name="shards", mapping_key=f"shard_{shard.index}")


@dg.op(retry_policy=MEDIA_RETRY)
def build_frame_shard(
    context: dg.OpExecutionContext,
    job: ShardJob,
    config: FramesConfig,
    storage: StorageResource,
    presigner: PresignerResource,
) -> ShardDone:
    """Decode one shard's data rows onto its branch (committing every ``commit_every``; resumes after a crash)."""
    from lb_assets.store import health
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.frames import build_frame_dataset

    pid, shard = context.partition_key, job.shard
    started = time.monotonic()
    if not shard.data_row_ids:
        return ShardDone(shard, 0, 0, 0.0)
    secrets = secrets_of(presigner, storage)
    with (
        step_errors(f"frame_dataset (shard {shard.index + 1} of {shard.count})", pid, secrets),
        one_writer(context, storage, f"frames@{shard.branch}", job.path, secrets),
    ):
        parent = open_or_create(job.path, **storage.open_kwargs())
        if shard.branch not in parent.branches.names():  # another run built and published this shard meanwhile
            context.log.info(f"Project {pid}: shard {shard.branch} was published by another run; nothing to do")
            return ShardDone(shard, 0, 0, 0.0)
        wanted = set(shard.data_row_ids)
        infos = [i for i in pipeline.read_infos(require_export(storage, pid), pid) if i.data_row_id in wanted]
        settings = config.apply(settings_for(pid))
        branch = parent.branches[shard.branch].open()
        reporter = observe.ProgressLogger(context.log, pid)
        result = build_frame_dataset(
            branch,
            infos,
            presigner.media_fetcher(settings.allowed_roots),
            storage=settings.frame_storage,
            batch_size=config.batch_size,
            frame_count_policy=settings.frame_count_policy,
            progress=reporter,
            before_commit=lambda: health.check_free_space(job.path),
            commit_every=config.commit_every,
            meta_key=None,
            source_indexes=shard.source_indexes,
        )
        reporter.finish("rows")
    return ShardDone(
        shard, result.rows_added, result.data_rows_added, time.monotonic() - started, result.data_rows_skipped
    )


@dg.op(out={"result": dg.Out(dg.Nothing), "check": dg.Out(dg.Nothing, is_required=False)})
def publish_frames(
    context: dg.OpExecutionContext,
    plan: FramePlan,
    done: list[ShardDone],
    config: FramesConfig,
    storage: StorageResource,
):
    """Merge the shards into the run's staging branch in order, check it, publish it to main."""
    pid = context.partition_key
    path = storage.frames_path(pid)
    secrets = secrets_of(storage)
    with (
        step_errors("frame_dataset (publish)", pid, secrets),
        one_writer(context, storage, "frames@main", path, secrets),
    ):
        infos = pipeline.read_infos(require_export(storage, pid), pid)
        check, commit, stage = _merge_check_publish(context, plan, infos, storage)
        if config.repair and check.passed:
            from lb_assets.store import repair

            aside = repair.swap_in(path, plan.path)
            context.log.warning(f"Project {pid}: frame dataset rebuilt; the damaged one is kept at {aside}")
        shown = plan.path if config.repair and not check.passed else path
        metadata = _frames_metadata(context, plan, done, infos, config, storage, shown, commit, check.passed)
    yield dg.Output(None, output_name="result", data_version=dg.DataVersion(commit), metadata=metadata)
    yield with_stage(check, stage)._replace(asset_key=dg.AssetKey(ASSET))


def _merge_check_publish(
    context: dg.OpExecutionContext, plan: FramePlan, infos: list[Any], storage: StorageResource
) -> tuple[dg.AssetCheckResult, str, Any]:
    """The shards merged in order into the run's stage, the blocking check on it, and the publish if it passed."""
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.publish import Stage
    from lb_assets.store.row_keys import iter_row_keys
    from lb_assets.store.shards import merge_shards

    stage = Stage.open(
        open_or_create(plan.path, **storage.open_kwargs()), plan.path, context.run_id, storage.open_kwargs()
    )
    with stage.writing():
        stage.ds.metadata[stage.meta_key] = plan.build.meta
        merge_shards(stage.ds, plan.build)
    check, commit = stage.publish(
        f"lb_assets: publish frames of project {context.partition_key} (run {context.run_id})",
        check=lambda staged: checks.check_frame_counts(iter_row_keys(staged), infos),
        audits=(lambda staged: verify_new_media(staged, stage),),
    )
    return check, commit, stage


def _frames_metadata(
    context: dg.OpExecutionContext,
    plan: FramePlan,
    done: list[ShardDone],
    infos: list[Any],
    config: FramesConfig,
    storage: StorageResource,
    shown: str,
    commit: str,
    published: bool,
) -> dict[str, Any]:
    """What the asset page shows for a frame build: dataset, shards, speed, settings."""
    from lb_assets.store.atomic import read_meta
    from lb_assets.store.datasets import open_or_create

    pid = context.partition_key
    settings = config.apply(settings_for(pid))
    ds = open_or_create(shown, **storage.open_kwargs())
    rows = sum(d.rows_added for d in done)
    return (
        dataset_metadata(pid, storage.frames_path(pid), ds, "main", commit)
        | dict(
            DeepLakeMetadataSet(
                rows_added=rows,
                data_rows_added=sum(d.data_rows_added for d in done),
                data_rows_skipped=plan.build.skipped,
                data_rows_resumed=sum(d.resumed for d in done),
                shards=len(plan.build.shards),
                sources=len((read_meta(ds) or {}).get("sources", [])),
                frame_storage=settings.frame_storage,
                published=published,
            )
        )
        | {"labelbox/data_rows": data_rows_table(infos)}
        | speed_metadata(rows, time.time() - plan.started, plan.size_before, shown)
        | settings_metadata(settings)
    )


@dg.config_mapping
def _frames_config(config: FramesConfig) -> dict[str, Any]:
    """One run config (``ops: frame_dataset: config: ...``) for the graph's three steps."""
    values = {"config": config.model_dump(exclude_unset=True)}
    return {"plan_frames": values, "build_frame_shard": values, "publish_frames": values}


@dg.graph_multi_asset(
    name=ASSET,
    ins={"export": dg.AssetIn("labelbox_project_export", dagster_type=dg.Nothing)},
    outs={
        ASSET: dg.AssetOut(
            group_name=DEEPLAKE_GROUP,
            kinds={"deeplake", "video", "image"},
            owners=OWNERS,
            tags=TAGS,
            code_version="2",
            description="Deep Lake dataset of the project's frames (video) or images on main, with labelbox_meta. "
            "A refresh appends only data rows not decoded yet, built in shards (shard_frames) by parallel steps.",
        )
    },
    partitions_def=labelbox_projects,
    check_specs=checks.frame_dataset_specs(ASSET),
    config=_frames_config,
)
def frame_dataset(export: Any) -> dict[str, Any]:
    """plan -> build each shard -> publish."""
    shards, plan = plan_frames(export)
    done = shards.map(build_frame_shard).collect()
    result, check = publish_frames(plan, done)
    return {ASSET: result, CHECK_OUTPUT: check}
