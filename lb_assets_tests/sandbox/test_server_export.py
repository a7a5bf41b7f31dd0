"""Project export through the real labelbox SDK against the sandbox: params, filters, chunks, errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lb_assets.sandbox import LabelboxSandbox

ALL_PARAMS = {"data_row_details": True, "project_details": True, "label_details": True,
              "performance_details": True, "attachments": True, "metadata_fields": True}


def image_row(i: int, url: str) -> dict[str, Any]:
    return {"data_row": {"id": f"dr-{i}", "global_key": f"gk-{i}", "external_id": f"img-{i}.png", "row_data": url},
            "media_attributes": {"asset_type": "image", "mime_type": "image/png", "height": 4, "width": 6}}


def label(i: int) -> dict[str, Any]:
    return {"label_kind": "Image", "id": f"lbl-{i}",
            "annotations": {"objects": [{"feature_id": f"f-{i}", "name": "box", "annotation_kind": "ImageBoundingBox",
                                         "bounding_box": {"top": 1, "left": 2, "height": 3, "width": 4},
                                         "classifications": []}],
                            "classifications": [], "relationships": []}}


@pytest.fixture
def project(lb_sandbox: LabelboxSandbox) -> str:
    """An image project with rows in every workflow status and two batches."""
    oid = lb_sandbox.add_ontology({"tools": [], "classifications": []}, name="o", media_type="IMAGE")
    pid = lb_sandbox.add_project("image project", media_type="IMAGE", ontology_id=oid)
    url = lb_sandbox.add_file("a.png", b"png-bytes", "image/png")
    statuses = ["DONE", "DONE", "IN_REVIEW", "IN_REWORK", "TO_LABEL", "SKIPPED"]
    for i, status in enumerate(statuses):
        labels = [] if status == "TO_LABEL" else [label(i)]
        lb_sandbox.add_data_row(pid, image_row(i, url), labels, workflow_status=status,
                                batch_id="batch-a" if i < 3 else "batch-b")
    return pid


def export(sb: LabelboxSandbox, pid: str, params: dict[str, Any] | None = None,
           filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    task = sb.client().get_project(pid).export(params=params or {}, filters=filters or {})
    task.wait_till_done()
    assert not task.has_errors()
    if not task.has_result():
        return []
    return [item.json for item in task.get_buffered_stream()]


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(r["data_row"]["id"] for r in rows)


def test_export_all_params_builds_projects_block(lb_sandbox: LabelboxSandbox, project: str) -> None:
    rows = export(lb_sandbox, project, ALL_PARAMS)
    assert ids(rows) == [f"dr-{i}" for i in range(6)]
    row = next(r for r in rows if r["data_row"]["id"] == "dr-0")
    assert set(row["projects"]) == {project}
    block = row["projects"][project]
    assert block["name"] == "image project" and block["project_tags"] == []
    assert block["project_details"]["workflow_status"] == "DONE"
    assert block["project_details"]["batch_id"] == "batch-a"
    assert block["labels"][0]["annotations"] == label(0)["annotations"]
    assert "created_by" in block["labels"][0]["label_details"]
    assert "performance_details" in block["labels"][0]
    details = row["data_row"]["details"]
    assert {"dataset_id", "dataset_name", "created_at", "updated_at", "last_activity_at"} <= set(details)
    assert row["attachments"] == [] and row["metadata_fields"] == []
    assert row["media_attributes"]["width"] == 6


def test_export_without_params_omits_blocks(lb_sandbox: LabelboxSandbox, project: str) -> None:
    rows = export(lb_sandbox, project, {"data_row_details": False, "project_details": False,
                                        "label_details": False, "performance_details": False,
                                        "attachments": False, "metadata_fields": False})
    row = next(r for r in rows if r["data_row"]["id"] == "dr-0")
    assert "details" not in row["data_row"]
    assert "project_details" not in row["projects"][project]
    assert "label_details" not in row["projects"][project]["labels"][0]
    assert "performance_details" not in row["projects"][project]["labels"][0]
    assert "attachments" not in row and "metadata_fields" not in row


@pytest.mark.parametrize(("status", "expected"), [("Done", ["dr-0", "dr-1"]), ("InReview", ["dr-2"]),
                                                  ("InRework", ["dr-3"]), ("ToLabel", ["dr-4"])])
def test_workflow_status_filter_applied(lb_sandbox: LabelboxSandbox, project: str, status: str,
                                        expected: list[str]) -> None:
    assert ids(export(lb_sandbox, project, filters={"workflow_status": status})) == expected


def test_id_and_batch_filters_applied(lb_sandbox: LabelboxSandbox, project: str) -> None:
    assert ids(export(lb_sandbox, project, filters={"data_row_ids": ["dr-1", "dr-4", "nope"]})) == ["dr-1", "dr-4"]
    assert ids(export(lb_sandbox, project, filters={"global_keys": ["gk-2"]})) == ["dr-2"]
    assert ids(export(lb_sandbox, project, filters={"batch_ids": ["batch-b"]})) == ["dr-3", "dr-4", "dr-5"]


def test_last_activity_filter_applied(lb_sandbox: LabelboxSandbox, project: str) -> None:
    before = lb_sandbox.last_activity_at(project, "dr-5")
    lb_sandbox.set_labels(project, "dr-1", [label(1), label(11)])
    lb_sandbox.set_workflow_status(project, "dr-4", "IN_REVIEW")
    edited_1 = lb_sandbox.last_activity_at(project, "dr-1")
    edited_4 = lb_sandbox.last_activity_at(project, "dr-4")
    assert before < edited_1 < edited_4  # two quick edits still get different times
    start = (edited_1 - timedelta(milliseconds=0)).strftime("%Y-%m-%dT%H:%M:%S") + "+0000"
    # second resolution in the SDK's formats: everything edited at or after `start`
    rows = export(lb_sandbox, project, ALL_PARAMS, filters={"last_activity_at": [start, None]})
    assert {"dr-1", "dr-4"} <= set(ids(rows))
    assert all(r["data_row"]["details"]["last_activity_at"] >= edited_1.strftime("%Y-%m-%dT%H:%M:%S")
               for r in rows)
    assert export(lb_sandbox, project, filters={"last_activity_at": ["2000-01-01", "2000-01-02 00:00:00"]}) == []
    everything = export(lb_sandbox, project, filters={"last_activity_at": ["2000-01-01", "2100-01-01"]})
    assert len(everything) == 6
    assert export(lb_sandbox, project, filters={"last_activity_at": [None, "2000-01-01"]}) == []


def test_seeded_activity_times_filter_exactly(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("p", media_type="IMAGE")
    for i, day in enumerate(["2024-01-01", "2024-02-01", "2024-03-01"]):
        row = image_row(i, "http://x/y.png")
        row["data_row"]["details"] = {"last_activity_at": f"{day}T12:00:00.000Z"}
        lb_sandbox.add_data_row(pid, row, [])
    rows = export(lb_sandbox, pid, filters={"last_activity_at": ["2024-01-15", "2024-02-15"]})
    assert ids(rows) == ["dr-1"]
    rows = export(lb_sandbox, pid, filters={"last_activity_at": ["2024-02-01 12:00:00", None]})
    assert ids(rows) == ["dr-1", "dr-2"]


def test_thousand_rows_arrive_through_many_chunks(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("big", media_type="IMAGE")
    for i in range(1000):
        row = image_row(i, "http://x/y.png")
        row["data_row"]["external_id"] = f"bild-{i}-ü€"  # multi-byte characters: offsets are bytes
        lb_sandbox.add_data_row(pid, row, [label(i)])
    lb_sandbox.export_chunk_bytes = 8 * 1024
    rows = export(lb_sandbox, pid)
    assert sorted(r["data_row"]["external_id"] for r in rows) == sorted(f"bild-{i}-ü€" for i in range(1000))
    chunks = lb_sandbox.operations_seen.count("GetExportFileFromOffsetPyApi")
    assert chunks > 10


def test_errors_stream(lb_sandbox: LabelboxSandbox, project: str) -> None:
    lb_sandbox.set_export_errors(project, [{"message": "row dr-9 could not be exported"}])
    task = lb_sandbox.client().get_project(project).export()
    task.wait_till_done()
    assert task.has_errors()
    from labelbox import StreamType

    errors = [item.json for item in task.get_buffered_stream(stream_type=StreamType.ERRORS)]
    assert errors == [{"message": "row dr-9 could not be exported"}]


def test_empty_project_export_has_no_result(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("empty", media_type="VIDEO")
    assert export(lb_sandbox, pid) == []


def test_task_in_progress_completes_after_polls(lb_sandbox: LabelboxSandbox, project: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    from types import SimpleNamespace

    import labelbox.schema.task as task_module

    monkeypatch.setattr(task_module, "time", SimpleNamespace(sleep=lambda s: None, time=time.time))
    lb_sandbox.task_pending_reads = 2
    task = lb_sandbox.client().get_project(project).export()
    assert task.status == "IN_PROGRESS"
    task.wait_till_done()
    assert task.status == "COMPLETE"
    assert len([item.json for item in task.get_buffered_stream()]) == 6


def test_old_export_streams_are_freed_with_a_clear_error(lb_sandbox: LabelboxSandbox, project: str) -> None:
    lb_sandbox.state.max_export_streams = 1
    client = lb_sandbox.client()
    old = client.get_project(project).export()
    new = client.get_project(project).export()
    assert len([item.json for item in new.get_buffered_stream()]) == 6
    from lbox import exceptions as lbx

    with pytest.raises(lbx.LabelboxError, match="were freed"):
        old.has_result()


def test_label_created_at_filter_applied(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("p", media_type="IMAGE")
    for i, day in enumerate(["2024-01-10", "2024-03-10"]):
        labelled = label(i)
        labelled["label_details"] = {"created_at": f"{day}T08:00:00.000Z", "created_by": "a@example.com"}
        lb_sandbox.add_data_row(pid, image_row(i, "http://x/y.png"), [labelled])
    lb_sandbox.add_data_row(pid, image_row(2, "http://x/y.png"), [])
    assert ids(export(lb_sandbox, pid, filters={"label_created_at": ["2024-03-01", None]})) == ["dr-1"]
