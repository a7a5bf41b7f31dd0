"""The bundled demo projects: deterministic media, export-v2 rows, ground truth, sandbox install and steps."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
import requests
from labelbox.schema.ontology import Classification, Tool
from PIL import Image, ImageOps

from lb_assets.sandbox import LabelboxSandbox
from lb_assets.sandbox.demo import (
    DEMO_IMAGE_PROJECT_ID, DEMO_VIDEO_PROJECT_ID, PRIVATE_FILES, Demo, advance_labeling, build_demo, install_demo, truth_after,
)
from lb_assets.sandbox.demo_labels import MASK_SCHEME

API_KEY = "sandbox-key"
EXPORT_PARAMS = {"label_details": True, "data_row_details": True, "project_details": True,
                 "performance_details": True, "interpolated_frames": False}


@pytest.fixture(scope="module")
def demo() -> Demo:
    return build_demo(seed=0)


def _rows(demo: Demo, key: str) -> list[tuple[dict[str, Any], list[dict[str, Any]], str]]:
    return demo.projects[key].rendered()[0]


def _labels_by_row(demo: Demo, key: str) -> dict[str, list[dict[str, Any]]]:
    return {row["data_row"]["id"]: labels for row, labels, _ in _rows(demo, key)}


def _mean_rgb(rgb: np.ndarray, box: list[float], shrink: int = 2) -> np.ndarray:
    left, top, width, height = (int(round(v)) for v in box)
    return rgb[top + shrink: top + height - shrink, left + shrink: left + width - shrink].reshape(-1, 3).mean(axis=0)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes(demo: Demo) -> None:
    again = build_demo(seed=0)
    assert sorted(again.files) == sorted(demo.files) and len(demo.files) == 8
    for name, file in demo.files.items():
        assert again.files[name].data == file.data, name
    assert again.masks == demo.masks and demo.masks
    assert json.dumps(again.manifest(), sort_keys=True) == json.dumps(demo.manifest(), sort_keys=True)
    for key in ("video", "image"):
        for drid, expected in demo.truth[key].items():
            assert repr(again.truth[key][drid]) == repr(expected)


def test_other_seed_differs(demo: Demo) -> None:
    other = build_demo(seed=1)
    assert other.files["traffic.mp4"].data != demo.files["traffic.mp4"].data
    assert other.projects["video"].project_id == DEMO_VIDEO_PROJECT_ID


# ----------------------------------------------------------------------------- media
@pytest.mark.parametrize("name,rate,frames,size", [
    ("traffic.mp4", Fraction(10), 24, (160, 120)),
    ("orbit.mp4", Fraction(25, 2), 30, (192, 144)),
    ("ntsc.mp4", Fraction(30000, 1001), 60, (160, 120)),
])
def test_videos_decode_and_pixels_match_truth(demo: Demo, name: str, rate: Fraction, frames: int,
                                              size: tuple[int, int]) -> None:
    with av.open(io.BytesIO(demo.files[name].data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == rate
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == frames and decoded[0].shape == (size[1], size[0], 3)
    rows = [(row, st) for row, _, st in _rows(demo, "video") if row["data_row"]["row_data"].endswith(name)]
    labeled = [row for row, _ in rows if any(demo.truth["video"][row["data_row"]["id"]].values())]
    assert labeled
    for row in labeled:
        drid = row["data_row"]["id"]
        assert row["media_attributes"]["frame_count"] == frames == demo.truth["frame_counts"][drid]
        assert row["media_attributes"]["frame_rate"] == (int(rate) if rate.denominator == 1 else float(rate))
        assert sorted(demo.truth["video"][drid]) == list(range(1, frames + 1))
        for number, values in demo.truth["video"][drid].items():
            rgb = decoded[number - 1].astype(np.float64)
            for box in values.get("box", []):
                red = _mean_rgb(rgb, box)
                assert red[0] > 150 and red[1] < 110 and red[2] < 110, (name, number, red)
            for x, y in values.get("dot", []):
                r, g, b = rgb[int(round(y)), int(round(x))]
                assert r > 150 and g > 150 and b < 130, (name, number)
            if "region" in values:
                inside = rgb[values["region"][..., 0]].mean(axis=0)
                assert inside[2] > 150 and inside[0] < 100, (name, number, inside)


def test_images_exif_modes_and_pixels(demo: Demo) -> None:
    modes = {}
    for row, labels, _ in _rows(demo, "image"):
        name = row["data_row"]["row_data"].removeprefix("demo-file://")
        raw = Image.open(io.BytesIO(demo.files[name].data))
        modes[name] = (raw.format, raw.mode, raw.getexif().get(0x0112))
        shown = ImageOps.exif_transpose(raw)
        media = row["media_attributes"]
        assert shown.size == (media["width"], media["height"]), name
        rgb = np.asarray(shown.convert("RGB"), dtype=np.float64)
        truth = demo.truth["image"][row["data_row"]["id"]]
        for box in truth.get("box", []):
            if name == "alpha.png" and labels:  # its box is 4 px off until labeling step 2 corrects it
                continue
            mean = _mean_rgb(rgb, box)
            assert (mean[0] > 150 and mean[1] < 110) if raw.mode != "L" else mean[0] > 70, (name, mean)
    assert modes["street.jpg"][:2] == ("JPEG", "RGB") and modes["gray.png"][:2] == ("PNG", "L")
    assert modes["alpha.png"][:2] == ("PNG", "RGBA") and modes["rotated.jpg"] == ("JPEG", "RGB", 6)
    assert Image.open(io.BytesIO(demo.files["rotated.jpg"].data)).size == (160, 120)  # stored unrotated


def test_masks_match_truth(demo: Demo) -> None:
    checked = 0
    for key in ("video", "image"):
        for drid, labels in _labels_by_row(demo, key).items():
            if not labels:
                continue
            annotations = labels[-1]["annotations"]
            if key == "video":
                items = [(int(n), o) for n, f in annotations["frames"].items() for o in f["objects"].values()]
            else:
                items = [(0, o) for o in annotations["objects"]]
            masks = [(n, o) for n, o in items if "mask" in o or "composite_mask" in o]
            for k, (number, obj) in enumerate(masks):
                url = (obj.get("composite_mask") or obj["mask"])["url"]
                png = np.asarray(Image.open(io.BytesIO(demo.masks[url.removeprefix(MASK_SCHEME)])).convert("RGB"))
                if "composite_mask" in obj:
                    got = np.all(png == np.asarray(obj["composite_mask"]["color_rgb"]), axis=-1)
                    if key == "video":
                        assert url.endswith(f"/index/{number}")
                else:
                    got = png[..., 0] > 127
                want = demo.truth[key][drid][number]["region"][..., 0] if key == "video" else \
                    demo.truth[key][drid]["region"][..., k]
                assert np.array_equal(got, want) and got.any()
                checked += 1
    assert checked == 5


# ----------------------------------------------------------------------------- rows and ontology
def test_ontologies_parse_with_the_sdk(demo: Demo) -> None:
    kinds = set()
    for project in demo.projects.values():
        normalized = project.ontology.normalized
        for tool in normalized["tools"]:
            parsed = Tool.from_dict(tool)
            kinds.add(parsed.tool.value)
            assert parsed.feature_schema_id == tool["featureSchemaId"] and tool["schemaNodeId"]
        for cls in normalized["classifications"]:
            kinds.add(Classification.from_dict(cls).class_type.value)
    assert kinds == {"rectangle", "polygon", "line", "point", "raster-segmentation", "radio", "checklist", "text"}
    video = demo.projects["video"].ontology.normalized
    assert {c["scope"] for c in video["classifications"]} == {"index", "global"}
    assert all(t["tool"] != "polygon" for t in video["tools"])
    assert any(t["classifications"] for t in video["tools"])  # nested under a tool
    assert any(o["options"] for c in video["classifications"] for o in c["options"])  # nested under an option


def test_video_rows_have_the_export_v2_shape(demo: Demo) -> None:
    rows = _rows(demo, "video")
    assert [st for _, _, st in rows] == ["DONE", "DONE", "IN_REVIEW", "TO_LABEL"]
    assert sum("global_key" not in r["data_row"] for r, _, _ in rows) == 1
    assert rows[3][1] == []
    kffm_forms, legacy = set(), 0
    for row, labels, _ in rows:
        assert row["data_row"]["external_id"] and "projects" not in row
        for label in labels:
            assert label["label_kind"] == "Video" and set(label["label_details"]) >= {"created_at", "updated_at",
                                                                                       "created_by"}
            ann = label["annotations"]
            assert set(ann) == {"frames", "segments", "key_frame_feature_map", "classifications"}
            for number, frame in ann["frames"].items():
                assert int(number) >= 1 and set(frame) == {"objects", "classifications"}
                for fid, obj in frame["objects"].items():
                    assert obj["feature_id"] == fid and obj["annotation_kind"].startswith("Video")
                    if "asset_type" not in row["media_attributes"]:
                        assert "value" not in obj
                        legacy += 1
            for fid, ranges in ann["segments"].items():
                assert all(1 <= s <= e <= row["media_attributes"]["frame_count"] for s, e in ranges)
                entry = ann["key_frame_feature_map"].get(fid)
                kffm_forms.add(type(entry).__name__)
            assert len(ann["frames"]) < row["media_attributes"]["frame_count"]  # sparse keyframes
    assert kffm_forms == {"list", "dict", "NoneType"} and legacy
    v1 = rows[0][1][0]["annotations"]
    motions = [c["radio_answer"]["value"] for f in v1["frames"].values() for c in f["classifications"]]
    assert motions == ["still", "moving"]
    assert {c["name"] for c in v1["classifications"]} == {"scene", "tags", "caption"}


def test_image_rows_have_the_export_v2_shape(demo: Demo) -> None:
    rows = _rows(demo, "image")
    assert [st for _, _, st in rows].count("DONE") == 3 and rows[2][2] == "IN_REVIEW" and rows[4][2] == "TO_LABEL"
    assert [len(labels) for _, labels, _ in rows] == [2, 1, 1, 1, 0]
    assert rows[1][0]["media_attributes"].get("asset_type") is None
    assert rows[3][0]["media_attributes"]["exif_rotation"] == 6
    assert (rows[3][0]["media_attributes"]["width"], rows[3][0]["media_attributes"]["height"]) == (120, 160)
    first, second = rows[0][1]
    assert first["annotations"] != second["annotations"] and first["label_details"]["updated_at"] < \
        second["label_details"]["updated_at"]
    for _, labels, _ in rows:
        for label in labels:
            assert label["label_kind"] == "Default" and label["annotations"]["relationships"] == []
            assert isinstance(label["annotations"]["objects"], list)
    kinds = {o["annotation_kind"] for _, labels, _ in rows for lab in labels for o in lab["annotations"]["objects"]}
    assert kinds == {"ImageBoundingBox", "ImagePolygon", "ImagePolyline", "ImagePoint", "ImageSegmentationMask"}
    objects = [o for _, labels, _ in rows for lab in labels for o in lab["annotations"]["objects"]]
    assert any("mask" in o for o in objects) and any("composite_mask" in o for o in objects)
    assert all("value" not in o for o in rows[1][1][0]["annotations"]["objects"])
    scene = second["annotations"]["classifications"][0]
    assert scene["radio_answer"]["classifications"][0]["radio_answer"]["value"] == "bright"
    assert scene["radio_answer"]["name"] == "Synthetic" and scene["radio_answer"]["value"] == "synthetic"


# ----------------------------------------------------------------------------- ground truth
def test_video_truth_interpolates_and_holds(demo: Demo) -> None:
    v1, v2, v3, v4 = demo.projects["video"].specs
    t = demo.truth["video"][v1.data_row_id]
    first, last = t[1]["box"][0], t[10]["box"][0]
    assert t[4]["box"][0] == pytest.approx([first[0] + 9, first[1], 30, 20]) and last[0] == first[0] + 27
    assert "box" not in t[11] and "box" not in t[13] and "box" in t[14]  # between segments
    assert [t[n]["motion"] for n in (1, 11, 12, 24)] == [["still"], ["still"], ["moving"], ["moving"]]
    assert t[11]["dot/visibility"] == ["visible"] and t[12]["dot/visibility"] == ["occluded"]
    assert t[7]["scene/palette"] == ["dark"] and t[7]["caption"] == "a red box crosses twice"
    assert "region" in t[5] and "region" not in t[7] and t[5]["region"].shape == (120, 160, 1)
    t2 = demo.truth["video"][v2.data_row_id]
    assert "box" not in t2[2] and t2[10]["box"][0][0] == t2[3]["box"][0][0] + 21
    assert "tags" in t2[5] and "tags" not in t2[13] and t2[20]["tags"] == ["slow", "occluded"]
    assert demo.truth["video"][v3.data_row_id][40]["flags"] == ["dark", "noisy"]
    assert not any(demo.truth["video"][v4.data_row_id].values())


def test_image_truth_uses_the_latest_label(demo: Demo) -> None:
    i1, i2, i3, i4, i5 = demo.projects["image"].specs
    t = demo.truth["image"]
    assert set(t[i1.data_row_id]) == {"box", "outline", "edge", "marker", "marker/marker_kind", "scene",
                                      "scene/palette", "tags", "caption"}
    assert t[i1.data_row_id]["scene"] == ["synthetic"] and t[i1.data_row_id]["tags"] == ["fast", "occluded"]
    assert t[i3.data_row_id]["region"].shape == (96, 128, 2) and t[i5.data_row_id] == {}
    assert t[i4.data_row_id]["marker"] == [[90.0, 140.0]]


def test_truth_after_steps(demo: Demo) -> None:
    assert truth_after(demo, "image", 0).keys() == demo.truth["image"].keys()
    i1, _, i3, _, i5 = demo.projects["image"].specs
    after = truth_after(demo, "image", 3)
    assert after[i5.data_row_id]["box"] and "edge" not in after[i1.data_row_id]
    assert after[i3.data_row_id]["box"] != demo.truth["image"][i3.data_row_id]["box"]
    v1, _, v3, v4 = demo.projects["video"].specs
    video = truth_after(demo, "video", 3)
    assert "lane" not in video[v1.data_row_id][5] and video[v4.data_row_id][1]["box"]
    assert video[v3.data_row_id][60]["box"][0][0] == demo.truth["video"][v3.data_row_id][60]["box"][0][0] - 4
    with pytest.raises(IndexError):
        truth_after(demo, "video", 4)


# ----------------------------------------------------------------------------- sandbox
def _export(sb: LabelboxSandbox, pid: str) -> list[dict[str, Any]]:
    task = sb.client().get_project(pid).export(params=EXPORT_PARAMS)
    task.wait_till_done()
    return [item.json for item in task.get_buffered_stream()]


def test_install_export_and_advance(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with LabelboxSandbox(api_key=API_KEY) as sb:
        projects = install_demo(sb, demo)
        assert projects == {"video": DEMO_VIDEO_PROJECT_ID, "image": DEMO_IMAGE_PROJECT_ID}
        for key, pid in projects.items():
            exported = _export(sb, pid)
            expected = _rows(demo, key)
            assert [r["data_row"]["id"] for r in exported] == [r["data_row"]["id"] for r, _, _ in expected]
            for got, (row, labels, status) in zip(exported, expected):
                project = got["projects"][pid]
                assert project["project_details"]["workflow_status"] == status
                assert got["media_attributes"] == row["media_attributes"]
                assert json.dumps([lab["annotations"] for lab in project["labels"]]).count(sb.base_url) == \
                    json.dumps([lab["annotations"] for lab in labels]).count(MASK_SCHEME)
                name = row["data_row"]["row_data"].removeprefix("demo-file://")
                if name in PRIVATE_FILES:  # Labelbox-hosted: refused without the key
                    assert requests.get(got["data_row"]["row_data"], timeout=10).status_code == 401
                served = requests.get(got["data_row"]["row_data"], timeout=10,
                                      headers={"Authorization": f"Bearer {API_KEY}"})
                assert served.status_code == 200 and served.content == demo.files[name].data
        mask_url = next(o["mask"]["url"] for r in _export(sb, DEMO_IMAGE_PROJECT_ID)
                        for lab in r["projects"][DEMO_IMAGE_PROJECT_ID]["labels"]
                        for o in lab["annotations"]["objects"] if "mask" in o)
        assert requests.get(mask_url, timeout=10).status_code == 401
        assert requests.get(mask_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10).content in \
            demo.masks.values()

        video, image = projects["video"], projects["image"]
        in_review = [d for d in sb.data_row_ids(image) if sb.workflow_status(image, d) == "IN_REVIEW"]
        assert "IN_REVIEW" in advance_labeling(sb, image, 0)
        assert [sb.workflow_status(image, d) for d in in_review] == ["DONE"]
        unlabeled = sb.data_row_ids(image)[4]
        before = sb.last_activity_at(image, unlabeled)
        assert "labeled" in advance_labeling(sb, image, 1)
        assert sb.labels(image, unlabeled) and sb.last_activity_at(image, unlabeled) > before
        advance_labeling(sb, image, 2)
        for step in range(3):
            advance_labeling(sb, video, step)
        for key, pid in projects.items():
            rows = _export(sb, pid)
            assert {r["projects"][pid]["project_details"]["workflow_status"] for r in rows} == {"DONE"}
            after = _labels_by_row_after(demo, key)
            for row in rows:
                got = row["projects"][pid]["labels"]
                assert [lab["id"] for lab in got] == [lab["id"] for lab in after[row["data_row"]["id"]]]
        street = next(r for r in _export(sb, image) if r["data_row"]["external_id"] == "street.jpg")
        assert "ImagePolyline" not in {o["annotation_kind"]
                                       for o in street["projects"][image]["labels"][-1]["annotations"]["objects"]}
        with pytest.raises(IndexError):
            advance_labeling(sb, video, 3)
        with pytest.raises(KeyError):
            advance_labeling(sb, "clnotademoproject00000001", 0)


def _labels_by_row_after(demo: Demo, key: str) -> dict[str, list[dict[str, Any]]]:
    from lb_assets.sandbox.demo import _apply_steps

    project, _ = _apply_steps(demo, key, 3)
    return {row["data_row"]["id"]: labels for row, labels, _ in project.rendered()[0]}


def test_sandbox_load_demo_matches_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with LabelboxSandbox(api_key=API_KEY) as sb:
        assert sb.load_demo(seed=0) == {"video": DEMO_VIDEO_PROJECT_ID, "image": DEMO_IMAGE_PROJECT_ID}
        overview = sb.client().get_project(DEMO_VIDEO_PROJECT_ID).ontology()
        assert [t.name for t in overview.tools()] == ["box", "dot", "lane", "region"]


# ----------------------------------------------------------------------------- truth vs the converter
@pytest.mark.parametrize("key,steps", [("video", 0), ("image", 0), ("video", 3), ("image", 3)])
def test_truth_agrees_with_the_converter(demo: Demo, key: str, steps: int) -> None:
    """``lb_assets.convert`` on the demo rows gives the ground truth (masks: truth channels are instances)."""
    from lb_assets.convert.convert import convert_data_row
    from lb_assets.convert.ontology import build_plan
    from lb_assets.convert.rows import parse_row
    from lb_assets.sandbox.demo import _apply_steps

    project, _ = _apply_steps(demo, key, steps)
    rows, masks = project.rendered()

    class Masks:
        def fetch(self, url: str) -> bytes:
            return masks[url.removeprefix(MASK_SCHEME)]

    truth = truth_after(demo, key, steps)
    plan = build_plan(project.ontology.normalized, key)
    compared = 0
    for index, (row, labels, _) in enumerate(rows):
        row = {**row, "projects": {project.project_id: {"name": project.name, "labels": labels}}}
        converted = convert_data_row(parse_row(row, project.project_id, index), plan, "latest", Masks(), strict=True)
        per_row = truth[row["data_row"]["id"]]
        per_row = per_row if key == "video" else {0: per_row}
        for position, (_, values) in enumerate(sorted(per_row.items())):
            columns = {}
            for column, column_values in converted.values.items():
                head, _, tail = column.partition("/")
                columns[head if head == tail else column] = (plan.columns[column], column_values[position])
            assert {c for c, (_, v) in columns.items() if v is not None} == set(values)
            for name, want in values.items():
                spec, got = columns[name]
                if spec.kind in ("radio", "checklist"):
                    assert [spec.class_names[i] for i in np.asarray(got).tolist()] == list(want)
                elif spec.kind == "mask":
                    assert np.array_equal(got[..., 0], want.any(axis=-1))
                elif spec.kind in ("line", "polygon"):
                    assert len(got) == len(want)
                    for got_line, want_line in zip(got, want):
                        np.testing.assert_allclose(np.asarray(got_line, np.float64), want_line)
                elif spec.kind == "text":
                    assert got == want
                else:
                    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64))
                compared += 1
    assert compared > (500 if key == "video" else 15)
