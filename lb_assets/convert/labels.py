"""Choose which of a data row's labels to convert (consensus/benchmark projects export several, D9).

Policies:
* ``latest``: the label with the newest ``label_details.updated_at`` (else ``content_last_updated_at``,
  else ``created_at``); when any label lacks a timestamp, the last label in list order.
* ``first``: the earliest by the same timestamps; without them, the first in list order.
* ``merge``: every label; their objects and classifications are united (each label's annotations are
  converted and the per-row values concatenated, so K grows; text values are joined).

Labels with ``performance_details.skipped: true`` are dropped before choosing. Nothing is mixed silently:
`choose_labels` reports the policy and how many labels were ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import get_args

from lb_assets.choices import LabelPolicy
from lb_assets.errors import ConfigError

logger = logging.getLogger(__name__)

LABEL_POLICIES: tuple[str, ...] = get_args(LabelPolicy)
_TIME_KEYS = ("updated_at", "content_last_updated_at", "created_at")


@dataclass(frozen=True)
class LabelSelection:
    """The outcome of choosing labels.

    Attributes:
        labels: The labels to convert, in list order.
        policy: The policy applied.
        ignored: Labels not used (skipped ones included).
        skipped: Labels dropped because ``performance_details.skipped`` is true.
    """

    labels: list[dict] = field(default_factory=list)
    policy: str = "latest"
    ignored: int = 0
    skipped: int = 0


def is_skipped(label: dict) -> bool:
    """Whether a label is marked skipped (``performance_details.skipped``)."""
    perf = label.get("performance_details") if isinstance(label, dict) else None
    return isinstance(perf, dict) and bool(perf.get("skipped"))


def label_time(label: dict) -> datetime | None:
    """The label's last-update time (UTC), or None when the export has none."""
    details = label.get("label_details") if isinstance(label, dict) else None
    if not isinstance(details, dict):
        return None
    for key in _TIME_KEYS:
        raw = details.get(key)
        if not raw:
            continue
        try:
            stamp = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            logger.warning("label %s: unreadable %s %r", label.get("id"), key, raw)
            continue
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    return None


def choose_labels(labels: list[dict], policy: str = "latest") -> LabelSelection:
    """Apply a label policy.

    Args:
        labels: The data row's labels (``projects[pid].labels``).
        policy: ``"latest"``, ``"first"`` or ``"merge"``.

    Returns:
        The selection with counts of ignored and skipped labels.

    Raises:
        ConfigError: Unknown policy.
    """
    if policy not in LABEL_POLICIES:
        raise ConfigError(f"label policy must be one of {list(LABEL_POLICIES)}, got {policy!r}")
    usable = [label for label in labels if isinstance(label, dict) and not is_skipped(label)]
    skipped = len(labels) - len(usable)
    if policy == "merge" or len(usable) <= 1:
        chosen = usable
    else:
        times = [label_time(label) for label in usable]
        if all(t is not None for t in times):
            order = sorted(range(len(usable)), key=lambda i: (times[i], i))
            pick = order[-1] if policy == "latest" else order[0]
        else:
            pick = len(usable) - 1 if policy == "latest" else 0
        chosen = [usable[pick]]
    return LabelSelection(labels=chosen, policy=policy, ignored=len(labels) - len(chosen), skipped=skipped)


def select_labels(labels: list[dict], policy: str = "latest") -> list[dict]:
    """The labels to convert under ``policy`` (see `choose_labels` for the counts)."""
    return choose_labels(labels, policy).labels
