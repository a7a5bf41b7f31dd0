"""convert_data_row on video rows: keyframe interpolation (spec 7.2-7.4, 10.8, 10.9), D6, D7, D8, D11, D19."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest

from lb_assets.convert.convert import convert_data_row
from lb_assets.convert.ontology import build_plan
from lb_assets.convert.rows import parse_row
from lb_assets.errors import ExportRowError
from lb_assets_tests.convert.helpers import (
    PID, bbox, checklist, classification, frame, label, load_sample, option, radio, text, tool, video_annotations,
    video_ontology, video_row,
)


def _convert(annotations: dict, frame_count: int = 10, onto: dict | None = None, **kw):
    plan = build_plan(onto or video_ontology(), "video")
    return convert_data_row(parse_row(video_row([label(annotations)], frame_count), PID, 0), plan, **kw)


def _weather(value: str, fid: str = "w1") -> dict:
    return radio("weather", "fs-weather", value, f"fs-{value}", fid=fid)


def _color(value: str) -> dict:
    return radio("color", "fs-color", value, f"fs-{value}", fid="c1")


def _boxes(out, column: str = "car/car") -> list:
    return [None if v is None else v.tolist() for v in out.values[column]]


def test_frame_classification_is_held_not_taken_early() -> None:
    # D7: sun@1 -> rain@5 must keep sun on 2-4 (the seed stores rain there)
    ann = video_annotations({"1": frame(classifications=[_weather("sun")]), "5": frame(classifications=[_weather("rain")])})
    out = _convert(ann)
    assert [v.tolist() for v in out.values["weather"]] == [[0]] * 4 + [[1]] * 6
    assert out.n_rows == 10 and out.row_keys()[0] == "dr-video-1:1" and out.row_keys()[-1] == "dr-video-1:10"


def test_box_linear_between_keyframes_floats_kept_and_nested_radio_held() -> None:
    f1 = bbox(0.0, 10.0, 4.0, 4.0, nested=[_color("red")])
    f5 = bbox(3.0, 10.0, 8.0, 4.0, nested=[_color("blue")])
    ann = video_annotations({"1": frame([f1]), "5": frame([f5])}, {"inst-1": [[1, 5]]}, {"inst-1": [1, 5]})
    out = _convert(ann)
    boxes = _boxes(out)
    assert boxes[1] == [[0.75, 10.0, 5.0, 4.0]]  # not int()-truncated (D8)
    assert boxes[2] == [[1.5, 10.0, 6.0, 4.0]]
    assert boxes[4] == [[3.0, 10.0, 8.0, 4.0]] and boxes[5:] == [None] * 5
    assert out.values["car/car"][1].dtype == np.float32
    colors = [None if v is None else v.tolist() for v in out.values["car/color"]]
    assert colors[:5] == [[0], [0], [0], [0], [1]] and colors[5:] == [None] * 5  # D7 for nested classifications


def test_segment_start_not_a_keyframe_and_hold_to_segment_end() -> None:
    # spec 10.8: on real data the segment start is not always listed in `frames`
    ann = video_annotations({"4": frame([bbox(4, 4, 4, 4)]), "6": frame([bbox(6, 6, 6, 6)])},
                            {"inst-1": [[2, 8]]}, {"inst-1": [4, 6]})
    boxes = _boxes(_convert(ann))
    assert boxes[0] is None
    assert boxes[1] == boxes[2] == boxes[3] == [[4, 4, 4, 4]]
    assert boxes[4] == [[5, 5, 5, 5]]
    assert boxes[6] == boxes[7] == [[6, 6, 6, 6]] and boxes[8] is None


def test_dict_form_key_frame_feature_map_from_sdk_sample() -> None:
    lab = load_sample("video_label_sdk_test_expectation_partial.json")
    onto = {"tools": [tool("rectangle", "bbox", "fb", [classification("radio", "nested", "fn", [
        option("radio_option_1", "fo1", label="radio_option_1")])])]}
    plan = build_plan(onto, "video")
    media = {"height": 720, "width": 1280, "mime_type": "video/mp4", "frame_count": 20, "asset_type": "video"}
    out = convert_data_row(parse_row(video_row([lab], media=media), PID, 0), plan)  # boxes fit a 1280x720 frame
    rows_with_box = [i + 1 for i, v in enumerate(out.values["bbox/bbox"]) if v is not None]
    assert rows_with_box == [13, 18, 19]  # segments [[13,13],[18,19]], dict-form kffm
    np.testing.assert_array_equal(out.values["bbox/bbox"][12], [[146.0, 98.0, 236.0, 243.0]])
    nested = [i + 1 for i, v in enumerate(out.values["bbox/nested"]) if v is not None]
    assert nested == [13, 18]  # frame 19 lists the box without the nested answer
    assert out.meta()["lb_meta/label_creator"][0] == "labeler@example.com"


def test_str_list_kffm_and_segment_id_without_kffm_entry() -> None:
    frames = {"2": frame([bbox(2, 0, 1, 1)]), "4": frame([bbox(4, 0, 1, 1)])}
    for kffm in ({"inst-1": ["2", "4"]}, {}, {"inst-1": {"2": True, "3": False, "4": True}}):
        boxes = _boxes(_convert(video_annotations(frames, {"inst-1": [[2, 4]]}, kffm)))
        assert boxes[:5] == [None, [[2, 0, 1, 1]], [[3, 0, 1, 1]], [[4, 0, 1, 1]], None]


def test_dense_export_frames_taken_as_listed() -> None:
    # interpolated_frames=True lists every frame; the values are used as given (here not linear)
    lefts = {1: 0.0, 2: 7.0, 3: 1.0, 4: 9.0}
    frames = {str(n): frame([bbox(x, 0, 1, 1)]) for n, x in lefts.items()}
    boxes = _boxes(_convert(video_annotations(frames, {"inst-1": [[1, 4]]}, {"inst-1": [1, 4]})))
    assert [b[0][0] for b in boxes[:4]] == [0.0, 7.0, 1.0, 9.0]


def test_label_without_segments_key_still_applies_its_frames() -> None:
    # D6: the seed `continue`s and drops every frame of such a label
    ann = video_annotations({"3": frame([bbox(1, 1, 1, 1)])}, drop=("segments", "key_frame_feature_map"))
    boxes = _boxes(_convert(ann))
    assert boxes[2] == [[1, 1, 1, 1]] and sum(b is not None for b in boxes) == 1


def test_frames_beyond_frame_count_warn_or_raise_never_shift(caplog: pytest.LogCaptureFixture) -> None:
    ann = video_annotations({"2": frame([bbox(2, 2, 2, 2)]), "12": frame([bbox(9, 9, 9, 9, fid="late")])})
    with caplog.at_level(logging.WARNING):
        out = _convert(ann, frame_count=10)
    assert out.out_of_range == 1 and "beyond frame_count 10" in caplog.text
    assert len(out.values["car/car"]) == 10 and _boxes(out)[1] == [[2, 2, 2, 2]]
    with pytest.raises(ExportRowError, match="beyond frame_count"):
        _convert(ann, frame_count=10, strict=True)


def test_global_classifications_apply_to_every_frame_and_to_their_segments() -> None:
    tags = checklist("tags", "fs-tags", ["a", "c"])
    out = _convert(video_annotations(classifications=[tags, text("comment", "fs-comment", "ok")]), frame_count=4)
    assert [v.tolist() for v in out.values["tags"]] == [[0, 2]] * 4
    assert out.values["comment"] == ["ok"] * 4
    # SDK sample: a global checklist imported with frame ranges shows in segments and classifications
    sample = copy.deepcopy(load_sample("annotations_sdk_test_expectations_ids_stripped.json")["video_annotations"])
    sample["classifications"][0]["feature_id"] = "<cuid>"
    onto = {"classifications": [classification("checklist", "checklist", "x", [
        option("first_checklist_answer", "o1"), option("second_checklist_answer", "o2")], scope="global")]}
    out = _convert(sample, frame_count=20, onto=onto)
    covered = [i + 1 for i, v in enumerate(out.values["checklist"]) if v is not None]
    assert covered == list(range(7, 14)) + [18, 19]


def test_frame_classification_within_its_segment_and_nested_under_option() -> None:
    sun = radio("weather", "fs-weather", "sun", "fs-sun", fid="w1", nested=[text("note", "fs-note", "bright")])
    ann = video_annotations({"3": frame(classifications=[sun])}, {"w1": [[2, 5]]})
    out = _convert(ann)
    weather = [None if v is None else v.tolist() for v in out.values["weather"]]
    assert weather == [None, [0], [0], [0], [0], None, None, None, None, None]
    assert out.values["weather/note"][1:5] == ["bright"] * 4


def test_masks_only_on_listed_frames() -> None:
    from lb_assets_tests.convert.helpers import DictMaskSource, png_bytes

    pixels = np.zeros((3, 4), np.uint8)
    pixels[1, 1] = 255
    source = DictMaskSource({"https://m/1.png": png_bytes(pixels)})
    road = {"feature_id": "r1", "feature_schema_id": "fs-road", "name": "road", "mask": {"url": "https://m/1.png"}}
    ann = video_annotations({"2": frame([road]), "5": frame([road])}, {"r1": [[2, 5]]}, {"r1": [2, 5]})
    out = _convert(ann, masks=source)
    listed = [i + 1 for i, v in enumerate(out.values["road"]) if v is not None]
    assert listed == [2, 5] and out.values["road"][1].shape == (3, 4, 1)
    assert source.calls == ["https://m/1.png"]  # fetched once per data row


def test_mhsvd_real_segments_with_list_kffm_and_float_frame_rate() -> None:
    sample = load_sample("video_segments_kffm_mhsvd_derived.json")[1]
    fid = "cleus4nbs00023b6j247t99th"  # segment [[474, 476]], kffm [474, 476]
    frames = {"474": frame([bbox(10, 10, 5, 5, fid=fid)]), "476": frame([bbox(20, 10, 5, 5, fid=fid)])}
    ann = video_annotations(frames, {fid: sample["segments"][fid]}, {fid: sample["key_frame_feature_map"][fid]})
    row = video_row([label(ann)], media=sample["media_attributes"])
    out = convert_data_row(parse_row(row, PID, 0), build_plan(video_ontology(), "video"))
    assert out.n_rows == 3793
    np.testing.assert_array_equal(out.values["car/car"][474], [[15, 10, 5, 5]])
    assert sum(v is not None for v in out.values["car/car"]) == 3
    assert out.meta()["lb_meta/frame_rate"][0] == 30.0


def test_video_without_frame_count() -> None:
    row = video_row([], media={"mime_type": "video/mp4"})
    with pytest.raises(ExportRowError, match="frame_count"):
        convert_data_row(parse_row(row, PID, 2), build_plan(video_ontology(), "video"))
