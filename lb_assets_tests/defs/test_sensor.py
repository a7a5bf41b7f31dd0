"""The completion sensor against the sandbox and a real Dagster instance, tick after tick."""

import json
from pathlib import Path

import dagster as dg
import pytest

from lb_assets.definitions import REFRESH_SELECTION
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.partitions import LABELBOX_PROJECTS
from lb_assets.defs.sensors import make_labeling_completion_sensor

UNKNOWN = "clunknownproject000000001"


def _row(n: int) -> dict:
    return {"data_row": {"row_data": f"https://example.invalid/{n}.mp4"},
            "media_attributes": {"width": 8, "height": 8, "frame_count": 2, "frame_rate": 10, "mime_type": "video/mp4"}}


@pytest.fixture
def sensor_sandbox(lb_sandbox_env):
    """A sandbox with a video project (labeling in progress) and an image project, as ``demo_projects``."""
    sb = lb_sandbox_env
    video = sb.add_project("sensor video", media_type="VIDEO")
    for n, status in enumerate(["DONE", "IN_REVIEW", "TO_LABEL"]):
        sb.add_data_row(video, _row(n), [], workflow_status=status)
    image = sb.add_project("sensor image", media_type="IMAGE")
    sb.add_data_row(image, _row(9), [], workflow_status="TO_LABEL")
    sb.demo_projects = {"video": video, "image": image}
    return sb


@pytest.fixture
def projects_file(sensor_sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    video, image = sensor_sandbox.demo_projects["video"], sensor_sandbox.demo_projects["image"]
    path = tmp_path / "projects.yaml"
    path.write_text(
        f"projects:\n  {UNKNOWN}: {{}}\n  {video}:\n    trigger: complete\n  {image}:\n    trigger: progress\n"
    )
    monkeypatch.setenv("LB_ASSETS_PROJECTS_FILE", str(path))
    return path


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = make_labeling_completion_sensor(REFRESH_SELECTION, minimum_interval_seconds=1)
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"labelbox": LabelboxResource(api_key="sandbox-key")}
    )
    result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:  # what the daemon does with them
        instance.add_dynamic_partitions(LABELBOX_PROJECTS, list(request.partition_keys))
    return result


def _complete_labeling(sb, pid: str) -> None:
    for drid in sb.data_row_ids(pid):
        sb.set_workflow_status(pid, drid, "DONE")


def _add_run(instance: dg.DagsterInstance, run_id: str, tags: dict[str, str]) -> dg.DagsterRun:
    """A run in progress, as if launched by the UI or the sensor."""
    return instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=run_id,
                                          status=dg.DagsterRunStatus.STARTED, tags=tags))


def _runs_for(result: dg.SensorResult, pid: str) -> list[dg.RunRequest]:
    return [r for r in result.run_requests or [] if r.partition_key == pid]


def test_sensor_ticks(sensor_sandbox, projects_file: Path, instance: dg.DagsterInstance) -> None:
    sb = sensor_sandbox
    video = sb.demo_projects["video"]
    not_done = [d for d in sb.data_row_ids(video) if sb.workflow_status(video, d) != "DONE"]
    assert len(not_done) == 2

    first = _tick(instance, None)
    assert _runs_for(first, video) == []  # labeling in progress
    assert set(instance.get_dynamic_partitions(LABELBOX_PROJECTS)) >= {video, UNKNOWN}
    cursor = json.loads(first.cursor)
    assert UNKNOWN in cursor["skipped"] and "sandbox-key" not in cursor["skipped"][UNKNOWN]
    assert cursor["projects"][video]["complete"] is False

    for drid in not_done:  # labeling completes
        sb.set_workflow_status(video, drid, "DONE")
    second = _tick(instance, first.cursor)
    [run] = _runs_for(second, video)
    assert run.run_key.startswith(f"{video}:") and run.tags["labelbox/project_id"] == video
    assert run.run_config == {"execution": {"config": {"in_process": {}}}}  # a small project: one process
    assert UNKNOWN in json.loads(second.cursor)["skipped"]  # still failing, still not in the way

    third = _tick(instance, second.cursor)
    assert _runs_for(third, video) == []  # same state: never twice
    assert third.skip_reason is not None or third.run_requests

    sb.set_workflow_status(video, not_done[0], "SKIPPED")  # more labeling: counts move, still complete
    fourth = _tick(instance, third.cursor)
    [again] = _runs_for(fourth, video)
    assert again.run_key != run.run_key


