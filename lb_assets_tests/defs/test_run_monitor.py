"""``stalled_run_sensor``: the decision, worker liveness from /proc, and a real instance's runs and events."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.storage.tags import GRPC_INFO_TAG

from lb_assets.defs.assets import ALL_ASSETS
from lb_assets.defs.run_monitor import (
    STALLED_ENV,
    WorkerObservation,
    fail_stalled_runs,
    make_stalled_run_sensor,
    stalled_runs,
    worker_alive,
)
from lb_assets_tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
KEYS = frozenset(key for spec in ALL_ASSETS for key in spec.keys)
LOCAL = {GRPC_INFO_TAG: json.dumps({"host": "localhost", "port": 4000})}


class HealthCheckingLauncher(dg.DefaultRunLauncher):
    """A launcher that checks run workers itself (like k8s/Docker): its runs are left to Dagster."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True


def test_decision() -> None:
    now = 10_000.0
    obs = [
        WorkerObservation("dead-quiet", "STARTED", now - 200, pid=11, alive=False),
        WorkerObservation("dead-recent", "STARTED", now - 10, pid=12, alive=False),
        WorkerObservation("alive-quiet", "STARTED", now - 5000, pid=13, alive=True),
        WorkerObservation("nopid-started", "STARTED", now - 5000),
        WorkerObservation("nopid-starting", "STARTING", now - 200),
        WorkerObservation("nopid-starting-recent", "STARTING", now - 10),
    ]
    verdicts = dict(stalled_runs(obs, now, 180))
    assert set(verdicts) == {"dead-quiet", "nopid-starting"}
    assert "pid 11" in verdicts["dead-quiet"] and "200 s" in verdicts["dead-quiet"]
    assert "never reported a run worker" in verdicts["nopid-starting"]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A live process whose command line names a run id (like ``dagster api execute_run``)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "run-alive"])
    yield proc
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_worker_alive(sleeper: subprocess.Popen) -> None:
    now = time.time()
    assert worker_alive(sleeper.pid, "run-alive", now)
    assert not worker_alive(sleeper.pid, "run-other", now)  # a live process that is no run worker
    assert not worker_alive(sleeper.pid, "run-alive", now - 60)  # started after the pid was reported: reused
    assert not worker_alive(_dead_pid(), "run-alive", now)


def _run(instance: dg.DagsterInstance, run_id: str, status: dg.DagsterRunStatus, tags: dict[str, str] = LOCAL,
         keys: frozenset[dg.AssetKey] = KEYS, pid: int | None = None) -> dg.DagsterRun:
    run = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=run_id, status=status, tags=tags,
                                          asset_selection=keys))
    if pid is not None:  # what the worker logs first (dagster/_grpc/impl.py, dagster/_cli/api.py)
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    return run


def _failure_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return [r.event_log_entry.message for r in records]


def test_only_our_local_runs_with_dead_workers_fail(instance: dg.DagsterInstance, sleeper: subprocess.Popen) -> None:
    dead = _dead_pid()
    S, STARTING = dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING
    _run(instance, "dead", S, pid=dead)
    _run(instance, "run-alive", S, pid=sleeper.pid)
    _run(instance, "remote", S, tags={GRPC_INFO_TAG: json.dumps({"host": "code-server.internal", "port": 4000})},
         pid=dead)
    _run(instance, "other-location", S, keys=frozenset({dg.AssetKey("someone_elses")}), pid=dead)
    _run(instance, "in-process", S, tags={})  # no grpc launch, no worker pid (e.g. materialize() in a script)
    _run(instance, "no-pid-yet", S)  # launched here, STARTED, but no pid reported: nothing proves it dead
    _run(instance, "never-started", STARTING)

    assert fail_stalled_runs(instance, KEYS, stalled_seconds=3600) == []  # recent events: nothing yet
    failed = fail_stalled_runs(instance, KEYS, stalled_seconds=0)
    assert sorted(failed) == ["dead", "never-started"]
    for run_id in failed:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        [message] = _failure_messages(instance, run_id)
        assert "stalled_run_sensor" in message and STALLED_ENV in message
    assert f"pid {dead}" in _failure_messages(instance, "dead")[0]
    for run_id in ["run-alive", "remote", "other-location", "in-process", "no-pid-yet"]:
        assert instance.get_run_by_id(run_id).status == S, run_id
    assert fail_stalled_runs(instance, KEYS, stalled_seconds=0) == []  # finished runs are not touched again


def test_runs_of_a_health_checking_launcher_are_left_to_dagster() -> None:
    launcher = {"module": __name__, "class": "HealthCheckingLauncher"}
    with dg.instance_for_test(overrides={"run_launcher": launcher}) as instance:
        _run(instance, "dead", dg.DagsterRunStatus.STARTED, pid=_dead_pid())
        assert fail_stalled_runs(instance, KEYS, stalled_seconds=0) == []
        assert instance.get_run_by_id("dead").status == dg.DagsterRunStatus.STARTED


