"""A frame build in several shards equals the unsharded build, row for row."""

from pathlib import Path

import dagster as dg

from lb_assets.definitions import build_resources
from lb_assets.defs.assets import frame_dataset, labelbox_project_export
from lb_assets.defs.partitions import ensure_partitions
from lb_assets.defs.resources import StorageResource
from lb_assets_tests.defs.helpers import checks, dataset_rows, materializations


def _build(pid: str, shard_frames: int) -> tuple[dict, tuple]:
    with dg.instance_for_test() as instance:
        ensure_partitions(instance, [pid])
        result = dg.materialize(
            [labelbox_project_export, frame_dataset], instance=instance, partition_key=pid,
            resources=build_resources(), run_config={"ops": {"frame_dataset": {"config": {"shard_frames": shard_frames}}}},
        )
        assert result.success and checks(result) == {"frames_match_labelbox_frame_counts": True}
        return materializations(result)["frame_dataset"], dataset_rows(StorageResource().frames_path(pid))


def test_sharded_build_equals_the_unsharded_one(demo_env, tmp_path: Path, monkeypatch) -> None:
    pid = demo_env.demo_projects["video"]
    monkeypatch.setenv("LB_ASSETS_HOME", str(tmp_path / "sharded"))
    sharded_meta, sharded = _build(pid, shard_frames=40)
    monkeypatch.setenv("LB_ASSETS_HOME", str(tmp_path / "one"))
    one_meta, one = _build(pid, shard_frames=100_000)
    assert sharded_meta["deeplake/shards"] >= 3 and one_meta["deeplake/shards"] == 1
    assert sharded[0] == one[0] and len(set(one[0])) == len(one[0])  # row keys, in the same order
    assert sharded[1:3] == one[1:3]  # video_idx, frame_idx
    assert sharded[3] == one[3]  # identical JPEG bytes
    assert sharded_meta["deeplake/sources"] == one_meta["deeplake/sources"] == 4
