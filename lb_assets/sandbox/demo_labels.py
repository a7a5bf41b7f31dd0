"""Ontologies, the label model and export-v2 rendering for the demo projects.

The demo describes each label as a small model (object tracks with keyframes, frame-level and global
classification answers, image objects). From that model this module renders

* the ontology ``normalized`` dict (``{"tools": [...], "classifications": [...]}``),
* export-v2 labels exactly as ``project.export()`` streams them (Labelbox's export v2 format),
  with mask PNGs referenced through ``demo-mask://<name>`` placeholders,
* the ground truth: what every frame (video) or image holds once keyframes are interpolated.

Ids are deterministic cuid-like strings (``c`` + 24 lowercase hex/alnum characters).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lb_assets.sandbox.demo_media import RGB, composite_mask_png, region_mask, single_mask_png

logger = logging.getLogger(__name__)

FILE_SCHEME = "demo-file://"
MASK_SCHEME = "demo-mask://"

#: ontology tool type -> (image annotation_kind, video annotation_kind, export geometry key)
TOOL_KINDS: dict[str, tuple[str, str, str]] = {
    "rectangle": ("ImageBoundingBox", "VideoBoundingBox", "bounding_box"),
    "polygon": ("ImagePolygon", "", "polygon"),
    "line": ("ImagePolyline", "VideoPolyline", "line"),
    "point": ("ImagePoint", "VideoPoint", "point"),
    "raster-segmentation": ("ImageSegmentationMask", "VideoSegmentationMask", "mask"),
}


def _mask_color(color: RGB | None, feature: str) -> RGB:
    """The colour of a region in a composite mask (required there).

    Raises:
        ValueError: the region has no colour.
    """
    if color is None:
        raise ValueError(f"{feature}: a region exported in a composite mask needs a color")
    return color


def demo_id(*parts: object) -> str:
    """A deterministic 25-character cuid-like id derived from ``parts``."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return "c" + digest[:24]


# ----------------------------------------------------------------------------- ontology
@dataclass(frozen=True)
class ClassDef:
    """A classification of the ontology.

    Attributes:
        name: Classification name (also its instructions).
        type: ``"radio"``, ``"checklist"`` or ``"text"``.
        options: ``(label, value, nested classifications)`` per option.
        scope: ``"global"`` or ``"index"`` (frame-level, video); None for nested classifications.
    """

    name: str
    type: str
    options: tuple[tuple[str, str, tuple[ClassDef, ...]], ...] = ()
    scope: str | None = "global"


@dataclass(frozen=True)
class ToolDef:
    """A tool of the ontology: name, Labelbox tool type, colour and nested classifications."""

    name: str
    tool: str
    color: str
    classifications: tuple[ClassDef, ...] = ()


class DemoOntology:
    """An ontology definition with deterministic schema ids and lookups by feature path.

    Paths: ``"box"`` (tool), ``"dot/visibility"`` (classification nested under a tool),
    ``"dot/visibility=visible"`` (option), ``"scene"``, ``"scene=synthetic/palette"`` (under an option).
    """

    def __init__(self, key: str, tools: Iterable[ToolDef], classifications: Iterable[ClassDef]) -> None:
        self.key = key
        self.tools = {t.name: t for t in tools}
        self.classifications = {c.name: c for c in classifications}
        self._defs: dict[str, ClassDef] = {}
        self.normalized: dict[str, Any] = {
            "tools": [self._tool(t) for t in self.tools.values()],
            "classifications": [self._class(c, c.name) for c in self.classifications.values()],
        }

    def schema_id(self, path: str) -> str:
        """The ``featureSchemaId`` of a feature path."""
        return demo_id("schema", self.key, path)

    def class_def(self, path: str) -> ClassDef:
        """The classification at ``path`` (KeyError when unknown)."""
        return self._defs[path]

    def option_label(self, path: str, value: str) -> str:
        """The label of option ``value`` of the classification at ``path``."""
        for label, option_value, _nested in self._defs[path].options:
            if option_value == value:
                return label
        raise KeyError(f"demo ontology {self.key}: {path} has no option {value!r}")

    def _node(self, path: str) -> dict[str, str]:
        return {"schemaNodeId": demo_id("node", self.key, path), "featureSchemaId": self.schema_id(path)}

    def _tool(self, tool: ToolDef) -> dict[str, Any]:
        return {
            "tool": tool.tool,
            "name": tool.name,
            "required": False,
            "color": tool.color,
            **self._node(tool.name),
            "classifications": [self._class(c, f"{tool.name}/{c.name}") for c in tool.classifications],
        }

    def _class(self, cls: ClassDef, path: str) -> dict[str, Any]:
        self._defs[path] = cls
        out: dict[str, Any] = {
            "type": cls.type,
            "name": cls.name,
            "instructions": cls.name,
            "required": False,
            **self._node(path),
        }
        if cls.scope is not None:
            out["scope"] = cls.scope
        out["options"] = [
            {
                "label": label,
                "value": value,
                "position": i,
                **self._node(f"{path}={value}"),
                "options": [self._class(n, f"{path}={value}/{n.name}") for n in nested],
            }
            for i, (label, value, nested) in enumerate(cls.options)
        ]
        return out


