"""The dynamic partitions of the asset graph: one partition per Labelbox project id."""

from __future__ import annotations

import dagster as dg

LABELBOX_PROJECTS = "labelbox_projects"

labelbox_projects = dg.DynamicPartitionsDefinition(name=LABELBOX_PROJECTS)


def ensure_partitions(instance: dg.DagsterInstance, project_ids: list[str] | tuple[str, ...]) -> list[str]:
    """Add the project ids that are not partitions yet; returns the ids added."""
    existing = set(instance.get_dynamic_partitions(LABELBOX_PROJECTS))
    new = [pid for pid in dict.fromkeys(project_ids) if pid not in existing]
    if new:
        instance.add_dynamic_partitions(LABELBOX_PROJECTS, new)
    return new
