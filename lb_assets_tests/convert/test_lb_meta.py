"""lb_assets.convert.lb_meta: every row gets metadata (D11), float frame rate (D19), redacted row_data."""

from __future__ import annotations

from lb_assets.convert.lb_meta import meta_columns, meta_values
from lb_assets.convert.rows import parse_row
from lb_assets_tests.convert.helpers import PID, image_row, label, video_row


def test_columns_with_seed_names() -> None:
    video = meta_columns("video")
    assert list(video)[:2] == ["lb_meta/video_name", "lb_meta/id"]
    assert video["lb_meta/frame_rate"] == "float64" and video["lb_meta/frame_number"] == "int32"
    assert "lb_meta/current_frame_name" in video
    image = meta_columns("image", prefix="")
    assert "image_name" in image and "frame_rate" not in image and image["width"] == "int32"


def test_unlabeled_video_rows_all_get_values() -> None:
    info = parse_row(video_row([], frame_count=3), PID, 0)
    values = meta_values(info, 3)
    assert set(values) == set(meta_columns("video"))
    assert values["lb_meta/id"] == ["dr-video-1"] * 3
    assert values["lb_meta/global_key"] == ["gk-walk"] * 3
    assert values["lb_meta/frame_number"] == [1, 2, 3]
    assert values["lb_meta/frame_rate"] == [29.97002997002997] * 3
    assert values["lb_meta/current_frame_name"] == ["walk_000001", "walk_000002", "walk_000003"]
    assert values["lb_meta/label_creator"] == [None] * 3
    assert all("SECRET" not in v and "Expires" not in v for v in values["lb_meta/row_data"])
    assert values["lb_meta/row_data"][0].startswith("https://storage.example.com/walk.mp4")


def test_image_label_creator_and_name_from_row_data() -> None:
    row = image_row([label({}, created_by="me@example.com", kind="Default")])
    del row["data_row"]["external_id"]
    values = meta_values(parse_row(row, PID, 0), 1)
    assert values["lb_meta/image_name"] == ["photo"]
    assert values["lb_meta/label_creator"] == ["me@example.com"]
    chosen = label({}, created_by="other@example.com")
    assert meta_values(parse_row(row, PID, 0), 1, label=chosen)["lb_meta/label_creator"] == ["other@example.com"]
