"""create_annotation_project against the real SDK and sandbox: local and remote, idempotent re-runs."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from lb_assets.errors import ConfigError, LabelboxOperationError
from lb_assets.labelbox.upload import (
    create_annotation_project,
    default_global_key,
    select_files,
)
from lb_assets_tests.labelbox.helpers import ONTOLOGY


def _local_files(tmp_path: Path, n: int, suffix: str = ".mp4") -> list[str]:
    out = []
    for i in range(n):
        path = tmp_path / f"clip{i}{suffix}"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes([i]) * 32)
        out.append(str(path))
    return out


def _project_rows(sb, pid: str) -> list[str]:  # noqa: ANN001 - sandbox
    return sb.data_row_ids(pid)


def test_local_upload_then_rerun_is_idempotent(sb, client, tmp_path: Path) -> None:  # noqa: ANN001
    files = _local_files(tmp_path, 3)
    oid = sb.add_ontology(ONTOLOGY)
    first = create_annotation_project(client, files, "clips-ds", "clips", lb_ontology=oid)
    assert len(set(first.data_row_ids)) == 3
    assert first.global_keys == [default_global_key(f) for f in files]
    assert sorted(_project_rows(sb, first.project_id)) == sorted(first.data_row_ids)
    assert sb.state.projects[first.project_id].ontology_id == oid
    uploaded = sb.state.data_rows[first.data_row_ids[0]]
    assert uploaded.row_data.startswith(sb.base_url) and uploaded.global_key == first.global_keys[0]
    rows_before = len(sb.state.data_rows)
    ops_before = len(sb.operations_seen)

    again = create_annotation_project(client, files, "clips-ds", "clips", lb_ontology=oid)
    assert again == first
    assert len(sb.state.data_rows) == rows_before  # no duplicate data rows
    rerun_ops = sb.operations_seen[ops_before:]
    assert "UpsertDataRowsPyApi" not in rerun_ops and "CreateDatasetPyApi" not in rerun_ops
    assert "CreateProjectPyApi" not in rerun_ops and "ConnectOntologyPyApi" not in rerun_ops

    grown = create_annotation_project(client, _local_files(tmp_path, 4), "clips-ds", "clips", lb_ontology=oid)
    assert grown.data_row_ids[:3] == first.data_row_ids and len(sb.state.data_rows) == rows_before + 1
    assert grown.project_id == first.project_id and grown.dataset_id == first.dataset_id
    assert sorted(_project_rows(sb, grown.project_id)) == sorted(grown.data_row_ids)


def test_upload_task_still_running_fails_clearly(sb, client, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import labelbox.schema.task

    monkeypatch.setattr(labelbox.schema.task, "time", SimpleNamespace(sleep=lambda s: None, time=time.time))
    sb.task_pending_reads = 1000
    url = sb.add_file("slow.mp4", b"v", "video/mp4")
    with pytest.raises(LabelboxOperationError, match="still IN_PROGRESS after 4s"):
        create_annotation_project(client, [url], "slow-ds", "slow", upload_timeout=4)
    assert "CreateProjectPyApi" not in sb.operations_seen  # no project built on a half-filled dataset


def test_remote_image_upload(sb, client) -> None:  # noqa: ANN001 - fixtures
    urls = [sb.add_file(f"img{i}.png", b"\x89PNG" + bytes([i]), "image/png") for i in range(2)]
    signed = [u + "?sig=SECRET" for u in urls]
    result = create_annotation_project(client, signed, "imgs", "img-project", media_type="IMAGE",
                                       lb_iam_integration_id=None, lb_batches_name="b-", lb_batch_priority=2)
    records = [sb.state.data_rows[d] for d in result.data_row_ids]
    assert [r.row_data for r in records] == signed
    assert all("SECRET" not in (r.external_id or "") for r in records)
    assert sb.state.projects[result.project_id].fields["allowedMediaType"] == "IMAGE"
    assert sb.workflow_status(result.project_id, result.data_row_ids[0]) == "TO_LABEL"


def test_upload_strategies(tmp_path: Path) -> None:
    assert select_files(["a", "b", "a"], "skip") == ["a", "b"]
    assert select_files(["a", "a"], "all") == ["a", "a"]
    with pytest.raises(ConfigError, match="Duplicate files"):
        select_files(["https://x/a.mp4?sig=S", "https://x/a.mp4?sig=S"], "fail")
    with pytest.raises(ConfigError, match="data_upload_strategy"):
        select_files(["a"], "maybe")
    with pytest.raises(ConfigError, match="No files"):
        select_files([], "fail")


def test_strategy_all_uploads_duplicates_with_distinct_keys(sb, client, tmp_path: Path) -> None:  # noqa: ANN001
    path = _local_files(tmp_path, 1)[0]
    result = create_annotation_project(client, [path, path], "dup", "dup", data_upload_strategy="all")
    assert len(set(result.data_row_ids)) == 2 and result.global_keys[1] == result.global_keys[0] + "#1"
    skipped = create_annotation_project(client, [path, path], "dup", "dup", data_upload_strategy="skip")
    assert skipped.data_row_ids == result.data_row_ids[:1]


def test_mixed_local_and_remote_is_a_config_error(client, tmp_path: Path) -> None:  # noqa: ANN001
    local = _local_files(tmp_path, 1)[0]
    with pytest.raises(ConfigError, match="all local or all remote"):
        create_annotation_project(client, [local, "https://x/v.mp4"], "d", "p")
    with pytest.raises(ConfigError, match="not found"):
        create_annotation_project(client, [str(tmp_path / "missing.mp4")], "d", "p")
    with pytest.raises(ConfigError, match="media_type"):
        create_annotation_project(client, [local], "d", "p", media_type="AUDIO")


def test_unknown_iam_integration(sb, client) -> None:  # noqa: ANN001 - fixtures
    sb.iam_integrations = [{"id": "iam-1", "isOrgDefault": True}]
    with pytest.raises(ConfigError, match="iam-404"):
        create_annotation_project(client, ["https://x/v.mp4"], "d", "p", lb_iam_integration_id="iam-404")
    result = create_annotation_project(client, [sb.add_file("v.mp4", b"v", "video/mp4")], "d", "p",
                                       lb_iam_integration_id="iam-1")
    assert sb.state.datasets[result.dataset_id].get("_signer") == "iam-1"


def test_global_key_taken_elsewhere_fails_clearly(sb, client) -> None:  # noqa: ANN001 - fixtures
    url = sb.add_file("v.mp4", b"v", "video/mp4") + "?token=SECRET"
    create_annotation_project(client, [url], "first-ds", "p1")
    with pytest.raises(LabelboxOperationError) as info:
        create_annotation_project(client, [url], "second-ds", "p2")
    text = str(info.value)
    assert "Duplicate global key" in text and default_global_key(url) in text and "SECRET" not in text


def test_ambiguous_names(sb, client) -> None:  # noqa: ANN001 - fixtures
    sb.add_dataset("twice")
    sb.add_dataset("twice")
    with pytest.raises(ConfigError, match="Several Labelbox datasets are named 'twice'"):
        create_annotation_project(client, ["https://x/v.mp4"], "twice", "p")
