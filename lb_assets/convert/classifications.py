"""Exported classifications -> class indices / text, walking nested classifications recursively.

radio: ``radio_answer`` -> option index (matched by id, ``value``, or ``name`` when ``value`` is absent, D7);
checklist: ``checklist_answers`` -> option indices; text: ``text_answer.content``. Classifications nested
under an option (``radio_answer.classifications``, ``checklist_answers[k].classifications``) are walked too
(D10; the seed never reaches them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lb_assets.convert.ontology import FeatureRoute, OntologyPlan

ANSWER_KEYS: dict[str, str] = {"radio_answer": "radio", "checklist_answers": "checklist", "text_answer": "text"}


@dataclass(frozen=True)
class ClassificationValue:
    """One classification answer routed to its column.

    Attributes:
        route: The classification's route.
        value: Option index (radio), option indices (checklist) or text.
    """

    route: FeatureRoute
    value: int | list[int] | str


@dataclass
class ReadResult:
    """Values read from one classification (nested ones included) and what could not be routed."""

    values: list[ClassificationValue] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def classification_kind(item: dict) -> str | None:
    """``radio``/``checklist``/``text`` from the answer key of an exported classification."""
    for key, kind in ANSWER_KEYS.items():
        if key in item:
            return kind
    return None


def _label(item: dict) -> str:
    return str(item.get("name") or item.get("value") or item.get("feature_schema_id") or "<unnamed>")


def read_classification(item: dict, plan: OntologyPlan, parent: str = "", out: ReadResult | None = None) -> ReadResult:
    """Route one exported classification (and those nested under its answers).

    Args:
        item: The exported classification (``{"name", "feature_schema_id", "radio_answer"|...}``).
        plan: The ontology plan.
        parent: Key of the parent tool or option route (``""`` for top level).
        out: Result to append to (one is created when None).

    Returns:
        The values found; ``unknown`` names features not in the plan, ``ignored`` those of skipped kinds.
    """
    out = out if out is not None else ReadResult()
    if not isinstance(item, dict):
        out.unknown.append(f"<malformed classification {type(item).__name__}>")
        return out
    kind = classification_kind(item)
    name = item.get("name")
    route = plan.route(item.get("feature_schema_id"), name, kind=kind, parent=parent, family="classification")
    if route is None or kind is None or route.kind != kind:
        if plan.is_skipped_feature(item.get("feature_schema_id"), name):
            out.ignored.append(_label(item))
        else:
            out.unknown.append(_label(item) if kind else f"{_label(item)} (no answer)")
        return out
    if kind == "text":
        answer = item.get("text_answer") or {}
        content = answer.get("content") if isinstance(answer, dict) else None
        if content is not None:
            out.values.append(ClassificationValue(route, str(content)))
        return out
    answers = item.get("radio_answer") if kind == "radio" else item.get("checklist_answers")
    if kind == "radio":
        answers = [answers] if isinstance(answers, dict) else []
    indices: list[int] = []
    for answer in answers or []:
        if not isinstance(answer, dict):
            continue
        option = route.option(answer)
        if option is None:
            out.unknown.append(f"{route.name}: option {_label(answer)}")
            continue
        indices.append(option.index)
        for nested in answer.get("classifications") or []:
            read_classification(nested, plan, option.key, out)
    if kind == "radio" and indices:
        out.values.append(ClassificationValue(route, indices[0]))
    elif kind == "checklist" and indices:
        out.values.append(ClassificationValue(route, indices))
    return out
