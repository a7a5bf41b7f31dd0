"""How asset and check metadata reads in the UI: captions, column lists, timestamps, coverage text."""

import dagster as dg

from lb_assets.defs.asset_support import columns_text, preview_caption, timestamp_value
from lb_assets.defs.checks import check_coverage


def test_preview_caption_names_the_frame_and_media() -> None:
    assert preview_caption("dr1:5", "clip.mp4") == "Frame 5 of clip.mp4 (row_key dr1:5)"
    assert preview_caption("dr1:0", "street.jpg") == "street.jpg (row_key dr1:0)"
    assert preview_caption("dr1:0") == "dr1 (row_key dr1:0)"


def test_columns_text_counts_lb_meta_columns() -> None:
    names = ["row_key", "lb_meta/id", "box", "frames", "lb_meta/width"]
    assert columns_text(names) == "box, frames, row_key + 2 lb_meta/* columns"
    assert columns_text(["frames", "row_key"]) == "frames, row_key"


def test_export_time_is_atimestamp_value() -> None:
    value = timestamp_value("2026-11-29T05:35:16+00:00")
    assert isinstance(value, dg.TimestampMetadataValue) and value.value == 1795930516.0
    assert timestamp_value("2026-11-29T05:35:16.544Z").value == 1795930516.544
    assert timestamp_value("not a time") == "not a time"


def test_coverage_check_explains_itself() -> None:
    result = check_coverage(114, 138, 3, 4)
    assert result.passed and result.description == "114 of 138 rows labeled (83%), 3 of 4 data rows"
    assert result.metadata["coverage"].value == 0.8261
    empty = check_coverage(0, 0, 0, 0)
    assert not empty.passed and empty.description == "0 of 0 rows labeled (0%), 0 of 0 data rows"
