"""A Dagster instance whose run, event log and schedule storage live in a real PostgreSQL server.

The sensor is evaluated the way ``dagster-daemon`` does it (the daemon's own sensor iteration, against the code
location served from a gRPC subprocess): its tick, cursor, dynamic partitions and requested runs land in Postgres.
Then a project is materialized through the same instance, and its run and events are read back with SQL.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import dagster as dg
import pytest

from lb_assets.cli_demo import materialize_project
from lb_assets.defs.partitions import LABELBOX_PROJECTS
from lb_assets.defs.sensors import SENSOR_NAME
from lb_assets_tests.infra.helpers import Postgres, write_home

pytestmark = pytest.mark.infra

QUEUE_YAML = """telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""


def _sensor_tick(instance: dg.DagsterInstance) -> None:
    """One iteration of the daemon's sensor loop over the ``lb_assets`` code location (gRPC subprocess)."""
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.sensor import execute_sensor_iteration

    target = ModuleTarget(module_name="lb_assets.definitions", attribute="defs", working_directory=None,
                          location_name="lb_assets")
    with create_test_daemon_workspace_context(target, instance) as context:
        entries = context.create_request_context().get_code_location_entries()
        errors = [e.load_error for e in entries.values() if e.load_error]
        assert not errors, errors
        list(execute_sensor_iteration(context, logging.getLogger("lb_assets.test.sensor_daemon"), None, None))


def test_sensor_and_materialization_on_postgres(
    infra_demo, postgres_server: Postgres, pg_database: str, tmp_path: Path
) -> None:
    from dagster._core.scheduler.instigation import TickStatus
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    home = write_home(tmp_path / "dagster_home", QUEUE_YAML + postgres_server.storage_yaml(pg_database))
    video, image = infra_demo.demo_projects["video"], infra_demo.demo_projects["image"]
    for pid in (video, image):  # labeling completes in both projects: the sensor requests both
        for drid in infra_demo.data_row_ids(pid):
            infra_demo.set_workflow_status(pid, drid, "DONE")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

        _sensor_tick(instance)

        # the tick, its cursor and the partitions it added are in Postgres
        [state] = [s for s in instance.all_instigator_state() if s.name == SENSOR_NAME]
        [tick] = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert tick.status == TickStatus.SUCCESS, tick.error
        cursor = json.loads(tick.cursor)
        assert cursor["projects"][video]["complete"] and cursor["projects"][image]["complete"]
        assert set(instance.get_dynamic_partitions(LABELBOX_PROJECTS)) >= {video, image}
        [(ticks,)] = postgres_server.query(pg_database, "SELECT count(*) FROM job_ticks WHERE selector_id = %s",
                                           (state.selector_id,))
        assert ticks == 1
        partitions = postgres_server.query(
            pg_database, "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = %s", (LABELBOX_PROJECTS,))
        assert {video, image} <= {p for (p,) in partitions}

        # the requested runs are queued in Postgres, one per project, tagged with the project
        queued = postgres_server.query(
            pg_database,
            "SELECT r.run_id, r.status, t.value FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
            "WHERE t.key = 'labelbox/project_id'")
        assert sorted(p for _, _, p in queued) == sorted([video, image])
        assert {status for _, status, _ in queued} == {"QUEUED"}
        assert set(tick.run_ids) == {run_id for run_id, _, _ in queued}

        # a materialization through the same instance: run and events in Postgres
        result = materialize_project(instance, image)
        assert result.success
        [(status,)] = postgres_server.query(pg_database, "SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        assert status == "SUCCESS"
        events = postgres_server.query(
            pg_database, "SELECT dagster_event_type, asset_key, partition FROM event_logs WHERE run_id = %s",
            (result.run_id,))
        materialized = {dg.AssetKey.from_db_string(key).to_user_string()
                        for kind, key, _ in events if kind == "ASSET_MATERIALIZATION"}
        assert materialized >= {"labelbox_project_export", "frame_dataset", "annotated_branch", "annotation_dataset"}
        assert {p for kind, _, p in events if kind == "ASSET_MATERIALIZATION"} == {image}
        kinds = {kind for kind, _, _ in events}
        assert dg.DagsterEventType.RUN_SUCCESS.value in kinds and dg.DagsterEventType.STEP_FAILURE.value not in kinds

    # a second instance object (another process would do the same) sees it all: nothing was kept locally
    with dg.DagsterInstance.from_config(str(home)) as again:
        assert again.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
        assert again.get_latest_materialization_event(dg.AssetKey("annotation_dataset")) is not None
    assert not (home / "history").exists() and not (home / "schedules").exists()  # no SQLite storage was made
    assert os.environ["LB_ASSETS_HOME"].startswith("/")
