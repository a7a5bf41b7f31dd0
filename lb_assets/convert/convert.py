"""Convert one data row's labels into per-row column values (see docs/architecture.md for value shapes).

Per row (one per video frame, one per image): bbox ``float32 (K, 4)`` LTWH; point ``float32 (K, 2)``;
polygon/line ``list[float32 (N, 2)]``; mask ``bool (H, W, K)``; radio/checklist ``int32 (K,)``; text
``str``; ``None`` = nothing on that row. Choices made here:

* Masks: an ungrouped mask column has K = 1, the union of every instance of that column on the row; a
  grouped mask column has one channel per tool present on the row (ascending class id), and its
  ``<column>_labels`` column holds those class ids, ``int32 (K,)``.
* A radio nested under a tool gets one entry per object instance on the row that belongs to a tool with
  that radio, in instance order (aligned with the geometry of an ungrouped tool), ``-1`` for an instance
  without an answer. Checklist indices of all instances are concatenated. Several text answers on one row
  are joined with newlines.
* ``merge`` label policy: values of all labels are concatenated on each row.
* Geometry that cannot be drawn (NaN/inf coordinates, a box with negative width/height or wholly outside
  the frame, a polygon with fewer than 3 distinct points, a line with fewer than 2) is dropped together
  with its nested classifications and counted in ``invalid`` by reason; a box partly outside the frame
  (``media_attributes`` width/height; not clipped when unknown) is clipped to it and counted in ``clipped``
  (`lb_assets.convert.geometry.fit_geometry`). An object whose ``annotation_kind`` is unknown, or names
  another geometry than the one it carries, is skipped like an unknown tool.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lb_assets.convert.classifications import ReadResult, read_classification
from lb_assets.convert.geometry import annotation_kind_mismatch, fit_geometry, geometry_of, object_kind
from lb_assets.convert.interpolation import PlacedObject, expand_video_label
from lb_assets.convert.labels import choose_labels
from lb_assets.convert.lb_meta import meta_values
from lb_assets.convert.masks import MaskReader, MaskSource
from lb_assets.convert.ontology import FeatureRoute, OntologyPlan
from lb_assets.convert.rows import DataRowInfo, row_key
from lb_assets.errors import ConfigError, ExportRowError, MediaError, UnknownAnnotationError

logger = logging.getLogger(__name__)


@dataclass
class ConvertedRow:
    """The column values of one data row.

    Attributes:
        info: The parsed data row.
        n_rows: Rows of the data row (``frame_count`` for video, 1 for an image).
        values: Every plan column -> list of ``n_rows`` values (``None`` = nothing on that row).
        skipped: Annotations not converted, counted by feature name (unknown to the plan, of a skipped
            kind, or a mask without a `MaskSource`).
        labels_used: Labels converted.
        labels_ignored: Labels not converted (other labels under the policy, and skipped labels).
        policy: The label policy applied.
        label: The label used for metadata (``label_creator``): the chosen one, or the first under merge.
        out_of_range: Annotations on frames outside ``1..frame_count`` (not applied).
        invalid: Geometries dropped as undrawable, counted by reason (``non_finite``, ``negative_size``,
            ``too_few_points``, ``outside_frame``); one count per row (frame) a value was dropped from.
        clipped: Boxes clipped to the frame (one count per row).
        warnings: Notes on the conversion (missing keyframes, clipped segments, ...).
    """

    info: DataRowInfo
    n_rows: int
    values: dict[str, list[Any]]
    skipped: Counter = field(default_factory=Counter)
    labels_used: int = 0
    labels_ignored: int = 0
    policy: str = "latest"
    label: dict | None = None
    out_of_range: int = 0
    warnings: list[str] = field(default_factory=list)
    invalid: Counter = field(default_factory=Counter)
    clipped: int = 0

    def row_keys(self) -> list[str]:
        """``row_key`` of each row (1-based frame numbers for video, 0 for an image)."""
        if self.info.media_type == "video":
            return [row_key(self.info.data_row_id, n) for n in range(1, self.n_rows + 1)]
        return [row_key(self.info.data_row_id, 0)]

    def meta(self, prefix: str = "lb_meta") -> dict[str, list[Any]]:
        """The ``lb_meta`` values of every row (`lb_meta.meta_values` with the label used)."""
        return meta_values(self.info, self.n_rows, prefix, label=self.label)


class _Converter:
    def __init__(self, info: DataRowInfo, plan: OntologyPlan, masks: MaskSource | None, strict: bool) -> None:
        self.info = info
        self.plan = plan
        self.strict = strict
        self.masks = MaskReader(masks, info.data_row_id) if masks is not None else None
        self.parts: dict[str, dict[int, list[Any]]] = {name: {} for name in plan.columns}
        self.skipped: Counter = Counter()
        self.unknown: Counter = Counter()
        self.invalid: Counter = Counter()
        self.clipped = 0
        self.warnings: list[str] = []

    def where(self) -> str:
        return f"project {self.info.project_id}, data row {self.info.data_row_id}"

    def add(self, column: str, row: int, value: Any) -> None:
        self.parts[column].setdefault(row, []).append(value)

    def not_converted(self, name: str, known_kind: bool) -> None:
        if known_kind:
            self.skipped[name] += 1
            return
        if self.strict:
            raise UnknownAnnotationError(f"{self.where()}: annotation {name!r} is not in the ontology plan")
        self.skipped[name] += 1
        self.unknown[name] += 1

    def row_name(self, row: int) -> str:
        return f"frame {row + 1}" if self.info.media_type == "video" else "image"

    def drawable(self, kind: str, name: str, geometry: Any, row: int) -> Any:
        """The geometry fitted to the frame, or None when it cannot be drawn (counted in ``invalid``)."""
        fitted = fit_geometry(kind, geometry, self.info.width, self.info.height)
        if fitted.reason is None:
            self.clipped += int(fitted.clipped)
            return fitted.geometry
        message = f"{kind} {name!r} on {self.row_name(row)} dropped: {fitted.reason}"
        if self.strict:
            raise ExportRowError(
                f"project {self.info.project_id}: {message}",
                row_index=self.info.row_index,
                data_row_id=self.info.data_row_id,
            )
        self.invalid[fitted.reason] += 1
        self.warnings.append(message)
        return None

    def classifications(self, result: ReadResult, row: int) -> None:
        for name in result.unknown:
            self.not_converted(name, known_kind=False)
        for name in result.ignored:
            self.not_converted(name, known_kind=True)
        for cv in result.values:
            if cv.route.kind == "checklist":
                for index in cv.value:  # type: ignore[union-attr]  # a checklist's value is list[int]
                    self.add(cv.route.column, row, index)
            else:
                self.add(cv.route.column, row, cv.value)

    def object(self, placed: PlacedObject, row: int) -> None:
        obj = placed.obj
        kind = object_kind(obj)
        name = str(obj.get("name") or obj.get("feature_schema_id") or "<unnamed object>")
        route = self.plan.route(obj.get("feature_schema_id"), obj.get("name"), kind=kind, family="tool")
        if route is None or kind is None or route.kind != kind:
            skipped_kind = self.plan.is_skipped_feature(obj.get("feature_schema_id"), obj.get("name"))
            self.not_converted(name if kind else f"{name} (no geometry)", known_kind=skipped_kind)
            return
        declared = annotation_kind_mismatch(obj, kind)
        if declared is not None:
            self.not_converted(f"{name} (annotation_kind {declared})", known_kind=False)
            return
        if kind == "mask":
            if self.masks is None:
                if self.strict:
                    raise ConfigError(f"{self.where()}: mask {name!r} needs a MaskSource and none was given")
                self.skipped[f"{name} (mask, no MaskSource)"] += 1
                return
            self.add(route.column, row, (route.label_index or 0, self.masks.read(obj)))
        else:
            try:
                geometry = placed.geometry if placed.geometry is not None else geometry_of(kind, obj)
            except ValueError as exc:
                if self.strict:
                    raise ExportRowError(
                        str(exc), row_index=self.info.row_index, data_row_id=self.info.data_row_id
                    ) from exc
                self.warnings.append(str(exc))
                self.skipped[f"{name} (malformed)"] += 1
                return
            geometry = self.drawable(kind, name, geometry, row)
            if geometry is None:
                return
            self.add(route.column, row, geometry)
        self.nested(obj, route, row)

    def nested(self, obj: dict, route: FeatureRoute, row: int) -> None:
        result = ReadResult()
        for item in obj.get("classifications") or []:
            read_classification(item, self.plan, route.key, result)
        answered = {cv.route.column for cv in result.values if cv.route.kind == "radio"}
        self.classifications(result, row)
        for child in self.plan.children(route.key):
            if child.kind == "radio" and child.column not in answered:
                self.add(child.column, row, -1)

    def image(self, annotations: dict) -> None:
        objects = annotations.get("objects") or []
        if isinstance(objects, dict):
            objects = list(objects.values())
        for obj in objects:
            if isinstance(obj, dict):
                self.object(PlacedObject(obj, None, obj.get("feature_id")), 0)
        result = ReadResult()
        for item in annotations.get("classifications") or []:
            read_classification(item, self.plan, "", result)
        self.classifications(result, 0)

    def video(self, annotations: dict, n_rows: int, label_id: str) -> int:
        expansion = expand_video_label(annotations, n_rows, where=f"{self.where()}, label {label_id}")
        self.warnings.extend(expansion.warnings)
        for frame in sorted(expansion.frames):
            content = expansion.frames[frame]
            for placed in content.objects:
                self.object(placed, frame - 1)
            result = ReadResult()
            for item in content.classifications:
                read_classification(item, self.plan, "", result)
            self.classifications(result, frame - 1)
        return expansion.out_of_range

    def finish(self, n_rows: int) -> dict[str, list[Any]]:
        values: dict[str, list[Any]] = {name: [None] * n_rows for name in self.plan.columns}
        label_of = {r.column: r.label_column for r in self.plan.routes if r.label_column}
        for name, rows in self.parts.items():
            kind = self.plan.columns[name].kind
            for row, parts in rows.items():
                if kind == "mask":
                    mask, channels = self.stack_masks(name, parts)
                    values[name][row] = mask
                    if name in label_of:
                        values[label_of[name]][row] = np.asarray(channels, dtype=np.int32)
                elif kind in ("bbox", "point"):
                    width = 4 if kind == "bbox" else 2
                    values[name][row] = np.asarray(parts, dtype=np.float32).reshape(-1, width)
                elif kind in ("polygon", "line"):
                    values[name][row] = [np.asarray(p, dtype=np.float32).reshape(-1, 2) for p in parts]
                elif kind in ("radio", "checklist"):
                    if name in label_of.values():
                        continue
                    array = np.asarray(parts, dtype=np.int32)
                    values[name][row] = None if np.all(array < 0) else array
                else:
                    values[name][row] = "\n".join(str(p) for p in parts)
        return values

    def stack_masks(self, column: str, parts: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, list[int]]:
        union: dict[int, np.ndarray] = {}
        for channel, mask in parts:
            if channel in union and union[channel].shape != mask.shape:
                raise MediaError(
                    f"{self.where()}: masks of column {column!r} differ in size "
                    f"({union[channel].shape} vs {mask.shape})"
                )
            union[channel] = mask if channel not in union else np.logical_or(union[channel], mask)
        channels = sorted(union)
        shapes = {union[c].shape for c in channels}
        if len(shapes) > 1:
            raise MediaError(f"{self.where()}: masks of column {column!r} differ in size {sorted(shapes)}")
        return np.stack([union[c] for c in channels], axis=-1).astype(bool), channels


def convert_data_row(
    info: DataRowInfo,
    plan: OntologyPlan,
    policy: str = "latest",
    masks: MaskSource | None = None,
    strict: bool = False,
) -> ConvertedRow:
    """Convert the labels of one data row into column values for each of its rows.

    Args:
        info: The parsed data row (`lb_assets.convert.rows.parse_row`).
        plan: The ontology plan (`lb_assets.convert.ontology.build_plan`).
        policy: Label policy: ``"latest"``, ``"first"`` or ``"merge"`` (`lb_assets.convert.labels`).
        masks: Source of mask PNGs; without one, mask annotations are counted in ``skipped``.
        strict: Raise instead of skipping unknown features and annotation kinds, frames beyond
            ``frame_count``, masks without a source and undrawable geometry (clipping never raises).

    Returns:
        The converted row.

    Raises:
        ExportRowError: A video row has no usable ``frame_count``, or (strict) an annotation lies beyond it
            or cannot be drawn.
        UnknownAnnotationError: (strict) an annotation names a feature the plan does not know.
        MediaError: A mask could not be fetched or decoded.
        ConfigError: Unknown policy, or (strict) a mask without a `MaskSource`.
    """
    n_rows = _row_count(info)
    selection = choose_labels(info.labels, policy)
    if selection.ignored:
        logger.info(
            "project %s, data row %s: label policy %r uses %d label(s), ignores %d (%d skipped)",
            info.project_id,
            info.data_row_id,
            policy,
            len(selection.labels),
            selection.ignored,
            selection.skipped,
        )
    conv = _Converter(info, plan, masks, strict)
    out_of_range = _apply_labels(conv, info, selection.labels, n_rows)
    _report(info, conv, out_of_range, n_rows, strict)
    return ConvertedRow(
        info=info,
        n_rows=n_rows,
        values=conv.finish(n_rows),
        skipped=conv.skipped,
        labels_used=len(selection.labels),
        labels_ignored=selection.ignored,
        policy=policy,
        label=selection.labels[0] if selection.labels else None,
        out_of_range=out_of_range,
        warnings=conv.warnings,
        invalid=conv.invalid,
        clipped=conv.clipped,
    )


def _row_count(info: DataRowInfo) -> int:
    """Rows of a data row in the dataset: its ``frame_count`` (video) or 1 (image)."""
    if info.media_type != "video":
        return 1
    if info.frame_count is None or info.frame_count < 0:
        raise ExportRowError(
            f"project {info.project_id}: video has no media_attributes.frame_count",
            row_index=info.row_index,
            data_row_id=info.data_row_id,
        )
    return info.frame_count


def _apply_labels(conv: _Converter, info: DataRowInfo, labels: list[dict[str, Any]], n_rows: int) -> int:
    """Feed each chosen label's annotations to the converter; annotations on frames beyond ``n_rows``."""
    out_of_range = 0
    for label in labels:
        annotations = label.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise ExportRowError(
                f"label {label.get('id')}: annotations is not an object",
                row_index=info.row_index,
                data_row_id=info.data_row_id,
            )
        if info.media_type == "video":
            out_of_range += conv.video(annotations, n_rows, str(label.get("id")))
        else:
            conv.image(annotations)
    return out_of_range


