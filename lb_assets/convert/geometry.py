"""Geometry of exported objects as float arrays, and linear interpolation between two keyframes.

Coordinates stay floats (the seed truncates them with ``int()``, D8/D10); callers cast to float32.
Polygons are kept exactly as exported: a closing point that repeats the first one is NOT dropped, so
a polygon round-trips to Labelbox unchanged. The export key of a polyline is ``line``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: column kind -> export geometry key
GEOMETRY_KEYS: dict[str, str] = {"bbox": "bounding_box", "polygon": "polygon", "line": "line", "point": "point"}
MASK_KEYS: tuple[str, ...] = ("composite_mask", "mask")
INTERPOLABLE: frozenset[str] = frozenset(GEOMETRY_KEYS)


def object_kind(obj: dict) -> str | None:
    """Column kind of an exported object, from its geometry key (None when it has none we know)."""
    for kind, key in GEOMETRY_KEYS.items():
        if key in obj:
            return kind
    if any(key in obj for key in MASK_KEYS):
        return "mask"
    return None


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