def test_sensor_reads_the_stalled_time_from_the_environment(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(instance, "dead", dg.DagsterRunStatus.STARTED, pid=_dead_pid())
    sensor = make_stalled_run_sensor(sorted(KEYS), minimum_interval_seconds=1)
    monkeypatch.setenv(STALLED_ENV, "3600")
    assert "no stalled run" in sensor(dg.build_sensor_context(instance=instance)).skip_message
    monkeypatch.setenv(STALLED_ENV, "1")
    def reported_failed() -> bool:
        if instance.get_run_by_id("dead").status == dg.DagsterRunStatus.FAILURE:
            return True
        sensor(dg.build_sensor_context(instance=instance))
        return False

    wait_for(reported_failed, 30, "the dead run to be reported failed")


# ------------------------------------------------------------------ end to end: the real daemon, a killed worker

E2E_ENV = {"LB_ASSETS_SENSOR_INTERVAL": "2", STALLED_ENV: "10", "DAGSTER_DISABLE_TELEMETRY": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """A VM-style deployment: a code server (its own process group, as under a supervisor) and the daemon."""

    def __init__(self, tmp_path: Path) -> None:
        self.home, self.port, self.tmp = tmp_path / "dagster_home", _free_port(), tmp_path
        self.home.mkdir()
        (self.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nrun_monitoring:\n  enabled: true\n"
                                                 # a busy machine may start runs slowly: not Dagster's timeout
                                                 "  start_timeout_seconds: 1800\n")
        self.workspace = tmp_path / "workspace.yaml"
        self.workspace.write_text(f"load_from:\n  - grpc_server:\n      host: localhost\n      port: {self.port}\n"
                                  "      location_name: lb_assets\n")
        self.env = dict(os.environ, DAGSTER_HOME=str(self.home), **E2E_ENV)
        self.procs: list[subprocess.Popen] = []
        self.code_server = self._start_code_server()
        self.daemon = self._start("daemon", "dagster-daemon", "run", "-w", str(self.workspace))

    def _start_code_server(self) -> subprocess.Popen:
        from dagster._grpc.client import DagsterGrpcClient

        proc = self._start("code_server", "dagster", "api", "grpc", "-m", "lb_assets.definitions",
                           "-h", "localhost", "-p", str(self.port), "--location-name", "lb_assets")
        client = DagsterGrpcClient(port=self.port, host="localhost")

        def serving() -> bool:
            try:
                client.ping("ready")
                return True
            except Exception:  # noqa: BLE001 - not serving yet
                assert proc.poll() is None, self.logs()
                return False

        # the daemon loads the workspace at start (then each 60 s): start it after the server
        wait_for(serving, 120, "the code server to serve", details=self.logs)
        return proc

    def _start(self, name: str, exe: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        proc = subprocess.Popen([str(Path(sys.executable).with_name(exe)), *args], cwd=REPO, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def restart_code_server(self) -> None:
        """What a supervisor (systemd, docker restart policy) does after the code server died."""
        self.code_server.wait(timeout=30)
        self.code_server = self._start_code_server()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp.glob("*.log")))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def deployment(demo_env, tmp_path: Path) -> Iterator[Deployment]:
    dep = Deployment(tmp_path)
    try:
        yield dep
    finally:
        dep.stop()


def _poll(predicate, timeout: float, what: str, dep: Deployment):
    return wait_for(predicate, timeout, what, details=dep.logs)


def _sensor_runs(instance: dg.DagsterInstance, pid: str) -> list[dg.DagsterRun]:
    return list(reversed(instance.get_runs(filters=dg.RunsFilter(tags={"labelbox/project_id": pid}))))


@pytest.mark.e2e
@pytest.mark.timeout(1200)  # generous: the deadlines inside are minutes on a busy machine
def test_a_killed_run_fails_and_the_sensor_requests_it_again(demo_env, deployment: Deployment) -> None:
    from lb_assets.defs.run_monitor import _worker_pid

    sb, pid = demo_env, demo_env.demo_projects["image"]  # trigger: progress; some rows are done already
    instance = dg.DagsterInstance.from_config(str(deployment.home))
    sb.response_delay = 1.0  # a slow Labelbox keeps the refresh running long enough to kill it
    run = _poll(lambda: next(iter(_sensor_runs(instance, pid)), None), 180, "the sensor's run", deployment)
    started = _poll(lambda: instance.get_run_by_id(run.run_id).status != dg.DagsterRunStatus.QUEUED and
                    instance.get_run_by_id(run.run_id).status not in (dg.DagsterRunStatus.NOT_STARTED,
                                                                      dg.DagsterRunStatus.STARTING)
                    and instance.get_run_by_id(run.run_id).status, 180, "the run to start", deployment)
    assert started == dg.DagsterRunStatus.STARTED  # (Dagster's own monitoring times out STARTING runs)
    worker = _worker_pid(instance, run.run_id)[0]
    assert worker is not None
    assert os.getpgid(worker) == deployment.code_server.pid  # the worker shares its code server's group

    os.killpg(os.getpgid(worker), signal.SIGKILL)  # worker, its step processes and the code server: all gone
    sb.response_delay = 0.0
    deployment.restart_code_server()

    def ended() -> dg.DagsterRunStatus | None:
        status = instance.get_run_by_id(run.run_id).status
        return status if status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS) else None

    assert _poll(ended, 240, "the killed run to be reported failed", deployment) == dg.DagsterRunStatus.FAILURE
    [message] = _failure_messages(instance, run.run_id)
    assert "stalled_run_sensor" in message and f"pid {worker}" in message

    key = run.tags["dagster/run_key"]
    again = _poll(lambda: next((r for r in _sensor_runs(instance, pid) if r.run_id != run.run_id), None), 180,
                  "the sensor to request the project again", deployment)
    assert again.tags["dagster/run_key"] == f"{key}:1"
    finished = _poll(lambda: instance.get_run_by_id(again.run_id).is_finished, 300, "the new run to end", deployment)
    assert finished and instance.get_run_by_id(again.run_id).status == dg.DagsterRunStatus.SUCCESS, deployment.logs()