# ----------------------------------------------------------------------------- label model
@dataclass(frozen=True)
class Answer:
    """One classification answer.

    Attributes:
        name: The classification name.
        value: Radio: option value; checklist: tuple of option values; text: the content.
        nested: Answers of classifications nested under the chosen radio option.
    """

    name: str
    value: str | tuple[str, ...]
    nested: tuple[Answer, ...] = ()


@dataclass
class Track:
    """A video object instance: 1-based inclusive segments and keyframe geometry.

    Geometry is linear between keyframes inside a segment and held from the segment start to the first
    keyframe and from the last keyframe to the segment end. Regions (masks) exist on keyframes only.
    """

    feature_id: str
    tool: str
    segments: list[tuple[int, int]]
    keyframes: dict[int, tuple]
    nested: dict[int, Answer] = field(default_factory=dict)
    color: tuple[int, int, int] | None = None
    kffm_dict: bool = False


@dataclass
class FrameClass:
    """A frame-level classification instance: its answer from each change frame until the next (or ``end``)."""

    feature_id: str
    answers: dict[int, Answer]
    end: int


@dataclass
class GlobalClass:
    """A global classification; ``frames`` are the ranges it was imported with (``segments`` only)."""

    feature_id: str
    answer: Answer
    frames: list[tuple[int, int]] | None = None


@dataclass
class ImageObject:
    """An image object: geometry, an optional nested answer, and for regions how the mask is exported."""

    feature_id: str
    tool: str
    geometry: tuple
    nested: Answer | None = None
    mask: str | None = None  # "single" (mask.url) or "composite" (composite_mask)
    color: tuple[int, int, int] | None = None


@dataclass
class Label:
    """One label: video tracks and frame classes, or image objects; global classifications for both."""

    label_id: str
    created_at: str
    updated_at: str
    created_by: str
    tracks: list[Track] = field(default_factory=list)
    frame_classes: list[FrameClass] = field(default_factory=list)
    objects: list[ImageObject] = field(default_factory=list)
    global_classes: list[GlobalClass] = field(default_factory=list)


@dataclass
class RowSpec:
    """One demo data row: identity, media, workflow status and labels (model form)."""

    data_row_id: str
    external_id: str
    global_key: str | None
    file: str
    media_type: str  # "video" | "image"
    width: int
    height: int
    mime_type: str
    frame_rate: float | int | None = None
    frame_count: int | None = None
    exif_rotation: str | int | None = None
    workflow_status: str = "DONE"
    labels: list[Label] = field(default_factory=list)
    legacy: bool = False  # 2023-era export: no ``value`` on objects, no ``asset_type``
    dataset_id: str = ""
    dataset_name: str = ""


# ----------------------------------------------------------------------------- rendering
def export_row(spec: RowSpec) -> dict[str, Any]:
    """The export-v2 row of ``spec`` without ``projects`` (``row_data`` is a ``demo-file://`` placeholder)."""
    data_row: dict[str, Any] = {"id": spec.data_row_id}
    if spec.global_key is not None:
        data_row["global_key"] = spec.global_key
    data_row["external_id"] = spec.external_id
    data_row["row_data"] = FILE_SCHEME + spec.file
    data_row["details"] = {"dataset_id": spec.dataset_id, "dataset_name": spec.dataset_name}
    media: dict[str, Any] = {"height": spec.height, "width": spec.width, "mime_type": spec.mime_type}
    if spec.media_type == "video":
        media.update(frame_rate=spec.frame_rate, frame_count=spec.frame_count)
    else:
        media["exif_rotation"] = spec.exif_rotation
    if not spec.legacy:
        media["asset_type"] = spec.media_type
    return {"data_row": data_row, "media_attributes": media}


