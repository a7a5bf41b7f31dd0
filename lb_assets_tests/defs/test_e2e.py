"""End to end: ``dagster dev`` on loopback, the sandbox in this process, driven through GraphQL."""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lb_assets_tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
SEL = {"repositoryLocationName": "lb_assets", "repositoryName": "__repository__"}
PROJECT_ASSETS = ["labelbox_project_export", "frame_dataset", "annotated_branch", "annotation_dataset"]

ASSET_NODES = """query($sel: RepositorySelector!) { repositoryOrError(repositorySelector: $sel) {
  __typename ... on Repository { assetNodes { assetKey { path } groupName kinds pools
    dependencyKeys { path } assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } } } }"""
ADD_PARTITION = """mutation($sel: RepositorySelector!, $key: String!) { addDynamicPartition(repositorySelector: $sel,
  partitionsDefName: "labelbox_projects", partitionKey: $key) { __typename } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } }
  ... on InvalidSubsetError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"""
MATERIALIZATION = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 1) { partition metadataEntries { label ... on TextMetadataEntry { text } } } } } }"""
SENSOR = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename ... on Sensor {
  sensorState { status ticks(limit: 5) { status cursor } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_dev(demo_env, tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = dict(os.environ, DAGSTER_HOME=str(home), LB_ASSETS_SENSOR_INTERVAL="2", DAGSTER_DISABLE_TELEMETRY="1")
    log = open(tmp_path / "dagster_dev.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        def log_tail() -> str:
            return (tmp_path / "dagster_dev.log").read_text()[-3000:]

        def serving() -> bool:
            assert proc.poll() is None, log_tail()
            try:
                return requests.get(f"{url}/server_info", timeout=2).ok
            except requests.ConnectionError:
                return False

        wait_for(serving, 60, "dagster dev to serve", details=log_tail)
        yield f"{url}/graphql"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _gql(url: str, query: str, **variables) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.mark.e2e
@pytest.mark.timeout(1200)  # generous: the deadlines inside are minutes on a busy machine
def test_ui_graph_materialization_and_sensor(demo_env, dagster_dev: str) -> None:
    url, pid = dagster_dev, demo_env.demo_projects["image"]
    nodes = _gql(url, ASSET_NODES, sel=SEL)["repositoryOrError"]["assetNodes"]
    by_name = {n["assetKey"]["path"][0]: n for n in nodes}
    assert set(PROJECT_ASSETS) <= set(by_name)
    assert {d["path"][0] for d in by_name["annotation_dataset"]["dependencyKeys"]} == {
        "labelbox_project_export", "frame_dataset"}
    assert {d["path"][0] for d in by_name["annotated_branch"]["dependencyKeys"]} == {"frame_dataset"}
    assert by_name["labelbox_project_export"]["pools"] == ["labelbox_api"]
    checks = {c["name"]: c["blocking"] for c in by_name["frame_dataset"]["assetChecksOrError"]["checks"]}
    assert checks == {"frames_match_labelbox_frame_counts": True}

    _gql(url, ADD_PARTITION, sel=SEL, key=pid)
    params = {
        "selector": {**SEL, "jobName": "__ASSET_JOB", "assetSelection": [{"path": [a]} for a in PROJECT_ASSETS]},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": pid}]},
    }
    launched = _gql(url, LAUNCH, p=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = wait_for(
        lambda: (s := _gql(url, RUN, id=run_id)["runOrError"]["status"]) in {"SUCCESS", "FAILURE", "CANCELED"} and s,
        600, "the run to finish", interval=1)  # generous: a busy 2-core machine is slow, a fast one waits nothing
    assert status == "SUCCESS"
    mat = _gql(url, MATERIALIZATION, key={"path": ["annotated_branch"]})["assetOrError"]["assetMaterializations"][0]
    assert mat["partition"] == pid
    labels = {e["label"] for e in mat["metadataEntries"]}
    assert {"deeplake/commit_id", "deeplake/branch", "deeplake/preview", "deeplake/sample_rows"} <= labels

    sensor = {**SEL, "sensorName": "labeling_completion_sensor"}
    ticks = wait_for(lambda: _gql(url, SENSOR, s=sensor)["sensorOrError"]["sensorState"]["ticks"], 30, "a sensor tick",
                     interval=1)
    assert _gql(url, SENSOR, s=sensor)["sensorOrError"]["sensorState"]["status"] == "RUNNING"
    assert any(t["cursor"] for t in ticks)
