"""Fetch a project's ontology (normalized JSON) and find its id in an export."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lb_assets.errors import LabelboxOperationError
from lb_assets.labelbox.client import labelbox_errors

logger = logging.getLogger(__name__)


def normalize_ontology(normalized: Any, ontology_id: str = "") -> dict[str, Any]:
    """A copy of an ontology's ``normalized`` JSON with ``tools`` and ``classifications`` lists.

    Raises:
        LabelboxOperationError: the value is not an ontology object.
    """
    if isinstance(normalized, (str, bytes)):
        try:
            normalized = json.loads(normalized)
        except ValueError:
            raise LabelboxOperationError("get_ontology", None, f"ontology {ontology_id} is not valid JSON") from None
    if not isinstance(normalized, dict):
        raise LabelboxOperationError("get_ontology", None, f"ontology {ontology_id} has no normalized JSON object")
    out = dict(normalized)
    for key in ("tools", "classifications"):
        value = out.get(key)
        if value is None:
            out[key] = []
        elif not isinstance(value, list):
            raise LabelboxOperationError("get_ontology", None, f"ontology {ontology_id}: {key!r} is not a list")
    return out


def fetch_ontology(client: Any, ontology_id: str) -> dict[str, Any]:
    """The ontology's normalized JSON: ``{"tools": [...], "classifications": [...], ...}``.

    Reads ``Ontology.normalized`` directly (``Ontology.tools()`` fails on legacy ``dropdown`` classifications).

    Raises:
        LabelboxNotFoundError: the ontology does not exist.
        LabelboxOperationError: any other failure.
    """
    with labelbox_errors(f"get_ontology {ontology_id}"):
        ontology = client.get_ontology(ontology_id)
        normalized = ontology.normalized
    result = normalize_ontology(normalized, ontology_id)
    logger.debug(
        "Ontology %s: %d tools, %d classifications", ontology_id, len(result["tools"]), len(result["classifications"])
    )
    return result


def ontology_id_from_export(path_or_rows: Path | str | Iterable[dict[str, Any]], project_id: str) -> str | None:
    """The first ``projects[project_id].project_details.ontology_id`` in an export (None when absent)."""
    from lb_assets.labelbox.export import iter_export_rows

    rows = iter_export_rows(Path(path_or_rows)) if isinstance(path_or_rows, (str, Path)) else path_or_rows
    for row in rows:
        block = ((row.get("projects") or {}).get(project_id) or {}) if isinstance(row, dict) else {}
        ontology_id = (block.get("project_details") or {}).get("ontology_id")
        if isinstance(ontology_id, str) and ontology_id:
            return ontology_id
    return None