class LabelRenderer:
    """Renders model labels of one project to export-v2 dicts, collecting the mask PNGs they reference."""

    def __init__(self, ontology: DemoOntology, project_id: str) -> None:
        self.ontology = ontology
        self.project_id = project_id
        self.masks: dict[str, bytes] = {}

    def labels(self, spec: RowSpec) -> list[dict[str, Any]]:
        """The export-v2 ``labels`` list of a row."""
        return [self.label(spec, label) for label in spec.labels]

    def label(self, spec: RowSpec, label: Label) -> dict[str, Any]:
        """One export-v2 label."""
        video = spec.media_type == "video"
        annotations = self._video(spec, label) if video else self._image(spec, label)
        return {
            "label_kind": "Video" if video else "Default",
            "version": "1.0.0",
            "id": label.label_id,
            "label_details": {
                "created_at": label.created_at,
                "updated_at": label.updated_at,
                "created_by": label.created_by,
                "content_last_updated_at": label.updated_at,
                "reviews": [],
            },
            "annotations": annotations,
        }

    # -- classifications
    def classification(self, answer: Answer, feature_id: str, path: str) -> dict[str, Any]:
        """An export classification item (radio/checklist/text) for ``answer`` of the feature at ``path``."""
        cdef = self.ontology.class_def(path)
        item: dict[str, Any] = {
            "feature_id": feature_id,
            "feature_schema_id": self.ontology.schema_id(path),
            "name": cdef.name,
            "value": _slug(cdef.name),
        }
        if cdef.type == "text":
            item["text_answer"] = {"content": answer.value}
        elif cdef.type == "radio":
            item["radio_answer"] = self._option(answer.value, answer.nested, feature_id, path)
        elif cdef.type == "checklist":
            item["checklist_answers"] = [self._option(v, (), feature_id, path) for v in answer.value]
        else:
            raise ValueError(f"demo ontology {self.ontology.key}: unsupported classification type {cdef.type!r}")
        return item

    def _option(self, value: Any, nested: tuple[Answer, ...], feature_id: str, path: str) -> dict[str, Any]:
        opt = f"{path}={value}"
        return {
            "feature_id": demo_id("answer", feature_id, value),
            "feature_schema_id": self.ontology.schema_id(opt),
            "name": self.ontology.option_label(path, value),
            "value": value,
            "classifications": [
                self.classification(n, demo_id("nested", feature_id, n.name), f"{opt}/{n.name}") for n in nested
            ],
        }

    # -- objects
    def _object(
        self, spec: RowSpec, tool: str, feature_id: str, geometry: tuple, nested: Answer | None, video: bool
    ) -> dict[str, Any]:
        tdef = self.ontology.tools[tool]
        image_kind, video_kind, key = TOOL_KINDS[tdef.tool]
        obj: dict[str, Any] = {
            "feature_id": feature_id,
            "feature_schema_id": self.ontology.schema_id(tool),
            "name": tool,
        }
        if not spec.legacy:
            obj["value"] = _slug(tool)
        obj["annotation_kind"] = video_kind if video else image_kind
        obj["classifications"] = (
            [self.classification(nested, demo_id("nested", feature_id, nested.name), f"{tool}/{nested.name}")]
            if nested
            else []
        )
        if key == "bounding_box":
            left, top, width, height = geometry
            obj[key] = {"top": float(top), "left": float(left), "height": float(height), "width": float(width)}
        elif key == "point":
            obj[key] = {"x": float(geometry[0]), "y": float(geometry[1])}
        elif key in ("line", "polygon"):
            obj[key] = [{"x": float(x), "y": float(y)} for x, y in geometry]
        return obj

    def _image(self, spec: RowSpec, label: Label) -> dict[str, Any]:
        objects = []
        composite = [o for o in label.objects if o.mask == "composite"]
        composite_name = f"tasks/{demo_id('task', label.label_id)}/masks/{demo_id('mask', label.label_id)}/index/1"
        if composite:
            self.masks[composite_name] = composite_mask_png(
                spec.width, spec.height, [(o.geometry, _mask_color(o.color, o.tool)) for o in composite]
            )
        for o in label.objects:
            obj = self._object(spec, o.tool, o.feature_id, o.geometry, o.nested, video=False)
            if o.mask == "single":
                name = f"projects/{self.project_id}/annotations/{o.feature_id}/index/1/mask"
                self.masks[name] = single_mask_png(spec.width, spec.height, o.geometry)
                obj["mask"] = {"url": MASK_SCHEME + name}
            elif o.mask == "composite":
                color = _mask_color(o.color, o.tool)
                obj["composite_mask"] = {"url": MASK_SCHEME + composite_name, "color_rgb": list(color)}
            objects.append(obj)
        return {
            "objects": objects,
            "classifications": [
                self.classification(g.answer, g.feature_id, g.answer.name) for g in label.global_classes
            ],
            "relationships": [],
        }

    def _video(self, spec: RowSpec, label: Label) -> dict[str, Any]:
        frames: dict[int, dict[str, Any]] = {}

        def frame(n: int) -> dict[str, Any]:
            return frames.setdefault(n, {"objects": {}, "classifications": []})

        segments: dict[str, list[list[int]]] = {}
        kffm: dict[str, Any] = {}
        for track in label.tracks:
            for n in sorted(track.keyframes):
                obj = self._object(
                    spec, track.tool, track.feature_id, track.keyframes[n], nested_at(track, n), video=True
                )
                if self.ontology.tools[track.tool].tool == "raster-segmentation":
                    name = f"tasks/{demo_id('task', label.label_id)}/masks/{demo_id('mask', label.label_id)}/index/{n}"
                    color = _mask_color(track.color, track.tool)
                    self.masks[name] = composite_mask_png(spec.width, spec.height, [(track.keyframes[n], color)])
                    obj["composite_mask"] = {"url": MASK_SCHEME + name, "color_rgb": list(color)}
                frame(n)["objects"][track.feature_id] = obj
            segments[track.feature_id] = [[s, e] for s, e in track.segments]
            keys = sorted(track.keyframes)
            kffm[track.feature_id] = {str(k): True for k in keys} if track.kffm_dict else keys
        for fc in label.frame_classes:
            name = next(iter(fc.answers.values())).name
            for n in sorted(fc.answers):
                frame(n)["classifications"].append(self.classification(fc.answers[n], fc.feature_id, name))
            segments[fc.feature_id] = [[min(fc.answers), fc.end]]
            kffm[fc.feature_id] = sorted(fc.answers)
        for g in label.global_classes:
            if g.frames:
                segments[g.feature_id] = [[s, e] for s, e in g.frames]
        return {
            "frames": {str(n): frames[n] for n in sorted(frames)},
            "segments": segments,
            "key_frame_feature_map": kffm,
            "classifications": [
                self.classification(g.answer, g.feature_id, g.answer.name) for g in label.global_classes
            ],
        }


