"""Differential tests: lb_assets.integrations against Deep Lake 4.7.4's own Labelbox integration.

Both run on the same sandbox export. The projects here avoid every known defect of Deep Lake's
integration (listed in docs/deeplake-differences.md): public media (D2), integer geometry whose
interpolation stays integral (D8 truncation), frame classifications that do not change between keyframes
(D7), one label per data row (D9), ``value`` keys present, a list-form ``key_frame_feature_map`` entry for
every segment, segments that start on a keyframe, every data row labelled (D11). Where Deep Lake is right,
our columns must equal its columns; the last test documents a deliberate difference (D7).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import av
import labelbox
import numpy as np
import pytest
import requests
from PIL import Image

from lb_assets.sandbox import LabelboxSandbox
from lb_assets.store import schema

API_KEY = "sandbox-key"
WIDTH, HEIGHT, FRAMES = 64, 48, 10
IMAGE_SIZES = ((40, 30), (32, 24))

# ontology ids (deterministic, readable)
BOX, DOT, WEATHER, SUN, RAIN = "fs-box", "fs-dot", "fs-weather", "fs-sun", "fs-rain"
IBOX, IPOLY = "fs-ibox", "fs-ipoly"

VIDEO_ONTOLOGY: dict[str, Any] = {
    "tools": [
        {"tool": "rectangle", "name": "box", "required": False, "color": "#ff0000", "classifications": [],
         "schemaNodeId": "sn-box", "featureSchemaId": BOX},
        {"tool": "point", "name": "dot", "required": False, "color": "#00ff00", "classifications": [],
         "schemaNodeId": "sn-dot", "featureSchemaId": DOT},
    ],
    "classifications": [
        {"type": "radio", "name": "weather", "instructions": "weather", "required": False, "scope": "index",
         "schemaNodeId": "sn-weather", "featureSchemaId": WEATHER,
         "options": [{"label": "Sun", "value": "sun", "position": 0, "schemaNodeId": "sn-sun",
                      "featureSchemaId": SUN, "options": []},
                     {"label": "Rain", "value": "rain", "position": 1, "schemaNodeId": "sn-rain",
                      "featureSchemaId": RAIN, "options": []}]},
    ],
}

IMAGE_ONTOLOGY: dict[str, Any] = {
    "tools": [
        {"tool": "rectangle", "name": "car", "required": False, "color": "#ff0000", "classifications": [],
         "schemaNodeId": "sn-ibox", "featureSchemaId": IBOX},
        {"tool": "polygon", "name": "lane", "required": False, "color": "#0000ff", "classifications": [],
         "schemaNodeId": "sn-ipoly", "featureSchemaId": IPOLY},
    ],
    "classifications": [],
}


# ----------------------------------------------------------------------------------------------- media
def _mp4(seed: int) -> bytes:
    """A tiny H.264 mp4 (64x48, 10 frames) whose frames differ from each other and between seeds."""
    buf = io.BytesIO()
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(FRAMES):
            rgb = np.stack([(xx * 4 + i * 20 + seed * 60) % 256, (yy * 5 + seed * 40) % 256,
                            np.full_like(xx, (i * 25) % 256)], axis=-1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def _jpeg(width: int, height: int, seed: int) -> bytes:
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([(xx * 7 + seed * 50) % 256, (yy * 9) % 256, (xx * yy + seed) % 256], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------- export rows
def _box(fid: str, left: int, top: int, width: int, height: int) -> dict[str, Any]:
    return {"feature_id": fid, "feature_schema_id": BOX, "name": "box", "value": "box",
            "annotation_kind": "VideoBoundingBox", "classifications": [],
            "bounding_box": {"top": top, "left": left, "height": height, "width": width}}


def _dot(fid: str, x: int, y: int) -> dict[str, Any]:
    return {"feature_id": fid, "feature_schema_id": DOT, "name": "dot", "value": "dot",
            "annotation_kind": "VideoPoint", "classifications": [], "point": {"x": x, "y": y}}


def _weather(fid: str, value: str) -> dict[str, Any]:
    option = {"sun": (SUN, "Sun"), "rain": (RAIN, "Rain")}[value]
    return {"feature_id": fid, "feature_schema_id": WEATHER, "name": "weather", "value": "weather",
            "radio_answer": {"feature_id": f"{fid}-{value}", "feature_schema_id": option[0], "name": option[1],
                             "value": value, "classifications": []}}


def _video_label(index: int, weather: dict[int, str]) -> dict[str, Any]:
    """One label: a box moving 4 px/frame on keyframes 1 and 5 (held to 8), a point moving 2 px/frame
    between keyframes 2 and 6, and the frame-level ``weather`` radio answered on the frames of ``weather``."""
    fb, fp, fw = f"box-{index}", f"dot-{index}", f"weather-{index}"
    frames: dict[str, dict[str, Any]] = {}

    def frame(n: int) -> dict[str, Any]:
        return frames.setdefault(str(n), {"objects": {}, "classifications": []})

    frame(1)["objects"][fb] = _box(fb, 2 + index, 3, 10, 8)
    frame(5)["objects"][fb] = _box(fb, 18 + index, 7, 14, 12)
    frame(2)["objects"][fp] = _dot(fp, 30, 20 + index)
    frame(6)["objects"][fp] = _dot(fp, 38, 12 + index)
    for n, value in weather.items():
        frame(n)["classifications"].append(_weather(fw, value))
    return {
        "id": f"label-{index}", "label_kind": "Video", "version": "1.0.0",
        "label_details": {"created_by": "annotator@example.com", "created_at": "2024-05-01T10:00:00+00:00",
                          "updated_at": "2024-05-01T10:00:00+00:00"},
        "annotations": {
            "frames": {k: frames[k] for k in sorted(frames, key=int)},
            "segments": {fb: [[1, 8]], fp: [[2, 6]], fw: [[min(weather), 9]]},
            "key_frame_feature_map": {fb: [1, 5], fp: [2, 6], fw: sorted(weather)},
            "classifications": [],
        },
    }


def _video_project(sb: LabelboxSandbox, weather: dict[int, str], n_videos: int = 2) -> str:
    oid = sb.add_ontology(VIDEO_ONTOLOGY, name="differential video", media_type="VIDEO")
    pid = sb.add_project("differential video", media_type="VIDEO", ontology_id=oid)
    for i in range(n_videos):
        url = sb.add_file(f"diff-clip-{i}.mp4", _mp4(i), "video/mp4", private=False)
        row = {"data_row": {"id": f"drvideo{i:04d}", "global_key": f"gk-video-{i}", "external_id": f"clip{i}.mp4",
                            "row_data": url, "details": {"dataset_id": "ds-diff", "dataset_name": "diff"}},
               "media_attributes": {"asset_type": "video", "mime_type": "video/mp4", "width": WIDTH,
                                    "height": HEIGHT, "frame_rate": 10, "frame_count": FRAMES}}
        sb.add_data_row(pid, row, [_video_label(i, weather)])
    return pid


def _image_project(sb: LabelboxSandbox) -> str:
    oid = sb.add_ontology(IMAGE_ONTOLOGY, name="differential image", media_type="IMAGE")
    pid = sb.add_project("differential image", media_type="IMAGE", ontology_id=oid)
    for i, (w, h) in enumerate(IMAGE_SIZES):
        url = sb.add_file(f"diff-image-{i}.jpg", _jpeg(w, h, i), "image/jpeg", private=False)
        row = {"data_row": {"id": f"drimage{i:04d}", "global_key": f"gk-image-{i}", "external_id": f"img{i}.jpg",
                            "row_data": url, "details": {"dataset_id": "ds-diff", "dataset_name": "diff"}},
               "media_attributes": {"asset_type": "image", "mime_type": "image/jpeg", "width": w, "height": h}}
        objects = [
            {"feature_id": f"car-{i}-a", "feature_schema_id": IBOX, "name": "car", "value": "car",
             "annotation_kind": "ImageBoundingBox", "classifications": [],
             "bounding_box": {"top": 2 + i, "left": 3, "height": 10, "width": 12 + i}},
            {"feature_id": f"car-{i}-b", "feature_schema_id": IBOX, "name": "car", "value": "car",
             "annotation_kind": "ImageBoundingBox", "classifications": [],
             "bounding_box": {"top": 5, "left": 15, "height": 6, "width": 4}},
            {"feature_id": f"lane-{i}", "feature_schema_id": IPOLY, "name": "lane", "value": "lane",
             "annotation_kind": "ImagePolygon", "classifications": [],
             "polygon": [{"x": 1, "y": 1}, {"x": 20 + i, "y": 2}, {"x": 10, "y": 15}]},
        ]
        label = {"id": f"ilabel-{i}", "label_kind": "Default", "version": "1.0.0",
                 "label_details": {"created_by": "annotator@example.com"},
                 "annotations": {"objects": objects, "classifications": [], "relationships": []}}
        sb.add_data_row(pid, row, [label])
    return pid


# ------------------------------------------------------------------------------------------- running both
@pytest.fixture
def seed_sdk(lb_sandbox_env: LabelboxSandbox, monkeypatch: pytest.MonkeyPatch) -> LabelboxSandbox:
    """Deep Lake builds ``labelbox.Client(api_key=...)`` itself: inject the sandbox endpoint (spec pitfall 11)."""
    sb = lb_sandbox_env

    class SandboxClient(labelbox.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**sb.client_kwargs(), **kwargs})

    monkeypatch.setattr(labelbox, "Client", SandboxClient)
    # D1: the wheel's labelbox_utils uses requests without importing it (only the image path needs it)
    from deeplake.integrations.labelbox import labelbox_utils

    monkeypatch.setattr(labelbox_utils, "requests", requests, raising=False)
    return sb


def _run_deeplake(media: str, path: str, project_id: str) -> Any:
    from deeplake.integrations.labelbox import labelbox_ as seed

    create = getattr(seed, f"create_dataset_from_{media}_annotation_project")
    ds, project_json = create(path, project_id, API_KEY)
    converter = getattr(seed, f"converter_for_{media}_project_with_id")(
        project_id, lambda _name: ds, API_KEY, project_json=project_json)
    assert converter is not None
    return converter.dataset_with_applied_annotations()


def _run_ours(media: str, path: str, project_id: str) -> Any:
    from lb_assets import integrations as ours

    create = getattr(ours, f"create_dataset_from_{media}_annotation_project")
    ds, project_json = create(path, project_id, API_KEY, frame_storage="png")
    converter = getattr(ours, f"converter_for_{media}_project_with_id")(
        project_id, lambda _name: ds, API_KEY, project_json=project_json)
    assert converter is not None
    return converter.dataset_with_applied_annotations()


# ---------------------------------------------------------------------------------------------- comparing
def _values(ds: Any, column: str) -> list[Any]:
    return [ds[column][i] for i in range(len(ds))]


def _is_empty(value: Any) -> bool:
    return value is None or schema.is_empty(value) or (isinstance(value, np.ndarray) and value.size == 0)


def _assert_numeric_column_equal(ours: Any, theirs: Any, column: str) -> int:
    """Row by row: both empty, or numerically equal (dtypes may differ, e.g. float32 vs int32). Returns
    the number of non-empty rows compared."""
    compared = 0
    for row, (a, b) in enumerate(zip(_values(ours, column), _values(theirs, column), strict=True)):
        if _is_empty(a) or _is_empty(b):
            assert _is_empty(a) and _is_empty(b), f"{column} row {row}: ours {a!r}, Deep Lake {b!r}"
            continue
        np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                      err_msg=f"{column} row {row}")
        compared += 1
    return compared


def _assert_polygon_column_equal(ours: Any, theirs: Any, column: str) -> int:
    compared = 0
    for row, (a, b) in enumerate(zip(_values(ours, column), _values(theirs, column), strict=True)):
        a_list = [] if _is_empty(a) else list(a)
        b_list = [] if _is_empty(b) else list(b)
        assert len(a_list) == len(b_list), f"{column} row {row}: {len(a_list)} vs {len(b_list)} polygons"
        for k, (pa, pb) in enumerate(zip(a_list, b_list)):
            np.testing.assert_array_equal(np.asarray(pa, np.float64), np.asarray(pb, np.float64),
                                          err_msg=f"{column} row {row} polygon {k}")
            compared += 1
    return compared


def _assert_text_or_number_column_equal(ours: Any, theirs: Any, column: str) -> None:
    got, want = _values(ours, column), _values(theirs, column)
    if any(isinstance(v, str) for v in want):
        assert got == want, column
    else:  # e.g. lb_meta/frame_rate: int32 in Deep Lake, float64 in ours (D19)
        np.testing.assert_array_equal(np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel(),
                                      err_msg=column)


def _assert_same_columns(ours: Any, theirs: Any) -> set[str]:
    """Every column Deep Lake wrote exists in ours with equal values (compared by kind); returns their names."""
    names = {c.name for c in theirs.schema.columns}
    missing = names - {c.name for c in ours.schema.columns}
    assert not missing, f"columns only Deep Lake has: {sorted(missing)}"
    for column in sorted(names):
        kind = str(theirs.schema[column].dtype)
        if kind.startswith("kind=image"):
            for row in range(len(theirs)):
                np.testing.assert_array_equal(np.asarray(ours[column][row]), np.asarray(theirs[column][row]),
                                              err_msg=f"{column} row {row}")
        elif kind.startswith("kind=class_label"):
            assert _class_names(ours, column) == _class_names(theirs, column), column
            assert list(_labels(ours, column)) == list(_labels(theirs, column)), column
        elif kind == "polygon":
            _assert_polygon_column_equal(ours, theirs, column)
        elif kind.startswith("kind=bbox") or kind == "point":
            _assert_numeric_column_equal(ours, theirs, column)
        else:
            _assert_text_or_number_column_equal(ours, theirs, column)
    return names


def _class_names(ds: Any, column: str) -> list[str]:
    return list(ds[column].metadata["class_names"])


def _labels(ds: Any, column: str) -> Iterator[list[str]]:
    names = _class_names(ds, column)
    for value in _values(ds, column):
        yield [] if _is_empty(value) else [names[i] for i in np.asarray(value).ravel().tolist()]


# ----------------------------------------------------------------------------------------------- the tests
def test_video_project_equals_deeplake_where_deeplake_is_right(seed_sdk: LabelboxSandbox, tmp_path) -> None:
    pid = _video_project(seed_sdk, weather={1: "sun", 6: "sun"})
    theirs = _run_deeplake("video", str(tmp_path / "deeplake"), pid)
    ours = _run_ours("video", str(tmp_path / "ours"), pid)

    assert len(ours) == len(theirs) == 2 * FRAMES
    for row in range(len(ours)):
        mine, seed_frame = np.asarray(ours["frames"][row]), np.asarray(theirs["frames"][row])
        assert mine.shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(mine, seed_frame, err_msg=f"frame row {row}")
    assert not np.array_equal(np.asarray(ours["frames"][0]), np.asarray(ours["frames"][1]))

    assert _assert_numeric_column_equal(ours, theirs, "box") == 2 * 8  # frames 1-8 of both videos
    assert _assert_numeric_column_equal(ours, theirs, "dot") == 2 * 5  # frames 2-6
    assert _class_names(ours, "weather") == _class_names(theirs, "weather") == ["sun", "rain"]
    assert list(_labels(ours, "weather")) == list(_labels(theirs, "weather"))
    assert list(_labels(ours, "weather"))[:FRAMES] == [["sun"]] * 9 + [[]]
    np.testing.assert_array_equal(np.asarray(ours["box"][2]), [[10, 5, 12, 10]])  # interpolated, frame 3
    compared = _assert_same_columns(ours, theirs)  # every column Deep Lake writes, lb_meta/* included
    assert {"frames", "frame_idx", "video_idx", "box", "dot", "weather", "lb_meta/id", "lb_meta/frame_number",
            "lb_meta/width", "lb_meta/height", "lb_meta/frame_rate"} <= compared
    assert _values(ours, "lb_meta/frame_number")[:FRAMES] == list(range(1, FRAMES + 1))


def test_image_project_equals_deeplake_where_deeplake_is_right(seed_sdk: LabelboxSandbox, tmp_path) -> None:
    pid = _image_project(seed_sdk)
    theirs = _run_deeplake("image", str(tmp_path / "deeplake"), pid)
    ours = _run_ours("image", str(tmp_path / "ours"), pid)

    assert len(ours) == len(theirs) == len(IMAGE_SIZES)
    for row, (w, h) in enumerate(IMAGE_SIZES):
        mine = np.asarray(ours["image"][row])
        assert mine.shape == (h, w, 3)
        np.testing.assert_array_equal(mine, np.asarray(theirs["image"][row]), err_msg=f"image row {row}")
    assert _assert_numeric_column_equal(ours, theirs, "car") == len(IMAGE_SIZES)
    assert np.asarray(ours["car"][0]).shape == (2, 4)
    assert _assert_polygon_column_equal(ours, theirs, "lane") == len(IMAGE_SIZES)
    compared = _assert_same_columns(ours, theirs)
    assert {"image", "image_idx", "car", "lane", "lb_meta/id", "lb_meta/width", "lb_meta/height"} <= compared


def test_radio_change_between_keyframes_differs_on_purpose_d7(seed_sdk: LabelboxSandbox, tmp_path) -> None:
    """Radio sun@1 -> rain@5: Deep Lake gives frames 2-4 the NEXT keyframe's answer (rain); we hold sun."""
    pid = _video_project(seed_sdk, weather={1: "sun", 5: "rain"}, n_videos=1)
    theirs = _run_deeplake("video", str(tmp_path / "deeplake"), pid)
    ours = _run_ours("video", str(tmp_path / "ours"), pid)

    sun, rain = ["sun"], ["rain"]
    assert list(_labels(theirs, "weather")) == [sun] + [rain] * 8 + [[]]
    assert list(_labels(ours, "weather")) == [sun] * 4 + [rain] * 5 + [[]]
    # everything else still agrees
    assert _assert_numeric_column_equal(ours, theirs, "box") == 8
    assert _assert_numeric_column_equal(ours, theirs, "dot") == 5


