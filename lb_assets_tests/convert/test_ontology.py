"""lb_assets.convert.ontology: column naming, grouping, global/option-nested classifications (D10), clashes (D20)."""

from __future__ import annotations

import logging

import pytest

from lb_assets.convert.ontology import build_plan
from lb_assets.errors import SchemaClashError
from lb_assets_tests.convert.helpers import classification, image_ontology, load_sample, option, tool, video_ontology


def test_sdk_fixture_ontology_columns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        plan = build_plan(load_sample("ontology_normalized_sdk_unit_test_fixture.json"), "image")
    kinds = {name: spec.kind for name, spec in plan.columns.items()}
    assert kinds == {
        "poly": "polygon",
        "bbox/bbox": "bbox",
        "bbox/nested classification": "radio",
        "bbox/nested classification/nested nested text": "text",  # under an option (D10)
        "bbox/nested text": "text",
        "dot": "point",
        "polyline": "line",
        "This is a question.": "radio",  # global classification kept (D10)
    }
    # radio classes are the option values, in ontology order (not the labels)
    assert plan.columns["This is a question."].class_names == ("definitely yes", "definitely not")
    assert plan.skipped_features == ["segment (superpixel)", "ner (named-entity)"]
    assert "segment (superpixel)" in caplog.text and "ner (named-entity)" in caplog.text


def test_video_plan_keeps_frame_level_and_global_classifications() -> None:
    plan = build_plan(video_ontology(), "video")
    assert plan.columns["weather"].class_names == ("sun", "rain")
    assert plan.columns["weather/note"].kind == "text"
    assert plan.columns["tags"].kind == "checklist" and plan.columns["comment"].kind == "text"
    assert plan.columns["car/car"].kind == "bbox" and plan.columns["car/color"].class_names == ("red", "blue")
    scopes = {r.name: r.scope for r in plan.routes}
    assert scopes["weather"] == "index" and scopes["tags"] == "global" and scopes["color"] == "nested"


def test_group_mapping_groups_masks_with_label_column() -> None:
    plan = build_plan(image_ontology(), "image", group_mapping={"raster-segmentation": "masks"})
    assert plan.columns["masks"].kind == "mask"
    assert plan.columns["masks_labels"].class_names == ("road", "sky")
    assert "road" not in plan.columns and "sky" not in plan.columns
    routes = {r.name: r for r in plan.routes if r.kind == "mask"}
    assert (routes["road"].label_index, routes["sky"].label_index) == (0, 1)
    assert plan.label_columns() == {"masks_labels": plan.columns["masks_labels"]}


def test_group_mapping_of_boxes_with_classifications() -> None:
    onto = {"tools": [tool("rectangle", "a", "fa", [classification("text", "t", "ft")]), tool("rectangle", "b", "fb")]}
    plan = build_plan(onto, "image", group_mapping={"rectangle": "boxes"})
    assert set(plan.columns) == {"boxes/boxes", "boxes/t"}


def test_two_tools_one_column_different_kinds_clash() -> None:
    onto = {"tools": [tool("rectangle", "thing", "f1"), tool("polygon", "thing", "f2")]}
    with pytest.raises(SchemaClashError) as err:
        build_plan(onto, "image")
    assert "rectangle tool 'thing'" in str(err.value) and "polygon tool 'thing'" in str(err.value)


def test_same_name_radios_with_different_options_clash() -> None:
    onto = {"classifications": [
        classification("radio", "q", "f1", [option("x", "o1")]),
        classification("checklist", "q", "f2", [option("x", "o2")]),
    ]}
    with pytest.raises(SchemaClashError, match="radio classification 'q'.*checklist classification 'q'"):
        build_plan(onto, "image")


@pytest.mark.parametrize("name", ["frames", "row_key", "image", "lb_meta", "lb_meta/id", "frame_idx"])
def test_reserved_names_clash(name: str) -> None:
    with pytest.raises(SchemaClashError, match="reserved|metadata prefix"):
        build_plan({"tools": [tool("point", name, "f1")]}, "video")


def test_same_kind_same_name_share_a_column() -> None:
    plan = build_plan({"tools": [tool("point", "p", "f1"), tool("point", "p", "f2")]}, "image")
    assert list(plan.columns) == ["p"]
    assert plan.route("f1").column == plan.route("f2").column == "p"


def test_route_falls_back_to_name_and_kind(caplog: pytest.LogCaptureFixture) -> None:
    plan = build_plan(video_ontology(), "video")
    assert plan.route("fs-car").name == "car"
    with caplog.at_level(logging.INFO):
        assert plan.route("stale-id", "car", kind="bbox", family="tool").column == "car/car"
        assert plan.route("stale-id-2", "dot", kind="point").column == "dot"
    assert caplog.text.count("routing by feature name") == 1
    assert plan.route("stale-id", "car", kind="point") is None
    assert plan.route(None, "nothing") is None
