"""Deep Lake column types of the datasets lb_assets writes, and how values are stored in them.

Frame datasets keep the seed's columns: video ``frames`` (Image), ``frame_idx`` (int32, 0-based within the
video), ``video_idx`` (int32); image ``image`` (Image), ``image_idx`` (int32); plus ``row_key`` (Text) on every
dataset. Frames are JPEG-compressed by default (the performance baseline: ~0.7x decode speed and ~10x smaller
than PNG, whose encoding is the seed's bottleneck); ``storage="png"`` is lossless.

Annotation columns by `ColumnSpec.kind`:

======================  ===================================================  "no value" is stored as
kind                    Deep Lake 4.7.4 type                                 (see below)
======================  ===================================================  ==========================
bbox                    ``BoundingBox("float32", "LTWH", "pixel")`` (D8)     ``float32 (0, 4)``
polygon, line           ``Polygon()``                                        ``float32 (0, 0, 2)``
point                   ``Point()``                                          ``float32 (0, 2)``
mask                    ``BinaryMask(sample_compression="lz4")``             ``bool (0, 0, 0)``
radio, checklist        ``ClassLabel(Array("int32", 1))`` + ``class_names``  ``int32 (0,)``
text                    ``Text()``                                           ``""``
======================  ===================================================  ==========================

Text "no value" ``""`` reads back as ``None`` in deeplake 4.7.4.

Metadata columns (`lb_assets.convert.lb_meta.meta_columns`): ``text`` -> Text (absent: ``""``), ``int32``
(absent: ``-1``), ``float64`` (absent: NaN; ``frame_rate`` keeps 29.97, D19).

An empty Python list is not a usable empty polygon: a slice whose first row is ``[]`` fails ("Data must have
4 dimensions"). Why no ``None``: every type was written and read back in deeplake 4.7.4. A ``None`` inside a slice
assignment is accepted for BoundingBox, ClassLabel and Text columns but the rows then fail to read ("Cannot cast
from type unknown"), and scalar columns refuse it. ``Nullable`` types work but change the column kind (and read
back as 0-d arrays), so lb_assets stores the empty value of each type instead; `is_empty` tells them apart on read.
"""

from __future__ import annotations

import math
from typing import Any

import deeplake
import numpy as np

from lb_assets.convert.ontology import ColumnSpec
from lb_assets.errors import ConfigError, SchemaClashError

ROW_KEY = "row_key"
#: storage setting -> Deep Lake sample compression of the frame/image column
STORAGE_COMPRESSION: dict[str, str] = {"jpeg": "jpg", "jpg": "jpg", "png": "png"}
#: annotation kind -> dimension of one geometry row
_WIDTH = {"bbox": 4, "point": 2}
ANNOTATION_KINDS = ("bbox", "polygon", "line", "point", "mask", "radio", "checklist", "text")
META_KINDS = ("text", "int32", "float64")


def compression_of(storage: str) -> str:
    """Deep Lake sample compression (``"jpg"``/``"png"``) of a ``storage`` setting.

    Raises:
        ConfigError: Unknown storage setting.
    """
    try:
        return STORAGE_COMPRESSION[str(storage).lower()]
    except KeyError:
        raise ConfigError(f"frame storage must be one of {sorted(STORAGE_COMPRESSION)}, got {storage!r}") from None


def storage_of(compression: str | None) -> str:
    """The storage setting (``"jpeg"``/``"png"``) of a sample compression."""
    return "png" if compression == "png" else "jpeg"


def media_column(media_type: str) -> str:
    """``"frames"`` for video, ``"image"`` for images."""
    return "frames" if _media(media_type) == "video" else "image"


def index_column(media_type: str) -> str:
    """``"video_idx"`` for video, ``"image_idx"`` for images."""
    return "video_idx" if _media(media_type) == "video" else "image_idx"


def _media(media_type: str) -> str:
    media = str(media_type).lower()
    if media not in ("video", "image"):
        raise ConfigError(f"media_type must be 'video' or 'image', got {media_type!r}")
    return media


def frame_columns(media_type: str, storage: str = "jpeg") -> dict[str, Any]:
    """Columns of a frame dataset, in order.

    Args:
        media_type: ``"video"`` or ``"image"``.
        storage: ``"jpeg"`` (default) or ``"png"``.

    Returns:
        Column name -> Deep Lake type.
    """
    image = deeplake.types.Image(sample_compression=compression_of(storage))
    if _media(media_type) == "video":
        return {
            "frames": image,
            "frame_idx": deeplake.types.Int32(),
            "video_idx": deeplake.types.Int32(),
            ROW_KEY: deeplake.types.Text(),
        }
    return {"image": image, "image_idx": deeplake.types.Int32(), ROW_KEY: deeplake.types.Text()}


