"""Undrawable geometry is dropped and counted per reason; boxes are clipped to the frame; unknown kinds skipped."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from lb_assets.convert.convert import convert_data_row
from lb_assets.convert.geometry import fit_geometry
from lb_assets.convert.ontology import build_plan
from lb_assets.convert.rows import parse_row
from lb_assets.errors import ExportRowError, UnknownAnnotationError
from lb_assets_tests.convert.helpers import (
    PID, bbox, frame, image_ontology, image_row, label, video_annotations, video_ontology, video_row,
)

MEDIA = {"height": 50, "width": 100, "mime_type": "image/jpeg", "asset_type": "image"}


def _obj(name: str, key: str, value, fid: str, kind: str) -> dict:
    return {"feature_id": fid, "feature_schema_id": f"fs-{name}", "name": name, "value": name,
            "annotation_kind": kind, "classifications": [], key: value}


def _points(*xy: tuple[float, float]) -> list[dict]:
    return [{"x": x, "y": y} for x, y in xy]


def _image(objects: list[dict], media: dict | None = MEDIA, **kw):
    plan = build_plan(image_ontology(), "image")
    row = image_row([label({"objects": objects, "classifications": []}, kind="Default")],
                    media=dict(media) if media is not None else {"mime_type": "image/jpeg", "asset_type": "image"})
    return convert_data_row(parse_row(row, PID, 0), plan, **kw)


def _box(left, top, width, height, fid: str) -> dict:
    return bbox(left, top, width, height, name="box", fsid="fs-box", fid=fid, kind="ImageBoundingBox")


def test_undrawable_boxes_are_dropped_and_counted_per_reason() -> None:
    objects = [
        _box(float("nan"), 1, 2, 2, "nan"), _box(1, 1, float("inf"), 2, "inf"),
        _box(10, 10, -3, 4, "negw"), _box(10, 10, 3, -4, "negh"),
        _box(200, 10, 5, 5, "right"), _box(10, -30, 5, 5, "above"),
        _box(5, 6, 7, 8, "ok"),
    ]
    out = _image(objects)
    np.testing.assert_array_equal(out.values["box"][0], np.array([[5, 6, 7, 8]], np.float32))
    assert out.invalid == {"non_finite": 2, "negative_size": 2, "outside_frame": 2}
    assert out.clipped == 0 and not out.skipped


def test_box_partly_outside_is_clipped_to_the_frame() -> None:
    out = _image([_box(-10, 40, 30, 20, "a"), _box(90, -5, 20, 10, "b")])
    np.testing.assert_array_equal(out.values["box"][0], np.array([[0, 40, 20, 10], [90, 0, 10, 5]], np.float32))
    assert out.clipped == 2 and not out.invalid


def test_without_frame_size_only_the_undrawable_is_dropped() -> None:
    out = _image([_box(200, -30, 5, 5, "far"), _box(1, 1, -1, 1, "neg")], media=None)
    np.testing.assert_array_equal(out.values["box"][0], np.array([[200, -30, 5, 5]], np.float32))
    assert out.invalid == {"negative_size": 1} and out.clipped == 0


def test_polygons_lines_points_with_too_few_points_or_nan_are_dropped() -> None:
    objects = [
        _obj("area", "polygon", _points((1, 1), (5, 1)), "p2", "ImagePolygon"),
        _obj("area", "polygon", _points((1, 1), (5, 1), (1, 1)), "p-closed-2", "ImagePolygon"),
        _obj("area", "polygon", _points((1, 1), (5, 1), (5, math.nan)), "p-nan", "ImagePolygon"),
        _obj("area", "polygon", _points((1, 1), (5, 1), (5, 5)), "p-ok", "ImagePolygon"),
        _obj("lane", "line", _points((2, 2)), "l1", "ImagePolyline"),
        _obj("lane", "line", _points((2, 2), (2, 2)), "l-same", "ImagePolyline"),
        _obj("lane", "line", _points((2, 2), (3, 4)), "l-ok", "ImagePolyline"),
        _obj("dot", "point", {"x": math.nan, "y": 1}, "d-nan", "ImagePoint"),
        _obj("dot", "point", {"x": 3, "y": math.inf}, "d-inf", "ImagePoint"),
        _obj("dot", "point", {"x": 3, "y": 4}, "d-ok", "ImagePoint"),
    ]
    out = _image(objects)
    assert [p.tolist() for p in out.values["area"][0]] == [[[1, 1], [5, 1], [5, 5]]]
    assert [p.tolist() for p in out.values["lane"][0]] == [[[2, 2], [3, 4]]]
    assert out.values["dot"][0].tolist() == [[3, 4]]
    assert out.invalid == {"too_few_points": 4, "non_finite": 3}


def test_nothing_drawable_left_means_no_value_on_the_row() -> None:
    out = _image([_box(1, 1, -1, 1, "neg")])
    assert out.values["box"][0] is None and out.invalid == {"negative_size": 1}


def test_unknown_annotation_kind_with_a_bounding_box_is_skipped_like_an_unknown_tool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    odd = _box(1, 1, 2, 2, "odd")
    odd["annotation_kind"] = "ImageCuboid"
    mismatched = _box(1, 1, 2, 2, "mismatch")
    mismatched["annotation_kind"] = "ImagePolygon"
    with caplog.at_level(logging.WARNING):
        out = _image([odd, mismatched, _box(1, 1, 2, 2, "ok")])
    assert out.values["box"][0].tolist() == [[1, 1, 2, 2]]
    assert sum(out.skipped.values()) == 2 and all("ImageCuboid" in k or "ImagePolygon" in k for k in out.skipped)
    assert "ImageCuboid" in caplog.text
    with pytest.raises(UnknownAnnotationError, match="dr-image-1"):
        _image([odd], strict=True)


def test_strict_raises_on_undrawable_but_not_on_clipping() -> None:
    assert _image([_box(-1, 0, 5, 5, "clip")], strict=True).clipped == 1
    with pytest.raises(ExportRowError, match="negative_size"):
        _image([_box(1, 1, -1, 1, "neg")], strict=True)


def test_dropped_object_drops_its_nested_radio_so_instances_stay_aligned() -> None:
    from lb_assets_tests.convert.helpers import radio

    plan = build_plan(video_ontology(), "video")
    bad = bbox(1, 1, -2, 2, fid="bad", nested=[radio("color", "fs-color", "red", "fs-red", fid="c-bad")])
    good = bbox(1, 1, 2, 2, fid="good", nested=[radio("color", "fs-color", "blue", "fs-blue", fid="c-good")])
    ann = video_annotations({"1": frame([bad, good])})
    out = convert_data_row(parse_row(video_row([label(ann)], 2), PID, 0), plan)
    assert out.values["car/car"][0].tolist() == [[1, 1, 2, 2]]
    assert out.values["car/color"][0].tolist() == [1]
    assert out.invalid == {"negative_size": 1}


def test_video_nan_keyframe_is_not_interpolated_and_boxes_clipped_per_frame() -> None:
    plan = build_plan(video_ontology(), "video")
    f1 = bbox(float("nan"), 0, 4, 4)
    f3 = bbox(60, 0, 10, 4)  # frame is 64 wide: clipped to width 4
    f5 = bbox(70, 0, 10, 4)  # wholly outside
    ann = video_annotations({"1": frame([f1]), "3": frame([f3]), "5": frame([f5])}, {"inst-1": [[1, 6]]})
    out = convert_data_row(parse_row(video_row([label(ann)], 6), PID, 0), plan)
    boxes = [None if v is None else v.tolist() for v in out.values["car/car"]]
    assert boxes[0] is None and boxes[1] is None  # NaN keyframe: nothing drawn, nothing interpolated from it
    assert boxes[2] == [[60, 0, 4, 4]]
    assert boxes[3] is None  # interpolated between 3 and 5: x=65 lies outside the 64-wide frame
    assert boxes[4] is None and boxes[5] is None
    assert out.invalid["non_finite"] == 1
    assert out.invalid["outside_frame"] == 3 and out.clipped == 1
    assert all(not np.isnan(np.asarray(v)).any() for v in out.values["car/car"] if v is not None)


def test_fit_geometry_reports_reason_and_clipping() -> None:
    box = np.array([-2.0, 1.0, 4.0, 3.0])
    fitted = fit_geometry("bbox", box, 10, 10)
    assert fitted.reason is None and fitted.clipped and fitted.geometry.tolist() == [0, 1, 2, 3]
    assert fit_geometry("bbox", box, None, None).geometry.tolist() == box.tolist()
    assert fit_geometry("point", np.array([np.nan, 1.0]), 10, 10).reason == "non_finite"
    assert fit_geometry("line", np.zeros((1, 2)), 10, 10).reason == "too_few_points"
