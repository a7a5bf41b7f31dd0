"""A frame build killed with SIGKILL midway resumes after its last commit and equals an uninterrupted build."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import deeplake

from lb_assets.definitions import build_resources
from lb_assets.defs.assets import frame_dataset, labelbox_project_export
from lb_assets.defs.exports import export_path
from lb_assets.defs.partitions import ensure_partitions
from lb_assets.defs.resources import StorageResource
from lb_assets_tests.defs.helpers import dataset_rows, materializations
from lb_assets_tests.polling import wait_for

DEADLINE = 600.0  # generous: the subprocess imports Dagster and Deep Lake on a busy 2-core machine
DAGSTER = str(Path(sys.executable).with_name("dagster"))
REPO = Path(__file__).resolve().parents[2]
ONE_PER_COMMIT = {"ops": {"frame_dataset": {"config": {"commit_every": 1}}}}


def _materialize(instance: dg.DagsterInstance, pid: str, assets: list, run_config: dict | None = None):
    result = dg.materialize(assets, instance=instance, partition_key=pid, resources=build_resources(),
                            run_config=run_config, raise_on_error=False)
    assert result.success
    return result


def _committed_stage_rows(path: str) -> int:
    """Rows committed on a shard branch of main, as another process sees them (0 when none yet)."""
    if not Path(path).exists():
        return 0
    try:
        ds = deeplake.open_read_only(path)
        stages = [n for n in ds.branches.names() if str(n).startswith("shard-main-")]
        return max((len(ds.branches[n].open()) for n in stages), default=0)
    except (RuntimeError, deeplake.DatasetUnavailableError):  # being created by the other process: look again
        return 0


def _kill_midway(pid: str, home: Path, frames_path: str, log: Path, sandbox) -> None:
    env = dict(os.environ, DAGSTER_HOME=str(home))
    sandbox.response_delay = 0.3  # slow media, so that the build is caught between commits
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [DAGSTER, "asset", "materialize", "-m", "lb_assets.definitions", "--select", "frame_dataset",
             "--partition", pid, "--config-json", json.dumps(ONE_PER_COMMIT)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        def committed() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            return _committed_stage_rows(frames_path) > 0

        wait_for(committed, DEADLINE, "the build to commit a first video", interval=0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(DEADLINE)
        sandbox.response_delay = 0.0


def test_killed_build_resumes_to_the_same_rows(demo_env, tmp_path: Path, monkeypatch) -> None:
    pid = demo_env.demo_projects["video"]
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ensure_partitions(instance, [pid])
        _materialize(instance, pid, [labelbox_project_export])
        frames_path = StorageResource().frames_path(pid)
        _kill_midway(pid, home, frames_path, tmp_path / "killed.log", demo_env)
        rows = export_path(StorageResource().export_dir(pid)).read_text().splitlines()
        total = sum(int(json.loads(r)["media_attributes"]["frame_count"]) for r in rows)
        assert 0 < _committed_stage_rows(frames_path) < total  # killed between commits

        resumed = materializations(_materialize(instance, pid, [frame_dataset], ONE_PER_COMMIT))["frame_dataset"]
        assert resumed["deeplake/data_rows_resumed"] >= 1  # finished videos were not decoded again
        assert resumed["deeplake/published"] is True
        result = dataset_rows(frames_path)
        published = deeplake.open_read_only(frames_path)
        assert list(published.branches.names()) == ["main"]

    monkeypatch.setenv("LB_ASSETS_HOME", str(tmp_path / "reference"))
    with dg.instance_for_test() as instance:
        ensure_partitions(instance, [pid])
        _materialize(instance, pid, [labelbox_project_export, frame_dataset])
    reference = dataset_rows(StorageResource().frames_path(pid))
    assert result[0] == reference[0] and len(set(result[0])) == len(result[0])  # row keys, in order, once each
    assert result[1:3] == reference[1:3]  # video_idx and frame_idx
    assert result[3] == reference[3]  # the stored JPEG bytes, frame for frame
