"""convert_data_row on image rows: the SDK's real export sample, D7/D8/D9/D10/D11, format mismatches 5-7."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from lb_assets.convert.convert import convert_data_row
from lb_assets.convert.ontology import build_plan
from lb_assets.convert.rows import parse_row
from lb_assets.errors import UnknownAnnotationError
from lb_assets_tests.convert.helpers import (
    PID, bbox, checklist, classification, image_ontology, image_row, label, load_sample, option, radio, text, tool,
)


def _sdk_image_ontology() -> dict:
    return {
        "tools": [tool("polygon", "polygon", "x1"), tool("rectangle", "bbox", "x2"), tool("line", "polyline", "x3")],
        "classifications": [
            classification("checklist", "checklist", "x4", [option("first_checklist_answer", "x5"),
                                                            option("second_checklist_answer", "x6")]),
            classification("text", "text", "x7"),
        ],
    }


#: a frame large enough for every box below (boxes are clipped to media_attributes width/height)
MEDIA = {"height": 480, "width": 640, "mime_type": "image/jpeg", "asset_type": "image", "exif_rotation": 1}


def _convert(labels: list[dict], onto: dict | None = None, **kw):
    plan = build_plan(onto or image_ontology(), "image")
    return convert_data_row(parse_row(image_row(labels, media=dict(MEDIA)), PID, 0), plan, **kw)


def test_sdk_export_sample_converts_every_annotation() -> None:
    ann = load_sample("annotations_sdk_test_expectations_ids_stripped.json")["image_annotations"]
    out = _convert([label(ann, kind="Default")], _sdk_image_ontology())
    assert out.n_rows == 1 and not out.skipped
    np.testing.assert_array_equal(out.values["bbox"][0], np.array([[58.0, 48.0, 12.0, 65.0]], np.float32))
    assert out.values["bbox"][0].dtype == np.float32
    (poly,) = out.values["polygon"][0]
    assert poly.shape == (5, 2) and poly.dtype == np.float32  # closing point kept as exported
    np.testing.assert_allclose(poly[0], poly[-1])
    np.testing.assert_allclose(poly[1], [142.769, 104.923], rtol=1e-6)  # floats, not int()-truncated (D8)
    (line,) = out.values["polyline"][0]
    np.testing.assert_allclose(line, [[147.692, 118.154], [150.692, 160.154]], rtol=1e-6)
    np.testing.assert_array_equal(out.values["checklist"][0], np.array([0, 1], np.int32))
    assert out.values["text"][0] == "free form text..."
    assert out.row_keys() == ["dr-image-1:0"]


def test_classification_only_label_and_global_radio_are_kept() -> None:
    # R-OKA: objects == [] with an image-level radio; the seed drops both (D10, format mismatch 5)
    ann = {"objects": [], "classifications": [radio("kind", "fs-kind", "plant_v", "fs-plant")], "relationships": []}
    out = _convert([label(ann, kind="Default")])
    np.testing.assert_array_equal(out.values["kind"][0], np.array([1], np.int32))
    assert out.values["kind"][0].dtype == np.int32


def test_2023_export_without_value_keys() -> None:
    # no `value` on objects or answers, and stale feature schema ids: route by name, answer by option label (D7)
    box = bbox(1.5, 2.5, 3.25, 4.75, name="box", fsid="stale", kind="ImageBoundingBox")
    del box["value"]
    answer = radio("kind", "stale-kind", None, None, answer_name="Animal")
    del answer["value"]
    out = _convert([label({"objects": [box], "classifications": [answer]}, kind="Default")])
    np.testing.assert_array_equal(out.values["box"][0], np.array([[1.5, 2.5, 3.25, 4.75]], np.float32))
    np.testing.assert_array_equal(out.values["kind"][0], [0])


def test_classification_nested_under_an_option() -> None:
    legs = radio("legs", "fs-legs", "four", "fs-four", fid="cls-2")
    kind = radio("kind", "fs-kind", "animal_v", "fs-animal", nested=[legs])
    out = _convert([label({"objects": [], "classifications": [kind]}, kind="Default")])
    np.testing.assert_array_equal(out.values["kind"][0], [0])
    np.testing.assert_array_equal(out.values["kind/legs"][0], [1])


def test_checklist_text_and_point_polygon_line() -> None:
    objects = [
        {"feature_id": "p1", "feature_schema_id": "fs-dot", "name": "dot", "point": {"x": 1.25, "y": 2.5}},
        {"feature_id": "a1", "feature_schema_id": "fs-area", "name": "area",
         "polygon": [{"x": 0, "y": 0}, {"x": 4, "y": 0}, {"x": 4, "y": 3}]},
        {"feature_id": "l1", "feature_schema_id": "fs-lane", "name": "lane", "line": [{"x": 0, "y": 1}, {"x": 5, "y": 1}]},
    ]
    classes = [checklist("tags", "fs-tags", ["b"]), text("comment", "fs-comment", "hello")]
    out = _convert([label({"objects": objects, "classifications": classes}, kind="Default")])
    np.testing.assert_array_equal(out.values["dot"][0], np.array([[1.25, 2.5]], np.float32))
    assert out.values["area"][0][0].shape == (3, 2) and out.values["lane"][0][0].shape == (2, 2)
    np.testing.assert_array_equal(out.values["tags"][0], [1])
    assert out.values["comment"][0] == "hello"


def test_unlabeled_and_empty_label_rows_have_none_values_and_meta() -> None:
    for labels in ([], [label({"objects": [], "classifications": [], "relationships": []}, kind="Default")]):
        out = _convert(labels)
        assert set(out.values) == set(build_plan(image_ontology(), "image").columns)
        assert all(v == [None] for v in out.values.values())
        assert out.meta()["lb_meta/id"] == ["dr-image-1"]  # D11


def test_several_labels_policies() -> None:
    older = label({"objects": [bbox(1, 1, 1, 1, "box", "fs-box")]}, "old", "2024-01-01T00:00:00Z", "old@x", kind="Default")
    newer = label({"objects": [bbox(2, 2, 2, 2, "box", "fs-box")]}, "new", "2024-02-01T00:00:00Z", "new@x", kind="Default")
    latest = _convert([newer, older], policy="latest")
    np.testing.assert_array_equal(latest.values["box"][0], [[2, 2, 2, 2]])
    assert (latest.labels_used, latest.labels_ignored, latest.policy) == (1, 1, "latest")
    assert latest.meta()["lb_meta/label_creator"] == ["new@x"]
    first = _convert([newer, older], policy="first")
    np.testing.assert_array_equal(first.values["box"][0], [[1, 1, 1, 1]])
    merged = _convert([newer, older], policy="merge")
    assert merged.values["box"][0].shape == (2, 4) and merged.labels_ignored == 0


def test_unknown_features_skip_with_one_warning_or_raise_when_strict(caplog: pytest.LogCaptureFixture) -> None:
    stranger = {"feature_id": "s", "feature_schema_id": "nope", "name": "stranger", "point": {"x": 1, "y": 1}}
    ann = {"objects": [stranger, dict(stranger, feature_id="s2")], "classifications": []}
    with caplog.at_level(logging.WARNING):
        out = _convert([label(ann, kind="Default")])
    assert out.skipped == {"stranger": 2}
    assert caplog.text.count("stranger") == 1
    with pytest.raises(UnknownAnnotationError, match="data row dr-image-1.*stranger"):
        _convert([label(ann, kind="Default")], strict=True)


def test_skipped_tool_kind_is_counted_not_an_error() -> None:
    plan = build_plan(load_sample("ontology_normalized_sdk_unit_test_fixture.json"), "image")
    ner = {"feature_id": "n", "name": "ner", "annotation_kind": "ImageNamedEntity", "location": {}}
    out = convert_data_row(parse_row(image_row([label({"objects": [ner]}, kind="Default")]), PID, 0), plan,
                           strict=True)
    assert out.skipped == {"ner (no geometry)": 1}
