"""Geometry of exported objects as float arrays, and linear interpolation between two keyframes.

Coordinates stay floats (the seed truncates them with ``int()``, D8/D10); callers cast to float32.
Polygons are kept exactly as exported: a closing point that repeats the first one is NOT dropped, so
a polygon round-trips to Labelbox unchanged. The export key of a polyline is ``line``.

Drawability (`fit_geometry`): geometry that cannot be drawn is dropped with a reason -- ``non_finite``
(a NaN/inf coordinate), ``negative_size`` (a box with negative width or height), ``too_few_points`` (a
polygon with fewer than 3 distinct points, a line with fewer than 2) and, when the frame size is known,
``outside_frame`` (a box with no overlap with the frame). A box partly outside a frame of known size is
clipped to it. Polygons, lines and points are never clipped (coordinates stay as exported).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: column kind -> export geometry key
GEOMETRY_KEYS: dict[str, str] = {"bbox": "bounding_box", "polygon": "polygon", "line": "line", "point": "point"}
MASK_KEYS: tuple[str, ...] = ("composite_mask", "mask")
INTERPOLABLE: frozenset[str] = frozenset(GEOMETRY_KEYS)
#: ``annotation_kind`` suffix -> column kind (prefixes ``Image``/``Video``)
_KIND_SUFFIXES: dict[str, str] = {
    "BoundingBox": "bbox",
    "Polygon": "polygon",
    "Polyline": "line",
    "Point": "point",
    "SegmentationMask": "mask",
}
KNOWN_ANNOTATION_KINDS: dict[str, str] = {
    prefix + suffix: kind for prefix in ("Image", "Video") for suffix, kind in _KIND_SUFFIXES.items()
}
#: minimum distinct points of a drawable polygon / line
MIN_POINTS: dict[str, int] = {"polygon": 3, "line": 2}


def object_kind(obj: dict) -> str | None:
    """Column kind of an exported object, from its geometry key (None when it has none we know)."""
    for kind, key in GEOMETRY_KEYS.items():
        if key in obj:
            return kind
    if any(key in obj for key in MASK_KEYS):
        return "mask"
    return None


def annotation_kind_mismatch(obj: dict, kind: str) -> str | None:
    """The object's ``annotation_kind`` when it is unknown or names another geometry than ``kind``, else None.

    Objects without an ``annotation_kind`` (older exports) are judged by their geometry key alone.
    """
    declared = obj.get("annotation_kind")
    if declared is None or declared == "":
        return None
    return None if KNOWN_ANNOTATION_KINDS.get(str(declared)) == kind else str(declared)


def _xy(point: Any) -> tuple[float, float]:
    if isinstance(point, dict):
        return float(point["x"]), float(point["y"])
    return float(point[0]), float(point[1])


def bbox_ltwh(box: dict) -> np.ndarray:
    """``{"top","left","height","width"}`` -> ``[left, top, width, height]`` (float64)."""
    return np.array([box["left"], box["top"], box["width"], box["height"]], dtype=np.float64)


def point_xy(point: Any) -> np.ndarray:
    """``{"x","y"}`` (or ``[x, y]``) -> ``[x, y]`` (float64)."""
    return np.array(_xy(point), dtype=np.float64)


def points_xy(points: list) -> np.ndarray:
    """A list of ``{"x","y"}`` (or ``[x, y]``) -> ``(N, 2)`` float64, kept as given."""
    if not points:
        return np.zeros((0, 2), dtype=np.float64)
    return np.array([_xy(p) for p in points], dtype=np.float64)


def geometry_of(kind: str, obj: dict) -> np.ndarray:
    """The geometry of an exported object.

    Args:
        kind: ``bbox`` (LTWH, shape (4,)), ``point`` ((2,)), ``polygon`` or ``line`` ((N, 2)).
        obj: The exported object.

    Returns:
        float64 array.

    Raises:
        ValueError: The object has no (or a malformed) geometry of that kind.
    """
    key = GEOMETRY_KEYS.get(kind)
    if key is None or key not in obj:
        raise ValueError(f"object {obj.get('name')!r} has no {key or kind!r} geometry")
    try:
        raw = obj[key]
        if kind == "bbox":
            return bbox_ltwh(raw)
        if kind == "point":
            return point_xy(raw)
        return points_xy(raw)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"object {obj.get('name')!r} has a malformed {key!r}: {exc}") from exc


def interpolate(start: np.ndarray, end: np.ndarray, progress: float) -> np.ndarray:
    """Linear interpolation ``start + (end - start) * progress``.

    Polygons/lines whose point counts differ cannot be interpolated point by point: the start shape is
    held until the next keyframe.
    """
    if start.shape != end.shape:
        return start.copy()
    return start + (end - start) * float(progress)


@dataclass(frozen=True)
class FittedGeometry:
    """The outcome of `fit_geometry`.

    Attributes:
        geometry: The geometry to write (float64; clipped when ``clipped``), or None when dropped.
        reason: Why it was dropped (``non_finite``, ``negative_size``, ``too_few_points``, ``outside_frame``).
        clipped: A box was clipped to the frame.
    """

    geometry: np.ndarray | None
    reason: str | None = None
    clipped: bool = False


def undrawable_reason(kind: str, geometry: np.ndarray) -> str | None:
    """Why a geometry cannot be drawn whatever the frame (None when it can)."""
    if not np.all(np.isfinite(geometry)):
        return "non_finite"
    if kind == "bbox" and (geometry[2] < 0 or geometry[3] < 0):
        return "negative_size"
    if kind in MIN_POINTS:
        points = np.asarray(geometry).reshape(-1, 2)
        if len(np.unique(points, axis=0)) < MIN_POINTS[kind]:
            return "too_few_points"
    return None


def _clip_box(box: np.ndarray, width: int, height: int) -> FittedGeometry:
    left, top, right, bottom = box[0], box[1], box[0] + box[2], box[1] + box[3]
    if right <= 0 or bottom <= 0 or left >= width or top >= height:
        return FittedGeometry(None, "outside_frame")
    x0, y0 = max(left, 0.0), max(top, 0.0)
    x1, y1 = min(right, float(width)), min(bottom, float(height))
    clipped = np.array([x0, y0, x1 - x0, y1 - y0], dtype=np.float64)
    return FittedGeometry(clipped, clipped=not np.array_equal(clipped, box))


def fit_geometry(kind: str, geometry: np.ndarray, width: int | None, height: int | None) -> FittedGeometry:
    """Drop undrawable geometry and clip a box to a frame of ``width`` x ``height`` pixels.

    Args:
        kind: ``bbox`` (LTWH), ``point``, ``polygon`` or ``line``.
        geometry: float array as from `geometry_of` (or interpolated).
        width: Frame width in pixels, or None when unknown (then nothing is clipped or dropped as outside).
        height: Frame height in pixels, or None when unknown.

    Returns:
        The geometry to write, or None with the reason (see the module docstring).
    """
    reason = undrawable_reason(kind, geometry)
    if reason is not None:
        return FittedGeometry(None, reason)
    if kind == "bbox" and width and height and width > 0 and height > 0:
        return _clip_box(np.asarray(geometry, dtype=np.float64), width, height)
    return FittedGeometry(geometry)