def _report(info: DataRowInfo, conv: _Converter, out_of_range: int, n_rows: int, strict: bool) -> None:
    """Log (or, strict, refuse) what could not be applied: frames out of range, bad geometry, unknown tools."""
    if out_of_range:
        message = (
            f"project {info.project_id}, data row {info.data_row_id}: {out_of_range} annotation(s) on frames "
            f"beyond frame_count {n_rows} not applied"
        )
        if strict:
            raise ExportRowError(message, row_index=info.row_index, data_row_id=info.data_row_id)
        logger.warning(message)
    _log_geometry(info, conv)
    if conv.unknown:
        logger.warning(
            "project %s, data row %s: skipped annotations not in the ontology plan: %s",
            info.project_id,
            info.data_row_id,
            dict(conv.unknown),
        )


def _log_geometry(info: DataRowInfo, conv: _Converter) -> None:
    """One warning per data row with dropped geometry; one info line when boxes were clipped."""
    if conv.invalid:
        logger.warning(
            "project %s, data row %s: dropped %d undrawable geometr%s: %s",
            info.project_id,
            info.data_row_id,
            sum(conv.invalid.values()),
            "y" if sum(conv.invalid.values()) == 1 else "ies",
            dict(conv.invalid),
        )
    if conv.clipped:
        logger.info(
            "project %s, data row %s: clipped %d box(es) to the %sx%s frame",
            info.project_id,
            info.data_row_id,
            conv.clipped,
            info.width,
            info.height,
        )
