"""Sandbox projects and export rows shared by the Labelbox-layer tests."""

from __future__ import annotations

from typing import Any

from lb_assets.sandbox import LabelboxSandbox

API_KEY = "sandbox-key"

ONTOLOGY = {
    "tools": [{"tool": "rectangle", "name": "car", "required": False, "color": "#ff0000", "classifications": [],
               "schemaNodeId": "sn-car", "featureSchemaId": "fs-car"}],
    "classifications": [{"type": "radio", "name": "weather", "instructions": "weather", "required": False,
                         "scope": "global", "schemaNodeId": "sn-w", "featureSchemaId": "fs-w",
                         "options": [{"label": "sunny", "value": "sunny", "schemaNodeId": "sn-s",
                                      "featureSchemaId": "fs-s", "options": []}]}],
}


def video_row(index: int, pad: str = "") -> dict[str, Any]:
    """An export-v2 video row (without ``projects``) for the sandbox."""
    return {
        "data_row": {"id": f"dr-{index:05d}", "global_key": f"gk-{index:05d}", "external_id": f"clip{index}.mp4",
                     "row_data": f"https://example.com/clip{index}.mp4?sig=SECRET{index}",
                     "details": {"dataset_name": "clips", "note": pad}},
        "media_attributes": {"asset_type": "video", "mime_type": "video/mp4", "width": 64, "height": 48,
                             "frame_rate": 10, "frame_count": 5},
    }


def video_label(label_id: str) -> dict[str, Any]:
    """A one-box video label in export-v2 form."""
    box = {"feature_id": f"f-{label_id}", "name": "car", "feature_schema_id": "fs-car",
           "annotation_kind": "VideoBoundingBox", "bounding_box": {"top": 1, "left": 2, "height": 3, "width": 4},
           "classifications": []}
    return {"id": label_id, "label_kind": "Video", "label_details": {"created_by": "a@b.c"},
            "annotations": {"frames": {"1": {"objects": {f"f-{label_id}": box}, "classifications": []}},
                            "segments": {f"f-{label_id}": [[1, 1]]},
                            "key_frame_feature_map": {f"f-{label_id}": [1]}, "classifications": []}}


def seed_project(sb: LabelboxSandbox, n: int = 4, statuses: tuple[str, ...] = ("DONE", "TO_LABEL", "IN_REVIEW", "IN_REWORK"),
                 pad: str = "") -> tuple[str, list[str]]:
    """A video project with ``n`` rows cycling through ``statuses``; DONE rows carry one label."""
    oid = sb.add_ontology(ONTOLOGY, name="cars")
    pid = sb.add_project("cars", media_type="VIDEO", ontology_id=oid)
    ids = []
    for i in range(n):
        status = statuses[i % len(statuses)]
        labels = [video_label(f"lb-{i}")] if status == "DONE" else []
        ids.append(sb.add_data_row(pid, video_row(i, pad), labels, workflow_status=status))
    return pid, ids


class ExportClient:
    """The two methods ``refresh_export`` needs, over the core functions and the real SDK (as LabelboxResource
    does), counting the exports it made."""

    def __init__(self, sb: LabelboxSandbox) -> None:
        from lb_assets.labelbox.client import make_client

        self.client = make_client(API_KEY, sb.endpoint)
        self.exports = 0

    def export_project(self, project_id: str, dest: Any, filters: Any = None, interpolated_frames: bool = False) -> Any:
        from lb_assets.labelbox.export import export_project

        self.exports += 1
        return export_project(self.client, project_id, dest, filters=filters, interpolated_frames=interpolated_frames)

    def get_overview(self, project_id: str) -> Any:
        from lb_assets.labelbox.overview import fetch_overview

        return fetch_overview(self.client, project_id)


def image_row(n: int) -> dict[str, Any]:
    """A small image data row (export v2 without ``projects``)."""
    return {"data_row": {"row_data": f"https://example.invalid/{n}.jpg", "global_key": f"img-{n}"},
            "media_attributes": {"width": 4, "height": 4, "mime_type": "image/jpeg", "asset_type": "image"}}


def empty_label(name: str) -> dict[str, Any]:
    """A label with no annotations."""
    return {"id": f"label-{name}", "label_kind": "Default",
            "annotations": {"objects": [], "classifications": [], "relationships": []}}
