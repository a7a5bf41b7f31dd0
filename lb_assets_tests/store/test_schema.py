"""Every column type lb_assets writes, written and read back in deeplake 4.7.4 (bulk slice writes)."""

from __future__ import annotations

import math
import uuid

import deeplake
import numpy as np
import pytest

from lb_assets.convert.ontology import ColumnSpec
from lb_assets.errors import ConfigError, SchemaClashError
from lb_assets.store import schema


def _dataset(n: int) -> deeplake.Dataset:
    ds = deeplake.create(f"mem://schema_{uuid.uuid4().hex}")
    ds.add_column("row_key", deeplake.types.Text())
    ds.append({"row_key": [f"r:{i}" for i in range(n)]})
    return ds


VALUES = {
    "bbox": [np.array([[1.5, 2.25, 3.0, 4.0]], np.float32), None, np.array([[0, 0, 1, 1], [2, 2, 3, 3]], np.float32)],
    "point": [np.array([[1.5, 2.5]], np.float32), None, np.array([[1, 1], [2, 2]], np.float32)],
    "polygon": [[np.array([[0, 0], [4, 0], [4, 3.5]], np.float32)], None,
                [np.array([[0, 0], [1, 0], [1, 1]], np.float32), np.array([[5, 5], [6, 6], [7, 5]], np.float32)]],
    "line": [[np.array([[0, 0], [4.5, 1]], np.float32)], None, [np.array([[1, 1], [2, 2], [3, 1]], np.float32)]],
    "mask": [np.eye(4, dtype=bool)[:, :, None], None, np.ones((4, 4, 2), bool)],
    "radio": [np.array([1], np.int32), None, np.array([2], np.int32)],
    "checklist": [np.array([0, 2], np.int32), None, np.array([1], np.int32)],
    "text": ["hello", None, "a\nb"],
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_each_annotation_kind_round_trips_with_none_as_empty(kind: str) -> None:
    ds = _dataset(3)
    spec = ColumnSpec("col", kind, ("a", "b", "c"))
    ds.add_column("col", schema.annotation_dtype(spec))
    ds["col"][0:3] = [schema.storable(kind, v) for v in VALUES[kind]]
    ds.commit("values")
    back = [ds["col"][i] for i in range(3)]
    for want, got in zip(VALUES[kind], back):
        if want is None:
            assert schema.is_empty(got)
        elif kind == "text":
            assert got == want
        elif kind in ("polygon", "line"):
            assert len(got) == len(want)
            for w, g in zip(want, got):
                np.testing.assert_array_equal(np.asarray(g), w)
        else:
            np.testing.assert_array_equal(np.asarray(got), want)
            assert not schema.is_empty(got)


def test_bbox_keeps_subpixel_floats_d8() -> None:
    ds = _dataset(1)
    ds.add_column("b", schema.annotation_dtype(ColumnSpec("b", "bbox")))
    ds["b"][0:1] = [schema.storable("bbox", np.array([[10.6, 20.4, 5.5, 7.9]]))]
    np.testing.assert_allclose(ds["b"][0], [[10.6, 20.4, 5.5, 7.9]], rtol=1e-6)


def test_meta_kinds_store_absent_values() -> None:
    ds = _dataset(2)
    for name, kind in (("t", "text"), ("i", "int32"), ("f", "float64")):
        ds.add_column(name, schema.meta_dtype(kind))
    ds["t"][0:2] = [schema.storable("text", "x"), schema.storable("text", None)]
    ds["i"][0:2] = [schema.storable("int32", 7), schema.storable("int32", None)]
    ds["f"][0:2] = [schema.storable("float64", 29.97), schema.storable("float64", None)]
    assert list(ds["t"][0:2]) == ["x", ""]
    assert list(ds["i"][0:2]) == [7, -1]
    f = ds["f"][0:2]
    assert f[0] == pytest.approx(29.97) and math.isnan(f[1])  # D19: not truncated to 29


def test_frame_columns_and_storage() -> None:
    video = schema.frame_columns("video")
    assert list(video) == ["frames", "frame_idx", "video_idx", "row_key"]
    assert video["frames"].sample_compression in ("jpg", "jpeg")
    assert schema.frame_columns("image", "png")["image"].sample_compression == "png"
    with pytest.raises(ConfigError, match="frame storage"):
        schema.frame_columns("video", "webp")


def test_ensure_column_refuses_another_type() -> None:
    ds = _dataset(1)
    ds.add_column("car", deeplake.types.BoundingBox("int32", "LTWH", "pixel"))  # the seed's type
    with pytest.raises(SchemaClashError, match="'car'.*int32"):
        schema.ensure_column(ds, "car", schema.annotation_dtype(ColumnSpec("car", "bbox")), "bbox column")
    assert schema.ensure_column(ds, "new", schema.annotation_dtype(ColumnSpec("new", "bbox")), "bbox") is True
    assert schema.ensure_column(ds, "new", schema.annotation_dtype(ColumnSpec("new", "bbox")), "bbox") is False


def test_empty_for_type_covers_every_written_type() -> None:
    ds = _dataset(1)
    for kind in VALUES:
        ds.add_column(kind, schema.annotation_dtype(ColumnSpec(kind, kind)))
    for column in ds.schema.columns:
        if column.name != "row_key":
            assert schema.is_empty(schema.empty_for_type(column.dtype, column.name))


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_first_and_all_rows_empty_write_and_read(kind: str) -> None:
    ds = _dataset(3)
    ds.add_column("col", schema.annotation_dtype(ColumnSpec("col", kind, ("a", "b", "c"))))
    ds["col"][0:3] = [schema.storable(kind, None)] * 3
    assert all(schema.is_empty(ds["col"][i]) for i in range(3))
    values = list(reversed(VALUES[kind]))  # None in the middle, a value first
    values = [None, values[0], None]
    ds["col"][0:3] = [schema.storable(kind, v) for v in values]
    assert [schema.is_empty(ds["col"][i]) for i in range(3)] == [True, False, True]
