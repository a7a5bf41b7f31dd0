"""The bundled demo projects: deterministic video and image Labelbox projects for the sandbox.

``build_demo(seed)`` generates everything as pure data (media bytes, mask PNGs, ontologies, export-v2
rows and the ground truth); ``install_demo(sandbox, demo)`` loads it into a ``LabelboxSandbox``;
``advance_labeling(sandbox, project_id, step)`` plays a fixed sequence of labeling steps.

Ground truth (``demo.truth``; ``truth_after`` for the state after labeling steps)::

    {"video": {data_row_id: {frame (1-based int): {key: value}}},   # every frame 1..frame_count is a key
     "image": {data_row_id: {key: value}},                          # {} for an unlabeled row
     "frame_counts": {data_row_id: int}}                            # video rows

Values are those of the ``latest`` label (newest ``updated_at``) after keyframe interpolation: geometry
is linear between keyframes inside a segment, held from the segment start and to the segment end; masks
exist on their keyframes only; nested and frame-level classifications hold until the next keyframe.
Keys are tool names (``"box"``), classification names (``"scene"``), ``"<tool>/<classification>"`` for
classifications nested under a tool and ``"<classification>/<nested>"`` under an option. Value shapes
(one entry per instance, in label order): box ``[[left, top, width, height], ...]``, point
``[[x, y], ...]``, line/polygon ``[[[x, y], ...], ...]``, region ``bool`` array ``(H, W, K)`` with one
channel per instance (``lb_assets.convert`` unions a tool's instances: compare with ``.any(axis=-1)``),
radio ``[option value, ...]``, checklist ``[option value, ...]``, text ``str``.

``install_demo`` records the demo on the sandbox (``sandbox.lb_demo``) so ``advance_labeling`` replays
the steps of the same seed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from PIL import Image

from lb_assets.sandbox import demo_media as media
from lb_assets.sandbox.demo_labels import (
    FILE_SCHEME,
    MASK_SCHEME,
    Answer,
    ClassDef,
    DemoOntology,
    FrameClass,
    GlobalClass,
    ImageObject,
    Label,
    LabelRenderer,
    RowSpec,
    ToolDef,
    Track,
    demo_id,
    export_row,
    geometry_at,
    image_truth,
    video_truth,
)

logger = logging.getLogger(__name__)

DEMO_VIDEO_PROJECT_ID = "cldemovideoproject0000001"
DEMO_IMAGE_PROJECT_ID = "cldemoimageproject0000001"
# Served only with the bearer API key, like Labelbox-hosted media: exercises the default presigner.
PRIVATE_FILES = frozenset({"orbit.mp4", "street.jpg"})

RED, GREEN, BLUE, YELLOW, WHITE = (230, 40, 40), (40, 200, 60), (0, 0, 255), (250, 220, 30), (255, 255, 255)
COLORS = {"box": RED, "outline": GREEN, "edge": WHITE, "lane": WHITE, "dot": YELLOW, "marker": YELLOW}
DRAW_KIND = {
    "rectangle": "box",
    "point": "point",
    "line": "line",
    "polygon": "polygon",
    "raster-segmentation": "region",
}

_SCENE = ClassDef(
    "scene",
    "radio",
    (
        (
            "Synthetic",
            "synthetic",
            (ClassDef("palette", "radio", (("Dark", "dark", ()), ("Bright", "bright", ())), None),),
        ),
        ("Real", "real", ()),
    ),
)
_TAGS = ClassDef("tags", "checklist", (("Fast", "fast", ()), ("Slow", "slow", ()), ("Occluded", "occluded", ())))
_CAPTION = ClassDef("caption", "text")

VIDEO_ONTOLOGY = DemoOntology(
    "video",
    (
        ToolDef("box", "rectangle", "#e62828"),
        ToolDef(
            "dot",
            "point",
            "#fadc1e",
            (ClassDef("visibility", "radio", (("Visible", "visible", ()), ("Occluded", "occluded", ())), None),),
        ),
        ToolDef("lane", "line", "#ffffff"),
        ToolDef("region", "raster-segmentation", "#0000ff"),
    ),
    (
        ClassDef("motion", "radio", (("Still", "still", ()), ("Moving", "moving", ())), "index"),
        ClassDef("flags", "checklist", (("Dark", "dark", ()), ("Noisy", "noisy", ())), "index"),
        _SCENE,
        _TAGS,
        _CAPTION,
    ),
)

IMAGE_ONTOLOGY = DemoOntology(
    "image",
    (
        ToolDef("box", "rectangle", "#e62828"),
        ToolDef("outline", "polygon", "#28c83c"),
        ToolDef("edge", "line", "#ffffff"),
        ToolDef(
            "marker",
            "point",
            "#fadc1e",
            (ClassDef("marker_kind", "radio", (("Corner", "corner", ()), ("Center", "center", ())), None),),
        ),
        ToolDef("region", "raster-segmentation", "#0000ff"),
    ),
    (_SCENE, _TAGS, _CAPTION),
)


@dataclass(frozen=True)
class DemoFile:
    """A media file served by the sandbox at ``/files/<name>``."""

    name: str
    data: bytes
    content_type: str


@dataclass
class DemoProject:
    """One demo project: ids, ontology and data rows (model form in ``specs``)."""

    key: str  # "video" | "image"
    project_id: str
    name: str
    media_type: str  # "VIDEO" | "IMAGE"
    ontology: DemoOntology
    specs: list[RowSpec]

    def rendered(self) -> tuple[list[tuple[dict[str, Any], list[dict[str, Any]], str]], dict[str, bytes]]:
        """``[(row, labels, workflow_status)]`` in export-v2 form (placeholders unresolved) and the mask PNGs."""
        renderer = LabelRenderer(self.ontology, self.project_id)
        rows = [(export_row(s), renderer.labels(s), s.workflow_status) for s in self.specs]
        return rows, renderer.masks


@dataclass
class Demo:
    """The demo: files, masks, projects, ground truth. Pure data; ``install_demo`` loads it into a sandbox."""

    seed: int
    files: dict[str, DemoFile]
    masks: dict[str, bytes]
    projects: dict[str, DemoProject]
    truth: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """A JSON-serializable description (ontologies, rows, labels, file and mask digests)."""
        out: dict[str, Any] = {"seed": self.seed, "projects": {}, "files": {}, "masks": {}}
        for key, project in self.projects.items():
            rows, _ = project.rendered()
            out["projects"][key] = {
                "project_id": project.project_id,
                "name": project.name,
                "ontology": project.ontology.normalized,
                "rows": [{"row": r, "labels": lab, "workflow_status": st} for r, lab, st in rows],
            }
        out["files"] = {n: hashlib.sha256(f.data).hexdigest() for n, f in sorted(self.files.items())}
        out["masks"] = {n: hashlib.sha256(b).hexdigest() for n, b in sorted(self.masks.items())}
        return out


# ----------------------------------------------------------------------------- scenes
@dataclass(frozen=True)
class Clip:
    """A video file: size, rate, frame count and the true tracks drawn into it."""

    name: str
    width: int
    height: int
    rate: Fraction
    frame_count: int
    tracks: tuple[Track, ...]


def _rate_value(rate: Fraction) -> float | int:
    return int(rate) if rate.denominator == 1 else float(rate)


def _clips(rng: random.Random) -> list[Clip]:
    ox, oy = rng.randint(0, 6), rng.randint(0, 6)
    a = Clip(
        "traffic.mp4",
        160,
        120,
        Fraction(10),
        24,
        (
            Track("", "region", [(5, 6)], {5: (100 + ox, 8, 24, 16), 6: (102 + ox, 8, 24, 16)}, color=BLUE),
            Track(
                "",
                "box",
                [(1, 10), (14, 24)],
                {
                    1: (10 + ox, 20 + oy, 30, 20),
                    10: (37 + ox, 20 + oy, 30, 20),
                    14: (70 + ox, 60 + oy, 30, 20),
                    24: (40 + ox, 80 + oy, 30, 20),
                },
            ),
            Track("", "lane", [(1, 24)], {1: ((0, 60 + oy), (159, 40 + oy)), 24: ((0, 83 + oy), (159, 63 + oy))}),
            Track(
                "",
                "dot",
                [(1, 24)],
                {1: (20 + ox, 100), 12: (75 + ox, 100), 24: (135 + ox, 76)},
                nested={1: Answer("visibility", "visible"), 12: Answer("visibility", "occluded")},
            ),
        ),
    )
    b = Clip(
        "orbit.mp4",
        192,
        144,
        Fraction(25, 2),
        30,
        (
            Track(
                "",
                "box",
                [(3, 30)],
                {3: (20 + ox, 30 + oy, 40, 30), 18: (65 + ox, 60 + oy, 40, 30), 30: (101 + ox, 60 + oy, 40, 30)},
                kffm_dict=True,
            ),
            Track(
                "",
                "dot",
                [(1, 30)],
                {1: (170, 20 + oy), 30: (112, 78 + oy)},
                nested={1: Answer("visibility", "visible")},
            ),
        ),
    )
    c = Clip(
        "ntsc.mp4",
        160,
        120,
        Fraction(30000, 1001),
        60,
        (
            Track(
                "",
                "box",
                [(1, 60)],
                {1: (5 + ox, 50 + oy, 20, 20), 30: (63 + ox, 50 + oy, 20, 20), 60: (123 + ox, 20 + oy, 20, 20)},
            ),
            Track("", "lane", [(10, 50)], {10: ((0, 100), (159, 100)), 50: ((0, 60), (159, 60))}),
        ),
    )
    return [a, b, c]


def _clip_frame(clip: Clip, base: tuple[int, int, int], frame: int) -> Image.Image:
    shapes = []
    for track in clip.tracks:
        kind = DRAW_KIND[VIDEO_ONTOLOGY.tools[track.tool].tool]
        geometry = geometry_at(track, frame, mask_kind=kind == "region")
        if geometry is not None:
            shapes.append(media.Shape(kind, geometry, track.color or COLORS[track.tool]))
    return media.render_rgb(clip.width, clip.height, base, shapes)


def _label_tracks(clip: Clip, drid: str, label_no: int, skip: tuple[str, ...] = ()) -> list[Track]:
    return [
        replace(
            t,
            feature_id=demo_id("feature", drid, label_no, t.tool),
            keyframes=dict(t.keyframes),
            segments=list(t.segments),
            nested=dict(t.nested),
        )
        for t in clip.tracks
        if t.tool not in skip
    ]


def _label(drid: str, no: int, day: int, who: str = "labeler@example.com", **parts: Any) -> Label:
    stamp = f"2024-05-{day:02d}T10:{no:02d}:00.000Z"
    return Label(demo_id("label", drid, no), stamp, stamp, who, **parts)


def _global(drid: str, no: int, answer: Answer, frames: list[tuple[int, int]] | None = None) -> GlobalClass:
    return GlobalClass(demo_id("class", drid, no, answer.name), answer, frames)


def _frame_class(drid: str, no: int, name: str, answers: dict[int, Any], end: int) -> FrameClass:
    return FrameClass(demo_id("class", drid, no, name), {k: Answer(name, v) for k, v in answers.items()}, end)


SYNTHETIC_DARK = Answer("scene", "synthetic", (Answer("palette", "dark"),))
SYNTHETIC_BRIGHT = Answer("scene", "synthetic", (Answer("palette", "bright"),))


def _video_specs(clips: list[Clip]) -> list[RowSpec]:
    a, b, c = clips
    ids = [demo_id("data-row", "video", i) for i in range(4)]

    def spec(i: int, clip: Clip, status: str, gk: bool = True, ext: str | None = None, **kw: Any) -> RowSpec:
        return RowSpec(
            ids[i],
            ext or clip.name,
            f"demo-video-{i}-{clip.name}" if gk else None,
            clip.name,
            "video",
            clip.width,
            clip.height,
            "video/mp4",
            _rate_value(clip.rate),
            clip.frame_count,
            workflow_status=status,
            dataset_id="cldemovideodataset0000001",
            dataset_name="demo videos",
            **kw,
        )

    v1 = spec(
        0,
        a,
        "DONE",
        labels=[
            _label(
                ids[0],
                1,
                2,
                tracks=_label_tracks(a, ids[0], 1),
                frame_classes=[_frame_class(ids[0], 1, "motion", {1: "still", 12: "moving"}, a.frame_count)],
                global_classes=[
                    _global(ids[0], 1, SYNTHETIC_DARK),
                    _global(ids[0], 1, Answer("tags", ("fast",))),
                    _global(ids[0], 1, Answer("caption", "a red box crosses twice")),
                ],
            )
        ],
    )
    v2 = spec(
        1,
        b,
        "DONE",
        legacy=True,
        labels=[
            _label(
                ids[1],
                1,
                3,
                tracks=_label_tracks(b, ids[1], 1),
                frame_classes=[_frame_class(ids[1], 1, "motion", {1: "still", 3: "moving"}, b.frame_count)],
                global_classes=[
                    _global(ids[1], 1, Answer("scene", "real")),
                    _global(ids[1], 1, Answer("tags", ("slow", "occluded")), frames=[(5, 12), (20, 25)]),
                ],
            )
        ],
    )
    sloppy = _label_tracks(c, ids[2], 1)
    left, top, width, height = sloppy[0].keyframes[60]
    sloppy[0].keyframes[60] = (left + 4, top + 4, width, height)  # off by 4 px until step 2 corrects it
    v3 = spec(
        2,
        c,
        "IN_REVIEW",
        labels=[
            _label(
                ids[2],
                1,
                4,
                tracks=sloppy,
                frame_classes=[
                    _frame_class(ids[2], 1, "flags", {1: ("dark",), 31: ("dark", "noisy")}, c.frame_count),
                    _frame_class(ids[2], 1, "motion", {1: "moving"}, c.frame_count),
                ],
                global_classes=[
                    _global(ids[2], 1, SYNTHETIC_BRIGHT),
                    _global(ids[2], 1, Answer("caption", "a small box speeds up")),
                ],
            )
        ],
    )
    v4 = spec(3, a, "TO_LABEL", gk=False, ext="traffic_copy.mp4")
    return [v1, v2, v3, v4]


# ----------------------------------------------------------------------------- images
@dataclass(frozen=True)
class Still:
    """An image file: the displayed size, encoding and the true objects drawn into it."""

    name: str
    width: int
    height: int
    mode: str  # "RGB" | "L" | "RGBA"
    fmt: str  # "jpeg" | "png"
    objects: tuple[ImageObject, ...]
    exif_orientation: int | None = None


def _stills(rng: random.Random) -> list[Still]:
    ox, oy = rng.randint(0, 6), rng.randint(0, 6)
    return [
        Still(
            "street.jpg",
            192,
            144,
            "RGB",
            "jpeg",
            (
                ImageObject("", "box", (30 + ox, 40 + oy, 50, 35)),
                ImageObject("", "outline", ((120, 20), (170, 60), (110, 80))),
                ImageObject("", "edge", ((10, 130), (180, 110))),
                ImageObject("", "marker", (150, 120), nested=Answer("marker_kind", "corner")),
            ),
        ),
        Still(
            "gray.png",
            160,
            120,
            "L",
            "png",
            (
                ImageObject("", "box", (20 + ox, 20 + oy, 40, 40)),
                ImageObject("", "region", (90, 30, 50, 40), mask="single", color=WHITE),
            ),
        ),
        Still(
            "alpha.png",
            128,
            96,
            "RGBA",
            "png",
            (
                ImageObject("", "box", (70, 8 + oy, 40, 20)),
                ImageObject("", "region", (10, 10, 40, 30), mask="composite", color=(255, 0, 0)),
                ImageObject("", "region", (60, 40, 50, 40), mask="composite", color=(0, 255, 0)),
            ),
        ),
        Still(
            "rotated.jpg",
            120,
            160,
            "RGB",
            "jpeg",
            (
                ImageObject("", "box", (20 + ox, 30 + oy, 50, 60)),
                ImageObject("", "marker", (90, 140), nested=Answer("marker_kind", "corner")),
            ),
            exif_orientation=6,
        ),
        Still(
            "plain.jpg",
            160,
            120,
            "RGB",
            "jpeg",
            (
                ImageObject("", "box", (60 + ox, 40 + oy, 40, 30)),
                ImageObject("", "marker", (20, 20), nested=Answer("marker_kind", "center")),
            ),
        ),
    ]


def _still_bytes(still: Still, base: tuple[int, int, int]) -> bytes:
    shapes = [
        media.Shape(DRAW_KIND[IMAGE_ONTOLOGY.tools[o.tool].tool], o.geometry, o.color or COLORS[o.tool])
        for o in still.objects
    ]
    if still.mode == "RGBA":
        image = Image.new("RGBA", (still.width, still.height), (0, 0, 0, 0))
    else:
        image = media.render_rgb(still.width, still.height, base, []).convert(still.mode)
    media.draw_shapes(image, shapes)
    if still.exif_orientation == 6:
        image = media.stored_for_orientation_6(image)
    return media.encode_jpeg(image, still.exif_orientation) if still.fmt == "jpeg" else media.encode_png(image)


def _objects(still: Still, drid: str, label_no: int, skip: tuple[str, ...] = ()) -> list[ImageObject]:
    return [
        replace(o, feature_id=demo_id("feature", drid, label_no, i, o.tool))
        for i, o in enumerate(still.objects)
        if o.tool not in skip
    ]


def _image_specs(stills: list[Still]) -> list[RowSpec]:
    ids = [demo_id("data-row", "image", i) for i in range(len(stills))]

    def spec(i: int, status: str, gk: bool = True, **kw: Any) -> RowSpec:
        s = stills[i]
        exif: str | int = kw.pop("exif", "1")
        return RowSpec(
            ids[i],
            s.name,
            f"demo-image-{i}-{s.name}" if gk else None,
            s.name,
            "image",
            s.width,
            s.height,
            f"image/{s.fmt}",
            exif_rotation=exif,
            workflow_status=status,
            dataset_id="cldemoimagedataset0000001",
            dataset_name="demo images",
            **kw,
        )

    street, gray, alpha, _rotated, _plain = stills
    first = _objects(street, ids[0], 1, skip=("edge", "marker"))
    first[0] = replace(first[0], geometry=(first[0].geometry[0] - 2, first[0].geometry[1] - 2, 50, 35))
    i1 = spec(
        0,
        "DONE",
        labels=[
            _label(ids[0], 1, 6, objects=first, global_classes=[_global(ids[0], 1, Answer("scene", "real"))]),
            _label(
                ids[0],
                2,
                7,
                "reviewer@example.com",
                objects=_objects(street, ids[0], 2),
                global_classes=[
                    _global(ids[0], 2, SYNTHETIC_BRIGHT),
                    _global(ids[0], 2, Answer("tags", ("fast", "occluded"))),
                    _global(ids[0], 2, Answer("caption", "a street of shapes")),
                ],
            ),
        ],
    )
    i2 = spec(
        1,
        "DONE",
        legacy=True,
        labels=[
            _label(
                ids[1],
                1,
                6,
                objects=_objects(gray, ids[1], 1),
                global_classes=[_global(ids[1], 1, Answer("tags", ("slow",)))],
            )
        ],
    )
    sloppy = _objects(alpha, ids[2], 1)
    sloppy[0] = replace(sloppy[0], geometry=(sloppy[0].geometry[0] + 4, sloppy[0].geometry[1] + 4, 40, 20))
    i3 = spec(
        2,
        "IN_REVIEW",
        labels=[_label(ids[2], 1, 8, objects=sloppy, global_classes=[_global(ids[2], 1, SYNTHETIC_DARK)])],
    )
    i4 = spec(3, "DONE", gk=False, exif=6, labels=[_label(ids[3], 1, 8, objects=_objects(stills[3], ids[3], 1))])
    i5 = spec(4, "TO_LABEL")
    return [i1, i2, i3, i4, i5]


# ----------------------------------------------------------------------------- labeling steps
@dataclass
class _Scenes:
    clips: list[Clip]
    stills: list[Still]


#: A step mutates the row specs (by data row id) and returns (description, data rows whose labels changed).
Step = Callable[[dict[str, RowSpec], _Scenes], tuple[str, list[str]]]


def _approve(rows: dict[str, RowSpec], _scenes: _Scenes) -> tuple[str, list[str]]:
    row = next(r for r in rows.values() if r.workflow_status == "IN_REVIEW")
    row.workflow_status = "DONE"
    return f"approved {row.external_id} (IN_REVIEW -> DONE)", []


def _label_video(rows: dict[str, RowSpec], scenes: _Scenes) -> tuple[str, list[str]]:
    row = next(r for r in rows.values() if r.workflow_status == "TO_LABEL")
    clip, drid = scenes.clips[0], row.data_row_id
    row.labels = [
        _label(
            drid,
            1,
            10,
            tracks=_label_tracks(clip, drid, 1, skip=("region",)),
            frame_classes=[_frame_class(drid, 1, "motion", {1: "moving"}, clip.frame_count)],
        )
    ]
    row.workflow_status = "DONE"
    return f"labeled {row.external_id} (box, dot, lane, motion) and moved it to DONE", [drid]


def _label_image(rows: dict[str, RowSpec], scenes: _Scenes) -> tuple[str, list[str]]:
    row = next(r for r in rows.values() if r.workflow_status == "TO_LABEL")
    drid = row.data_row_id
    row.labels = [
        _label(
            drid,
            1,
            10,
            objects=_objects(scenes.stills[4], drid, 1),
            global_classes=[_global(drid, 1, Answer("caption", "one box, one marker"))],
        )
    ]
    row.workflow_status = "DONE"
    return f"labeled {row.external_id} (box, marker, caption) and moved it to DONE", [drid]


def _edit(rows: dict[str, RowSpec], scenes: _Scenes) -> tuple[str, list[str]]:
    """Correct the sloppy box of the third row; delete the line of the first row's latest label."""
    specs = list(rows.values())
    fixed, trimmed = specs[2].labels[-1], specs[0].labels[-1]
    if specs[0].media_type == "video":
        next(t for t in fixed.tracks if t.tool == "box").keyframes[60] = scenes.clips[2].tracks[0].keyframes[60]
        trimmed.tracks, line = [t for t in trimmed.tracks if t.tool != "lane"], "lane"
    else:
        fixed.objects[0] = replace(fixed.objects[0], geometry=scenes.stills[2].objects[0].geometry)
        trimmed.objects, line = [o for o in trimmed.objects if o.tool != "edge"], "edge"
    fixed.updated_at, trimmed.updated_at = "2024-05-11T10:00:00.000Z", "2024-05-11T10:01:00.000Z"
    return (
        f"corrected the box of {specs[2].external_id}; deleted the {line} of {specs[0].external_id}",
        [specs[2].data_row_id, specs[0].data_row_id],
    )


