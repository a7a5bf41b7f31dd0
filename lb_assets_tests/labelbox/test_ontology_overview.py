"""fetch_ontology, ontology_id_from_export and fetch_overview against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from lb_assets.errors import LabelboxNotFoundError
from lb_assets.labelbox.export import export_project
from lb_assets.labelbox.ontology import fetch_ontology, ontology_id_from_export
from lb_assets.labelbox.overview import ProjectOverview, fetch_overview
from lb_assets_tests.labelbox.helpers import ONTOLOGY, seed_project


def test_fetch_ontology_normalized(sb, client) -> None:  # noqa: ANN001 - fixtures
    legacy = {"tools": [], "classifications": [{"type": "dropdown", "name": "old", "instructions": "old",
                                                 "options": []}]}
    oid = sb.add_ontology(legacy, name="legacy")
    result = fetch_ontology(client, oid)  # Ontology.classifications() would fail on "dropdown"
    assert result["tools"] == [] and result["classifications"][0]["type"] == "dropdown"
    oid2 = sb.add_ontology(ONTOLOGY)
    assert [t["featureSchemaId"] for t in fetch_ontology(client, oid2)["tools"]] == ["fs-car"]


def test_fetch_unknown_ontology(client) -> None:  # noqa: ANN001 - fixture
    with pytest.raises(LabelboxNotFoundError, match="get_ontology onto-missing"):
        fetch_ontology(client, "onto-missing")


def test_ontology_id_from_export(sb, client, tmp_path: Path) -> None:  # noqa: ANN001 - fixtures
    pid, _ = seed_project(sb, 2)
    summary = export_project(client, pid, tmp_path / "x.ndjson")
    oid = ontology_id_from_export(summary.path, pid)
    assert oid and fetch_ontology(client, oid)["classifications"][0]["name"] == "weather"
    assert ontology_id_from_export(str(summary.path), "other-project") is None
    rows = [{"projects": {"p": {"project_details": {}}}}, {"projects": {"p": {"project_details": {"ontology_id": "o"}}}}]
    assert ontology_id_from_export(rows, "p") == "o"


def test_fetch_overview_counts(sb, client) -> None:  # noqa: ANN001 - fixtures
    pid, ids = seed_project(sb, 5, statuses=("DONE", "TO_LABEL", "IN_REVIEW", "IN_REWORK", "SKIPPED"))
    overview = fetch_overview(client, pid)
    assert (overview.to_label, overview.in_review, overview.in_rework, overview.done, overview.skipped,
            overview.total) == (1, 1, 1, 1, 1, 5)
    assert not overview.is_complete
    for drid in ids[1:4]:
        sb.set_workflow_status(pid, drid, "DONE")
    done = fetch_overview(client, pid)
    assert done.is_complete and done.as_dict()["done"] == 4 and done.as_dict()["is_complete"] is True


def test_is_complete_needs_a_done_row() -> None:
    assert not ProjectOverview(0, 0, 0, 0, 3, 3, 0).is_complete
    assert ProjectOverview(0, 0, 0, 1, 2, 3, 1).is_complete
    assert not ProjectOverview(1, 0, 0, 5, 0, 6, 5).is_complete
