"""Projects, overview, ontologies, auth and failure knobs through the real labelbox SDK."""

from __future__ import annotations

import json
import time

import labelbox
import pytest
import requests
from lbox import exceptions as lbx

from lb_assets.sandbox import LabelboxSandbox

ONTOLOGY = {
    "tools": [{"tool": "rectangle", "name": "car", "color": "#ff0000", "featureSchemaId": "fs-car",
               "schemaNodeId": "sn-car", "required": False,
               "classifications": [{"type": "radio", "name": "occluded", "instructions": "occluded",
                                    "featureSchemaId": "fs-occ", "required": False, "scope": "global",
                                    "options": [{"value": "yes", "label": "yes", "featureSchemaId": "fs-y",
                                                 "options": []}]}]}],
    "classifications": [{"type": "checklist", "name": "weather", "instructions": "weather",
                         "featureSchemaId": "fs-w", "required": False,
                         "options": [{"value": "rain", "label": "rain", "options": []}]}],
}


def _row(i: int) -> dict:
    return {"data_row": {"id": f"dr-{i}", "row_data": f"http://example.invalid/{i}.mp4"},
            "media_attributes": {"asset_type": "video", "frame_count": 5, "frame_rate": 10}}


def test_get_project_fields(lb_sandbox: LabelboxSandbox) -> None:
    oid = lb_sandbox.add_ontology(ONTOLOGY, name="video onto", media_type="VIDEO")
    pid = lb_sandbox.add_project("clips", media_type="VIDEO", ontology_id=oid, project_id="cl-fixed-id")
    lb_sandbox.add_data_row(pid, _row(1), [])
    project = lb_sandbox.client().get_project(pid)
    assert (project.uid, project.name) == ("cl-fixed-id", "clips")
    assert project.media_type == labelbox.MediaType.Video
    from labelbox.schema.ontology_kind import UploadType

    assert project.upload_type == UploadType.Manual
    assert project.ontology().uid == oid
    with pytest.raises(lbx.ResourceNotFoundError):
        lb_sandbox.client().get_project("missing")


