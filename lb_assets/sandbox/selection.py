"""Strict mode: check that a response holds every field the SDK's query selected.

The SDK builds objects with ``field_values[name]`` and raises ``KeyError`` on a missing key, so a
sandbox response lacking a selected field is a sandbox bug (or SDK drift). This is a small
tokenizer-based reader of GraphQL selection sets, not a GraphQL implementation: arguments are
skipped, fragments and ``@include``/``@skip`` fields are treated as optional.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\.\.\.|[_A-Za-z][_0-9A-Za-z]*|-?\d[\d.eE+-]*|[{}()\[\]:!$@=]')

Selection = dict[str, tuple["Selection | None", bool]]


def _skip_parens(tokens: list[str], i: int) -> int:
    """Index just after the parenthesised group starting at ``tokens[i]``."""
    depth = 0
    while i < len(tokens):
        depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        i += 1
        if depth == 0:
            return i
    raise ValueError("unbalanced parentheses in query")


def _parse_selection(tokens: list[str], i: int) -> tuple[Selection, int]:
    """Parse ``{ ... }`` starting at ``tokens[i]``; returns ({key: (sub, optional)}, next index)."""
    fields: Selection = {}
    i += 1
    while tokens[i] != "}":
        if tokens[i] == "...":
            i += 1
            if tokens[i] == "on":
                i += 2
            if tokens[i] == "{":
                sub, i = _parse_selection(tokens, i)
                fields.update({key: (value[0], True) for key, value in sub.items()})
            else:
                i += 1  # named fragment spread: nothing to check
            continue
        key = tokens[i]
        i += 1
        if tokens[i] == ":":  # alias: the response key is the alias
            i += 2
        if tokens[i] == "(":
            i = _skip_parens(tokens, i)
        optional = False
        while tokens[i] == "@":
            optional, i = True, i + 2
            if tokens[i] == "(":
                i = _skip_parens(tokens, i)
        child: Selection | None = None
        if tokens[i] == "{":
            child, i = _parse_selection(tokens, i)
        fields[key] = (child, optional)
    return fields, i + 1


def parse_query_selection(query: str) -> Selection:
    """The top-level selection set of a GraphQL operation.

    Raises:
        ValueError: if the query has no selection set.
    """
    tokens = _TOKEN.findall(query)
    i = 0
    while i < len(tokens) and tokens[i] != "{":
        i = _skip_parens(tokens, i) if tokens[i] == "(" else i + 1
    if i >= len(tokens):
        raise ValueError("query has no selection set")
    selection, _ = _parse_selection(tokens, i)
    return selection


def missing_fields(query: str, data: Any) -> list[str]:
    """Dotted paths the query selects that ``data`` lacks (``[]`` marks list items)."""

    def walk(selection: Selection, value: Any, path: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, list):
            item_path = path[:-1] + "[]." if path else "[]."
            return [gap for item in value for gap in walk(selection, item, item_path)]
        if not isinstance(value, dict):
            return [path.rstrip(".") + " (not an object)"] if selection else []
        gaps: list[str] = []
        for key, (sub, optional) in selection.items():
            if key == "__typename":
                continue
            if key not in value:
                if not optional:
                    gaps.append(path + key)
            elif sub:
                gaps.extend(walk(sub, value[key], path + key + "."))
        return gaps

    return walk(parse_query_selection(query), data, "")
