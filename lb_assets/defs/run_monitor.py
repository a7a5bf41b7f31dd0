"""``stalled_run_sensor``: a run whose worker process died is reported failed, so its project is not blocked.

Dagster's run monitoring notices dead run workers only where the run launcher can check them (k8s, Docker:
``supports_check_run_worker_health``). With the default launcher (``dagster dev``, VM deployments) a run
whose worker and code server were killed (``kill -9`` of the process group, OOM, a host restart) stays
STARTED for ever, and ``labeling_completion_sensor`` waits for it for ever. This sensor checks our runs
(STARTING/STARTED runs of this code location, or of its assets) launched on this host:

* the worker's pid comes from the run's ENGINE_EVENT "Started process for run (pid: N)";
* the worker is alive when ``os.kill(pid, 0)`` succeeds, it is no zombie, it started before it reported
  its pid (else the pid was reused) and its command line is a Dagster run worker's;
* a run whose worker is gone and which logged nothing for ``$LB_ASSETS_STALLED_RUN_SECONDS`` (default 180)
  is reported failed with the reason in its run log. A STARTING run that never reported a worker is failed
  after the same quiet time; a STARTED run without a known worker (e.g. executed in process) is left alone.
"""

# No `from __future__ import annotations`: Dagster resolves the sensor's parameters from its annotations.

import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import dagster as dg
from dagster._core.storage.tags import GRPC_INFO_TAG

from lb_assets.defs.sensors import sensor_interval

logger = logging.getLogger(__name__)

SENSOR_NAME = "stalled_run_sensor"
STALLED_ENV = "LB_ASSETS_STALLED_RUN_SECONDS"
DEFAULT_STALLED_SECONDS = 180.0
PID_EVENT_PREFIX = "Started process for run (pid: "
WORKER_MARKERS = ("dagster", "spawn_main")  # `dagster api execute_run ...`, the code server's spawned worker
START_SLACK_SECONDS = 2.0  # /proc start times are coarse (clock ticks, integer boot time)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", ""})
_WATCHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def stalled_run_seconds() -> float:
    """Seconds a run without a live worker may stay silent: ``$LB_ASSETS_STALLED_RUN_SECONDS`` or 180."""
    try:
        return max(1.0, float(os.environ.get(STALLED_ENV, DEFAULT_STALLED_SECONDS)))
    except ValueError:
        return DEFAULT_STALLED_SECONDS


@dataclass(frozen=True)
class WorkerObservation:
    """What is known about one in-progress run's worker.

    Attributes:
        run_id: the run.
        status: ``"STARTING"`` or ``"STARTED"``.
        last_event_at: Unix time of the run's newest event (or of its creation).
        pid: the worker's pid from its "Started process" event, if any.
        alive: whether that worker process still runs; None when unknown (no pid).
    """

    run_id: str
    status: str
    last_event_at: float
    pid: Optional[int] = None
    alive: Optional[bool] = None


def stalled_runs(
    observations: Iterable[WorkerObservation], now: float, stalled_seconds: float
) -> list[tuple[str, str]]:
    """The decision (pure): ``(run_id, reason)`` for each run to report failed.

    A run with a live worker, or one that logged something within ``stalled_seconds``, is never failed.
    """
    verdicts = []
    for obs in observations:
        quiet = now - obs.last_event_at
        if obs.alive or quiet < stalled_seconds:
            continue
        if obs.alive is False:
            reason = f"its run worker process (pid {obs.pid}) is gone"
        elif obs.status == dg.DagsterRunStatus.STARTING.value:
            reason = "it never reported a run worker process"
        else:
            continue  # STARTED without a known worker: nothing proves it dead
        verdicts.append(
            (
                obs.run_id,
                f"{SENSOR_NAME}: run {obs.run_id} marked failed: {reason} and it logged "
                f"nothing for {quiet:.0f} s (limit {stalled_seconds:g} s, "
                f"${STALLED_ENV}); the worker was killed or crashed",
            )
        )
    return verdicts