def test_progress_trigger(sensor_sandbox, projects_file: Path, instance: dg.DagsterInstance) -> None:
    sb = sensor_sandbox
    image = sb.demo_projects["image"]
    first = _tick(instance, None)
    done_before = json.loads(first.cursor)["projects"][image]["counts"]["done"]
    assert len(_runs_for(first, image)) == (1 if done_before else 0)
    assert _runs_for(_tick(instance, first.cursor), image) == []
    sb.set_workflow_status(image, sb.data_row_ids(image)[0], "DONE")
    moved = _tick(instance, first.cursor)
    assert json.loads(moved.cursor)["projects"][image]["counts"]["done"] == done_before + 1
    assert len(_runs_for(moved, image)) == 1


def test_label_edit_without_count_change_triggers_a_refresh(
    sensor_sandbox, projects_file: Path, instance: dg.DagsterInstance
) -> None:
    sb = sensor_sandbox
    video = sb.demo_projects["video"]
    _complete_labeling(sb, video)
    first = _tick(instance, None)
    [run] = _runs_for(first, video)
    state = json.loads(first.cursor)["projects"][video]
    assert state["last_activity_at"]
    assert _runs_for(_tick(instance, first.cursor), video) == []  # nothing moved

    drid = sb.data_row_ids(video)[0]
    sb.set_labels(video, drid, [])  # a reviewer deletes a label: counts stay, last activity moves
    edited = _tick(instance, first.cursor)
    after = json.loads(edited.cursor)["projects"][video]
    assert after["counts"] == state["counts"] and after["last_activity_at"] > state["last_activity_at"]
    [again] = _runs_for(edited, video)
    assert again.run_key != run.run_key


def test_a_project_with_a_run_in_progress_waits(sensor_sandbox, projects_file: Path, instance: dg.DagsterInstance) -> None:
    """Two runs of one project would write the same export files and datasets: the sensor waits."""
    sb = sensor_sandbox
    video = sb.demo_projects["video"]
    _complete_labeling(sb, video)
    running = _add_run(instance, "manual-run-in-progress", {"dagster/partition": video})
    waiting = _tick(instance, None)
    assert _runs_for(waiting, video) == []
    assert "in progress" in json.loads(waiting.cursor)["skipped"][video]
    instance.report_run_failed(running)  # the run ends: the complete state triggers now
    after = _tick(instance, waiting.cursor)
    assert len(_runs_for(after, video)) == 1


def test_a_failed_refresh_is_requested_again_a_bounded_number_of_times(
    sensor_sandbox, projects_file: Path, instance: dg.DagsterInstance
) -> None:
    from lb_assets.defs.sensors import MAX_ATTEMPTS

    sb = sensor_sandbox
    video = sb.demo_projects["video"]
    _complete_labeling(sb, video)
    result = _tick(instance, None)
    keys = []
    for _ in range(MAX_ATTEMPTS + 1):
        requested = _runs_for(result, video)
        if not requested:
            break
        [request] = requested
        keys.append(request.run_key)
        run = _add_run(instance, f"run-{len(keys)}", {"dagster/partition": video, "dagster/run_key": request.run_key})
        instance.report_run_failed(run)  # the refresh fails (e.g. a media outage outlasting the retries)
        result = _tick(instance, result.cursor)
    assert len(keys) == MAX_ATTEMPTS and len(set(keys)) == MAX_ATTEMPTS
    assert keys[1] == f"{keys[0]}:1"
    assert _runs_for(_tick(instance, result.cursor), video) == []  # then it waits for a new state


def test_big_projects_run_each_step_in_its_own_preloaded_process(monkeypatch) -> None:  # noqa: ANN001
    from lb_assets.defs.execution import IN_PROCESS_ENV, PRELOAD_MODULES, execution_config

    monkeypatch.setenv(IN_PROCESS_ENV, "100")
    assert execution_config(100) == {"execution": {"config": {"in_process": {}}}}
    big = execution_config(101)["execution"]["config"]["multiprocess"]["start_method"]["forkserver"]
    assert big["preload_modules"] == PRELOAD_MODULES and "lb_assets.definitions" in PRELOAD_MODULES
