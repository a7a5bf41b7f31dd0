"""Parse one Labelbox export v2 row into a `DataRowInfo` (defensive about every known variant).

Handles 2023 exports (no ``asset_type``, no ``value``), ``exif_rotation`` as str or int, ``frame_rate``
as float or int, absent ``global_key``/``external_id`` and catalog exports with several project keys
(always reads ``row["projects"][project_id]``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lb_assets.choices import MediaType
from lb_assets.errors import ExportRowError

logger = logging.getLogger(__name__)

_MEDIA_TYPES: dict[str, MediaType] = {"video": "video", "image": "image"}
_LABEL_KIND_MEDIA: dict[str, MediaType] = {"video": "video", "default": "image", "image": "image"}


@dataclass
class DataRowInfo:
    """What lb_assets needs of one exported data row (for one project).

    Attributes:
        data_row_id: Labelbox data row id.
        global_key: The data row's global key, or None when none is set.
        external_id: The data row's external id, or None when none is set.
        row_data: The asset URL or path as exported (may carry a signed query string: redact before logging).
        media_type: ``"video"`` or ``"image"``.
        width: Media width in pixels, or None.
        height: Media height in pixels, or None.
        frame_rate: Video frame rate (float, e.g. 29.97), or None.
        frame_count: Video frame count, or None.
        dataset_id: Labelbox dataset id (needs ``data_row_details``), or None.
        dataset_name: Labelbox dataset name (needs ``data_row_details``), or None.
        project_name: The project's name, or None.
        ontology_id: The project's ontology id (needs ``project_details``), or None.
        workflow_status: Workflow status (needs ``project_details``), or None.
        labels: The row's labels for this project (possibly empty).
        raw: The whole export row.
        project_id: The project this info was read for.
        row_index: Position of the row in its export (for error messages).
        exif_rotation: EXIF rotation as an int (images), or None.
    """

    data_row_id: str
    global_key: str | None
    external_id: str | None
    row_data: str
    media_type: MediaType
    width: int | None
    height: int | None
    frame_rate: float | None
    frame_count: int | None
    dataset_id: str | None
    dataset_name: str | None
    project_name: str | None
    ontology_id: str | None
    workflow_status: str | None
    labels: list[dict] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)
    project_id: str = ""
    row_index: int = 0
    exif_rotation: int | None = None

    @property
    def n_rows(self) -> int | None:
        """Rows this data row occupies in a dataset: frame_count for video, 1 for an image."""
        return self.frame_count if self.media_type == "video" else 1


def row_key(data_row_id: str, frame_number: int) -> str:
    """The key of one dataset row.

    Args:
        data_row_id: Labelbox data row id.
        frame_number: 1-based frame number for video rows, 0 for image rows.

    Returns:
        ``f"{data_row_id}:{frame_number}"``.
    """
    return f"{data_row_id}:{int(frame_number)}"


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _opt_int(value: Any, what: str, index: int, drid: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ExportRowError(f"{what} is not a number: {value!r}", row_index=index, data_row_id=drid) from exc
    if number != int(number):
        raise ExportRowError(f"{what} is not a whole number: {value!r}", row_index=index, data_row_id=drid)
    return int(number)


def _opt_float(value: Any, what: str, index: int, drid: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ExportRowError(f"{what} is not a number: {value!r}", row_index=index, data_row_id=drid) from exc


def _media_type(media: dict, labels: list[dict], default: str | None) -> MediaType | None:
    asset_type = _MEDIA_TYPES.get(str(media.get("asset_type") or "").lower())
    if asset_type is not None:
        return asset_type
    mime = str(media.get("mime_type") or "").lower()
    for prefix, kind in _MEDIA_TYPES.items():
        if mime.startswith(prefix + "/"):
            return kind
    for label in labels:
        label_media = (
            _LABEL_KIND_MEDIA.get(str(label.get("label_kind") or "").lower()) if isinstance(label, dict) else None
        )
        if label_media:
            return label_media
    return _MEDIA_TYPES.get(default or "")


def _data_row(row: Any, index: int) -> tuple[dict[str, Any], str]:
    """The row's ``data_row`` object and its id."""
    if not isinstance(row, dict):
        raise ExportRowError(f"expected a JSON object, got {type(row).__name__}", row_index=index)
    data_row = row.get("data_row")
    if not isinstance(data_row, dict) or not data_row.get("id"):
        raise ExportRowError("no data_row.id", row_index=index)
    return data_row, str(data_row["id"])