STEPS: dict[str, list[Step]] = {"video": [_approve, _label_video, _edit], "image": [_approve, _label_image, _edit]}


def _scenes(seed: int) -> _Scenes:
    rng = random.Random(seed)
    return _Scenes(_clips(rng), _stills(rng))


def _apply_steps(demo: Demo, key: str, count: int) -> tuple[DemoProject, list[tuple[str, list[str]]]]:
    """A copy of project ``key`` after the first ``count`` steps, and what each step did."""
    if not 0 <= count <= len(STEPS[key]):
        raise IndexError(f"demo {key} project has labeling steps 0..{len(STEPS[key]) - 1}; asked for {count}")
    project = copy.deepcopy(demo.projects[key])
    rows = {s.data_row_id: s for s in project.specs}
    scenes = _scenes(demo.seed)
    done = [STEPS[key][i](rows, scenes) for i in range(count)]
    return project, done


def _truth_of(project: DemoProject) -> tuple[dict[str, Any], dict[str, int]]:
    if project.key == "video":
        return (
            {s.data_row_id: video_truth(s, project.ontology) for s in project.specs},
            {s.data_row_id: int(s.frame_count or 0) for s in project.specs},
        )
    return {s.data_row_id: image_truth(s, project.ontology) for s in project.specs}, {}


