"""A project's workflow counts (``project.get_overview()``)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from lb_assets.labelbox.client import labelbox_errors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectOverview:
    """Data rows per workflow state of a project.

    Attributes:
        to_label: rows waiting to be labeled.
        in_review: rows in review queues (summed over queues).
        in_rework: rows in rework.
        done: rows marked Done.
        skipped: rows skipped.
        total: rows in the project.
        labeled: rows with a label.
        last_activity_at: the project's last labeling activity (ISO 8601, UTC), when Labelbox reports it;
            it moves on label edits that leave the counts unchanged.
    """

    to_label: int
    in_review: int
    in_rework: int
    done: int
    skipped: int
    total: int
    labeled: int
    last_activity_at: str | None = None

    @property
    def is_complete(self) -> bool:
        """Nothing left to label, review or rework, and at least one row done."""
        return self.to_label == 0 and self.in_review == 0 and self.in_rework == 0 and self.done > 0

    def as_dict(self) -> dict[str, Any]:
        """The counts plus ``is_complete``."""
        return dict(asdict(self), is_complete=self.is_complete)


def _count(value: Any) -> int:
    if isinstance(value, dict):  # detailed overviews give {"data": [{"name", "count"}], "total": n}
        return int(value.get("total") or 0)
    return int(value or 0)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return str(value)


def fetch_overview(client: Any, project_id: str) -> ProjectOverview:
    """The project's workflow counts.

    Raises:
        LabelboxNotFoundError: the project does not exist.
        LabelboxOperationError: any other failure.
    """
    with labelbox_errors("get_overview", project_id):
        project = client.get_project(project_id)
        sdk = project.get_overview()
    overview = ProjectOverview(
        to_label=_count(sdk.to_label),
        in_review=_count(sdk.in_review),
        in_rework=_count(sdk.in_rework),
        done=_count(sdk.done),
        skipped=_count(sdk.skipped),
        total=_count(sdk.total_data_rows),
        labeled=_count(sdk.labeled),
        last_activity_at=_iso(getattr(project, "last_activity_time", None)),
    )
    logger.debug("Project %s overview: %s", project_id, overview)
    return overview
