"""Refreshes after labels change, and failures injected midway (previous versions stay intact)."""

import hashlib

import dagster as dg
import numpy as np
import pytest

from lb_assets.cli_demo import materialize_project
from lb_assets.defs.exports import export_path
from lb_assets.defs.resources import StorageResource
from lb_assets_tests.defs.helpers import compare_truth, materializations, open_datasets


def _has_value(value) -> bool:
    if value is None:
        return False
    arr = np.asarray(value)
    return arr.size > 0 and (arr.dtype != bool or bool(arr.any())) and not (arr.dtype.kind in "US" and not arr.any())


def _labeled_row(sb, pid) -> str:
    return next(d for d in sb.data_row_ids(pid) if sb.labels(pid, d))


def test_refresh_after_label_edits_and_deletes(demo_env, instance: dg.DagsterInstance) -> None:
    from lb_assets.sandbox.demo import advance_labeling, build_demo, truth_after

    sb = demo_env
    pid = sb.demo_projects["video"]
    assert materialize_project(instance, pid).success
    _, branch_before, ann_before = open_datasets(pid)
    old_commit, old_ann_commit = branch_before.version, ann_before.version
    keys = list(branch_before["row_key"][:])

    cleared = next(d for d in sb.data_row_ids(pid)[1:] if sb.labels(pid, d))
    for step in range(2):  # approve the IN_REVIEW row; label the TO_LABEL row
        advance_labeling(sb, pid, step)
    sb.set_labels(pid, cleared, [])  # and delete every label of the last data row
    result = materialize_project(instance, pid)
    assert result.success
    meta = materializations(result)
    assert meta["labelbox_project_export"]["labelbox/export_mode"] == "incremental"
    names = sorted(meta["annotated_branch"]["deeplake/annotation_columns"])

    frames, branch, ann = open_datasets(pid)
    assert branch.version != old_commit and ann.version != old_ann_commit
    assert list(branch["row_key"][:]) == keys == list(ann["row_key"][:]) and len(frames) == len(keys)
    truth = {"video": {d: t for d, t in truth_after(build_demo(seed=0), "video", 2).items() if d != cleared}}
    assert compare_truth(branch, keys, truth, video=True) > 0  # the new commit matches the new labels
    rows = [i for i, k in enumerate(keys) if k.startswith(f"{cleared}:")]
    old = branch.history[old_commit].open()
    assert any(_has_value(old[n][i]) for n in names for i in rows)  # the old commit is unchanged
    assert not any(_has_value(branch[n][i]) for n in names for i in rows)
    assert not any(_has_value(ann[n][i]) for n in names for i in rows)


@pytest.mark.parametrize(("kind", "deleted"), [("video", "lane"), ("image", "edge")])
def test_refresh_after_demo_edit_step(demo_env, instance: dg.DagsterInstance, kind: str, deleted: str) -> None:
    from lb_assets.sandbox.demo import advance_labeling, build_demo, truth_after

    sb = demo_env
    pid = sb.demo_projects[kind]
    assert materialize_project(instance, pid).success
    old_commit = open_datasets(pid)[1].version
    for step in range(3):  # step 2 corrects a box and deletes the first row's line
        advance_labeling(sb, pid, step)
    assert materialize_project(instance, pid).success
    _, branch, ann = open_datasets(pid)
    keys = list(branch["row_key"][:])
    truth = {kind: truth_after(build_demo(seed=0), kind, 3)}
    assert compare_truth(branch, keys, truth, video=kind == "video") > 0
    rows = [i for i, k in enumerate(keys) if k.startswith(f"{sb.data_row_ids(pid)[0]}:")]
    old = branch.history[old_commit].open()
    assert any(_has_value(old[deleted][i]) for i in rows)
    assert not any(_has_value(branch[deleted][i]) or _has_value(ann[deleted][i]) for i in rows)


def test_failed_mask_download_leaves_previous_versions(demo_env, instance: dg.DagsterInstance) -> None:
    sb = demo_env
    pid = sb.demo_projects["video"]
    assert materialize_project(instance, pid).success
    frames, branch, ann = open_datasets(pid)
    before = (frames.version, branch.version, ann.version, len(frames))
    target = _labeled_row(sb, pid)
    sb.set_labels(pid, target, sb.labels(pid, target))  # new activity, same content
    sb.fail_path("/masks/", times=10_000, status=404)

    failed = materialize_project(instance, pid)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert pid in failure.event_specific_data.error.to_string()
    frames, branch, ann = open_datasets(pid)
    assert (frames.version, branch.version, ann.version, len(frames)) == before

    sb.fail_path("/masks/", times=0)
    assert materialize_project(instance, pid).success
    frames, branch, ann = open_datasets(pid)
    keys = list(branch["row_key"][:])
    assert len(keys) == len(set(keys)) == before[3] == len(ann)


def test_failed_export_keeps_the_previous_export(demo_env, instance: dg.DagsterInstance) -> None:
    sb = demo_env
    pid = sb.demo_projects["image"]
    assert materialize_project(instance, pid).success
    file = export_path(StorageResource().export_dir(pid))
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    frames_version = open_datasets(pid)[0].version

    sb.set_workflow_status(pid, sb.data_row_ids(pid)[-1], "IN_REWORK")
    sb.fail_operation("exportDataRowsInProjectPyApi", times=100, mode="graphql", status=400)
    result = materialize_project(instance, pid)
    assert not result.success
    assert hashlib.sha256(file.read_bytes()).hexdigest() == digest
    assert open_datasets(pid)[0].version == frames_version

    sb.fail_operation("exportDataRowsInProjectPyApi", times=0)
    assert materialize_project(instance, pid).success
    assert hashlib.sha256(file.read_bytes()).hexdigest() != digest
