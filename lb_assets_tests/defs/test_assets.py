"""The whole graph materialized for the demo video and image projects against the sandbox."""

import hashlib
import json
import os

import dagster as dg
import pytest

from lb_assets.cli_demo import materialize_project
from lb_assets.defs.exports import export_path
from lb_assets.defs.resources import StorageResource
from lb_assets_tests.defs.helpers import checks, columns, compare_truth, materializations, open_datasets

EXPECTED_CHECKS = {
    "frames_match_labelbox_frame_counts": True,
    "labelbox_branch_contains_main": True,
    "annotation_coverage": True,
    "no_unknown_tools": True,
    "union_compatible_with_frames": True,
}


@pytest.mark.parametrize("kind", ["video", "image"])
def test_materialize_demo_project(demo_env, instance: dg.DagsterInstance, kind: str) -> None:
    pid = demo_env.demo_projects[kind]
    result = materialize_project(instance, pid)
    assert result.success
    meta = materializations(result)
    assert set(meta) == {"labelbox_project_export", "frame_dataset", "annotated_branch", "annotation_dataset"}
    assert checks(result) == EXPECTED_CHECKS

    # export: every data row of the project, with counts and where it is stored
    export = meta["labelbox_project_export"]
    data_rows = demo_env.data_row_ids(pid)
    assert export["dagster/row_count"] == len(data_rows) and export["labelbox/project_id"] == pid
    assert export["labelbox/export_mode"] == "full"
    assert sum(export["labelbox/workflow_status_counts"].values()) == len(data_rows)
    file = export_path(StorageResource().export_dir(pid))
    assert export["dagster/uri"] == str(file)
    assert {json.loads(line)["data_row"]["id"] for line in file.read_text().splitlines()} == set(data_rows)

    frames, branch, ann = open_datasets(pid)
    keys = list(frames["row_key"][:])
    assert len(keys) == len(set(keys)) and {k.rsplit(":", 1)[0] for k in keys} == set(data_rows)
    if kind == "image":
        assert all(k.endswith(":0") for k in keys) and len(keys) == len(data_rows)

    # main has no annotation column; the branch and the annotation dataset have them all
    annotation_columns = set(meta["annotated_branch"]["deeplake/annotation_columns"])
    assert annotation_columns and not annotation_columns & columns(frames)
    assert annotation_columns <= columns(branch) and annotation_columns <= columns(ann)
    assert list(branch["row_key"][:]) == keys and list(ann["row_key"][:]) == keys
    assert dict(ann.metadata["labelbox_meta"]) == dict(frames.metadata["labelbox_meta"])

    # metadata names the commits and paths
    assert meta["frame_dataset"]["deeplake/commit_id"] == f"main@{frames.version}"
    assert meta["frame_dataset"]["dagster/row_count"] == len(keys)
    assert meta["annotated_branch"]["deeplake/commit_id"] == f"labelbox@{branch.version}"
    assert meta["annotated_branch"]["deeplake/branch"] == "labelbox"
    assert meta["annotation_dataset"]["deeplake/commit_id"] == f"main@{ann.version}"
    assert meta["annotation_dataset"]["dagster/uri"] == StorageResource().annotations_path(pid)
    preview = meta["annotated_branch"]["deeplake/preview"]
    assert preview.startswith("![") and "data:image/png;base64," in preview and "(row_key " in preview
    assert meta["annotated_branch"]["deeplake/sample_rows"].records
    assert meta["annotated_branch"]["labelbox/labeled_rows"] > 0

    # every key is namespaced (labelbox/, deeplake/, dagster/) and no value carries the API key
    api_key = os.environ["LABELBOX_API_KEY"]
    for asset, entries in meta.items():
        assert all(k.split("/", 1)[0] in {"labelbox", "deeplake", "dagster"} for k in entries), (asset, list(entries))
        assert not any(api_key in str(v) for v in entries.values()), asset

    # data versions: the export's covers the export file and its ontology snapshot, the datasets' their commits
    export_record = instance.get_latest_materialization_event(dg.AssetKey("labelbox_project_export"))
    both = f'{export["labelbox/export_sha256"]}:{export["labelbox/ontology_sha256"]}'
    assert export_record.asset_materialization.tags["dagster/data_version"] == hashlib.sha256(both.encode()).hexdigest()
    snapshot = json.loads((file.parent / "ontology.json").read_text())
    assert hashlib.sha256(json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()).hexdigest() == \
        export["labelbox/ontology_sha256"]


def test_image_values_match_demo_truth(demo_env, instance: dg.DagsterInstance) -> None:
    from lb_assets.sandbox.demo import build_demo

    pid = demo_env.demo_projects["image"]
    assert materialize_project(instance, pid).success
    _, branch, _ = open_datasets(pid)
    truth = build_demo(seed=0).truth
    keys = list(branch["row_key"][:])
    compared = compare_truth(branch, keys, truth, video=False)
    assert compared > 0


def test_video_values_match_demo_truth(demo_env, instance: dg.DagsterInstance) -> None:
    from lb_assets.sandbox.demo import build_demo

    pid = demo_env.demo_projects["video"]
    assert materialize_project(instance, pid).success
    frames, branch, _ = open_datasets(pid)
    truth = build_demo(seed=0).truth
    keys = list(branch["row_key"][:])
    per_row = {}
    for key in keys:
        per_row[key.rsplit(":", 1)[0]] = per_row.get(key.rsplit(":", 1)[0], 0) + 1
    assert per_row == truth["frame_counts"]
    compared = compare_truth(branch, keys, truth, video=True)
    assert compared > 0
