"""LabelboxResource: thin wrapper over the core modules; the key stays out of errors."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.errors import LabelboxAuthError
from lb_assets.labelbox.export import ExportFilters
from lb_assets_tests.labelbox.helpers import API_KEY, ONTOLOGY, seed_project


def test_resource_methods_against_sandbox(lb_sandbox_env, tmp_path: Path) -> None:  # noqa: ANN001 - fixture
    sb = lb_sandbox_env
    pid, ids = seed_project(sb, 4)
    resource = LabelboxResource(api_key=dg.EnvVar("LABELBOX_API_KEY"))

    @dg.asset
    def probe(labelbox: LabelboxResource) -> dg.MaterializeResult:
        summary = labelbox.export_project(pid, tmp_path / "x.ndjson", ExportFilters(workflow_status="DONE"))
        overview = labelbox.get_overview(pid)
        return dg.MaterializeResult(metadata={"rows": summary.data_rows, "total": overview.total})

    result = dg.materialize([probe], resources={"labelbox": resource})
    meta = result.asset_materializations_for_node("probe")[0].metadata
    assert meta["rows"].value == 1 and meta["total"].value == 4

    direct = LabelboxResource(api_key=API_KEY)  # endpoint from LABELBOX_ENDPOINT
    assert direct.get_client().endpoint == sb.endpoint
    oid = sb.add_ontology(ONTOLOGY)
    assert direct.fetch_ontology(oid)["tools"][0]["name"] == "car"
    url = sb.add_file("a.mp4", b"a", "video/mp4")
    upload = direct.upload_media([url], "res-ds", "res-project", lb_ontology=oid)
    assert sb.data_row_ids(upload.project_id) == upload.data_row_ids


def test_resource_explicit_endpoint_and_bad_key(sb) -> None:  # noqa: ANN001 - fixture
    pid, _ = seed_project(sb, 1)
    secret = "not-the-key-abcdef123456"
    resource = LabelboxResource(api_key=secret, endpoint=sb.endpoint, timeout_seconds=5.0)
    with pytest.raises(LabelboxAuthError) as info:
        resource.get_overview(pid)
    assert secret not in str(info.value) and pid in str(info.value)
