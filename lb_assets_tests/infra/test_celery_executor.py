"""The project graph run by the Celery executor: a real Redis broker, two ``dagster-celery worker`` processes.

The workers have working directories and TMPDIRs of their own and share only what a deployment shares: the
Dagster instance (PostgreSQL), the broker, the environment and ``LB_ASSETS_HOME`` (absolute). Worker A takes
the first step (the export); then it stops consuming and worker B, idle until then, takes the rest, which read
what A wrote. Every step (however the assets split into ops) must have run in a worker process, and the datasets must be complete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import deeplake
import psutil
import pytest
import yaml

from lb_assets.defs.partitions import ensure_partitions
from lb_assets.defs.resources import StorageResource
from lb_assets_tests.infra import celery_defs
from lb_assets_tests.infra.helpers import REPO, Postgres, Redis, write_home
from lb_assets_tests.polling import wait_for

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

DEADLINE = 300.0  # seconds for workers to come up / a run to finish; polled
QUEUE = "dagster"  # dagster-celery's default queue


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen
    cwd: Path
    log: Path

    def pids(self) -> set[int]:
        """The worker's process tree (dagster-celery -> celery worker -> pool processes)."""
        try:
            root = psutil.Process(self.proc.pid)
            return {root.pid, *(p.pid for p in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            return set()


def _start_worker(name: str, base: Path, config: Path, env: dict[str, str]) -> Worker:
    cwd = base / name
    (cwd / "tmp").mkdir(parents=True)
    log = base / f"{name}.log"
    worker_env = dict(env, TMPDIR=str(cwd / "tmp"))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-celery")), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(config), "-n", name, "--", "--concurrency=1", "--without-gossip", "--without-mingle"],
            cwd=cwd, env=worker_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Worker(name, proc, cwd, log)


def _stop(worker: Worker) -> None:
    """Warm shutdown: SIGTERM the celery worker (its parent `dagster-celery` then exits and is reaped here)."""
    if worker.proc.poll() is None:
        try:
            children = psutil.Process(worker.proc.pid).children()
        except psutil.NoSuchProcess:
            children = []
        for child in children:
            child.terminate()
        try:
            worker.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()


@pytest.fixture
def celery_setup(infra_demo, postgres_server: Postgres, pg_database: str, redis_server: Redis,
                 tmp_path: Path) -> Iterator[tuple[dg.DagsterInstance, dict, list[Worker], object]]:
    """A Postgres-backed instance, the executor config, and two running workers (A consuming, B idle)."""
    from celery import Celery

    home = write_home(tmp_path / "dagster_home", "telemetry:\n  enabled: false\n"
                      + postgres_server.storage_yaml(pg_database))
    run_config = {"execution": {"config": {"broker": redis_server.url(0), "backend": redis_server.url(1)}}}
    config = tmp_path / "celery_config.yaml"
    config.write_text(yaml.safe_dump(run_config))
    env = dict(os.environ, DAGSTER_HOME=str(home), PYTHONPATH=str(REPO), DAGSTER_DISABLE_TELEMETRY="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    workers = [_start_worker(n, tmp_path / "workers", config, env) for n in ("worker-a", "worker-b")]
    app = Celery("lb_assets_test", broker=redis_server.url(0), backend=redis_server.url(1))
    try:
        names: dict[str, str] = {}

        def both_answer() -> bool:
            for w in workers:
                assert w.proc.poll() is None, f"{w.name} exited:\n{w.log.read_text()[-4000:]}"
            for reply in app.control.ping(timeout=1.0) or []:
                for full in reply:
                    names[full.split("@", 1)[0]] = full
            return len(names) >= 2

        wait_for(both_answer, DEADLINE, "both workers to answer ping", interval=0,
                 details=lambda: "\n".join(w.log.read_text()[-2000:] for w in workers))
        for w in workers:
            w.name = names[w.name]
        # B waits; A takes the first task
        assert app.control.cancel_consumer(QUEUE, destination=[workers[1].name], reply=True, timeout=30)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance, run_config, workers, app
    finally:
        for w in workers:
            _stop(w)
        app.close()


def test_project_graph_on_celery_workers(infra_demo, celery_setup, postgres_server: Postgres,
                                         pg_database: str) -> None:
    instance, run_config, (worker_a, worker_b), app = celery_setup
    pid = infra_demo.demo_projects["image"]
    ensure_partitions(instance, [pid])
    job = dg.reconstructable(celery_defs.celery_project_job)

    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            with dg.execute_job(job, instance, run_config=run_config,
                                tags={"dagster/partition": pid, "labelbox/project_id": pid}) as result:
                outcome["success"] = result.success
                outcome["run_id"] = result.run_id
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    # once the first step has started (on A), A stops consuming and B starts: the other steps go to B
    def step_started() -> bool:
        assert thread.is_alive() or outcome, "run ended before any step started"
        assert not outcome.get("error"), outcome
        started = "SELECT 1 FROM event_logs WHERE dagster_event_type = 'STEP_START'"
        return bool(postgres_server.query(pg_database, started))

    wait_for(step_started, DEADLINE, "the first step to start", interval=0.05,
             details=lambda: worker_a.log.read_text()[-4000:])
    assert app.control.cancel_consumer(QUEUE, destination=[worker_a.name], reply=True, timeout=30)
    assert app.control.add_consumer(QUEUE, destination=[worker_b.name], reply=True, timeout=30)

    thread.join(timeout=DEADLINE)
    assert not thread.is_alive(), "run did not finish:\n" + worker_b.log.read_text()[-4000:]
    assert outcome.get("success") is True, (outcome, worker_a.log.read_text()[-3000:], worker_b.log.read_text()[-3000:])
    run_id = outcome["run_id"]

    # every step ran in a worker process: the export on A, all later steps on B, none in this process
    starts = {e.step_key: e.dagster_event.pid for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
    export = "labelbox_project_export"
    later = set(starts) - {export}
    assert export in starts and any(k.startswith("frame_dataset") for k in later), sorted(starts)
    assert any(k.startswith("labelbox_annotations") for k in later), sorted(starts)
    assert os.getpid() not in starts.values()
    assert starts[export] in worker_a.pids()
    assert all(starts[k] in worker_b.pids() for k in later), (starts, worker_b.pids())
    engine = [e for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
              if "in celery worker" in (e.dagster_event.message or "")]
    hosts = {e.step_key: e.dagster_event.engine_event_data.metadata["Celery worker"].value for e in engine}
    assert hosts == {export: worker_a.name} | {k: worker_b.name for k in later}

    # the datasets are complete and in LB_ASSETS_HOME, not in a worker's directory
    storage = StorageResource()
    data_rows = set(infra_demo.data_row_ids(pid))
    frames = deeplake.open_read_only(storage.frames_path(pid))
    keys = list(frames["row_key"][:])
    assert len(keys) == len(data_rows) and {k.rsplit(":", 1)[0] for k in keys} == data_rows
    assert {"main", "labelbox"} <= {str(n) for n in frames.branches.names()}
    branch = frames.branches["labelbox"].open()
    annotations = deeplake.open_read_only(storage.annotations_path(pid))
    assert list(branch["row_key"][:]) == keys and list(annotations["row_key"][:]) == keys
    for w in (worker_a, worker_b):
        assert sorted(p.name for p in w.cwd.iterdir()) == ["tmp"], f"{w.name} wrote into its working directory"
