"""Incremental export refresh (lb_assets.defs.exports) with the real SDK against the sandbox."""

from pathlib import Path

import pytest

from lb_assets.defs.exports import export_path, read_state, refresh_export
from lb_assets.labelbox.export import iter_export_rows
from lb_assets_tests.labelbox.helpers import ExportClient, empty_label, image_row


@pytest.fixture
def project(lb_sandbox):
    pid = lb_sandbox.add_project("refresh", media_type="IMAGE")
    ids = [lb_sandbox.add_data_row(pid, image_row(n), [empty_label(str(n))]) for n in range(3)]
    return lb_sandbox, pid, ids


def _labels_by_row(path: Path, pid: str) -> dict[str, list[str]]:
    return {r["data_row"]["id"]: [lab["id"] for lab in r["projects"][pid]["labels"]] for r in iter_export_rows(path)}


def test_full_then_incremental_then_fallback(project, tmp_path: Path, fast_labelbox_sdk) -> None:
    sb, pid, ids = project
    client = ExportClient(sb)
    first = refresh_export(client, pid, tmp_path)
    assert (first.mode, first.summary.data_rows) == ("full", 3)
    assert read_state(tmp_path)["max_last_activity_at"] == first.max_last_activity_at

    sb.set_labels(pid, ids[1], [empty_label("edited")])
    sb.set_workflow_status(pid, ids[2], "IN_REWORK")
    second = refresh_export(client, pid, tmp_path)
    assert second.mode == "incremental" and second.delta_rows >= 2  # rows active in the same second come too
    labels = _labels_by_row(export_path(tmp_path), pid)
    assert labels[ids[1]] == ["label-edited"] and labels[ids[0]] == ["label-0"]
    assert second.summary.workflow_counts.get("IN_REWORK") == 1
    assert second.summary.data_rows == 3 and second.summary.sha256 != first.summary.sha256

    unchanged = refresh_export(client, pid, tmp_path)  # nothing new: same content, same digest
    assert unchanged.mode == "incremental" and unchanged.summary.sha256 == second.summary.sha256

    sb.add_data_row(pid, image_row(9), [])
    with sb.state.lock:  # a data row leaves the project: deltas cannot show that
        del sb.state.projects[pid].rows[ids[0]]
    fallback = refresh_export(client, pid, tmp_path)
    assert fallback.mode == "full" and "rows removed" in fallback.reason and fallback.summary.data_rows == 3
    assert ids[0] not in _labels_by_row(export_path(tmp_path), pid)

    forced = refresh_export(client, pid, tmp_path, full_refresh=True)
    assert forced.mode == "full" and forced.reason == "full_refresh requested"
