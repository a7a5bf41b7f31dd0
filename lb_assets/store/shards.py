"""A frame build split into shards that separate workers build at the same time, then merged in order.

`plan_shards` splits the data rows not yet on the published branch into contiguous shards (export order) of at
most ``shard_frames`` frames (an image counts 1), fixing each data row's ``video_idx`` / ``image_idx`` in the one
``sources`` list of the build. `create_shard_branches` makes one branch per shard off the published branch,
named from the shard's content (``shard-<published>-<digest>-<i>of<n>``): a relaunched run with the same work finds
its shards and resumes them. The shards branch off the run's staging branch, which gets the frame columns
first, so they merge back as plain appends. Each shard is built on its branch by
`lb_assets.store.frames.build_frame_dataset` (writers on separate branches of one Deep Lake 4.7.4 dataset are
safe). `merge_shards` merges them into the run's staging branch in shard order, so rows and row keys come out
exactly as an unsharded build's, and `Stage.publish` checks and publishes the result.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from lb_assets.convert.rows import DataRowInfo
from lb_assets.store.atomic import read_meta
from lb_assets.store.branches import branch_names, current_branch
from lb_assets.store.frames import ensure_frame_columns, frame_meta, plan_build
from lb_assets.store.publish import SHARD_PREFIX

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardPlan:
    """One shard: its branch, its data rows (export order) and their source indexes, its frame count."""

    index: int
    count: int
    branch: str
    data_row_ids: tuple[str, ...]
    source_indexes: dict[str, int]
    frames: int


@dataclass(frozen=True)
class BuildPlan:
    """The shards of one build (at least one, maybe empty), ``labelbox_meta`` after it, rows already present."""

    shards: tuple[ShardPlan, ...]
    meta: dict[str, Any]
    skipped: int


def _frames(info: DataRowInfo) -> int:
    return int(info.frame_count or 1) if str(info.media_type).lower() == "video" else 1


def plan_shards(published: Any, infos: list[DataRowInfo], shard_frames: int) -> BuildPlan:
    """Split the data rows missing from ``published`` into shards of at most ``shard_frames`` frames."""
    existing = read_meta(published)
    meta = frame_meta(infos, existing)
    todo, meta["sources"], skipped = plan_build(published, infos, existing)
    groups: list[list[tuple[DataRowInfo, int]]] = []
    size = shard_frames
    for info, index in todo:
        if size + _frames(info) > shard_frames and (not groups or groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append((info, index))
        size += _frames(info)
    groups = groups or [[]]  # one (empty) shard: the build still checks and reports the dataset
    # the shards' work: data rows and their frame counts (a video whose frame count changed gets new shards)
    work = "\n".join(f"{i.data_row_id} {i.frame_count}" for g in groups for i, _ in g)
    digest = hashlib.sha1(work.encode()).hexdigest()[:10]
    target = current_branch(published)
    shards = tuple(
        ShardPlan(
            index=n,
            count=len(groups),
            branch=f"{SHARD_PREFIX}{target}-{digest}-{n + 1}of{len(groups)}",
            data_row_ids=tuple(info.data_row_id for info, _ in group),
            source_indexes={info.data_row_id: index for info, index in group},
            frames=sum(_frames(info) for info, _ in group),
        )
        for n, group in enumerate(groups)
    )
    return BuildPlan(shards, meta, skipped)


def create_shard_branches(stage_ds: Any, plan: BuildPlan, storage: str) -> None:
    """Give the staging branch the frame columns, then branch each shard off it (one process, before the shards).

    Shards branched off one schema merge back as plain appends; existing shard branches (a relaunched run's) are
    kept, so their committed work is resumed.
    """
    if not any(shard.data_row_ids for shard in plan.shards):
        return
    ensure_frame_columns(stage_ds, plan.meta["type"], storage)
    stage_ds.commit("lb_assets: frame columns for the shards")
    names = set(branch_names(stage_ds))
    for shard in plan.shards:
        if shard.data_row_ids and shard.branch not in names:
            stage_ds.branch(shard.branch)
    logger.info("%d shard branches ready (%s)", len(plan.shards), ", ".join(s.branch for s in plan.shards))


def merge_shards(stage_ds: Any, plan: BuildPlan) -> None:
    """Merge the built shard branches into the staging branch, in shard order (rows in export order)."""
    present = set(branch_names(stage_ds))
    for shard in plan.shards:
        if shard.data_row_ids and shard.branch in present:  # gone: another run published it already
            stage_ds.merge(shard.branch, message=f"lb_assets: merge shard {shard.index + 1} of {shard.count}")
    logger.info("Merged %d shards into %s (%d rows)", len(plan.shards), current_branch(stage_ds), len(stage_ds))
