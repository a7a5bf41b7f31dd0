"""Combine a frame dataset with its separate annotation dataset.

TQL ``UNION`` stacks rows and needs identical columns, so frames and annotations are combined column-wise:
`join_query` gives the TQL ``JOIN`` on ``row_key`` (~70 ms for 100k rows per the performance baseline) for
``deeplake.query``; `combined_view` is a read-only row-by-row view for small reads; `check_compatible` checks
the seed docs' requirements (same length, same ``labelbox_meta``) plus equal row keys in order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import deeplake

from lb_assets.errors import IncompatibleDatasetsError
from lb_assets.store import schema
from lb_assets.store.atomic import read_meta
from lb_assets.store.row_keys import read_row_keys


def check_compatible(frames_ds: Any, ann_ds: Any) -> None:
    """Check that the annotation dataset lines up with the frame dataset row for row.

    Raises:
        IncompatibleDatasetsError: Lengths, ``labelbox_meta`` or row keys (in order) differ; names what.
    """
    if len(frames_ds) != len(ann_ds):
        raise IncompatibleDatasetsError(
            f"lengths differ: frame dataset has {len(frames_ds)} rows, annotation dataset {len(ann_ds)}"
        )
    frames_meta, ann_meta = read_meta(frames_ds), read_meta(ann_ds)
    if frames_meta != ann_meta:
        keys = sorted(set(frames_meta or {}) | set(ann_meta or {}))
        differ = [k for k in keys if (frames_meta or {}).get(k) != (ann_meta or {}).get(k)]
        raise IncompatibleDatasetsError(f"labelbox_meta differs in {differ or 'presence'}")
    frame_keys, ann_keys = read_row_keys(frames_ds), read_row_keys(ann_ds)
    for i, (f, a) in enumerate(zip(frame_keys, ann_keys, strict=True)):
        if f != a:
            raise IncompatibleDatasetsError(
                f"row keys differ from row {i}: frame dataset {f!r}, annotation dataset {a!r}"
            )


class CombinedView:
    """Read-only rows of a frame dataset with the annotation columns of its annotation dataset.

    ``view[i]`` is a dict of every frame column and every annotation column of row ``i``.
    """

    def __init__(self, frames_ds: Any, ann_ds: Any) -> None:
        check_compatible(frames_ds, ann_ds)
        self._frames = frames_ds
        self._ann = ann_ds
        self.frame_columns = schema.column_names(frames_ds)
        self.annotation_columns = [c for c in schema.column_names(ann_ds) if c != schema.ROW_KEY]

    @property
    def columns(self) -> list[str]:
        """Every column of the view."""
        return self.frame_columns + [c for c in self.annotation_columns if c not in self.frame_columns]

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} is out of range (0..{len(self) - 1})")
        index %= len(self)
        row = {c: self._frames[c][index] for c in self.frame_columns}
        row.update({c: self._ann[c][index] for c in self.annotation_columns if c not in row})
        return row

    def column(self, name: str) -> Any:
        """All values of one column (a bulk read)."""
        source = self._frames if name in self.frame_columns else self._ann
        return source[name][0 : len(self)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]


def combined_view(frames_ds: Any, ann_ds: Any) -> CombinedView:
    """A read-only `CombinedView` (checks compatibility first)."""
    return CombinedView(frames_ds, ann_ds)


def _quote(name: str, what: str) -> str:
    if '"' in name:
        raise IncompatibleDatasetsError(f"{what} {name!r} contains a double quote and cannot be used in TQL")
    return f'"{name}"'


def join_query(
    frames_path: str,
    ann_path: str,
    columns: Sequence[str] | None = None,
    frame_columns: Sequence[str] | None = None,
) -> str:
    """The TQL joining a frame dataset and its annotation dataset on ``row_key``.

    Args:
        frames_path: Frame dataset URL or local path.
        ann_path: Annotation dataset URL or local path.
        columns: Annotation columns to select (default: all but ``row_key``; opens the dataset to list them).
        frame_columns: Frame dataset columns to select (default: ``row_key`` and the frame/image column).

    Returns:
        A query for ``deeplake.query``; its columns keep their names (``row_key``, ``frames``, ``bbox``, ...).
    """
    if columns is None:
        columns = [c for c in schema.column_names(deeplake.open_read_only(ann_path)) if c != schema.ROW_KEY]
    if frame_columns is None:
        present = schema.column_names(deeplake.open_read_only(frames_path))
        frame_columns = [schema.ROW_KEY] + [c for c in ("frames", "image") if c in present]
    selected = [f"f.{_quote(c, 'column')} AS {_quote(c, 'column')}" for c in frame_columns]
    selected += [f"a.{_quote(c, 'column')} AS {_quote(c, 'column')}" for c in columns if c not in frame_columns]
    return (
        f"SELECT {', '.join(selected)} FROM {_quote(frames_path, 'path')} AS f "
        f"JOIN {_quote(ann_path, 'path')} AS a ON f.row_key = a.row_key"
    )
