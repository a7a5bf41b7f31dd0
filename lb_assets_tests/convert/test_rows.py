"""lb_assets.convert.rows: parse_row on every known row variant (spec 10.1, 10.4, 10.6, 10.10)."""

from __future__ import annotations

import copy

import pytest

from lb_assets.convert.rows import parse_row, row_key
from lb_assets.errors import ExportRowError
from lb_assets_tests.convert.helpers import PID, image_row, label, load_sample, video_row


def test_row_key_is_data_row_id_and_frame_number() -> None:
    assert row_key("dr1", 3) == "dr1:3"
    assert row_key("dr1", 0) == "dr1:0"


def test_video_row_fields() -> None:
    info = parse_row(video_row([]), PID, 7)
    assert info.data_row_id == "dr-video-1"
    assert info.media_type == "video"
    assert info.frame_count == 10 and info.n_rows == 10
    assert info.frame_rate == pytest.approx(29.97002997002997)  # float kept (D19)
    assert (info.width, info.height) == (64, 48)
    assert info.global_key == "gk-walk" and info.external_id == "clips/walk.mp4"
    assert info.dataset_id == "ds-1" and info.dataset_name == "walks"
    assert info.project_name == "Video project" and info.ontology_id == "onto-1"
    assert info.workflow_status == "DONE" and info.labels == [] and info.row_index == 7


def test_2023_image_row_without_asset_type_and_str_exif_rotation() -> None:
    row = image_row([], media={"height": 4, "width": 6, "mime_type": "image/jpeg", "exif_rotation": "1"})
    info = parse_row(row, PID, 0)
    assert info.media_type == "image" and info.exif_rotation == 1 and info.n_rows == 1


def test_2025_int_exif_rotation() -> None:
    info = parse_row(image_row([]), PID, 0)
    assert info.exif_rotation == 1


def test_int_frame_rate_becomes_float() -> None:
    info = parse_row(video_row([], frame_rate=10), PID, 0)
    assert info.frame_rate == 10.0 and isinstance(info.frame_rate, float)


def test_media_type_from_label_kind_then_default() -> None:
    row = video_row([label({"frames": {}})], media={"frame_count": 3})
    assert parse_row(row, PID, 0).media_type == "video"
    bare = image_row([], media={})
    assert parse_row(bare, PID, 0, default_media_type="image").media_type == "image"
    with pytest.raises(ExportRowError, match="media type"):
        parse_row(bare, PID, 4)


def test_missing_global_key_and_external_id() -> None:
    row = image_row([])
    del row["data_row"]["external_id"]
    info = parse_row(row, PID, 0)
    assert info.global_key is None and info.external_id is None


def test_several_projects_reads_the_one_asked_for() -> None:
    other = {"clotherproject": {"name": "Other", "labels": [label({"frames": {}}, "other-label")]}}
    row = video_row([label({"frames": {}}, "mine")], extra_projects=other)
    assert [lb["id"] for lb in parse_row(row, PID, 0).labels] == ["mine"]
    assert parse_row(row, "clotherproject", 0).project_name == "Other"


def test_row_without_the_project_names_row_index_and_data_row() -> None:
    row = video_row([])
    with pytest.raises(ExportRowError) as err:
        parse_row(row, "clmissing", 12)
    assert "export row 12" in str(err.value) and "dr-video-1" in str(err.value) and "clmissing" in str(err.value)
    assert err.value.row_index == 12 and err.value.data_row_id == "dr-video-1"


def test_malformed_rows() -> None:
    with pytest.raises(ExportRowError, match="export row 3"):
        parse_row([], PID, 3)  # type: ignore[arg-type]
    with pytest.raises(ExportRowError, match="data_row.id"):
        parse_row({"data_row": {}}, PID, 0)
    bad = copy.deepcopy(video_row([]))
    bad["media_attributes"]["frame_count"] = "many"
    with pytest.raises(ExportRowError, match="frame_count"):
        parse_row(bad, PID, 0)


def test_mhsvd_media_attributes_without_asset_type() -> None:
    for sample in load_sample("video_segments_kffm_mhsvd_derived.json"):
        row = {"data_row": {"id": "x", "row_data": "v.mp4"}, "media_attributes": sample["media_attributes"],
               "projects": {PID: {"labels": []}}}
        info = parse_row(row, PID, 0)
        assert info.media_type == "video" and isinstance(info.frame_rate, float)
        assert info.frame_count == sample["media_attributes"]["frame_count"]