def _slug(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


# ----------------------------------------------------------------------------- geometry and truth
def _segment_of(track: Track, frame: int) -> tuple[int, int] | None:
    return next(((s, e) for s, e in track.segments if s <= frame <= e), None)


def geometry_at(track: Track, frame: int, mask_kind: bool = False) -> tuple | None:
    """The track's geometry on ``frame`` (None when not visible there); see :class:`Track`."""
    segment = _segment_of(track, frame)
    if segment is None:
        return None
    if mask_kind:
        return track.keyframes.get(frame)
    keys = sorted(k for k in track.keyframes if segment[0] <= k <= segment[1])
    if not keys:
        return None
    if frame <= keys[0]:
        return track.keyframes[keys[0]]
    if frame >= keys[-1]:
        return track.keyframes[keys[-1]]
    after = next(k for k in keys if k >= frame)
    before = max(k for k in keys if k <= frame)
    if before == after:
        return track.keyframes[before]
    t = (frame - before) / (after - before)
    start = np.asarray(track.keyframes[before], dtype=np.float64)
    end = np.asarray(track.keyframes[after], dtype=np.float64)
    return _as_tuple(start + (end - start) * t)


def _as_tuple(arr: np.ndarray) -> tuple:
    if arr.ndim == 1:
        return tuple(float(v) for v in arr)
    return tuple(tuple(float(v) for v in row) for row in arr)


def nested_at(track: Track, frame: int) -> Answer | None:
    """The nested answer held on ``frame``: from the last keyframe at or before it in its segment (else the first)."""
    segment = _segment_of(track, frame)
    if segment is None or not track.nested:
        return None
    keys = sorted(k for k in track.nested if segment[0] <= k <= segment[1])
    if not keys:
        return None
    earlier = [k for k in keys if k <= frame]
    return track.nested[earlier[-1] if earlier else keys[0]]


def latest_label(labels: list[Label]) -> Label | None:
    """The label with the newest ``updated_at`` (the last one on ties), as the ``latest`` policy picks."""
    best: Label | None = None
    for label in labels:
        if best is None or label.updated_at >= best.updated_at:
            best = label
    return best


def _answer_values(answer: Answer, path: str, ontology: DemoOntology, out: dict[str, Any]) -> None:
    cdef = ontology.class_def(path)
    if cdef.type == "text":
        out[path] = answer.value
    elif cdef.type == "checklist":
        out.setdefault(path, []).extend(answer.value)
    else:
        out.setdefault(path, []).append(answer.value)
        for nested in answer.nested:
            _answer_values(nested, f"{path}={answer.value}/{nested.name}", ontology, out)


def _column(path: str) -> str:
    """Truth key of a feature path: option segments dropped (``scene=synthetic/palette`` -> ``scene/palette``)."""
    return "/".join(part.split("=", 1)[0] for part in path.split("/"))


def _add(out: dict[str, Any], key: str, value: Any) -> None:
    out.setdefault(key, []).append(value)


def _geometry_value(kind: str, geometry: tuple, spec: RowSpec) -> Any:
    if kind == "raster-segmentation":
        return region_mask(spec.width, spec.height, geometry)
    if kind in ("line", "polygon"):
        return [[float(x), float(y)] for x, y in geometry]
    return [float(v) for v in geometry]


def _finish(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            value = np.stack(value, axis=-1)  # masks: (H, W, K)
        out[_column(key)] = value
    return out


def _object_values(
    spec: RowSpec, ontology: DemoOntology, tool: str, geometry: tuple, nested: Answer | None, values: dict[str, Any]
) -> None:
    _add(values, tool, _geometry_value(ontology.tools[tool].tool, geometry, spec))
    if nested is not None:
        _answer_values(nested, f"{tool}/{nested.name}", ontology, values)


def image_truth(spec: RowSpec, ontology: DemoOntology) -> dict[str, Any]:
    """Expected values of an image row (latest label); ``{}`` when unlabeled. See ``lb_assets.sandbox.demo``."""
    label = latest_label(spec.labels)
    if label is None:
        return {}
    values: dict[str, Any] = {}
    for o in label.objects:
        _object_values(spec, ontology, o.tool, o.geometry, o.nested, values)
    for g in label.global_classes:
        _answer_values(g.answer, g.answer.name, ontology, values)
    return _finish(values)


def video_truth(spec: RowSpec, ontology: DemoOntology) -> dict[int, dict[str, Any]]:
    """Expected values per 1-based frame of a video row (latest label); every frame is a key."""
    label = latest_label(spec.labels)
    frames: dict[int, dict[str, Any]] = {}
    for n in range(1, int(spec.frame_count or 0) + 1):
        values: dict[str, Any] = {}
        if label is not None:
            for track in label.tracks:
                is_mask = ontology.tools[track.tool].tool == "raster-segmentation"
                geometry = geometry_at(track, n, mask_kind=is_mask)
                if geometry is not None:
                    _object_values(spec, ontology, track.tool, geometry, nested_at(track, n), values)
            for fc in label.frame_classes:
                changes = [k for k in sorted(fc.answers) if k <= n]
                if changes and n <= fc.end:
                    answer = fc.answers[changes[-1]]
                    _answer_values(answer, answer.name, ontology, values)
            for g in label.global_classes:
                if g.frames is None or any(s <= n <= e for s, e in g.frames):
                    _answer_values(g.answer, g.answer.name, ontology, values)
        frames[n] = _finish(values)
    return frames
