"""Incremental export refresh (lb_assets.defs.exports) with the real SDK against the sandbox."""

from pathlib import Path

import pytest

from lb_assets.defs.exports import export_path, read_state, refresh_export
from lb_assets.labelbox.client import make_client
from lb_assets.labelbox.export import export_project, iter_export_rows
from lb_assets.labelbox.overview import fetch_overview


class SdkClient:
    """The two methods refresh_export needs, over the core functions (what LabelboxResource does)."""

    def __init__(self, sb) -> None:
        self.client = make_client("sandbox-key", sb.endpoint)
        self.exports = 0

    def export_project(self, project_id, dest, filters=None, interpolated_frames=False):
        self.exports += 1
        return export_project(self.client, project_id, dest, filters=filters, interpolated_frames=interpolated_frames)

    def get_overview(self, project_id):
        return fetch_overview(self.client, project_id)


def _row(n: int) -> dict:
    return {"data_row": {"row_data": f"https://example.invalid/{n}.jpg", "global_key": f"img-{n}"},
            "media_attributes": {"width": 4, "height": 4, "mime_type": "image/jpeg", "asset_type": "image"}}


def _label(name: str) -> dict:
    return {"id": f"label-{name}", "label_kind": "Default", "annotations": {"objects": [], "classifications": [],
                                                                          "relationships": []}}


@pytest.fixture
def project(lb_sandbox):
    pid = lb_sandbox.add_project("refresh", media_type="IMAGE")
    ids = [lb_sandbox.add_data_row(pid, _row(n), [_label(str(n))]) for n in range(3)]
    return lb_sandbox, pid, ids


def _labels_by_row(path: Path, pid: str) -> dict[str, list[str]]:
    return {r["data_row"]["id"]: [lab["id"] for lab in r["projects"][pid]["labels"]] for r in iter_export_rows(path)}


def test_full_then_incremental_then_fallback(project, tmp_path: Path, fast_labelbox_sdk) -> None:
    sb, pid, ids = project
    client = SdkClient(sb)
    first = refresh_export(client, pid, tmp_path)
    assert (first.mode, first.summary.data_rows) == ("full", 3)
    assert read_state(tmp_path)["max_last_activity_at"] == first.max_last_activity_at

    sb.set_labels(pid, ids[1], [_label("edited")])
    sb.set_workflow_status(pid, ids[2], "IN_REWORK")
    second = refresh_export(client, pid, tmp_path)
    assert second.mode == "incremental" and second.delta_rows >= 2  # rows active in the same second come too
    labels = _labels_by_row(export_path(tmp_path), pid)
    assert labels[ids[1]] == ["label-edited"] and labels[ids[0]] == ["label-0"]
    assert second.summary.workflow_counts.get("IN_REWORK") == 1
    assert second.summary.data_rows == 3 and second.summary.sha256 != first.summary.sha256

    unchanged = refresh_export(client, pid, tmp_path)  # nothing new: same content, same digest
    assert unchanged.mode == "incremental" and unchanged.summary.sha256 == second.summary.sha256

    sb.add_data_row(pid, _row(9), [])
    with sb.state.lock:  # a data row leaves the project: deltas cannot show that
        del sb.state.projects[pid].rows[ids[0]]
    fallback = refresh_export(client, pid, tmp_path)
    assert fallback.mode == "full" and "rows removed" in fallback.reason and fallback.summary.data_rows == 3
    assert ids[0] not in _labels_by_row(export_path(tmp_path), pid)

    forced = refresh_export(client, pid, tmp_path, full_refresh=True)
    assert forced.mode == "full" and forced.reason == "full_refresh requested"
