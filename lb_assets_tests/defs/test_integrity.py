"""Data integrity through Dagster: two runs at once, a failed blocking check, a damaged dataset and its repair."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import deeplake

from lb_assets.cli_demo import materialize_project
from lb_assets.definitions import build_resources
from lb_assets.defs.annotation_assets import labelbox_annotations
from lb_assets.defs.assets import PROJECT_ASSETS, frame_dataset
from lb_assets.defs.exports import export_path
from lb_assets.defs.partitions import ensure_partitions
from lb_assets.defs.resources import StorageResource
from lb_assets.store import lease
from lb_assets_tests.defs.helpers import checks, materializations
from lb_assets_tests.polling import wait_for

DEADLINE = 600.0  # generous: subprocesses import Dagster and Deep Lake on a busy 2-core machine
DAGSTER = str(Path(sys.executable).with_name("dagster"))
REPO = Path(__file__).resolve().parents[2]


def _materialize(instance: dg.DagsterInstance, pid: str, assets: list, run_config: dict | None = None):
    return dg.materialize(assets, instance=instance, partition_key=pid, resources=build_resources(),
                          run_config=run_config, raise_on_error=False, selection=assets)


def _retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)


def _start(asset: str, pid: str, home: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, DAGSTER_HOME=str(home))
    with open(log, "wb") as out:
        return subprocess.Popen(
            [DAGSTER, "asset", "materialize", "-m", "lb_assets.definitions", "--select", asset, "--partition", pid],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _wait_all(procs: list[subprocess.Popen], logs: list[Path]) -> None:
    for proc, log in zip(procs, logs):
        try:
            code = proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert code == 0, log.read_text()[-3000:]


def _waiting_runs(instance: dg.DagsterInstance, what: str) -> int:
    waiting = 0
    for run in instance.get_runs():
        if any(f"Waiting for {what}" in (e.message or "") for e in instance.all_logs(run.run_id)):
            waiting += 1
    return waiting


def test_two_runs_at_once_write_each_row_once(demo_env, tmp_path: Path) -> None:
    """Two `dagster asset materialize` processes of one partition: exports and frames are written once."""
    pid = demo_env.demo_projects["video"]
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    storage = StorageResource()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ensure_partitions(instance, [pid])

        logs = [tmp_path / f"export-{i}.log" for i in range(2)]
        _wait_all([_start("labelbox_project_export", pid, home, log) for log in logs], logs)
        rows = [json.loads(line) for line in export_path(storage.export_dir(pid)).read_text().splitlines()]
        assert sorted(r["data_row"]["id"] for r in rows) == sorted(demo_env.data_row_ids(pid))
        assert not list(storage.export_dir(pid).glob("*.tmp")) and not list(storage.export_dir(pid).glob(".*.ndjson"))

        # hold the frame dataset's lease until both runs wait for it, so that they certainly overlap
        logs = [tmp_path / f"frames-{i}.log" for i in range(2)]
        with lease.hold(storage.lease_dir(pid), "frames@main", owner="the-test"):
            procs = [_start("frame_dataset", pid, home, log) for log in logs]
            def both_waiting() -> bool:
                assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs]
                return _waiting_runs(instance, "frames@main") >= 2

            wait_for(both_waiting, DEADLINE, "the two runs to wait for the lease", interval=1.0)
        _wait_all(procs, logs)

    frames = deeplake.open_read_only(storage.frames_path(pid))
    keys = [str(k) for k in frames["row_key"][:]]
    expected = sum(int(r["media_attributes"]["frame_count"]) for r in rows)
    assert len(keys) == len(set(keys)) == expected
    assert list(frames.branches.names()) == ["main"]  # staging branches cleaned up


def test_failed_blocking_check_leaves_main_as_it_was(demo_env, instance: dg.DagsterInstance) -> None:
    pid = demo_env.demo_projects["video"]
    ensure_partitions(instance, [pid])
    assert materialize_project(instance, pid).success
    storage = StorageResource()
    file = export_path(storage.export_dir(pid))
    full = file.read_text().splitlines()
    rows = [json.loads(line) for line in full]

    # start over with one data row fewer, then let the export say Labelbox counts another frame for an old row
    frames_path = Path(storage.frames_path(pid))
    subprocess.run(["rm", "-rf", str(frames_path)], check=True)
    file.write_text("\n".join(full[1:]) + "\n")
    assert _materialize(instance, pid, [frame_dataset]).success
    before = deeplake.open_read_only(str(frames_path))
    version, keys = before.version, list(before["row_key"][:])
    rows[1]["media_attributes"]["frame_count"] += 1
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    result = _materialize(instance, pid, [frame_dataset])
    assert checks(result) == {"frames_match_labelbox_frame_counts": False}
    evaluation = result.get_asset_check_evaluations()[0]
    stage = evaluation.metadata["deeplake/staging_branch"].value
    after = deeplake.open_read_only(str(frames_path))
    assert after.version == version and list(after["row_key"][:]) == keys  # nothing published
    assert stage in after.branches.names()  # the audited stage is kept for inspection
    staged = after.branches[stage].open()
    assert len(staged) > len(keys)
    assert materializations(result)["frame_dataset"]["deeplake/published"] is False


def test_damaged_dataset_fails_at_once_and_repair_rebuilds_it(demo_env, instance: dg.DagsterInstance) -> None:
    pid = demo_env.demo_projects["image"]
    assert materialize_project(instance, pid).success
    storage = StorageResource()
    path = Path(storage.frames_path(pid))
    good = deeplake.open_read_only(str(path))
    keys, main_id = list(good["row_key"][:]), good.branches["main"].id
    (path / "_deeplake_log" / str(main_id) / "next_base").write_bytes(b"")  # what a full disk left behind

    result = _materialize(instance, pid, [frame_dataset])
    assert not result.success and _retries(result) == 0
    text = _failure_text(result)
    assert "StorageWriteError" in text and str(path) in text and "repair: true" in text

    config = {"ops": {"frame_dataset": {"config": {"repair": True}}}}
    repaired = _materialize(instance, pid, [frame_dataset], run_config=config)
    assert repaired.success and checks(repaired) == {"frames_match_labelbox_frame_counts": True}
    fresh = deeplake.open_read_only(str(path))
    assert list(fresh["row_key"][:]) == keys
    aside = [p for p in path.parent.iterdir() if p.name.startswith("frames.damaged-")]
    assert len(aside) == 1 and (aside[0] / "_deeplake_log").is_dir()
    assert _materialize(instance, pid, [labelbox_annotations]).success


def test_all_assets_publish_and_leave_no_staging_branches(demo_env, instance: dg.DagsterInstance) -> None:
    pid = demo_env.demo_projects["image"]
    assert materialize_project(instance, pid).success
    assert _materialize(instance, pid, PROJECT_ASSETS).success  # a refresh publishes again
    storage = StorageResource()
    frames = deeplake.open_read_only(storage.frames_path(pid))
    ann = deeplake.open_read_only(storage.annotations_path(pid))
    assert sorted(frames.branches.names()) == ["labelbox", "main"] and list(ann.branches.names()) == ["main"]
    assert len(frames.branches["labelbox"].open()) == len(frames) == len(ann)