def truth_after(demo: Demo, project_key: str, steps_applied: int) -> dict[str, Any]:
    """Ground truth of one project after ``advance_labeling`` steps ``0 .. steps_applied-1``.

    Args:
        demo: The demo (``build_demo`` with the seed the sandbox was loaded with).
        project_key: ``"video"`` or ``"image"``.
        steps_applied: How many steps were applied (0 = as installed).

    Returns:
        ``{data_row_id: ...}`` shaped as ``demo.truth[project_key]``.

    Raises:
        IndexError: ``steps_applied`` exceeds the number of steps.
    """
    project, _ = _apply_steps(demo, project_key, steps_applied)
    return _truth_of(project)[0]


# ----------------------------------------------------------------------------- public API
def build_demo(seed: int = 0) -> Demo:
    """Generate the demo projects (pure data, no server). The same seed gives the same bytes.

    Args:
        seed: Varies shape offsets and background colours.

    Returns:
        The :class:`Demo` with files, mask PNGs, two projects (``"video"``, ``"image"``) and ``truth``.
    """
    rng = random.Random(seed)
    scenes = _Scenes(_clips(rng), _stills(rng))
    base = (rng.randint(20, 60), rng.randint(20, 60), rng.randint(20, 60))
    files: dict[str, DemoFile] = {}
    for clip in scenes.clips:
        data = media.encode_video(
            clip.width, clip.height, clip.frame_count, clip.rate, functools.partial(_clip_frame, clip, base)
        )
        files[clip.name] = DemoFile(clip.name, data, "video/mp4")
    for still in scenes.stills:
        files[still.name] = DemoFile(still.name, _still_bytes(still, base), f"image/{still.fmt}")
    projects = {
        "video": DemoProject(
            "video",
            DEMO_VIDEO_PROJECT_ID,
            "Demo video project (lb-assets sandbox)",
            "VIDEO",
            VIDEO_ONTOLOGY,
            _video_specs(scenes.clips),
        ),
        "image": DemoProject(
            "image",
            DEMO_IMAGE_PROJECT_ID,
            "Demo image project (lb-assets sandbox)",
            "IMAGE",
            IMAGE_ONTOLOGY,
            _image_specs(scenes.stills),
        ),
    }
    masks: dict[str, bytes] = {}
    for project in projects.values():
        masks.update(project.rendered()[1])
    video_truth_map, frame_counts = _truth_of(projects["video"])
    truth = {"video": video_truth_map, "image": _truth_of(projects["image"])[0], "frame_counts": frame_counts}
    logger.debug("built demo seed=%d: %d files, %d masks", seed, len(files), len(masks))
    return Demo(seed, files, masks, projects, truth)


