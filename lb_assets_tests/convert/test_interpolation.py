"""lb_assets.convert.interpolation and geometry: kffm forms, segments, polygon/line/point interpolation."""

from __future__ import annotations

import numpy as np

from lb_assets.convert.geometry import geometry_of, interpolate, object_kind
from lb_assets.convert.interpolation import expand_video_label, parse_key_frames, parse_segments
from lb_assets_tests.convert.helpers import frame, video_annotations


def test_parse_key_frames_every_form() -> None:
    assert parse_key_frames([5, 1, "3"]) == [1, 3, 5]
    assert parse_key_frames({"13": True, "18": False, "19": True}) == [13, 19]
    assert parse_key_frames(None) == [] and parse_key_frames({}) == []


def test_parse_segments_sorts_and_drops_malformed() -> None:
    assert parse_segments([[18, 19], [7, 13], ["x"], [3]]) == [(7, 13), (18, 19)]


def test_geometry_kinds_and_shapes() -> None:
    assert object_kind({"line": []}) == "line" and object_kind({"composite_mask": {}}) == "mask"
    assert object_kind({"location": {}}) is None
    np.testing.assert_array_equal(geometry_of("point", {"point": {"x": 1.5, "y": 2}}), [1.5, 2])
    assert geometry_of("polygon", {"polygon": [[0, 0], [1, 0], [1, 1]]}).shape == (3, 2)


def _poly(n: int, pts: list) -> dict:
    return {"feature_id": "p", "name": "lane", "line": [{"x": x, "y": y} for x, y in pts]}


def test_line_and_point_interpolated_polygon_count_mismatch_held() -> None:
    ann = video_annotations({"1": frame([_poly(1, [(0, 0), (2, 0)])]), "3": frame([_poly(3, [(2, 2), (4, 2)])])},
                            {"p": [[1, 3]]}, {"p": [1, 3]})
    mid = expand_video_label(ann, 3).frames[2].objects[0]
    np.testing.assert_array_equal(mid.geometry, [[1, 1], [3, 1]])
    assert mid.obj["line"][0] == {"x": 0, "y": 0}  # nested values come from the previous listed frame
    start, end = np.zeros((3, 2)), np.ones((4, 2))
    np.testing.assert_array_equal(interpolate(start, end, 0.5), start)


def test_instance_missing_from_its_segment_is_warned_not_fatal() -> None:
    ann = video_annotations({"9": frame([_poly(9, [(0, 0), (1, 0), (0, 1)])])}, {"p": [[1, 3], [8, 9]]}, {"p": [1, 9]})
    out = expand_video_label(ann, 10)
    assert sorted(out.frames) == [8, 9]
    assert any("not listed on any frame of its segment [1, 3]" in w for w in out.warnings)
    assert any("keyframes [1]" in w for w in out.warnings)
