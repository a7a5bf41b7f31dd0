"""lb_assets.convert.labels: label policies for several labels per row (D9, spec 10.3)."""

from __future__ import annotations

import pytest

from lb_assets.convert.labels import choose_labels, select_labels
from lb_assets.errors import ConfigError
from lb_assets_tests.convert.helpers import label


def _ids(labels: list[dict]) -> list[str]:
    return [lb["id"] for lb in labels]


def test_latest_and_first_by_updated_at() -> None:
    labels = [label({}, "b", "2024-05-02T00:00:00+00:00"), label({}, "a", "2024-05-01T00:00:00Z"),
              label({}, "c", "2024-05-03T00:00:00")]
    assert _ids(select_labels(labels, "latest")) == ["c"]
    assert _ids(select_labels(labels, "first")) == ["a"]
    sel = choose_labels(labels, "latest")
    assert (sel.policy, sel.ignored, sel.skipped) == ("latest", 2, 0)


def test_list_order_without_timestamps() -> None:
    labels = [label({}, "x"), label({}, "y"), label({}, "z")]
    assert _ids(select_labels(labels, "latest")) == ["z"]
    assert _ids(select_labels(labels, "first")) == ["x"]


def test_merge_keeps_all_and_skipped_are_dropped() -> None:
    labels = [label({}, "x", skipped=False), label({}, "y", skipped=True), label({}, "z")]
    sel = choose_labels(labels, "merge")
    assert _ids(sel.labels) == ["x", "z"] and sel.ignored == 1 and sel.skipped == 1
    assert _ids(select_labels(labels, "latest")) == ["z"]


def test_only_skipped_labels_leave_nothing() -> None:
    sel = choose_labels([label({}, "s", skipped=True)], "latest")
    assert sel.labels == [] and sel.ignored == 1


def test_unknown_policy() -> None:
    with pytest.raises(ConfigError, match="label policy"):
        choose_labels([], "best")
