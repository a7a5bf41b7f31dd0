"""Write converted annotations into a dataset's columns: matched by ``row_key``, bounded bulk writes, full rewrite.

* Rows are found by ``row_key``, never by the position of an external id in ``labelbox_meta.sources`` (D18):
  duplicate external ids and data rows added later are fine. The keys are read in chunks into a compact
  index of runs (one entry per data row whose frames are consecutive rows: a few bytes per video, not per
  frame), so the index does not grow with the number of frames.
* Values are written through a window of at most `FLUSH_ROWS` consecutive dataset rows: when the converted
  rows move past the window (or its masks exceed `MASK_FLUSH_BYTES`), the window is written with ONE slice
  assignment ``ds[col][a:b] = values`` per column (D13: the seed writes row by row, 143-1390x slower at 100k
  rows) and dropped, so memory stays flat however many rows the project has. Converted rows usually come
  in dataset order (a data row's frames are consecutive rows); a data row that arrives after its rows were
  written is written again from a small buffer of late rows (correct, only slower).
* Every annotation column is rewritten entirely (rows without a value get the type's empty value,
  `lb_assets.store.schema`), so labels deleted in Labelbox disappear on re-fetch (D21); rows no converted row
  covers (data rows absent from the export) are written empty too.
* Every row gets ``lb_meta`` values (D11); rows whose data row is not in ``converted_rows`` still get their
  ``id`` and ``frame_number`` from the row key.
* Missing columns are created; an existing column of another type raises `SchemaClashError` (D20).
* On any failure, uncommitted changes are rolled back (`lb_assets.store.atomic`); with ``commit_message``
  the result is committed once.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lb_assets.convert.convert import ConvertedRow
from lb_assets.convert.lb_meta import meta_columns
from lb_assets.convert.ontology import OntologyPlan
from lb_assets.errors import IncompatibleDatasetsError
from lb_assets.store import schema
from lb_assets.store.atomic import atomic, commit
from lb_assets.store.row_keys import iter_key_chunks
from lb_assets.store.verify import verify_rows

logger = logging.getLogger(__name__)

#: Dataset rows written per slice assignment (the window). Tuned with benchmarks/bench_annotations.py.
FLUSH_ROWS = 8192
#: The window is written early when its mask values exceed this many bytes.
MASK_FLUSH_BYTES = 256 * 1024 * 1024
#: Row keys read per bulk read.
#: Frame number of a row key that is not ``"<data_row_id>:<frame number>"`` (never matched).
_UNPARSED = -(2**62)


@dataclass
class ApplyResult:
    """What `apply_annotations` wrote.

    Attributes:
        columns: Annotation and metadata columns written, in order.
        rows_written: Dataset rows that received the values of a converted data row.
        labeled_rows: Dataset rows with at least one annotation value.
        commit_id: Version after the commit, or None when not committed (no ``commit_message``).
        rows_missing: Converted rows whose row key is not in the dataset (not written).
        data_rows: Converted data rows seen.
    """

    columns: list[str]
    rows_written: int
    labeled_rows: int
    commit_id: str | None
    rows_missing: int = 0
    data_rows: int = 0
    created_columns: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- row keys
def _parse_key(key: str) -> tuple[str, int]:
    """``(data_row_id, frame number)`` of a row key; ``(key, _UNPARSED)`` when it is not one of ours."""
    data_row_id, sep, number = key.rpartition(":")
    if sep and number.isascii() and number.isdigit() and (len(number) == 1 or number[0] != "0"):
        return data_row_id, int(number)
    return key, _UNPARSED


def _frame_range(row: ConvertedRow) -> tuple[int, int]:
    """``(first frame number, count)`` of the row keys of ``row`` (as `ConvertedRow.row_keys` makes them)."""
    if row.info.media_type == "video":
        return 1, row.n_rows
    return 0, 1


class _RowIndex:
    """Position of every ``row_key`` of a dataset, as sorted runs of consecutive frames of one data row.

    A run is ``(data_row_id, first position, first frame, length)``: a video whose frames are consecutive
    rows is one run, an image one run of length 1. Ids are kept as a NumPy bytes array (no Python object per
    row), looked up with a binary search.
    """

    def __init__(self, ds: Any) -> None:
        heads: list[np.ndarray] = []
        positions, frames, lengths = array("q"), array("q"), array("q")
        current: str | None = None
        previous = 0
        for first, keys in iter_key_chunks(ds):
            chunk_heads: list[bytes] = []
            for position, key in enumerate(keys, first):
                data_row_id, frame = _parse_key(key)
                if frame != _UNPARSED and frame == previous + 1 and data_row_id == current:
                    lengths[-1] += 1
                else:
                    chunk_heads.append(data_row_id.encode())
                    positions.append(position)
                    frames.append(frame)
                    lengths.append(1)
                    current = data_row_id if frame != _UNPARSED else None
                previous = frame
            if chunk_heads:
                heads.append(np.array(chunk_heads, dtype=bytes))
        all_heads = np.concatenate(heads) if heads else np.array([], dtype="S1")
        frame_array = np.frombuffer(frames, dtype=np.int64) if frames else np.zeros(0, np.int64)
        order = np.lexsort((frame_array, all_heads))
        self.heads = all_heads[order]
        self.frames = frame_array[order]
        self.positions = (np.frombuffer(positions, dtype=np.int64) if positions else np.zeros(0, np.int64))[order]
        self.lengths = (np.frombuffer(lengths, dtype=np.int64) if lengths else np.zeros(0, np.int64))[order]
        self._check_unique()

    def _check_unique(self) -> None:
        same = self.heads[1:] == self.heads[:-1]
        overlap = np.flatnonzero(same & (self.frames[1:] < self.frames[:-1] + self.lengths[:-1]))
        if overlap.size:
            i = int(overlap[0]) + 1
            frame = int(self.frames[i])
            example = self.heads[i].decode() + (f":{frame}" if frame != _UNPARSED else "")
            raise IncompatibleDatasetsError(
                f"the dataset has duplicate row keys ({overlap.size} overlapping runs, e.g. {example!r})"
            )

    def segments(self, data_row_id: str, first: int, count: int) -> list[tuple[int, int, int]]:
        """Where frames ``first .. first+count-1`` of a data row are.

        Returns:
            ``(offset, position, length)`` triples: frames ``first+offset ..`` are rows ``position ..``.
        """
        needle = data_row_id.encode()
        if not self.heads.size or len(needle) > self.heads.dtype.itemsize:
            return []
        lo = int(np.searchsorted(self.heads, needle, "left"))
        hi = int(np.searchsorted(self.heads, needle, "right"))
        out = []
        for i in range(lo, hi):
            start, length = int(self.frames[i]), int(self.lengths[i])
            a, b = max(start, first), min(start + length, first + count)
            if a < b:
                out.append((a - first, int(self.positions[i]) + a - start, b - a))
        return out


# ----------------------------------------------------------------------------------------------- buffers
def _converter(kind: str) -> Callable[[Any], Any]:
    """`schema.storable` for ``kind``, with a fast path for values already in their stored form."""
    width = {"bbox": 4, "point": 2}.get(kind)
    if width is not None:

        def geometry(value: Any) -> Any:
            if type(value) is np.ndarray and value.dtype == np.float32 and value.ndim == 2 and value.shape[1] == width:
                return value
            return schema.storable(kind, value)

        return geometry
    if kind == "text":
        return lambda value: value if type(value) is str else schema.storable(kind, value)
    return lambda value: schema.storable(kind, value)


class _ColumnBuffer:
    """One column's stored values for the window of rows ``[start, start + len(values))``."""

    def __init__(self, name: str, kind: str, annotation: bool) -> None:
        self.name = name
        self.kind = kind
        self.annotation = annotation
        self.empty = schema.empty_value(kind)
        self.convert = _converter(kind)
        self.values: list[Any] = []
        self.pending_bytes = 0  # mask bytes put since the window opened
        self.writes = 0

    def put(self, at: int, values: list[Any], labeled: np.ndarray | None) -> None:
        """Store ``values`` (converted; ``None`` = empty) at window offsets ``at ..``; mark labeled rows.

        Args:
            at: Window offset of the first value.
            values: Converted values of consecutive rows.
            labeled: Window view of the labeled-rows flags (annotation columns), or None.
        """
        out, empty, convert = self.values, self.empty, self.convert
        if labeled is None:
            for i, value in enumerate(values, at):
                out[i] = empty if value is None else convert(value)
            return
        hits = []
        for i, value in enumerate(values, at):
            if value is None:
                out[i] = empty
            else:
                out[i] = stored = convert(value)
                hits.append(i)
                if self.kind == "mask":
                    self.pending_bytes += stored.nbytes
        if hits:
            labeled[hits] = True

    def reset(self, size: int, carry: int) -> None:
        """Make the buffer ``size`` rows long, keeping its last ``carry`` values at the front."""
        kept = self.values[len(self.values) - carry :] if carry else []
        self.values = kept + [self.empty] * (size - len(kept))
        self.pending_bytes = sum(getattr(v, "nbytes", 0) for v in kept) if self.kind == "mask" else 0

    def _write(self, ds: Any, start: int, stop: int, values: list[Any]) -> None:
        if self.kind in ("bbox", "point") and len({v.shape for v in values}) == 1:
            # one stacked array: Deep Lake keeps about half the memory for it until the commit
            ds[self.name][start:stop] = np.stack(values)
        else:
            ds[self.name][start:stop] = values
        self.writes += 1


