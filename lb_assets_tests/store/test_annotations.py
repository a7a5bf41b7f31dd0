"""apply_annotations: keyed rows (D18), bulk writes (D13), full rewrite (D21), lb_meta on every row (D11)."""

from __future__ import annotations

import math

import deeplake
import numpy as np
import pytest

from lb_assets.errors import SchemaClashError
from lb_assets.store import annotations as annotations_module
from lb_assets.store import schema
from lb_assets.store.annotations import apply_annotations
from lb_assets.store.datasets import open_or_create
from lb_assets_tests.store import helpers as h


def _frames(url: str, rows: dict[str, int]) -> deeplake.Dataset:
    """A frame-like dataset (row_key + frame_idx) with ``rows[data_row_id] = frames`` in order."""
    ds = open_or_create(url)
    ds.add_column("frame_idx", "int32")
    ds.add_column("row_key", deeplake.types.Text())
    for drid, n in rows.items():
        ds.append({"frame_idx": list(range(n)), "row_key": [f"{drid}:{i}" for i in range(1, n + 1)]})
    ds.commit("frames")
    return ds


def _infos(rows: dict[str, int], external_id: str = "same.mp4") -> dict[str, object]:
    return {d: h.info(d, f"/media/{d}.mp4", frame_count=n, external_id=external_id) for d, n in rows.items()}


def test_values_land_on_keyed_rows_with_duplicate_external_ids_d18(mem_url) -> None:
    rows = {"dr-a": 3, "dr-b": 2}
    ds = _frames(mem_url(), rows)
    infos = _infos(rows)  # both data rows share external_id "same.mp4": the seed's sources.index picks the first
    plan = h.plan(car="bbox", weather="radio", note="text")
    conv = [  # given in the reverse of dataset order
        h.converted(infos["dr-b"], {"car": {1: h.box(5, 6, 7, 8)}, "weather": {0: np.array([2], np.int32)}}),
        h.converted(infos["dr-a"], {"car": {0: h.box(1, 2, 3, 4)}, "note": {2: "hi"}}),
    ]
    result = apply_annotations(ds, conv, plan, commit_message="labels")
    assert (result.rows_written, result.labeled_rows, result.rows_missing) == (5, 4, 0)
    np.testing.assert_array_equal(ds["car"][0], [[1, 2, 3, 4]])
    np.testing.assert_array_equal(ds["car"][4], [[5, 6, 7, 8]])
    assert schema.is_empty(ds["car"][3]) and schema.is_empty(ds["car"][1])
    np.testing.assert_array_equal(ds["weather"][3], [2])
    assert [schema.is_empty(v) for v in ds["note"][0:5]] == [True, True, False, True, True]
    assert ds["note"][2] == "hi"
    assert list(ds["weather"].metadata["class_names"]) == ["a", "b", "c"]
    assert result.commit_id == ds.version


def test_rows_added_later_are_found_by_key_d18(mem_url) -> None:
    ds = _frames(mem_url(), {"dr-a": 2})
    plan = h.plan(car="bbox")
    infos = _infos({"dr-a": 2, "dr-new": 2})
    apply_annotations(ds, [h.converted(infos["dr-a"], {"car": {0: h.box(1, 1, 1, 1)}})], plan, commit_message="v1")
    ds.append({"frame_idx": [0, 1], "row_key": ["dr-new:1", "dr-new:2"],
               "car": [schema.empty_value("bbox")] * 2,
               **{c: [schema.empty_for_type(ds.schema[c].dtype)] * 2 for c in schema.column_names(ds)
                  if c.startswith("lb_meta/")}})
    ds.commit("more frames")
    conv = [h.converted(infos["dr-new"], {"car": {1: h.box(9, 9, 9, 9)}}),
            h.converted(infos["dr-a"], {"car": {0: h.box(1, 1, 1, 1)}})]
    apply_annotations(ds, conv, plan, commit_message="v2")
    np.testing.assert_array_equal(ds["car"][3], [[9, 9, 9, 9]])
    assert list(ds["lb_meta/id"][0:4]) == ["dr-a", "dr-a", "dr-new", "dr-new"]