def worker_alive(pid: int, run_id: str, reported_at: float) -> bool:
    """Whether process ``pid`` is still the worker of ``run_id`` that reported its pid at ``reported_at``.

    Without ``/proc`` (not Linux) a process that exists counts as alive: never fail a live run.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self/stat").exists():
        return True
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False  # vanished meanwhile
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):
        return False
    started = _process_start_time(int(fields[19]))
    if started is not None and started > reported_at + START_SLACK_SECONDS:
        return False  # the pid was reused by a newer process
    return run_id in cmdline or any(marker in cmdline for marker in WORKER_MARKERS)


def _process_start_time(start_ticks: int) -> Optional[float]:
    """Unix time a process started, from its ``/proc/<pid>/stat`` start time (clock ticks since boot)."""
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def launched_here(run: dg.DagsterRun) -> bool:
    """Whether the default launcher started ``run`` through a code server on this host."""
    raw = run.tags.get(GRPC_INFO_TAG)
    if not raw:
        return False
    try:
        host = str(json.loads(raw).get("host") or "")
    except (ValueError, AttributeError):
        return False
    return host in LOCAL_HOSTS or host in {socket.gethostname(), socket.getfqdn()}


def observe(instance: dg.DagsterInstance, run: dg.DagsterRun) -> WorkerObservation:
    """The run's worker pid and liveness and its newest event's time, read from the instance and /proc."""
    newest = instance.get_records_for_run(run.run_id, ascending=False, limit=1).records
    record = instance.get_run_record_by_id(run.run_id)
    last = newest[0].timestamp if newest else (record.create_timestamp.timestamp() if record else time.time())
    pid, reported_at = _worker_pid(instance, run.run_id)
    alive = None if pid is None else worker_alive(pid, run.run_id, reported_at)
    return WorkerObservation(run.run_id, run.status.value, last, pid, alive)


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[Optional[int], float]:
    """The pid from the run's newest "Started process for run" engine event, and that event's time."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False, limit=1000
    ).records
    for rec in records:
        entry = rec.event_log_entry
        if not (entry.message or "").startswith(PID_EVENT_PREFIX) or entry.dagster_event is None:
            continue
        metadata = getattr(entry.dagster_event.event_specific_data, "metadata", None) or {}
        value = getattr(metadata.get("pid"), "value", None)
        if value is None:
            continue
        try:
            return int(value), rec.timestamp
        except (TypeError, ValueError):
            continue
    return None, 0.0


def our_runs(
    instance: dg.DagsterInstance, asset_keys: frozenset[dg.AssetKey], location: Optional[str] = None
) -> list[dg.DagsterRun]:
    """STARTING/STARTED runs of code location ``location`` or selecting any of ``asset_keys``."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=_WATCHED))
    return [
        r
        for r in runs
        if (location and _location_of(r) == location) or (r.asset_selection and set(r.asset_selection) & asset_keys)
    ]


def _location_of(run: dg.DagsterRun) -> Optional[str]:
    origin = run.remote_job_origin
    return origin.repository_origin.code_location_origin.location_name if origin else None


def fail_stalled_runs(
    instance: dg.DagsterInstance,
    asset_keys: frozenset[dg.AssetKey],
    stalled_seconds: float,
    log: Any = logger,
    location: Optional[str] = None,
) -> list[str]:
    """Report failed each of our local runs whose worker died and which stayed silent; returns their ids.

    Nothing is done when the instance's run launcher checks workers itself (Dagster's run monitoring).
    """
    if _launcher_checks_workers(instance, log):
        return []
    runs = {r.run_id: r for r in our_runs(instance, asset_keys, location) if launched_here(r)}
    observations = [observe(instance, run) for run in runs.values()]
    failed = []
    for run_id, reason in stalled_runs(observations, time.time(), stalled_seconds):
        current = instance.get_run_by_id(run_id)
        if current is None or current.is_finished:
            continue  # it ended meanwhile
        log.warning(reason)
        instance.report_run_failed(current, reason)
        failed.append(run_id)
    return failed


def _launcher_checks_workers(instance: dg.DagsterInstance, log: Any) -> bool:
    try:
        return bool(instance.run_launcher.supports_check_run_worker_health)
    except Exception as exc:  # noqa: BLE001 - a launcher that cannot load here: leave its runs to Dagster
        log.warning(f"{SENSOR_NAME}: cannot load the instance's run launcher ({type(exc).__name__}); not checking")
        return True


def make_stalled_run_sensor(
    asset_keys: Sequence[dg.AssetKey], minimum_interval_seconds: Optional[int] = None
) -> dg.SensorDefinition:
    """Build ``stalled_run_sensor`` watching runs of ``asset_keys`` (the code location's assets)."""
    keys = frozenset(asset_keys)

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=minimum_interval_seconds or sensor_interval(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Reports failed a run of this code location whose worker process died (default run "
        f"launcher) after ${STALLED_ENV} seconds without events, so the project's refresh can run again.",
    )
    def stalled_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        origin = context.code_location_origin
        failed = fail_stalled_runs(
            context.instance, keys, stalled_run_seconds(), context.log, origin.location_name if origin else None
        )
        if failed:
            return dg.SkipReason(f"reported failed (worker gone): {', '.join(failed)}")
        return dg.SkipReason("no stalled run")

    return stalled_run_sensor