class _Writer:
    """Writes every row of the dataset once, through a bounded window, plus late rows (see module docstring)."""

    def __init__(self, ds: Any, buffers: dict[str, _ColumnBuffer], key_meta: dict[str, str], flush_rows: int) -> None:
        self.ds = ds
        self.n = len(ds)
        self.buffers = buffers
        self.key_meta = key_meta  # column -> "id" | "frame_number": filled from the key on uncovered rows
        self.flush_rows = max(1, int(flush_rows))
        self.masks = [b for b in buffers.values() if b.kind == "mask"]
        self.labeled = np.zeros(self.n, dtype=bool)
        self.matched = np.zeros(self.n, dtype=bool)
        self.late: dict[int, dict[str, Any]] = {}
        self.start = 0
        self._open(0)

    # -- the window
    def _open(self, start: int, carry: int = 0) -> None:
        """Make ``[start, start + flush_rows)`` the window, keeping the last ``carry`` buffered rows."""
        size = max(0, min(self.flush_rows, self.n - start))
        for buffer in self.buffers.values():
            buffer.reset(size, carry)
        self.start = start
        self.size = size

    def _flush_window(self, stop: int) -> None:
        """Write window rows ``[start, stop)`` (one slice per column) and slide the window to ``stop``."""
        stop = min(stop, self.start + self.size)
        if stop <= self.start:
            return
        count = stop - self.start
        self._fill_key_meta(self.start, stop)
        for buffer in self.buffers.values():
            buffer._write(self.ds, self.start, stop, buffer.values[:count] if count < self.size else buffer.values)
        self._open(stop, carry=self.size - count)

    def _fill_key_meta(self, start: int, stop: int) -> None:
        """Give uncovered rows of ``[start, stop)`` their ``id``/``frame_number`` from their keys."""
        if not self.key_meta:
            return
        uncovered = np.flatnonzero(~self.matched[start:stop])
        if not uncovered.size:
            return
        offset = start - self.start
        keys = [str(k) for k in self.ds[schema.ROW_KEY][start:stop]]
        for column, part in self.key_meta.items():
            values = self.buffers[column].values
            for i in uncovered.tolist():
                data_row_id, frame = _parse_key(keys[i])
                values[offset + i] = data_row_id if part == "id" else (frame if frame != _UNPARSED else -1)

    def advance(self, to: int) -> None:
        """Write every row before ``to`` that is still pending (the window, then empty chunks up to ``to``)."""
        while self.start < min(to, self.n):
            self._flush_window(to)

    # -- placing values
    def place(self, position: int, length: int, values: dict[str, list[Any]]) -> None:
        """Store the values of dataset rows ``[position, position + length)`` (column -> list of values)."""
        self.matched[position : position + length] = True
        if position < self.start:  # rows already written: keep them for a late rewrite
            late = min(length, self.start - position)
            self._place_late(position, late, {c: v[:late] for c, v in values.items()})
            position, length = position + late, length - late
            values = {c: v[late:] for c, v in values.items()}
        while length:
            if position + min(length, self.flush_rows) > self.start + self.size:
                self.advance(position)  # the stream moved on: rows before ``position`` are final
            take = min(length, self.start + self.size - position)
            at = position - self.start
            for column, column_values in values.items():
                buffer = self.buffers[column]
                buffer.put(
                    at,
                    column_values[:take] if take < length else column_values,
                    self.labeled[self.start :] if buffer.annotation else None,
                )
            position, length = position + take, length - take
            values = {c: v[take:] for c, v in values.items()} if length else values

    def after_data_row(self, end: int) -> None:
        """Write the window up to ``end`` early when its masks exceed `MASK_FLUSH_BYTES`."""
        if self.masks and sum(b.pending_bytes for b in self.masks) > MASK_FLUSH_BYTES:
            self.advance(max(end, self.start + 1))

    def _place_late(self, position: int, length: int, values: dict[str, list[Any]]) -> None:
        for k in range(length):
            row = self.late.setdefault(position + k, {})
            for column, column_values in values.items():
                buffer = self.buffers[column]
                value = column_values[k]
                row[column] = buffer.empty if value is None else buffer.convert(value)
                if buffer.annotation and value is not None:
                    self.labeled[position + k] = True
        if len(self.late) >= self.flush_rows:
            self._flush_late()

    def _flush_late(self) -> None:
        """Rewrite the late rows: one slice per column per run of consecutive rows."""
        rows = sorted(self.late)
        runs: list[list[int]] = []
        for r in rows:
            if runs and r == runs[-1][-1] + 1:
                runs[-1].append(r)
            else:
                runs.append([r])
        logger.debug("rewriting %d late rows in %d runs", len(rows), len(runs))
        for run in runs:
            for column, buffer in self.buffers.items():
                buffer._write(self.ds, run[0], run[-1] + 1, [self.late[r][column] for r in run])
        self.late.clear()

    def finish(self) -> None:
        """Write everything still pending."""
        self.advance(self.n)
        if self.late:
            self._flush_late()