def _resolve(value: Any, files: dict[str, str], masks: dict[str, str]) -> Any:
    """Replace ``demo-file://``/``demo-mask://`` placeholders with served URLs."""
    if isinstance(value, dict):
        return {k: _resolve(v, files, masks) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, files, masks) for v in value]
    if isinstance(value, str):
        if value.startswith(FILE_SCHEME):
            return files[value[len(FILE_SCHEME) :]]
        if value.startswith(MASK_SCHEME):
            return masks[value[len(MASK_SCHEME) :]]
    return value


def install_demo(sandbox: Any, demo: Demo) -> dict[str, str]:
    """Load the demo into a sandbox: files, masks, ontologies, projects and data rows.

    Args:
        sandbox: A started ``LabelboxSandbox``.
        demo: From :func:`build_demo`.

    Returns:
        ``{"video": project_id, "image": project_id}``.
    """
    file_urls = {
        name: sandbox.add_file(name, f.data, f.content_type, private=name in PRIVATE_FILES)
        for name, f in demo.files.items()
    }
    mask_urls = {name: sandbox.add_mask(name, png) for name, png in demo.masks.items()}
    out: dict[str, str] = {}
    for key, project in demo.projects.items():
        oid = sandbox.add_ontology(
            project.ontology.normalized, name=f"Demo {key} ontology", media_type=project.media_type
        )
        pid = sandbox.add_project(
            project.name, media_type=project.media_type, ontology_id=oid, project_id=project.project_id
        )
        rows, _ = project.rendered()
        for row, labels, status in rows:
            sandbox.add_data_row(
                pid, _resolve(row, file_urls, mask_urls), _resolve(labels, file_urls, mask_urls), workflow_status=status
            )
        out[key] = pid
        logger.info("installed demo %s project %s (%d data rows)", key, pid, len(rows))
    sandbox.lb_demo = demo
    return out


