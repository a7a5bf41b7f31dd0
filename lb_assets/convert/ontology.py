"""Ontology -> column plan: which column each Labelbox feature goes to, and how to find it from an export.

Column naming follows Deep Lake's seed integration where it is right:

* a tool -> column ``tool.name``; when its tool kind is in ``group_mapping`` every tool of that kind goes
  to the column ``group_mapping[kind]`` (grouped masks also get a ``<name>_labels`` class-id column whose
  class names are the tool names, in ontology order);
* a tool with nested classifications -> ``<name>/<name>`` for the geometry and ``<name>/<classification>``
  for each nested classification (for grouped tools ``<name>`` is the group column name);
* top-level classifications, frame-level (``scope: index``) **and global** -> their ``name`` (the seed
  drops global ones, D10);
* a classification nested under an option -> ``<parent classification column>/<nested name>``
  (the seed never registers these, D10).

Radio/checklist columns carry ``class_names`` = the option ``value``s in ontology order. Unknown tool or
classification kinds (superpixel, named-entity, edge, ...) are skipped with a warning. Two features that
land in one column with different kinds (or different class names), and names that take a reserved column,
raise `SchemaClashError` naming both (D20).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from lb_assets.errors import SchemaClashError

logger = logging.getLogger(__name__)

Kind = Literal["bbox", "polygon", "line", "point", "mask", "radio", "checklist", "text"]

#: ontology ``tool`` -> column kind
TOOL_KINDS: dict[str, str] = {
    "rectangle": "bbox",
    "polygon": "polygon",
    "line": "line",
    "point": "point",
    "raster-segmentation": "mask",
}
#: ontology classification ``type`` -> column kind
CLASSIFICATION_KINDS: dict[str, str] = {"radio": "radio", "checklist": "checklist", "text": "text"}
#: column names that the frame/annotation datasets use for themselves
RESERVED_COLUMNS: frozenset[str] = frozenset({"frames", "image", "frame_idx", "video_idx", "image_idx", "row_key"})


@dataclass(frozen=True)
class ColumnSpec:
    """One annotation column.

    Attributes:
        name: Column path (may contain ``/``).
        kind: ``bbox``, ``polygon``, ``line``, ``point``, ``mask``, ``radio``, ``checklist`` or ``text``.
        class_names: Class names of radio/checklist columns (option values in ontology order); for the
            ``<mask>_labels`` column of a grouped mask, the tool names.
        source: Which ontology feature(s) feed the column, for messages and metadata.
    """

    name: str
    kind: str
    class_names: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class OptionRoute:
    """One radio/checklist option and where its nested classifications are registered."""

    index: int
    value: str
    label: str
    feature_schema_id: str | None
    key: str


@dataclass(frozen=True)
class FeatureRoute:
    """Where one ontology feature (tool or classification, at any nesting level) goes.

    Attributes:
        column: Target column name.
        kind: Column kind.
        name: Feature name in the ontology.
        feature_schema_id: The ontology's ``featureSchemaId`` (None in some fixtures).
        family: ``"tool"`` or ``"classification"``.
        ontology_kind: The ontology's ``tool`` or classification ``type``.
        scope: ``"tool"``, ``"global"``, ``"index"`` (frame-level), ``"nested"`` (under a tool or option).
        key: Unique path of the feature in the ontology (parent key of nested features).
        options: Radio/checklist options in ontology order.
        label_column: For grouped masks, the ``<column>_labels`` column.
        label_index: For grouped masks, this tool's class id in ``label_column``.
    """

    column: str
    kind: str
    name: str
    feature_schema_id: str | None
    family: str
    ontology_kind: str
    scope: str
    key: str
    options: tuple[OptionRoute, ...] = ()
    label_column: str | None = None
    label_index: int | None = None

    def option_index(self, answer: dict) -> int | None:
        """Class index of an exported radio/checklist answer.

        Matches by ``feature_schema_id``, then ``value`` (option value), then ``name`` (option label,
        for exports without ``value``, D7), then ``name`` against the values.
        """
        fsid = answer.get("feature_schema_id")
        if fsid:
            for opt in self.options:
                if opt.feature_schema_id == fsid:
                    return opt.index
        value = answer.get("value")
        name = answer.get("name")
        for candidate, attr in ((value, "value"), (name, "label"), (name, "value"), (value, "label")):
            if candidate is None:
                continue
            for opt in self.options:
                if getattr(opt, attr) == candidate:
                    return opt.index
        return None

    def option(self, answer: dict) -> OptionRoute | None:
        """The `OptionRoute` of an exported answer, or None."""
        idx = self.option_index(answer)
        return None if idx is None else self.options[idx]


@dataclass
class OntologyPlan:
    """Columns of an ontology and the lookups from exported features to them.

    Attributes:
        columns: Column name -> spec, in ontology order.
        media_type: ``"video"`` or ``"image"``.
        routes: Every registered feature route, in ontology order.
        skipped_features: ``"<name> (<kind>)"`` of ontology features with a kind lb_assets does not convert.
    """

    columns: dict[str, ColumnSpec]
    media_type: str
    routes: list[FeatureRoute] = field(default_factory=list)
    skipped_features: list[str] = field(default_factory=list)
    _by_id: dict[str, FeatureRoute] = field(default_factory=dict, repr=False)
    _by_name: dict[tuple[str, str, str], list[FeatureRoute]] = field(default_factory=dict, repr=False)
    _skipped_ids: set[str] = field(default_factory=set, repr=False)
    _skipped_names: set[str] = field(default_factory=set, repr=False)
    _fallback_logged: bool = field(default=False, repr=False)

    def _add_route(self, route: FeatureRoute, parent: str) -> None:
        self.routes.append(route)
        if route.feature_schema_id:
            self._by_id[route.feature_schema_id] = route
        self._by_name.setdefault((parent, route.family, route.name), []).append(route)

    def route(
        self,
        feature_schema_id: str | None,
        name: str | None = None,
        kind: str | None = None,
        parent: str = "",
        family: str | None = None,
    ) -> FeatureRoute | None:
        """Find the route of an exported feature.

        Looks up by ``feature_schema_id`` first; falls back to ``name`` (+ ``kind``) under ``parent`` for
        exports whose ids don't match the ontology (logged once per plan).

        Args:
            feature_schema_id: The export's ``feature_schema_id`` (may be None).
            name: The export's ``name``.
            kind: Column kind of the exported feature when known (disambiguates same-named features).
            parent: Key of the parent feature or option (``""`` for top level).
            family: ``"tool"`` or ``"classification"`` when known.

        Returns:
            The route, or None when the feature is not in the plan.
        """
        if feature_schema_id and feature_schema_id in self._by_id:
            return self._by_id[feature_schema_id]
        if name is None:
            return None
        families = (family,) if family else ("tool", "classification")
        for fam in families:
            candidates = self._by_name.get((parent, fam, name), [])
            if kind is not None:
                candidates = [c for c in candidates if c.kind == kind]
            if candidates:
                if not self._fallback_logged:
                    self._fallback_logged = True
                    logger.info("export feature ids don't match the ontology (e.g. %r); routing by feature name", name)
                return candidates[0]
        return None

    def children(self, parent: str) -> list[FeatureRoute]:
        """Routes registered directly under ``parent`` (a tool or option key)."""
        return [r for (p, _, _), routes in self._by_name.items() if p == parent for r in routes]

    def is_skipped_feature(self, feature_schema_id: str | None, name: str | None) -> bool:
        """Whether an exported feature belongs to an ontology feature of a kind lb_assets skips."""
        if feature_schema_id and feature_schema_id in self._skipped_ids:
            return True
        return bool(name) and name in self._skipped_names

    def label_columns(self) -> dict[str, ColumnSpec]:
        """The ``<mask>_labels`` class-id columns of grouped masks."""
        return {r.label_column: self.columns[r.label_column] for r in self.routes if r.label_column}


class _Builder:
    def __init__(self, media_type: str, group_mapping: dict[str, str], meta_prefix: str) -> None:
        self.media_type = media_type
        self.group_mapping = group_mapping
        self.meta_prefix = meta_prefix
        self.columns: dict[str, ColumnSpec] = {}
        self.sources: dict[str, list[str]] = {}
        self.plan = OntologyPlan(columns={}, media_type=media_type)

    def _check_reserved(self, column: str, source: str) -> None:
        top = column.split("/", 1)[0]
        if column in RESERVED_COLUMNS or top in RESERVED_COLUMNS:
            raise SchemaClashError(f"{source} maps to column {column!r}, a reserved column name")
        if self.meta_prefix and (column == self.meta_prefix or column.startswith(self.meta_prefix + "/")):
            raise SchemaClashError(
                f"{source} maps to column {column!r}, under the {self.meta_prefix!r} metadata prefix"
            )

    def add_column(self, column: str, kind: str, class_names: tuple[str, ...], source: str) -> None:
        self._check_reserved(column, source)
        existing = self.columns.get(column)
        if existing is not None:
            if existing.kind != kind or existing.class_names != class_names:
                first = self.sources[column][0]
                raise SchemaClashError(
                    f"{first} and {source} both map to column {column!r} but differ "
                    f"({existing.kind} {list(existing.class_names)} vs {kind} {list(class_names)})"
                )
            self.sources[column].append(source)
            return
        self.columns[column] = ColumnSpec(column, kind, class_names)
        self.sources[column] = [source]

    def skip(self, name: str, kind: str, fsid: str | None) -> None:
        label = f"{name} ({kind})"
        logger.warning("ontology feature %s has a kind lb_assets does not convert; skipped", label)
        self.plan.skipped_features.append(label)
        if fsid:
            self.plan._skipped_ids.add(fsid)
        self.plan._skipped_names.add(name)

    def classification(self, cls: dict, prefix: str, parent_key: str, scope: str) -> None:
        name = str(cls.get("name") or cls.get("instructions") or "")
        ctype = str(cls.get("type") or "")
        fsid = cls.get("featureSchemaId")
        if ctype not in CLASSIFICATION_KINDS:
            self.skip(name, ctype or "untyped classification", fsid)
            return
        kind = CLASSIFICATION_KINDS[ctype]
        column = f"{prefix}/{name}" if prefix else name
        key = f"{parent_key}>{name}"
        raw_options = (cls.get("options") or []) if kind != "text" else []
        options = tuple(
            OptionRoute(
                index=i,
                value=str(o.get("value") if o.get("value") is not None else o.get("label")),
                label=str(o.get("label") if o.get("label") is not None else o.get("value")),
                feature_schema_id=o.get("featureSchemaId"),
                key=f"{key}@{i}",
            )
            for i, o in enumerate(raw_options)
        )
        class_names = tuple(o.value for o in options)
        source = f"{ctype} classification {name!r}"
        self.add_column(column, kind, class_names, source)
        route = FeatureRoute(
            column=column,
            kind=kind,
            name=name,
            feature_schema_id=fsid,
            family="classification",
            ontology_kind=ctype,
            scope=scope,
            key=key,
            options=options,
        )
        self.plan._add_route(route, parent_key)
        for opt, raw in zip(options, raw_options, strict=True):
            for nested in raw.get("options") or []:
                self.classification(nested, column, opt.key, "nested")

    def tools(self, tools: list[dict]) -> None:
        grouped_with_cls: set[str] = set()
        group_members: dict[str, list[str]] = {}
        for tool in tools:
            tkind = tool.get("tool")
            if tkind in TOOL_KINDS and tkind in self.group_mapping:
                group_members.setdefault(tkind, []).append(str(tool.get("name")))
                if tool.get("classifications"):
                    grouped_with_cls.add(tkind)
        for tkind in self.group_mapping:
            if tkind not in TOOL_KINDS:
                logger.warning("group_mapping key %r is not a tool kind lb_assets groups; ignored", tkind)
        for pos, tool in enumerate(tools):
            name = str(tool.get("name") or "")
            tkind = str(tool.get("tool") or "")
            fsid = tool.get("featureSchemaId")
            if tkind not in TOOL_KINDS:
                self.skip(name, tkind or "untyped tool", fsid)
                continue
            kind = TOOL_KINDS[tkind]
            grouped = tkind in self.group_mapping
            base = self.group_mapping[tkind] if grouped else name
            nested = tool.get("classifications") or []
            with_cls = (tkind in grouped_with_cls) if grouped else bool(nested)
            column = f"{base}/{base}" if with_cls else base
            source = f"{tkind} tool {name!r}"
            self.add_column(column, kind, (), source)
            label_column = label_index = None
            if grouped and kind == "mask":
                label_column = f"{column}_labels"
                names = tuple(group_members[tkind])
                label_index = names.index(name)
                self.add_column(label_column, "checklist", names, f"{tkind} tools grouped as {base!r}")
            key = f"tool:{pos}:{name}"
            route = FeatureRoute(
                column=column,
                kind=kind,
                name=name,
                feature_schema_id=fsid,
                family="tool",
                ontology_kind=tkind,
                scope="tool",
                key=key,
                label_column=label_column,
                label_index=label_index,
            )
            self.plan._add_route(route, "")
            for cls in nested:
                self.classification(cls, base, key, "nested")

    def finish(self) -> OntologyPlan:
        self.plan.columns = {
            name: ColumnSpec(spec.name, spec.kind, spec.class_names, "; ".join(self.sources[name]))
            for name, spec in self.columns.items()
        }
        return self.plan


def build_plan(
    normalized: dict, media_type: str, group_mapping: dict[str, str] | None = None, meta_prefix: str = "lb_meta"
) -> OntologyPlan:
    """Build the column plan of an ontology.

    Args:
        normalized: ``ontology.normalized`` (``{"tools": [...], "classifications": [...]}``).
        media_type: ``"video"`` or ``"image"`` (frame-level classifications only exist for video; on
            images they are treated as global).
        group_mapping: Tool kind (e.g. ``"raster-segmentation"``) -> column name grouping every tool of
            that kind.
        meta_prefix: Prefix of the metadata columns; no annotation column may live under it.

    Returns:
        The plan.

    Raises:
        SchemaClashError: Two features map to one column with different kinds or class names, or a
            feature takes a reserved name.
    """
    if media_type not in ("video", "image"):
        raise ValueError(f"media_type must be 'video' or 'image', got {media_type!r}")
    builder = _Builder(media_type, dict(group_mapping or {}), meta_prefix)
    builder.tools(list(normalized.get("tools") or []))
    for cls in normalized.get("classifications") or []:
        scope = str(cls.get("scope") or "global")
        if media_type == "image" or scope not in ("global", "index"):
            scope = "global"
        builder.classification(cls, "", "", scope)
    return builder.finish()