# ----------------------------------------------------------------------------------------------- columns
def _ensure_columns(ds: Any, plan: OntologyPlan, metas: dict[str, str]) -> list[str]:
    created = []
    for name, spec in plan.columns.items():
        what = f"{spec.kind} column from {spec.source or 'the ontology'}"
        if schema.ensure_column(ds, name, schema.annotation_dtype(spec), what):
            created.append(name)
        if spec.kind in ("radio", "checklist") and _class_names(ds, name) != list(spec.class_names):
            ds[name].metadata["class_names"] = list(spec.class_names)
    for name, kind in metas.items():
        if schema.ensure_column(ds, name, schema.meta_dtype(kind), f"{kind} metadata column"):
            created.append(name)
    return created


def _class_names(ds: Any, name: str) -> list[str] | None:
    metadata = ds[name].metadata
    return [str(c) for c in metadata["class_names"]] if "class_names" in list(metadata.keys()) else None


def _key_meta_columns(metas: dict[str, str], prefix: str) -> dict[str, str]:
    """Metadata columns filled from the row key on rows no converted row covers."""
    out = {}
    for part in ("id", "frame_number"):
        column = f"{prefix}/{part}" if prefix else part
        if column in metas:
            out[column] = part
    return out


def apply_annotations(
    ds: Any,
    converted_rows: Iterable[ConvertedRow],
    plan: OntologyPlan,
    meta_prefix: str = "lb_meta",
    generate_metadata: bool = True,
    commit_message: str | None = None,
    before_commit: Callable[[], None] | None = None,
) -> ApplyResult:
    """Rewrite every annotation (and ``lb_meta``) column of ``ds`` from the converted rows.

    Memory is bounded by `FLUSH_ROWS` rows of values (plus one converted data row) when the converted rows
    come in dataset order, whatever the dataset's length.

    Args:
        ds: A writable dataset with a ``row_key`` column (e.g. the ``labelbox`` branch of the frame dataset).
        converted_rows: `ConvertedRow` values, consumed once (a generator keeps memory bounded).
        plan: The ontology plan the rows were converted with.
        meta_prefix: Prefix of the metadata columns (``""``: bare names).
        generate_metadata: Write the ``lb_meta`` columns.
        commit_message: Commit once with this message; None leaves the changes uncommitted.
        before_commit: Called right before the commit (e.g. a free-space check); raising aborts the write.

    Returns:
        The `ApplyResult`.

    Raises:
        SchemaClashError: An existing column has another type than lb_assets writes.
        IncompatibleDatasetsError: ``ds`` has no ``row_key`` column or duplicate row keys.
    """
    n = len(ds)
    if n and schema.column_type(ds, schema.ROW_KEY) is None:
        raise IncompatibleDatasetsError("the dataset has no 'row_key' column: build it with lb_assets.store.frames")
    metas = meta_columns(plan.media_type, meta_prefix) if generate_metadata else {}
    with atomic(ds, "applying annotations"):
        index = _RowIndex(ds) if n else None
        created = _ensure_columns(ds, plan, metas)
        buffers = {name: _ColumnBuffer(name, spec.kind, True) for name, spec in plan.columns.items()}
        buffers.update({name: _ColumnBuffer(name, kind, False) for name, kind in metas.items()})
        writer = _Writer(ds, buffers, _key_meta_columns(metas, meta_prefix), FLUSH_ROWS)
        missing = data_rows = 0
        for row in converted_rows:
            data_rows += 1
            first, count = _frame_range(row)
            segments = index.segments(row.info.data_row_id, first, count) if index is not None else []
            absent = count - sum(length for _, _, length in segments)
            if absent:
                missing += absent
                logger.warning(
                    "data row %s: %d of %d rows are not in the dataset; their labels are not written "
                    "(build the frame dataset first)",
                    row.info.data_row_id,
                    absent,
                    count,
                )
            if not segments:
                continue
            columns: dict[str, list[Any]] = {name: row.values.get(name) or [None] * count for name in plan.columns}
            if metas:
                meta = row.meta(meta_prefix)
                columns.update({name: meta.get(name) or [None] * count for name in metas})
            for offset, position, length in segments:
                writer.place(position, length, {c: v[offset : offset + length] for c, v in columns.items()})
            writer.after_data_row(max(position + length for _, position, length in segments))
        writer.finish()
        commit_id = None
        if commit_message:
            verify_rows(ds, n, "annotated dataset")
            if before_commit is not None:
                before_commit()
            commit_id = commit(ds, commit_message)
    columns_written = list(buffers)
    rows_written, labeled = int(writer.matched.sum()), int(writer.labeled.sum())
    logger.info(
        "annotations: %d columns, %d of %d rows from %d data rows, %d labeled, %d missing",
        len(columns_written),
        rows_written,
        n,
        data_rows,
        labeled,
        missing,
    )
    return ApplyResult(columns_written, rows_written, labeled, commit_id, missing, data_rows, created)
