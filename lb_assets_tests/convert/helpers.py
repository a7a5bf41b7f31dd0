"""Builders of handwritten export rows and ontologies, and loaders of the shipped Labelbox samples."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "labelbox_samples"
PID = "clprojectid000000000000001"


def load_sample(name: str) -> Any:
    """A JSON sample from lb_assets_tests/fixtures/labelbox_samples/."""
    return json.loads((SAMPLES / name).read_text())


def option(value: str, fsid: str, label: str | None = None, nested: list | None = None) -> dict:
    return {"label": label or value, "value": value, "featureSchemaId": fsid, "schemaNodeId": None,
            "options": nested or []}


def classification(ctype: str, name: str, fsid: str, options: list | None = None, scope: str | None = None) -> dict:
    out = {"type": ctype, "name": name, "instructions": name, "required": False, "featureSchemaId": fsid,
           "schemaNodeId": None, "options": options or []}
    if scope:
        out["scope"] = scope
    return out


def tool(kind: str, name: str, fsid: str, classifications: list | None = None) -> dict:
    return {"tool": kind, "name": name, "color": "#ff0000", "required": False, "featureSchemaId": fsid,
            "schemaNodeId": None, "classifications": classifications or []}


def video_ontology() -> dict:
    """rectangle car (+ nested radio color), point dot, line lane, mask road; radio weather (frame-level,
    option sun has a nested text 'note'); checklist tags (global); text comment (global)."""
    return {
        "tools": [
            tool("rectangle", "car", "fs-car", [classification("radio", "color", "fs-color", [
                option("red", "fs-red"), option("blue", "fs-blue")])]),
            tool("point", "dot", "fs-dot"),
            tool("line", "lane", "fs-lane"),
            tool("raster-segmentation", "road", "fs-road"),
        ],
        "classifications": [
            classification("radio", "weather", "fs-weather", [
                option("sun", "fs-sun", nested=[classification("text", "note", "fs-note")]),
                option("rain", "fs-rain")], scope="index"),
            classification("checklist", "tags", "fs-tags", [
                option("a", "fs-a"), option("b", "fs-b"), option("c", "fs-c")], scope="global"),
            classification("text", "comment", "fs-comment", scope="global"),
        ],
    }


def image_ontology() -> dict:
    """rectangle box, polygon area, line lane, point dot, masks road+sky; radio kind (global, option
    values differ from labels, option animal has nested radio legs); checklist tags; text comment."""
    return {
        "tools": [
            tool("rectangle", "box", "fs-box"),
            tool("polygon", "area", "fs-area"),
            tool("line", "lane", "fs-lane"),
            tool("point", "dot", "fs-dot"),
            tool("raster-segmentation", "road", "fs-road"),
            tool("raster-segmentation", "sky", "fs-sky"),
        ],
        "classifications": [
            classification("radio", "kind", "fs-kind", [
                option("animal_v", "fs-animal", label="Animal", nested=[
                    classification("radio", "legs", "fs-legs", [option("two", "fs-two"), option("four", "fs-four")])]),
                option("plant_v", "fs-plant", label="Plant")]),
            classification("checklist", "tags", "fs-tags", [option("a", "fs-a"), option("b", "fs-b")]),
            classification("text", "comment", "fs-comment"),
        ],
    }


def bbox(left: float, top: float, width: float, height: float, name: str = "car", fsid: str = "fs-car",
         fid: str = "inst-1", nested: list | None = None, kind: str = "VideoBoundingBox") -> dict:
    return {"feature_id": fid, "feature_schema_id": fsid, "name": name, "value": name, "annotation_kind": kind,
            "classifications": nested or [],
            "bounding_box": {"top": top, "left": left, "height": height, "width": width}}


def radio(name: str, fsid: str, answer_value: str | None, answer_fsid: str | None, answer_name: str | None = None,
          fid: str = "cls-1", nested: list | None = None) -> dict:
    answer: dict = {"feature_id": fid + "-a", "name": answer_name or answer_value, "classifications": nested or []}
    if answer_value is not None:
        answer["value"] = answer_value
    if answer_fsid is not None:
        answer["feature_schema_id"] = answer_fsid
    return {"feature_id": fid, "feature_schema_id": fsid, "name": name, "value": name, "radio_answer": answer}


def checklist(name: str, fsid: str, values: list[str], fid: str = "chk-1") -> dict:
    return {"feature_id": fid, "feature_schema_id": fsid, "name": name, "value": name,
            "checklist_answers": [{"name": v, "value": v, "feature_schema_id": f"fs-{v}", "classifications": []}
                                  for v in values]}


def text(name: str, fsid: str, content: str, fid: str = "txt-1") -> dict:
    return {"feature_id": fid, "feature_schema_id": fsid, "name": name, "value": name,
            "text_answer": {"content": content}}


def label(annotations: dict, label_id: str = "lbl-1", updated_at: str | None = None, created_by: str = "a@example.com",
          skipped: bool | None = None, kind: str = "Video") -> dict:
    out: dict = {"label_kind": kind, "version": "1.0.0", "id": label_id, "annotations": annotations,
                 "label_details": {"created_by": created_by}}
    if updated_at:
        out["label_details"].update(created_at=updated_at, updated_at=updated_at)
    if skipped is not None:
        out["performance_details"] = {"seconds_to_create": 1, "seconds_to_review": 0, "skipped": skipped}
    return out


def video_annotations(frames: dict | None = None, segments: dict | None = None, kffm: dict | None = None,
                      classifications: list | None = None, drop: tuple[str, ...] = ()) -> dict:
    ann = {"frames": frames or {}, "segments": segments or {}, "key_frame_feature_map": kffm or {},
           "classifications": classifications or []}
    for key in drop:
        ann.pop(key)
    return ann


def frame(objects: list[dict] | None = None, classifications: list | None = None) -> dict:
    return {"objects": {o["feature_id"]: o for o in objects or []}, "classifications": classifications or []}


def video_row(labels: list[dict], frame_count: int = 10, drid: str = "dr-video-1", frame_rate: Any = 29.97002997002997,
              extra_projects: dict | None = None, media: dict | None = None) -> dict:
    projects = {PID: {"name": "Video project", "labels": labels,
                      "project_details": {"ontology_id": "onto-1", "workflow_status": "DONE"}}}
    projects.update(extra_projects or {})
    return {
        "data_row": {"id": drid, "external_id": "clips/walk.mp4", "global_key": "gk-walk",
                     "row_data": "https://storage.example.com/walk.mp4?Expires=1&Signature=SECRET",
                     "details": {"dataset_id": "ds-1", "dataset_name": "walks"}},
        "media_attributes": media if media is not None else {
            "height": 48, "width": 64, "mime_type": "video/mp4", "frame_rate": frame_rate,
            "frame_count": frame_count, "asset_type": "video"},
        "projects": projects,
    }


def image_row(labels: list[dict], drid: str = "dr-image-1", media: dict | None = None) -> dict:
    return {
        "data_row": {"id": drid, "external_id": "photo.jpg", "row_data": "https://storage.example.com/photo.jpg"},
        "media_attributes": media if media is not None else {
            "height": 4, "width": 6, "mime_type": "image/jpeg", "asset_type": "image", "exif_rotation": 1},
        "projects": {PID: {"name": "Image project", "labels": labels}},
    }


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 (H,W) or (H,W,3|4) array as PNG."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


class DictMaskSource:
    """A MaskSource over a dict of URL -> bytes, counting fetches per URL."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.calls: list[str] = []

    def fetch(self, url: str) -> bytes:
        from lb_assets.errors import MediaError

        self.calls.append(url)
        if url not in self.files:
            raise MediaError(f"mask not found: {url.split('?')[0]}")
        return self.files[url]
