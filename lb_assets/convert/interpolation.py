"""Expand one video label (sparse or dense export) into what is on every frame.

Rules (frame numbers are 1-based throughout):

* Objects: inside each ``[start, end]`` segment of an instance, every frame where the export lists the
  instance is taken as listed (so dense ``interpolated_frames=True`` exports are used as they are); between
  two listed frames geometry is linear; after the last listed frame it is held until the segment end, and
  before the first listed frame it is held from the segment start (real data: the start is not always
  listed, spec 10.8). Nested classifications are HELD from the previous listed frame, never taking the
  next one early (D7). Masks are never interpolated or held: they appear only on listed frames.
  A listed frame whose geometry cannot be drawn (NaN/inf, negative box size, too few points) is placed as
  listed (the converter drops and counts it) but never interpolated from or held: the frames it would
  feed get nothing (a later listed frame is held instead when the undrawable one comes after).
* ``key_frame_feature_map`` is parsed in both forms (list of int|str; dict of str->bool keeping true keys);
  ids without an entry use the frames they are listed on. Keyframes missing from ``frames`` are logged.
* A label without ``segments`` still applies its listed frames (D6).
* Frame-level classifications (``frames[n].classifications``) hold from the frame where they are listed
  until the next frame where the same classification is listed (or the video end), within their segment
  when their instance has one (and from that segment's start when it isn't listed).
* Global classifications apply to every frame; when their instance id has ``segments`` (imported with
  frame ranges, spec 7.3) only to the frames of those segments.
* Anything on a frame outside ``1..frame_count`` is counted in ``out_of_range`` and never shifts rows.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from lb_assets.convert.geometry import INTERPOLABLE, geometry_of, interpolate, object_kind, undrawable_reason

logger = logging.getLogger(__name__)


@dataclass
class PlacedObject:
    """An object instance on one frame.

    Attributes:
        obj: The exported object of the listed frame it comes from (held frames: the previous listed one).
        geometry: Interpolated/held geometry (float64) or None to read it from ``obj``.
        feature_id: The instance id.
    """

    obj: dict
    geometry: np.ndarray | None = None
    feature_id: str | None = None


@dataclass
class FrameContent:
    """What one frame holds: object instances and classification items (frame-level and global)."""

    objects: list[PlacedObject] = field(default_factory=list)
    classifications: list[dict] = field(default_factory=list)


@dataclass
class VideoExpansion:
    """A label expanded over a video's frames.

    Attributes:
        frames: 1-based frame number -> content (frames with nothing are absent).
        out_of_range: Annotations on frames outside ``1..frame_count``, not applied.
        warnings: Human-readable notes (missing keyframes, instances not found in a segment, ...).
    """

    frames: dict[int, FrameContent] = field(default_factory=dict)
    out_of_range: int = 0
    warnings: list[str] = field(default_factory=list)

    def at(self, frame: int) -> FrameContent:
        """The content of ``frame`` (created when absent)."""
        content = self.frames.get(frame)
        if content is None:
            content = self.frames[frame] = FrameContent()
        return content


def parse_key_frames(entry: object) -> list[int]:
    """Keyframe numbers from a ``key_frame_feature_map`` entry (list of int|str, or dict str->bool)."""
    frames: list[int] = []
    if isinstance(entry, dict):
        items = [k for k, v in entry.items() if v is True or (isinstance(v, str) and v.lower() == "true")]
    elif isinstance(entry, (list, tuple)):
        items = list(entry)
    else:
        return frames
    for item in items:
        try:
            frames.append(int(item))
        except (TypeError, ValueError):
            continue
    return sorted(set(frames))


def parse_segments(raw: object) -> list[tuple[int, int]]:
    """``[[start, end], ...]`` -> sorted int pairs (malformed pairs dropped)."""
    out: list[tuple[int, int]] = []
    if not isinstance(raw, (list, tuple)):
        return out
    for pair in raw:
        try:
            start, end = int(pair[0]), int(pair[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        out.append((min(start, end), max(start, end)))
    return sorted(out)


def _frame_number(key: object) -> int | None:
    try:
        return int(str(key))
    except ValueError:
        return None


def _class_key(item: dict) -> str:
    return str(item.get("feature_schema_id") or item.get("name") or "")


class _Expander:
    def __init__(self, annotations: dict, frame_count: int, where: str) -> None:
        self.ann = annotations if isinstance(annotations, dict) else {}
        self.n = int(frame_count)
        self.where = where
        self.result = VideoExpansion()
        raw_segments = self.ann.get("segments")
        self.segments = {
            str(k): parse_segments(v) for k, v in (raw_segments.items() if isinstance(raw_segments, dict) else [])
        }
        raw_kffm = self.ann.get("key_frame_feature_map")
        self.key_frames = {
            str(k): parse_key_frames(v) for k, v in (raw_kffm.items() if isinstance(raw_kffm, dict) else [])
        }

    def warn(self, message: str) -> None:
        self.result.warnings.append(message)
        logger.warning("%s: %s", self.where, message)

    def in_range(self, frame: int) -> bool:
        if 1 <= frame <= self.n:
            return True
        self.result.out_of_range += 1
        return False

    def place(self, frame: int, placed: PlacedObject) -> None:
        if self.in_range(frame):
            self.result.at(frame).objects.append(placed)

    def run(self) -> VideoExpansion:
        appearances: dict[str, dict[int, dict]] = {}
        frame_classes: list[tuple[int, dict]] = []
        frames = self.ann.get("frames") or {}
        if not isinstance(frames, dict):
            self.warn(f"'frames' is a {type(frames).__name__}, not an object; ignored")
            frames = {}
        for key in sorted(frames, key=lambda k: (_frame_number(k) is None, _frame_number(k) or 0)):
            number = _frame_number(key)
            frame = frames[key]
            if number is None or not isinstance(frame, dict):
                self.warn(f"frame key {key!r} is not a frame number; ignored")
                continue
            objects = frame.get("objects") or {}
            items = objects.items() if isinstance(objects, dict) else enumerate(objects)
            for fid, obj in items:
                if not isinstance(obj, dict):
                    continue
                fid = str(obj.get("feature_id") or fid)
                appearances.setdefault(fid, {})[number] = obj
            for item in frame.get("classifications") or []:
                if isinstance(item, dict):
                    frame_classes.append((number, item))
        for fid, listed in appearances.items():
            self.expand_object(fid, listed)
        self.expand_frame_classifications(frame_classes)
        self.expand_global_classifications()
        return self.result

    def expand_object(self, fid: str, listed: dict[int, dict]) -> None:
        numbers = sorted(listed)
        key_frames = self.key_frames.get(fid)
        if key_frames:
            missing = [k for k in key_frames if k not in listed]
            if missing:
                self.warn(f"instance {fid}: keyframes {missing} are not in 'frames'")
        segments = self.segments.get(fid)
        if not segments:
            for number in numbers:  # D6: no segments -> the listed frames still apply
                self.place(number, PlacedObject(listed[number], None, fid))
            return
        covered: set[int] = set()
        for start, end in segments:
            anchors = [n for n in numbers if start <= n <= end]
            if not anchors:
                self.warn(f"instance {fid}: not listed on any frame of its segment [{start}, {end}]; segment skipped")
                continue
            if end > self.n:
                self.warn(f"instance {fid}: segment [{start}, {end}] runs past frame_count {self.n}; clipped")
            self.fill_segment(fid, listed, anchors, max(start, 1), min(end, self.n))
            covered.update(anchors)
        for number in numbers:
            if number not in covered:  # listed outside every segment: take it as listed
                self.place(number, PlacedObject(listed[number], None, fid))

    def fill_segment(self, fid: str, listed: dict[int, dict], anchors: list[int], start: int, end: int) -> None:
        first = listed[anchors[0]]
        kind = object_kind(first)
        geometry_cache: dict[int, np.ndarray | None] = {}

        def geometry(number: int) -> np.ndarray | None:
            if number not in geometry_cache:
                try:
                    geometry_cache[number] = geometry_of(kind, listed[number]) if kind in INTERPOLABLE else None
                except ValueError as exc:
                    self.warn(f"instance {fid} frame {number}: {exc}")
                    geometry_cache[number] = None
                found = geometry_cache[number]
                reason = undrawable_reason(kind, found) if found is not None and kind else None
                if reason is not None:
                    self.warn(f"instance {fid} frame {number}: geometry cannot be drawn ({reason}); not interpolated")
                    geometry_cache[number] = None
            return geometry_cache[number]

        for number in anchors:
            if number < start or number > end:
                self.in_range(number)
        for frame in range(start, end + 1):
            if frame in listed:
                self.result.at(frame).objects.append(PlacedObject(listed[frame], None, fid))
                continue
            if kind not in INTERPOLABLE:
                continue  # masks are never interpolated or held
            pos = bisect_right(anchors, frame)
            if pos == 0:
                before = after = anchors[0]
            elif pos == len(anchors):
                before = after = anchors[-1]
            else:
                before, after = anchors[pos - 1], anchors[pos]
            g_before = geometry(before)
            if g_before is None:
                continue
            g_after = geometry(after)
            if before == after or g_after is None or object_kind(listed[after]) != kind:
                value = g_before.copy()
            else:
                value = interpolate(g_before, g_after, (frame - before) / (after - before))
            self.result.at(frame).objects.append(PlacedObject(listed[before], value, fid))

    def expand_frame_classifications(self, listed: list[tuple[int, dict]]) -> None:
        by_key: dict[str, list[tuple[int, dict]]] = {}
        for number, item in listed:
            by_key.setdefault(_class_key(item), []).append((number, item))
        for entries in by_key.values():
            entries.sort(key=lambda e: e[0])
            numbers = [n for n, _ in entries]
            for i, (number, item) in enumerate(entries):
                stop = numbers[i + 1] - 1 if i + 1 < len(entries) else self.n
                begin = number
                segments = self.segments.get(str(item.get("feature_id") or ""))
                if segments:
                    seg = next(((s, e) for s, e in segments if s <= number <= e), None)
                    if seg is None:
                        stop = number
                    else:
                        stop = min(stop, seg[1])
                        earlier = numbers[i - 1] if i > 0 else 0
                        if earlier < seg[0]:
                            begin = seg[0]  # segment start not listed: hold back to it
                if not self.in_range(number):
                    continue
                for frame in range(max(begin, 1), min(stop, self.n) + 1):
                    self.result.at(frame).classifications.append(item)

    def expand_global_classifications(self) -> None:
        for item in self.ann.get("classifications") or []:
            if not isinstance(item, dict):
                continue
            segments = self.segments.get(str(item.get("feature_id") or ""))
            ranges = segments if segments else [(1, self.n)]
            for start, end in ranges:
                if end > self.n or start < 1:
                    self.result.out_of_range += 1
                for frame in range(max(start, 1), min(end, self.n) + 1):
                    self.result.at(frame).classifications.append(item)


def expand_video_label(annotations: dict, frame_count: int, where: str = "video label") -> VideoExpansion:
    """Expand one video label's annotations over ``1..frame_count``.

    Args:
        annotations: ``label["annotations"]`` (``frames``, ``segments``, ``key_frame_feature_map``,
            ``classifications``).
        frame_count: ``media_attributes.frame_count``.
        where: Names the data row/label in log messages.

    Returns:
        The per-frame content (see the module docstring for the rules).
    """
    return _Expander(annotations, frame_count, where).run()