def test_overview_counts_follow_workflow_states(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("clips", media_type="VIDEO")
    for i, status in enumerate(["DONE", "DONE", "IN_REVIEW", "IN_REWORK", "TO_LABEL", "SKIPPED"]):
        lb_sandbox.add_data_row(pid, _row(i), [], workflow_status=status, batch_id="b1" if i < 2 else "b2")
    project = lb_sandbox.client().get_project(pid)
    overview = project.get_overview()
    assert (overview.to_label, overview.in_review, overview.in_rework, overview.done, overview.skipped,
            overview.labeled, overview.total_data_rows, overview.issues) == (1, 1, 1, 2, 1, 4, 6, 0)
    lb_sandbox.set_workflow_status(pid, "dr-2", "DONE")
    assert project.get_overview().done == 3
    assert project.get_overview(batch_ids=["b1"]).total_data_rows == 2
    detailed = project.get_overview(details=True)
    assert detailed.in_review == {"data": [{"Initial review task": 0}], "total": 0}
    assert detailed.in_rework == {"data": [{"Rework": 1}], "total": 1}
    assert lb_sandbox.operations_seen.count("ProjectGetOverviewPyApi") == 4


def test_get_ontology_parses_tools_and_classifications(lb_sandbox: LabelboxSandbox) -> None:
    oid = lb_sandbox.add_ontology(ONTOLOGY, name="video onto", media_type="VIDEO")
    ontology = lb_sandbox.client().get_ontology(oid)
    assert ontology.normalized == ONTOLOGY
    assert [t.name for t in ontology.tools()] == ["car"]
    assert ontology.tools()[0].classifications[0].options[0].value == "yes"
    assert [c.name for c in ontology.classifications()] == ["weather"]
    with pytest.raises(lbx.ResourceNotFoundError):
        lb_sandbox.client().get_ontology("missing")


def test_wrong_key_is_authentication_error_at_once(lb_sandbox: LabelboxSandbox) -> None:
    kwargs = lb_sandbox.client_kwargs() | {"api_key": "wrong"}
    with pytest.raises(lbx.AuthenticationError):
        labelbox.Client(**kwargs).get_project("anything")
    assert lb_sandbox.operations_seen == []  # rejected before dispatch, and never retried


def test_graphql_failure_modes(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("p", media_type="IMAGE")
    client = lb_sandbox.client()
    lb_sandbox.fail_operation("GetProjectPyApi", times=1, mode="graphql", status=400)
    with pytest.raises(lbx.InvalidQueryError, match="injected"):
        client.get_project(pid)
    lb_sandbox.fail_operation("GetProjectPyApi", times=1, mode="graphql")
    with pytest.raises(lbx.LabelboxError, match="injected"):
        client.get_project(pid)
    assert client.get_project(pid).name == "p"  # times=1: the next call succeeds


@pytest.mark.usefixtures("fast_labelbox_retries")
def test_retryable_failures_recover_through_sdk_retry(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("p", media_type="IMAGE")
    client = lb_sandbox.client()
    lb_sandbox.fail_operation("GetProjectPyApi", times=1, mode="http500")
    assert client.get_project(pid).name == "p"
    lb_sandbox.fail_operation("GetProjectPyApi", times=2, mode="graphql", status=503)
    assert client.get_project(pid).name == "p"
    assert lb_sandbox.operations_seen.count("GetProjectPyApi") == 5


def test_http429_raises_api_limit_error_then_recovers(lb_sandbox: LabelboxSandbox) -> None:
    # labelbox 7.17.0 does not retry 429 on GraphQL: it raises ApiLimitError; callers retry.
    pid = lb_sandbox.add_project("p", media_type="IMAGE")
    client = lb_sandbox.client()
    lb_sandbox.fail_operation("GetProjectPyApi", times=1, mode="http429")
    with pytest.raises(lbx.ApiLimitError):
        client.get_project(pid)
    assert client.get_project(pid).name == "p"


def test_export_failure_injection(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("p", media_type="IMAGE")
    lb_sandbox.fail_operation("exportDataRowsInProjectPyApi", times=1, mode="graphql")
    with pytest.raises(lbx.LabelboxError):
        lb_sandbox.client().get_project(pid).export()


def test_unknown_operation_names_it(lb_sandbox: LabelboxSandbox) -> None:
    client = lb_sandbox.client()
    with pytest.raises(lbx.LabelboxError, match="SANDBOX_UNSUPPORTED_OPERATION") as info:
        client.execute("query NotEmulatedYetPyApi { something { id } }")
    assert "NotEmulatedYetPyApi" in str(info.value)
    assert lb_sandbox.unsupported_operations == ["NotEmulatedYetPyApi"]


def test_sandbox_bug_is_a_graphql_error_not_a_dropped_connection(lb_sandbox: LabelboxSandbox) -> None:
    # a malformed variable makes the handler fail; the SDK must get a clean LabelboxError
    with pytest.raises(lbx.LabelboxError):
        lb_sandbox.client().execute(
            "mutation exportDataRowsInProjectPyApi($input: X){exportDataRowsInProject(input: $input){taskId}}",
            {"input": {"filters": "not-a-dict"}})
    raw = requests.post(lb_sandbox.endpoint, data=b"not json",
                        headers={"Authorization": "Bearer sandbox-key"}, timeout=5)
    assert raw.status_code == 200
    assert raw.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


def test_strict_mode_reports_missing_fields(lb_sandbox: LabelboxSandbox) -> None:
    lb_sandbox.add_project("p", media_type="IMAGE", project_id="p1")
    with pytest.raises(lbx.LabelboxError, match="lacks selected fields.*notAField"):
        lb_sandbox.client().execute(
            "query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){id notAField}}", {"param_0": "p1"})


def test_response_delay_applies(lb_sandbox: LabelboxSandbox) -> None:
    lb_sandbox.add_project("p", media_type="IMAGE", project_id="p1")
    lb_sandbox.response_delay = 0.05
    started = time.perf_counter()
    lb_sandbox.client().get_project("p1")
    assert lb_sandbox.operations_seen == ["GetProjectPyApi"]
    assert time.perf_counter() - started >= 0.05


def test_organization_and_iam_integrations(lb_sandbox: LabelboxSandbox) -> None:
    client = lb_sandbox.client()
    assert client.get_organization().get_iam_integrations() == []
    lb_sandbox.iam_integrations = [{"id": "iam-1", "name": "signer", "isOrgDefault": True}]
    integrations = client.get_organization().get_iam_integrations()
    assert [(i.uid, i.is_org_default, i.valid) for i in integrations] == [("iam-1", True, True)]


def test_no_api_key_accepts_any_key() -> None:
    with LabelboxSandbox() as sb:
        pid = sb.add_project("p", media_type="IMAGE")
        kwargs = sb.client_kwargs() | {"api_key": "whatever"}
        assert labelbox.Client(**kwargs).get_project(pid).name == "p"


def test_sandbox_rejects_bad_seeding(lb_sandbox: LabelboxSandbox) -> None:
    pid = lb_sandbox.add_project("p", media_type="IMAGE")
    with pytest.raises(ValueError, match="workflow status"):
        lb_sandbox.add_data_row(pid, _row(1), [], workflow_status="FINISHED")
    with pytest.raises(ValueError, match="row_data"):
        lb_sandbox.add_data_row(pid, {"data_row": {}}, [])
    with pytest.raises(ValueError, match="does not exist"):
        lb_sandbox.add_data_row("nope", _row(1), [])
    row = _row(1)
    row["data_row"]["global_key"] = "taken"
    lb_sandbox.add_data_row(pid, row, [])
    other = _row(2)
    other["data_row"]["global_key"] = "taken"
    with pytest.raises(ValueError, match="already belongs to data row dr-1"):
        lb_sandbox.add_data_row(pid, other, [])
    assert json.loads(json.dumps(lb_sandbox.labels(pid, "dr-1"))) == []
