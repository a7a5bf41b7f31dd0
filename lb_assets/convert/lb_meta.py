"""Metadata columns (``lb_meta/*``) with the seed's names, filled for EVERY row (D11).

Differences from the seed: ``frame_rate`` is a float column (D19); ``row_data`` is stored redacted
(no signed query string); every row gets values whether or not its data row has labels.
"""

from __future__ import annotations

import os
from typing import Any

from lb_assets.convert.rows import DataRowInfo
from lb_assets.redact import redact_url

#: meta column kinds: "text", "int32", "float64"
_COMMON: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("row_data", "text"),
    ("label_creator", "text"),
    ("width", "int32"),
    ("height", "int32"),
    ("ontology_id", "text"),
    ("project_name", "text"),
    ("dataset_name", "text"),
    ("dataset_id", "text"),
    ("global_key", "text"),
)
_VIDEO: tuple[tuple[str, str], ...] = (
    ("frame_rate", "float64"),
    ("frame_count", "int32"),
    ("frame_number", "int32"),
    ("current_frame_name", "text"),
)


def _col(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def meta_columns(media_type: str, prefix: str = "lb_meta") -> dict[str, str]:
    """Metadata column names and kinds.

    Args:
        media_type: ``"video"`` or ``"image"``.
        prefix: Column prefix (``""`` for bare names).

    Returns:
        Column name -> kind (``"text"``, ``"int32"`` or ``"float64"``), in the seed's order.
    """
    cols = {_col(prefix, f"{media_type}_name"): "text"}
    cols.update({_col(prefix, name): kind for name, kind in _COMMON})
    if media_type == "video":
        cols.update({_col(prefix, name): kind for name, kind in _VIDEO})
    return cols


def media_name(info: DataRowInfo) -> str | None:
    """The seed's media name: basename without extension of external_id, else of row_data (no query)."""
    source = info.external_id or (redact_url(info.row_data).split("?", 1)[0] if info.row_data else None)
    if not source:
        return None
    return os.path.splitext(os.path.basename(source.rstrip("/")))[0] or None


def label_creator(label: dict | None) -> str | None:
    """``label_details.created_by`` of a label, or None."""
    if not isinstance(label, dict):
        return None
    details = label.get("label_details") or {}
    creator = details.get("created_by") if isinstance(details, dict) else None
    return str(creator) if creator else None


def meta_values(
    info: DataRowInfo, n_rows: int, prefix: str = "lb_meta", label: dict | None = None
) -> dict[str, list[Any]]:
    """Metadata values of every row of one data row.

    Args:
        info: The parsed data row.
        n_rows: Rows of the data row (frame count for video, 1 for an image).
        prefix: Column prefix, as given to `meta_columns`.
        label: The label used for the annotations (for ``label_creator``); defaults to the row's first label.

    Returns:
        Column name -> list of ``n_rows`` values (None where Labelbox exported nothing).
    """
    if label is None and info.labels:
        label = info.labels[0]
    name = media_name(info)
    constant: dict[str, Any] = {
        f"{info.media_type}_name": name,
        "id": info.data_row_id,
        "row_data": redact_url(info.row_data) if info.row_data else None,
        "label_creator": label_creator(label),
        "width": info.width,
        "height": info.height,
        "ontology_id": info.ontology_id,
        "project_name": info.project_name,
        "dataset_name": info.dataset_name,
        "dataset_id": info.dataset_id,
        "global_key": info.global_key,
    }
    out = {_col(prefix, key): [value] * n_rows for key, value in constant.items()}
    if info.media_type == "video":
        out[_col(prefix, "frame_rate")] = [None if info.frame_rate is None else float(info.frame_rate)] * n_rows
        out[_col(prefix, "frame_count")] = [info.frame_count] * n_rows
        out[_col(prefix, "frame_number")] = list(range(1, n_rows + 1))
        out[_col(prefix, "current_frame_name")] = [f"{name}_{n:06d}" for n in range(1, n_rows + 1)]
    return out