def annotation_dtype(spec: ColumnSpec) -> Any:
    """Deep Lake type of an annotation column.

    Raises:
        SchemaClashError: The kind is unknown.
    """
    kind = spec.kind
    types = deeplake.types
    if kind == "bbox":
        return types.BoundingBox("float32", "LTWH", "pixel")
    if kind in ("polygon", "line"):
        return types.Polygon()
    if kind == "point":
        return types.Point()
    if kind == "mask":
        return types.BinaryMask(sample_compression="lz4")
    if kind in ("radio", "checklist"):
        return types.ClassLabel(types.Array("int32", dimensions=1))
    if kind == "text":
        return types.Text()
    raise SchemaClashError(f"column {spec.name!r} ({spec.source or 'unknown source'}): unknown kind {kind!r}")


def meta_dtype(kind: str) -> Any:
    """Deep Lake type of an ``lb_meta`` column kind (``text``, ``int32``, ``float64``)."""
    if kind == "text":
        return deeplake.types.Text()
    if kind in ("int32", "float64"):
        return kind
    raise SchemaClashError(f"unknown metadata column kind {kind!r}")


def same_type(existing: Any, wanted: Any) -> bool:
    """Whether an existing column type is the type lb_assets would create (compression aside)."""
    return str(existing) == str(wanted)


def empty_value(kind: str) -> Any:
    """The stored "no value" of an annotation or metadata kind (see module docstring)."""
    if kind in _WIDTH:
        return np.zeros((0, _WIDTH[kind]), dtype=np.float32)
    if kind in ("polygon", "line"):
        return np.zeros((0, 0, 2), dtype=np.float32)
    if kind == "mask":
        return np.zeros((0, 0, 0), dtype=bool)
    if kind in ("radio", "checklist"):
        return np.zeros((0,), dtype=np.int32)
    if kind == "text":
        return ""
    if kind == "int32":
        return -1
    if kind == "float64":
        return math.nan
    raise SchemaClashError(f"unknown column kind {kind!r}")


def storable(kind: str, value: Any) -> Any:
    """A converted value (architecture value shapes, ``None`` = no value) as it is written to Deep Lake.

    Raises:
        ValueError: The value does not have the kind's shape.
    """
    if value is None:
        return empty_value(kind)
    if kind in _WIDTH:
        return np.asarray(value, dtype=np.float32).reshape(-1, _WIDTH[kind])
    if kind in ("polygon", "line"):
        polygons = [np.asarray(p, dtype=np.float32).reshape(-1, 2) for p in value]
        return polygons if polygons else empty_value(kind)
    if kind == "mask":
        array = np.asarray(value, dtype=bool)
        if array.ndim == 2:
            array = array[:, :, np.newaxis]
        if array.ndim != 3:
            raise ValueError(f"a mask must be (H, W, K), got shape {array.shape}")
        return array
    if kind in ("radio", "checklist"):
        return np.asarray(value, dtype=np.int32).reshape(-1)
    if kind == "text":
        return str(value)
    if kind == "int32":
        return int(value)
    if kind == "float64":
        return float(value)
    raise SchemaClashError(f"unknown column kind {kind!r}")


def empty_for_type(dtype: Any, name: str = "") -> Any:
    """The stored "no value" of an existing column from its Deep Lake type (for columns of earlier plans).

    Raises:
        SchemaClashError: A type lb_assets does not write.
    """
    text = str(dtype)
    for marker, kind in (
        ("kind=bbox", "bbox"),
        ("kind=bmask", "mask"),
        ("kind=class_label", "radio"),
        ("polygon", "polygon"),
        ("point", "point"),
        ("text", "text"),
        ("int32", "int32"),
    ):
        if text.startswith(marker):
            return empty_value(kind)
    if text.startswith("float"):
        return math.nan
    raise SchemaClashError(f"column {name!r} has type {text}, which lb_assets does not write")


def is_empty(value: Any) -> bool:
    """Whether a value read back from a column is a stored "no value" (or None)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, list):
        return len(value) == 0
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.ndim == 0:
        return bool(np.isnan(array))
    if array.dtype.kind in "iu" and array.ndim == 0:
        return int(array) == -1
    return array.size == 0


def column_names(ds: Any) -> list[str]:
    """Column names of a dataset, in schema order."""
    return [c.name for c in ds.schema.columns]


def column_type(ds: Any, name: str) -> Any | None:
    """The type of column ``name``, or None when the dataset has no such column."""
    for column in ds.schema.columns:
        if column.name == name:
            return column.dtype
    return None


def ensure_column(ds: Any, name: str, dtype: Any, what: str) -> bool:
    """Add column ``name`` unless it exists; an existing column must have the same type.

    Args:
        ds: The dataset.
        name: Column name.
        dtype: The type lb_assets writes.
        what: What the column is for, for error messages (e.g. ``"bbox column from rectangle tool 'car'"``).

    Returns:
        True when the column was created.

    Raises:
        SchemaClashError: The column exists with another type.
    """
    existing = column_type(ds, name)
    if existing is None:
        ds.add_column(name, dtype)
        return True
    if not same_type(existing, dtype):
        raise SchemaClashError(
            f"dataset column {name!r} has type {existing} but lb_assets writes {dtype} there ({what}); "
            "write to a new dataset or branch, or remove the column"
        )
    return False
