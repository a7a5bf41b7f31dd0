"""The completion sensor keeps its tick short when Labelbox fails or hangs: deadlines, a budget, round robin."""

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from lb_assets.definitions import REFRESH_SELECTION
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.partitions import LABELBOX_PROJECTS
from lb_assets.projects import ProjectSettings
from lb_assets.defs.sensors import (
    CALL_TIMEOUT_ENV,
    NOT_REACHED,
    TICK_BUDGET_ENV,
    PollLimits,
    evaluate_projects,
    make_labeling_completion_sensor,
    poll_overviews,
)

LOG = logging.getLogger("test")
OVERVIEW_OP = "ProjectGetOverviewPyApi"
SDK_RETRY_SECONDS = 120  # google.api_core's default deadline for the SDK's retries of HTTP 5xx


class Hanging:
    """``fetch(pid)``: pids in ``hang`` block until released, ``boom`` raises, others answer at once."""

    api_key = "secret-key"

    def __init__(self, hang: set[str] = frozenset(), boom: set[str] = frozenset()) -> None:
        self.hang, self.boom, self.release, self.calls = set(hang), set(boom), threading.Event(), []

    def get_overview(self, pid: str) -> object:
        self.calls.append(pid)
        if pid in self.boom:
            raise RuntimeError(f"{pid} failed (key secret-key)")
        if pid in self.hang:
            self.release.wait(60)
        from types import SimpleNamespace
        return SimpleNamespace(to_label=0, in_review=0, in_rework=0, done=1, skipped=0, total=1, labeled=1,
                               is_complete=True)


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    source = Hanging()
    yield source
    source.release.set()  # let abandoned threads end


def test_a_hanging_call_is_abandoned_at_its_deadline_and_frees_its_slot(hanging: Hanging) -> None:
    hanging.hang, hanging.boom = {"slow"}, {"bad"}
    started = time.monotonic()
    results, failures, late = poll_overviews(hanging.get_overview, ["slow", "bad", "ok"],
                                             PollLimits(call_timeout=0.5, tick_budget=20, workers=1))
    assert time.monotonic() - started < 5
    assert set(results) == {"ok"}  # reached after "slow" was abandoned (one worker)
    assert failures["slow"] == "overview did not answer within 0.5 s"
    assert isinstance(failures["bad"], RuntimeError)
    assert late == ["slow"]  # errors are answers; only timeouts and unreached projects go first next tick


def test_the_tick_budget_bounds_the_tick_and_late_projects_go_first_next_tick(hanging: Hanging) -> None:
    hanging.hang = {"c", "d"}
    declared = {pid: ProjectSettings(project_id=pid) for pid in ["a", "b", "c", "d", "e"]}
    started = time.monotonic()
    requests, cursor, _ = evaluate_projects(hanging, declared, [], {}, LOG,
                                            limits=PollLimits(call_timeout=0.3, tick_budget=0.5, workers=1))
    assert time.monotonic() - started < 5
    assert sorted(r.partition_key for r in requests) == ["a", "b"]
    assert cursor["skipped"] == {"c": "overview did not answer within 0.3 s",
                                 "d": "overview did not answer within the tick's time budget (0.5 s)",
                                 "e": NOT_REACHED}
    assert cursor["poll_first"] == ["c", "d", "e"]

    hanging.hang, hanging.calls = {"c"}, []  # "c" still hangs, the others answer: nobody starves behind it
    requests, cursor, _ = evaluate_projects(hanging, declared, [], json.loads(json.dumps(cursor)), LOG,
                                            limits=PollLimits(call_timeout=0.3, tick_budget=5, workers=1))
    assert hanging.calls == ["c", "d", "e", "a", "b"]  # last tick's late projects first, in order
    assert sorted(r.partition_key for r in requests) == ["d", "e"]
    assert cursor["poll_first"] == ["c"] and list(cursor["skipped"]) == ["c"]


# ------------------------------------------------------------------- the real sensor, SDK and sandbox


@pytest.fixture
def two_projects(lb_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    sb = lb_sandbox_env
    pids = []
    for n, media in enumerate(["VIDEO", "IMAGE"]):
        pid = sb.add_project(f"deadline {n}", media_type=media)
        sb.add_data_row(pid, {"data_row": {"row_data": f"https://example.invalid/{n}"}, "media_attributes": {}}, [],
                        workflow_status="DONE")
        pids.append(pid)
    path = tmp_path / "projects.yaml"
    path.write_text("projects:\n" + "".join(f"  {pid}: {{}}\n" for pid in pids))
    monkeypatch.setenv("LB_ASSETS_PROJECTS_FILE", str(path))
    monkeypatch.setenv(CALL_TIMEOUT_ENV, "2")
    monkeypatch.setenv(TICK_BUDGET_ENV, "20")
    sb.deadline_projects = pids
    return sb


def _timed_tick(instance: dg.DagsterInstance, cursor: str | None) -> tuple[dg.SensorResult, float]:
    sensor = make_labeling_completion_sensor(REFRESH_SELECTION, minimum_interval_seconds=1)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"labelbox": LabelboxResource(api_key="sandbox-key")})
    started = time.monotonic()
    result = sensor(ctx)
    elapsed = time.monotonic() - started
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(LABELBOX_PROJECTS, list(request.partition_keys))
    return result, elapsed


def test_overview_answering_http_500_does_not_stall_the_tick(two_projects, instance: dg.DagsterInstance) -> None:
    sb, pids = two_projects, two_projects.deadline_projects
    sb.fail_operation(OVERVIEW_OP, times=10_000, mode="http500")  # the SDK retries 5xx for ~120 s
    failing, elapsed = _timed_tick(instance, None)
    assert elapsed < SDK_RETRY_SECONDS / 2, elapsed
    cursor = json.loads(failing.cursor)
    for pid in pids:
        assert cursor["skipped"][pid] == "overview did not answer within 2 s"
        assert pid in failing.skip_reason.skip_message
    assert failing.run_requests == [] and cursor["poll_first"] == pids
    assert sb.operations_seen.count(OVERVIEW_OP) >= 2  # the SDK really was retrying the 500s

    sb.fail_operation(OVERVIEW_OP, times=0)  # Labelbox is back
    recovered, _ = _timed_tick(instance, failing.cursor)
    assert sorted(r.partition_key for r in recovered.run_requests) == sorted(pids)
    assert json.loads(recovered.cursor)["skipped"] == {} and json.loads(recovered.cursor)["poll_first"] == []


def test_a_slow_overview_does_not_stall_the_tick(two_projects, instance: dg.DagsterInstance) -> None:
    sb, pids = two_projects, two_projects.deadline_projects
    sb.response_delay = 5.0  # every request answers after 5 s: past the 2 s deadline (and HTTP timeout)
    slow, elapsed = _timed_tick(instance, None)
    assert elapsed < SDK_RETRY_SECONDS / 2, elapsed
    skipped = json.loads(slow.cursor)["skipped"]
    assert set(skipped) == set(pids) and slow.run_requests == []
    sb.response_delay = 0.0
    recovered, _ = _timed_tick(instance, slow.cursor)
    assert sorted(r.partition_key for r in recovered.run_requests) == sorted(pids)
