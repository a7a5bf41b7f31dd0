"""The completion sensor's decision logic with a fake overview source (no Labelbox, no instance)."""

import json
import logging
from types import SimpleNamespace

from lb_assets.projects import ProjectSettings
from lb_assets.defs.sensors import evaluate_projects
from lb_assets.errors import LabelboxNotFoundError

LOG = logging.getLogger("test")


def overview(to_label: int = 0, in_review: int = 0, in_rework: int = 0, done: int = 0) -> SimpleNamespace:
    total = to_label + in_review + in_rework + done
    complete = to_label == 0 and in_review == 0 and in_rework == 0 and done > 0
    return SimpleNamespace(to_label=to_label, in_review=in_review, in_rework=in_rework, done=done, skipped=0,
                           total=total, labeled=done + in_review, is_complete=complete)


class FakeOverviews:
    """Overviews per project id; unknown ids raise like the resource does."""

    api_key = "secret-key"

    def __init__(self, **states: SimpleNamespace) -> None:
        self.states = states

    def get_overview(self, project_id: str) -> SimpleNamespace:
        if project_id not in self.states:
            raise LabelboxNotFoundError("get_overview", project_id, "project not found (key secret-key)")
        return self.states[project_id]


def declared(*ids: str, trigger: str = "complete") -> dict[str, ProjectSettings]:
    return {pid: ProjectSettings(project_id=pid, trigger=trigger) for pid in ids}


def tick(source: FakeOverviews, projects: dict[str, ProjectSettings], existing: list[str], cursor: dict):
    requests, new_cursor, new_parts = evaluate_projects(source, projects, existing, cursor, LOG)
    json.dumps(new_cursor)  # the cursor must stay JSON
    return requests, new_cursor, new_parts


def test_complete_trigger_fires_once_per_state() -> None:
    source = FakeOverviews(p1=overview(to_label=1, done=2))
    requests, cursor, new_parts = tick(source, declared("p1"), [], {})
    assert requests == [] and new_parts == ["p1"]
    assert cursor["projects"]["p1"]["counts"]["to_label"] == 1

    source.states["p1"] = overview(done=3)
    requests, cursor, _ = tick(source, declared("p1"), ["p1"], cursor)
    assert [(r.partition_key, r.tags["labelbox/project_id"]) for r in requests] == [("p1", "p1")]
    assert requests[0].run_key == f"p1:{cursor['projects']['p1']['state']}"

    assert tick(source, declared("p1"), ["p1"], cursor)[0] == []  # same state: no second run

    source.states["p1"] = overview(done=4)  # more labeling (a data row added and done)
    requests, cursor, _ = tick(source, declared("p1"), ["p1"], cursor)
    assert len(requests) == 1 and requests[0].run_key.endswith(cursor["projects"]["p1"]["state"])


def test_progress_trigger_fires_when_done_moves() -> None:
    source = FakeOverviews(p1=overview(to_label=3, done=1))
    requests, cursor, _ = tick(source, declared("p1", trigger="progress"), ["p1"], {})
    assert len(requests) == 1
    assert tick(source, declared("p1", trigger="progress"), ["p1"], cursor)[0] == []
    source.states["p1"] = overview(to_label=2, done=2)
    assert len(tick(source, declared("p1", trigger="progress"), ["p1"], cursor)[0]) == 1


def test_a_failing_project_is_skipped_and_the_others_proceed() -> None:
    source = FakeOverviews(p2=overview(done=1))
    requests, cursor, new_parts = tick(source, declared("missing", "p2"), [], {})
    assert [r.partition_key for r in requests] == ["p2"]
    assert new_parts == ["missing", "p2"]
    reason = cursor["skipped"]["missing"]
    assert "LabelboxNotFoundError" in reason and "secret-key" not in reason


def test_existing_partitions_are_watched_too() -> None:
    source = FakeOverviews(uploaded=overview(done=5))
    requests, _, new_parts = tick(source, {}, ["uploaded"], {})
    assert [r.partition_key for r in requests] == ["uploaded"] and new_parts == []
