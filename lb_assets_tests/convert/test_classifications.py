"""lb_assets.convert.classifications plus nested radios per instance in convert."""

from __future__ import annotations

import numpy as np

from lb_assets.convert.classifications import read_classification
from lb_assets.convert.convert import convert_data_row
from lb_assets.convert.ontology import build_plan
from lb_assets.convert.rows import parse_row
from lb_assets_tests.convert.helpers import (
    PID, bbox, classification, frame, label, option, radio, video_annotations, video_ontology, video_row,
)


def test_checklist_option_nested_classification_is_walked() -> None:
    onto = {"classifications": [classification("checklist", "tags", "ft", [
        option("a", "fa", nested=[classification("text", "why", "fw")]), option("b", "fb")])]}
    plan = build_plan(onto, "image")
    item = {"name": "tags", "feature_schema_id": "ft", "checklist_answers": [
        {"name": "a", "value": "a", "feature_schema_id": "fa",
         "classifications": [{"name": "why", "feature_schema_id": "fw", "text_answer": {"content": "because"}}]},
        {"name": "b", "value": "b"}]}
    result = read_classification(item, plan)
    by_column = {v.route.column: v.value for v in result.values}
    assert by_column == {"tags": [0, 1], "tags/why": "because"} and not result.unknown


def test_unknown_option_is_reported() -> None:
    plan = build_plan(video_ontology(), "video")
    result = read_classification(radio("weather", "fs-weather", "snow", "fs-snow"), plan)
    assert result.values == [] and result.unknown == ["weather: option snow"]


def test_nested_radio_one_entry_per_instance_with_minus_one_for_unanswered() -> None:
    a = bbox(0, 0, 1, 1, fid="a", nested=[radio("color", "fs-color", "blue", "fs-blue", fid="ca")])
    b = bbox(5, 5, 1, 1, fid="b")
    c = bbox(9, 9, 1, 1, fid="c", nested=[radio("color", "fs-color", "red", "fs-red", fid="cc")])
    ann = video_annotations({"1": frame([a, b, c])})
    out = convert_data_row(parse_row(video_row([label(ann)], 2), PID, 0), build_plan(video_ontology(), "video"))
    assert out.values["car/car"][0].shape == (3, 4)
    np.testing.assert_array_equal(out.values["car/color"][0], np.array([1, -1, 0], np.int32))
    assert out.values["car/color"][1] is None


def test_merge_policy_on_video_concatenates_labels() -> None:
    one = label(video_annotations({"1": frame([bbox(1, 1, 1, 1, fid="x")])}), "l1")
    two = label(video_annotations({"1": frame([bbox(2, 2, 2, 2, fid="y")])}), "l2")
    plan = build_plan(video_ontology(), "video")
    out = convert_data_row(parse_row(video_row([one, two], 2), PID, 0), plan, policy="merge")
    assert out.values["car/car"][0].tolist() == [[1, 1, 1, 1], [2, 2, 2, 2]] and out.labels_used == 2
