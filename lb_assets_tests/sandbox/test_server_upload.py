"""Datasets, uploads, global keys, projects, batches and ontology connection through the real SDK."""

from __future__ import annotations

from pathlib import Path

import labelbox
import pytest
import requests
from lbox import exceptions as lbx

from lb_assets.sandbox import LabelboxSandbox

ONTOLOGY = {"tools": [{"tool": "rectangle", "name": "car", "color": "#ff0000", "classifications": []}],
            "classifications": []}


def test_create_dataset_iam_variants(lb_sandbox: LabelboxSandbox) -> None:
    client = lb_sandbox.client()
    assert client.create_dataset(name="plain", iam_integration=None).name == "plain"
    assert client.create_dataset(name="no default").row_count == 0  # "DEFAULT" with no default signer
    seen = lb_sandbox.operations_seen
    assert seen[-3:] == ["CreateDatasetPyApi", "GetOrganizationPyApi", "getAllIntegrationsPyApi"]
    lb_sandbox.iam_integrations = [{"id": "iam-default", "isOrgDefault": True, "valid": True},
                                   {"id": "iam-other", "isOrgDefault": False, "valid": True}]
    client.create_dataset(name="signed")
    assert lb_sandbox.operations_seen[-2:] == ["setSignerForDatasetPyApi", "validateDatasetPyApi"]
    other = next(i for i in client.get_organization().get_iam_integrations() if i.uid == "iam-other")
    explicit = client.create_dataset(name="explicit", iam_integration=other)
    assert lb_sandbox.state.datasets[explicit.uid]["_signer"] == "iam-other"


def test_invalid_signer_deletes_dataset(lb_sandbox: LabelboxSandbox) -> None:
    lb_sandbox.iam_integrations = [{"id": "iam-bad", "isOrgDefault": True, "valid": True}]
    client = lb_sandbox.client()
    # validateDataset fails: the SDK deletes the half-made dataset and re-raises
    lb_sandbox.fail_operation("validateDatasetPyApi", times=1, mode="graphql")
    with pytest.raises(lbx.LabelboxError):
        client.create_dataset(name="doomed")
    assert "deleteDatasetPyApi" in lb_sandbox.operations_seen
    assert all(d["name"] != "doomed" for d in lb_sandbox.state.datasets.values())


def test_remote_rows_upload_batch_and_export(lb_sandbox: LabelboxSandbox) -> None:
    client = lb_sandbox.client()
    urls = [lb_sandbox.add_file(f"v{i}.mp4", b"mp4", "video/mp4") for i in range(3)]
    dataset = client.create_dataset(name="remote", iam_integration=None)
    task = dataset.create_data_rows([{"row_data": u, "global_key": f"gk-{i}", "external_id": f"v{i}.mp4",
                                      "media_type": "VIDEO"} for i, u in enumerate(urls)])
    task.wait_till_done()
    assert task.errors is None
    assert sorted(r["global_key"] for r in task.result) == ["gk-0", "gk-1", "gk-2"]

    oid = lb_sandbox.add_ontology(ONTOLOGY, name="o", media_type="VIDEO")
    project = client.create_project(name="uploaded", media_type=labelbox.MediaType.Video)
    batches = project.create_batches_from_dataset("batch-", dataset.uid, priority=5)
    assert batches.errors() is None and len(batches.batches) == 1
    project.connect_ontology(client.get_ontology(oid))
    assert lb_sandbox.operations_seen[-7:] == [
        "LabelCountPyApi", "GetProjectLabelingFrontendPyApi", "GetProjectLabelingFrontendPyApi",
        "GetLabelingFrontendsPyApi", "ConnectProjectAndLabelingFrontendPyApi",
        "CreateLabelingFrontendOptionsPyApi", "ConnectOntologyPyApi"]
    project.connect_ontology(client.get_ontology(oid))  # again: the editor is already connected
    assert lb_sandbox.operations_seen[-3:] == ["LabelCountPyApi", "GetProjectLabelingFrontendPyApi",
                                               "ConnectOntologyPyApi"]
    assert project.ontology().uid == oid
    assert project.get_overview().to_label == 3

    export = project.export(params={"project_details": True, "data_row_details": True})
    export.wait_till_done()
    rows = [item.json for item in export.get_buffered_stream()]
    assert sorted(r["data_row"]["global_key"] for r in rows) == ["gk-0", "gk-1", "gk-2"]
    for row in rows:
        block = row["projects"][project.uid]
        assert block["labels"] == []
        assert block["project_details"]["workflow_status"] == "TO_LABEL"
        assert block["project_details"]["batch_id"] == batches.batches[0]
        assert block["project_details"]["ontology_id"] == oid
        assert row["data_row"]["details"]["dataset_id"] == dataset.uid
        assert row["media_attributes"] == {"asset_type": "video", "mime_type": "video/mp4"}
    again = project.create_batches_from_dataset("again-", dataset.uid, priority=5)
    assert again.errors() is not None  # rows already queued in the project


def test_local_files_upload_external_id_and_global_keys(lb_sandbox: LabelboxSandbox, tmp_path: Path) -> None:
    client = lb_sandbox.client()
    paths = []
    for i in range(2):
        path = tmp_path / f"clip{i}.mp4"
        path.write_bytes(f"video-{i}".encode())
        paths.append(str(path))
    dataset = client.create_dataset(name="local", iam_integration=None)
    task = dataset.create_data_rows(paths)
    task.wait_till_done()
    assert task.errors is None
    assert lb_sandbox.operations_seen.count("UploadFile") >= 4  # two files, a chunk and a manifest
    data_rows = {p: dataset.data_row_for_external_id(p) for p in paths}
    for i, (path, data_row) in enumerate(data_rows.items()):
        served = requests.get(data_row.row_data, timeout=5)
        assert served.content == f"video-{i}".encode()  # the uploaded bytes are served back
        assert data_row.external_id == path
    result = client.assign_global_keys_to_data_rows(
        [{"data_row_id": dr.uid, "global_key": f"gk-{Path(p).name}"} for p, dr in data_rows.items()])
    assert result["status"] == "SUCCESS"
    assert lb_sandbox.operations_seen[-2:] == ["assignGlobalKeysToDataRowsPyApi",
                                               "assignGlobalKeysToDataRowsResultPyApi"]
    assert dataset.data_row_for_external_id(paths[0]).global_key == "gk-clip0.mp4"
    clash = client.assign_global_keys_to_data_rows(
        [{"data_row_id": data_rows[paths[1]].uid, "global_key": "gk-clip0.mp4"}])
    assert clash["status"] != "SUCCESS" and clash["errors"]


def test_existing_global_key_fails_that_row(lb_sandbox: LabelboxSandbox) -> None:
    client = lb_sandbox.client()
    dataset = client.create_dataset(name="d", iam_integration=None)
    first = dataset.create_data_rows([{"row_data": "http://x/a.png", "global_key": "shared"}])
    first.wait_till_done()
    assert first.errors is None
    second = dataset.create_data_rows([{"row_data": "http://x/b.png", "global_key": "shared"},
                                       {"row_data": "http://x/c.png", "global_key": "fresh"}])
    second.wait_till_done()
    assert len(second.errors) == 1
    assert "Duplicate global key" in second.errors[0]["message"] and "shared" in second.errors[0]["message"]
    assert second.errors[0]["failedDataRows"][0]["globalKey"] == "shared"
    assert [r["global_key"] for r in second.result] == ["fresh"]
    with pytest.raises(lbx.ResourceNotFoundError):
        dataset.data_row_for_external_id("nope")