def _project_block(row: dict[str, Any], project_id: str, index: int, drid: str) -> tuple[dict[str, Any], list[Any]]:
    """The row's ``projects[project_id]`` object and its labels."""
    projects = row.get("projects")
    if not isinstance(projects, dict) or project_id not in projects:
        have = sorted(projects) if isinstance(projects, dict) else []
        raise ExportRowError(
            f"no entry for project {project_id} in 'projects' (has {have})", row_index=index, data_row_id=drid
        )
    project = projects[project_id] or {}
    if not isinstance(project, dict):
        raise ExportRowError(f"projects[{project_id}] is not an object", row_index=index, data_row_id=drid)
    labels = project.get("labels") or []
    if not isinstance(labels, list):
        raise ExportRowError(f"projects[{project_id}].labels is not a list", row_index=index, data_row_id=drid)
    return project, labels


def parse_row(row: dict, project_id: str, index: int, default_media_type: str | None = None) -> DataRowInfo:
    """Parse one export v2 row for one project.

    The media type comes from ``media_attributes.asset_type``, else ``mime_type``, else the labels'
    ``label_kind``, else ``default_media_type``.

    Args:
        row: One decoded NDJSON line of a project export.
        project_id: The project whose labels to read (``row["projects"][project_id]``).
        index: Position of the row in the export (named in errors).
        default_media_type: Media type to use when the row tells none (e.g. the project's); a value other
            than ``video`` or ``image`` counts as none.

    Returns:
        The parsed `DataRowInfo`.

    Raises:
        ExportRowError: The row is malformed, lacks the project, or its media type cannot be told.
    """
    data_row, drid = _data_row(row, index)
    project, labels = _project_block(row, project_id, index, drid)
    media = row.get("media_attributes") or {}
    if not isinstance(media, dict):
        raise ExportRowError("media_attributes is not an object", row_index=index, data_row_id=drid)
    media_type = _media_type(media, labels, default_media_type)
    if media_type is None:
        raise ExportRowError(
            "cannot tell the media type (no asset_type, mime_type or label_kind, and no default given)",
            row_index=index,
            data_row_id=drid,
        )
    details = data_row.get("details") or {}
    project_details = project.get("project_details") or {}
    row_data = data_row.get("row_data")
    if row_data is None:
        logger.warning("export row %d, data row %s: no row_data", index, drid)
    return DataRowInfo(
        data_row_id=drid,
        global_key=_opt_str(data_row.get("global_key")),
        external_id=_opt_str(data_row.get("external_id")),
        row_data="" if row_data is None else str(row_data),
        media_type=media_type,
        width=_opt_int(media.get("width"), "media_attributes.width", index, drid),
        height=_opt_int(media.get("height"), "media_attributes.height", index, drid),
        frame_rate=_opt_float(media.get("frame_rate"), "media_attributes.frame_rate", index, drid),
        frame_count=_opt_int(media.get("frame_count"), "media_attributes.frame_count", index, drid),
        dataset_id=_opt_str(details.get("dataset_id")),
        dataset_name=_opt_str(details.get("dataset_name")),
        project_name=_opt_str(project.get("name")),
        ontology_id=_opt_str(project_details.get("ontology_id")),
        workflow_status=_opt_str(project_details.get("workflow_status")),
        labels=labels,
        raw=row,
        project_id=project_id,
        row_index=index,
        exif_rotation=_opt_int(media.get("exif_rotation"), "media_attributes.exif_rotation", index, drid),
    )