def test_export_errors_flag_matches_deeplake(seed_sdk: LabelboxSandbox, tmp_path) -> None:
    """fail_on_labelbox_project_export_error: False (default) converts the rows that exported, like Deep Lake
    (which prints the errors; we log a redacted warning); True raises in both."""
    from deeplake.integrations.labelbox import labelbox_ as seed

    from lb_assets import integrations as ours
    from lb_assets.errors import LabelboxOperationError

    pid = _image_project(seed_sdk)
    seed_sdk.set_export_errors(pid, [{"error": "a data row could not be exported"}])
    theirs = _run_deeplake("image", str(tmp_path / "deeplake"), pid)
    mine = _run_ours("image", str(tmp_path / "ours"), pid)
    assert len(mine) == len(theirs) == len(IMAGE_SIZES)
    assert {"car", "lane", "lb_meta/id"} <= _assert_same_columns(mine, theirs)

    with pytest.raises(ValueError, match="a data row could not be exported"):
        seed.create_dataset_from_image_annotation_project(str(tmp_path / "deeplake2"), pid, API_KEY,
                                                          fail_on_labelbox_project_export_error=True)
    with pytest.raises(LabelboxOperationError, match="a data row could not be exported"):
        ours.create_dataset_from_image_annotation_project(str(tmp_path / "ours2"), pid, API_KEY,
                                                          fail_on_labelbox_project_export_error=True)
    assert not (tmp_path / "ours2").exists()  # Deep Lake has created its dataset by then (D17); we have not
    assert (tmp_path / "deeplake2").exists()