def advance_labeling(sandbox: Any, project_id: str, step: int) -> str:
    """Apply labeling step ``step`` of a demo project (call with 0, 1, 2 ... in order).

    Video and image steps: 0 approves the IN_REVIEW row; 1 labels the TO_LABEL row and moves it to
    DONE; 2 corrects a sloppy box and deletes one object of another row's latest label.

    Args:
        sandbox: The sandbox the demo was installed into.
        project_id: ``DEMO_VIDEO_PROJECT_ID`` or ``DEMO_IMAGE_PROJECT_ID``.
        step: The step number.

    Returns:
        A human-readable description of the step.

    Raises:
        KeyError: ``project_id`` is not a demo project.
        IndexError: there is no such step.
    """
    demo: Demo | None = getattr(sandbox, "lb_demo", None)
    if demo is None:
        logger.debug("sandbox has no installed demo recorded; assuming seed 0")
        demo = build_demo(0)
    key = next((k for k, p in demo.projects.items() if p.project_id == project_id), None)
    if key is None:
        raise KeyError(f"project {project_id} is not a demo project")
    if not 0 <= step < len(STEPS[key]):
        raise IndexError(f"demo {key} project {project_id} has labeling steps 0..{len(STEPS[key]) - 1}, not {step}")
    project, done = _apply_steps(demo, key, step + 1)
    description, relabeled = done[-1]
    renderer = LabelRenderer(project.ontology, project.project_id)
    before = {s.data_row_id: s.workflow_status for s in _apply_steps(demo, key, step)[0].specs}
    for spec in project.specs:
        if spec.data_row_id in relabeled:
            labels = renderer.labels(spec)
            mask_urls = {name: sandbox.add_mask(name, png) for name, png in renderer.masks.items()}
            sandbox.set_labels(project_id, spec.data_row_id, _resolve(labels, {}, mask_urls))
        if before[spec.data_row_id] != spec.workflow_status:
            sandbox.set_workflow_status(project_id, spec.data_row_id, spec.workflow_status)
    logger.info("demo %s project step %d: %s", key, step, description)
    return description