def test_one_bulk_write_per_column_d13(mem_url, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {f"dr-{i}": 50 for i in range(4)}
    ds = _frames(mem_url(), rows)
    infos = _infos(rows)
    plan = h.plan(car="bbox", tag="checklist", note="text")
    conv = [h.converted(infos[d], {"car": {k: h.box(k, k, 1, 1) for k in range(0, 50, 3)},
                                   "tag": {k: np.array([0, 1], np.int32) for k in range(10)},
                                   "note": {49: "end"}}) for d in rows]
    writes: list[tuple[str, int, int]] = []
    real = annotations_module._ColumnBuffer._write

    def counting(self, ds_, start, stop, values):  # noqa: ANN001
        writes.append((self.name, start, stop))
        return real(self, ds_, start, stop, values)

    monkeypatch.setattr(annotations_module._ColumnBuffer, "_write", counting)
    result = apply_annotations(ds, conv, plan, commit_message="bulk")
    n = len(ds)
    assert n == 200
    assert sorted(writes) == sorted((c, 0, n) for c in result.columns)  # one full-length write per column
    assert len(result.columns) == 3 + len([c for c in schema.column_names(ds) if c.startswith("lb_meta/")])
    np.testing.assert_array_equal(ds["car"][150 + 48], [[48, 48, 1, 1]])


def test_refetch_full_rewrite_deleted_labels_disappear_d21(mem_url) -> None:
    rows = {"dr-a": 4}
    ds = _frames(mem_url(), rows)
    infos = _infos(rows)
    plan = h.plan(car="bbox", weather="radio")
    apply_annotations(ds, [h.converted(infos["dr-a"], {"car": {0: h.box(1, 1, 1, 1), 2: h.box(2, 2, 2, 2)},
                                                       "weather": {1: np.array([0], np.int32)}})], plan,
                      commit_message="first fetch")
    v1 = ds.version
    apply_annotations(ds, [h.converted(infos["dr-a"], {"car": {2: h.box(3, 3, 3, 3)}})], plan,
                      commit_message="re-fetch")
    assert ds.version != v1
    assert schema.is_empty(ds["car"][0]) and schema.is_empty(ds["weather"][1])  # deleted in Labelbox
    np.testing.assert_array_equal(ds["car"][2], [[3, 3, 3, 3]])
    old = ds.history[v1].open()
    np.testing.assert_array_equal(old["car"][0], [[1, 1, 1, 1]])
    np.testing.assert_array_equal(old["weather"][1], [0])


def test_every_row_gets_lb_meta_even_without_labels_d11(mem_url) -> None:
    rows = {"dr-a": 2, "dr-gone": 1}
    ds = _frames(mem_url(), rows)
    infos = _infos({"dr-a": 2})
    result = apply_annotations(ds, [h.converted(infos["dr-a"], {})], h.plan(car="bbox"), commit_message="meta")
    assert result.labeled_rows == 0 and result.rows_written == 2
    assert list(ds["lb_meta/id"][0:3]) == ["dr-a", "dr-a", "dr-gone"]  # dr-gone: no converted row, id from its key
    assert list(ds["lb_meta/frame_number"][0:3]) == [1, 2, 1]
    assert list(ds["lb_meta/global_key"][0:2]) == ["gk-dr-a", "gk-dr-a"]
    assert schema.is_empty(ds["lb_meta/global_key"][2])
    rates = ds["lb_meta/frame_rate"][0:3]
    assert rates[0] == pytest.approx(29.97) and math.isnan(rates[2])  # D19
    assert list(ds["lb_meta/current_frame_name"][0:2]) == ["same_000001", "same_000002"]


def test_generate_metadata_false_and_prefix(mem_url) -> None:
    ds = _frames(mem_url(), {"dr-a": 1})
    infos = _infos({"dr-a": 1})
    apply_annotations(ds, [h.converted(infos["dr-a"], {})], h.plan(car="bbox"), generate_metadata=False)
    assert not [c for c in schema.column_names(ds) if c.startswith("lb_meta")]
    apply_annotations(ds, [h.converted(infos["dr-a"], {})], h.plan(car="bbox"), meta_prefix="meta")
    assert "meta/id" in schema.column_names(ds)


def test_missing_rows_are_counted_not_written(mem_url) -> None:
    ds = _frames(mem_url(), {"dr-a": 2})
    infos = _infos({"dr-a": 3, "dr-x": 1})
    result = apply_annotations(ds, [h.converted(infos["dr-a"], {"car": {2: h.box(1, 1, 1, 1)}}),
                                    h.converted(infos["dr-x"], {"car": {0: h.box(1, 1, 1, 1)}})], h.plan(car="bbox"))
    assert result.rows_missing == 2 and result.labeled_rows == 0 and result.commit_id is None


def test_existing_column_of_another_type_clashes_d20(mem_url) -> None:
    ds = _frames(mem_url(), {"dr-a": 1})
    ds.add_column("car", deeplake.types.BoundingBox("int32", "LTWH", "pixel"))
    ds.commit("seed-style column")
    before = ds.version
    with pytest.raises(SchemaClashError, match="'car'"):
        apply_annotations(ds, [], h.plan(car="bbox"), commit_message="x")
    assert ds.version == before and "lb_meta/id" not in schema.column_names(ds)


def test_masks_flush_in_bounded_slices(mem_url, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {"dr-a": 3, "dr-b": 3}
    ds = _frames(mem_url(), rows)
    infos = _infos(rows)
    monkeypatch.setattr(annotations_module, "MASK_FLUSH_BYTES", 20)
    mask = np.ones((4, 4, 1), bool)
    conv = [h.converted(infos["dr-a"], {"road": {0: mask, 1: mask}}), h.converted(infos["dr-b"], {"road": {2: mask}})]
    apply_annotations(ds, conv, h.plan(road="mask"), commit_message="masks")
    present = [not schema.is_empty(ds["road"][i]) for i in range(6)]
    assert present == [True, True, False, False, False, True]
    assert ds["road"][5].shape == (4, 4, 1)


def _snapshot(ds: deeplake.Dataset) -> dict[str, list]:
    """Every non-key column of ``ds`` read back row by row, in a comparable form."""
    out = {}
    for column in schema.column_names(ds):
        values = []
        for i in range(len(ds)):
            value = ds[column][i]
            values.append(None if schema.is_empty(value) else
                          value if isinstance(value, (str, int, float)) else np.asarray(value).tolist())
        out[column] = values
    return out


def _mixed_stream(infos: dict) -> list:
    """Converted rows: in dataset order, one data row late (after later ones), ``dr-gone`` left out."""
    mask = np.zeros((4, 4, 1), bool)
    mask[1:3, 1:3] = True
    return [
        h.converted(infos["dr-0"], {"car": {0: h.box(1, 2, 3, 4), 6: h.box(6, 6, 6, 6)}, "note": {3: "zero"}}),
        h.converted(infos["dr-2"], {"weather": {k: np.array([k % 3], np.int32) for k in range(7)},
                                    "road": {1: mask}}),
        h.converted(infos["dr-3"], {"car": {k: h.box(k, k, 2, 2) for k in range(7)}, "note": {0: "three"}}),
        h.converted(infos["dr-1"], {"car": {2: h.box(9, 9, 9, 9)}, "note": {6: "late"}}),  # arrives late
    ]


@pytest.mark.parametrize("flush_rows", [1, 3, 7, 10])
def test_flushing_in_small_chunks_gives_the_same_dataset_as_one_chunk(mem_url, monkeypatch, flush_rows: int) -> None:
    rows = {"dr-0": 7, "dr-1": 7, "dr-gone": 7, "dr-2": 7, "dr-3": 7}
    plan = h.plan(car="bbox", weather="radio", note="text", road="mask")
    infos = _infos(rows)
    snapshots = []
    for flush in (10_000, flush_rows):
        monkeypatch.setattr(annotations_module, "FLUSH_ROWS", flush)
        ds = _frames(mem_url(), rows)
        result = apply_annotations(ds, _mixed_stream(infos), plan, commit_message=f"flush {flush}")
        assert (result.rows_written, result.rows_missing, result.data_rows) == (28, 0, 4)
        assert result.labeled_rows == 3 + 2 + 7 + 7  # dr-0 rows 0,3,6; dr-1 rows 2,6; dr-2 and dr-3 every row
        snapshots.append(_snapshot(ds))
    assert snapshots[0] == snapshots[1]
    one = snapshots[0]
    assert one["car"][7 + 2] == [[9, 9, 9, 9]] and one["note"][7 + 6] == "late"  # the late data row landed
    assert one["weather"][21 + 4] == [1] and one["road"][21 + 1] is not None
    assert one["lb_meta/id"][14:21] == ["dr-gone"] * 7 and one["lb_meta/frame_number"][14:21] == list(range(1, 8))


def test_rows_absent_from_the_converted_stream_are_emptied(mem_url, monkeypatch) -> None:
    rows = {"dr-a": 4, "dr-gone": 5, "dr-b": 3}
    ds = _frames(mem_url(), rows)
    infos = _infos(rows)
    plan = h.plan(car="bbox", note="text")
    apply_annotations(ds, [h.converted(infos[d], {"car": {0: h.box(1, 1, 1, 1)}, "note": {1: d}}) for d in rows],
                      plan, commit_message="all labeled")
    assert not schema.is_empty(ds["car"][4]) and ds["note"][5] == "dr-gone"
    monkeypatch.setattr(annotations_module, "FLUSH_ROWS", 2)
    result = apply_annotations(ds, [h.converted(infos["dr-a"], {"car": {0: h.box(2, 2, 2, 2)}}),
                                    h.converted(infos["dr-b"], {"note": {2: "b"}})], plan, commit_message="dr-gone left")
    assert (result.rows_written, result.labeled_rows) == (7, 2)
    assert all(schema.is_empty(ds["car"][i]) and schema.is_empty(ds["note"][i]) for i in range(4, 9))
    assert list(ds["lb_meta/id"][4:9]) == ["dr-gone"] * 5 and list(ds["lb_meta/frame_number"][4:9]) == [1, 2, 3, 4, 5]
    assert all(schema.is_empty(v) for v in ds["lb_meta/global_key"][4:9])
    np.testing.assert_array_equal(ds["car"][0], [[2, 2, 2, 2]])
    assert [schema.is_empty(v) for v in ds["note"][9:12]] == [True, True, False] and ds["note"][11] == "b"


def test_one_slice_per_column_per_flush(mem_url, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {f"dr-{i}": 5 for i in range(4)}  # 20 rows, flushed every 10
    ds = _frames(mem_url(), rows)
    infos = _infos(rows)
    plan = h.plan(car="bbox", note="text")
    writes: list[tuple[str, int, int]] = []
    real = annotations_module._ColumnBuffer._write

    def counting(self, ds_, start, stop, values):  # noqa: ANN001
        assert len(values) == stop - start
        writes.append((self.name, start, stop))
        return real(self, ds_, start, stop, values)

    monkeypatch.setattr(annotations_module._ColumnBuffer, "_write", counting)
    monkeypatch.setattr(annotations_module, "FLUSH_ROWS", 10)
    conv = [h.converted(infos[d], {"car": {k: h.box(k, i, 1, 1) for k in range(5)}}) for i, d in enumerate(rows)]
    result = apply_annotations(ds, conv, plan, commit_message="chunks")
    assert sorted(writes) == sorted((c, a, a + 10) for c in result.columns for a in (0, 10))
    np.testing.assert_array_equal(ds["car"][3 * 5 + 4], [[4, 3, 1, 1]])

    writes.clear()  # a gap (data row absent) and a data row longer than the window
    infos = _infos({"dr-0": 5, "dr-1": 5, "dr-2": 5, "dr-3": 5})
    monkeypatch.setattr(annotations_module, "FLUSH_ROWS", 4)
    apply_annotations(ds, [h.converted(infos["dr-0"], {}), h.converted(infos["dr-3"], {"note": {4: "x"}})], plan,
                      generate_metadata=False, commit_message="gap")
    for column in ("car", "note"):
        spans = sorted((a, b) for c, a, b in writes if c == column)
        assert spans[0][0] == 0 and spans[-1][1] == 20 and all(b - a <= 4 for a, b in spans)
        assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))  # every row once, in order
    assert ds["note"][19] == "x" and all(schema.is_empty(ds["car"][i]) for i in range(20))
