"""``lb-assets demo`` and ``lb-assets dev``: the bundled demo, for real, on this machine.

``run_demo`` starts the Labelbox sandbox in-process with the demo projects, points the Labelbox clients at it,
uses a persistent Dagster instance under ``demo_output/dagster_home``, adds both projects as partitions and
materializes every project asset of both partitions headless, then prints where the datasets are.

``run_dev`` starts the sandbox (labeling advancing every N seconds) and ``dagster dev -m lb_assets.definitions`` in a
new session, so the UI shows the graph and the sensor triggers refreshes; Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from lb_assets.defs.partitions import ensure_partitions
from lb_assets.projects import PROJECTS_FILE_ENV, demo_projects_file, projects_file

logger = logging.getLogger(__name__)

DEMO_API_KEY = "demo-sandbox-key"
DEMO_RUN_TAG = "lb_assets/demo_run"
#: Dagster's console log during ``lb-assets demo``: warnings and errors only (one line per asset instead)
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DEFAULT_OUTPUT = "demo_output"


def _opt(ns: argparse.Namespace | None, name: str, default: Any) -> Any:
    value = getattr(ns, name, None) if ns is not None else None
    return default if value is None else value


# One run per project at a time (the run queue; the datasets' leases guard besides), at most 2 Labelbox calls at
# once, run monitoring (Dagster's own; `stalled_run_sensor` covers the default launcher), a 1 s run queue.
DEV_INSTANCE_CONFIG = """telemetry:
  enabled: false
run_monitoring:
  enabled: true
run_queue:
  dequeue_interval_seconds: 1  # a queued refresh starts within a second, not five
concurrency:
  pools:
    default_limit: 2
  runs:
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""


#: The last step of a graph-backed asset, and the assets of a multi-asset step (one line each in the demo).
FINAL_STEPS = {"frame_dataset.publish_frames"}
ASSETS_OF_STEP = {"labelbox_annotations": ("annotated_branch", "annotation_dataset")}


def prepare_home(output: Path) -> tuple[Path, Path]:
    """Create ``output/dagster_home`` (see `DEV_INSTANCE_CONFIG`) and ``output/lb_assets_data``."""
    home = output / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DEV_INSTANCE_CONFIG)
    data = output / "lb_assets_data"
    data.mkdir(parents=True, exist_ok=True)
    return home.resolve(), data.resolve()


@contextmanager
def demo_environment(output: Path, port: int = 0, seed: int = 0) -> Iterator[tuple[Any, dict[str, str]]]:
    """Run the sandbox with the demo loaded and the environment pointed at it; restores the environment after."""
    from lb_assets.sandbox import LabelboxSandbox

    home, data = prepare_home(output)
    saved = {
        k: os.environ.get(k)
        for k in (
            "LABELBOX_ENDPOINT",
            "LABELBOX_API_KEY",
            "DAGSTER_HOME",
            "LB_ASSETS_HOME",
            "NO_PROXY",
            "no_proxy",
            PROJECTS_FILE_ENV,
        )
    }
    with LabelboxSandbox(api_key=DEMO_API_KEY, port=port) as sandbox:
        projects = sandbox.load_demo(seed=seed)
        no_proxy = ",".join(x for x in [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"] if x)
        os.environ.update(
            LABELBOX_ENDPOINT=sandbox.endpoint,
            LABELBOX_API_KEY=DEMO_API_KEY,
            DAGSTER_HOME=str(home),
            LB_ASSETS_HOME=str(data),
            NO_PROXY=no_proxy,
            no_proxy=no_proxy,
        )
        if projects_file() is None:  # installed from a wheel, run outside the repository: the packaged demo file
            os.environ[PROJECTS_FILE_ENV] = str(demo_projects_file())
        try:
            yield sandbox, projects
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def materialize_project(
    instance: dg.DagsterInstance, project_id: str, run_config: Any = None, tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    """Materialize the export and every downstream asset of one project partition, in-process."""
    from lb_assets.definitions import build_resources
    from lb_assets.defs.assets import PROJECT_ASSETS

    ensure_partitions(instance, [project_id])
    return dg.materialize(
        PROJECT_ASSETS,
        instance=instance,
        partition_key=project_id,
        resources=build_resources(),
        run_config=run_config,
        raise_on_error=False,
        tags={"labelbox/project_id": project_id, "lb_assets/source": "demo", **(tags or {})},
    )


class AssetLines:
    """One line per finished asset of a run (and a bar of assets done), read from the instance's event log.

    A background thread polls the event log (every `POLL_SECONDS`) of the run tagged
    ``DEMO_RUN_TAG=<token>``; leaving the ``with`` block reads what is left and closes the bar.
    """

    POLL_SECONDS = 0.5

    def __init__(self, instance: dg.DagsterInstance, label: str, total: int, progress: Any = None) -> None:
        from lb_assets.progress import Bars

        self.instance = instance
        self.token = uuid.uuid4().hex
        self.bars = Bars(progress)
        self.bar = self.bars.bar(
            label, total=total, unit="asset", bar_format="{desc}: {n_fmt}/{total_fmt} assets |{bar}| [{elapsed}]"
        )
        self.lines: list[str] = []
        self._run_id: str | None = None
        self._cursor: str | None = None
        self._started: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lb_assets-demo-lines", daemon=True)

    def __enter__(self) -> AssetLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._safe_poll()
        self.bars.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.POLL_SECONDS):
            self._safe_poll()

    def _safe_poll(self) -> None:
        try:
            self._poll()
        except Exception as exc:  # noqa: BLE001 - the display never stops the demo (storage busy, ...)
            logger.debug("demo progress: reading the event log failed: %s", exc)

    def _poll(self) -> None:
        if self._run_id is None:
            runs = self.instance.get_runs(filters=dg.RunsFilter(tags={DEMO_RUN_TAG: self.token}), limit=1)
            if not runs:
                return
            self._run_id = runs[0].run_id
        kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
        while True:
            page = self.instance.get_records_for_run(self._run_id, cursor=self._cursor, of_type=kinds)
            for record in page.records:
                self._observe(record.event_log_entry)
            self._cursor = page.cursor
            if not page.has_more:
                return

    def _observe(self, entry: Any) -> None:
        event = entry.dagster_event
        step = event.step_key or "?"
        node = step.split(".", 1)[0]  # a graph-backed asset's steps share its name
        if event.event_type_value == "STEP_START":
            self._started.setdefault(node, entry.timestamp)
            return
        failed = event.event_type_value != "STEP_SUCCESS"
        if not failed and "." in step and step not in FINAL_STEPS:
            return  # a step inside an asset's graph: the asset's line comes with its last step
        seconds = entry.timestamp - self._started.get(node, entry.timestamp)
        for asset in ASSETS_OF_STEP.get(node, (node,)):
            self.say(f"  {asset:<26} {'FAILED' if failed else 'ok':<6} {seconds:6.1f} s")
            self.bar.update(1)

    def say(self, line: str) -> None:
        """Print a line above the bars (or plainly when bars are off)."""
        self.lines.append(line)
        if self.bars.enabled:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)
        else:
            print(line, flush=True)


def _column_names(ds: Any) -> list[str]:
    return sorted(c.name for c in ds.schema.columns)


def summarize(project_id: str) -> dict[str, Any]:
    """Rows, columns and commit ids of one project's datasets (paths from the storage resource)."""
    import deeplake

    from lb_assets.defs.resources import StorageResource

    storage = StorageResource()
    frames = deeplake.open_read_only(storage.frames_path(project_id))
    branch = frames.branches["labelbox"].open() if "labelbox" in frames.branches.names() else None
    ann = deeplake.open_read_only(storage.annotations_path(project_id))
    return {
        "frames_path": storage.frames_path(project_id),
        "annotations_path": storage.annotations_path(project_id),
        "rows": len(frames),
        "main_commit": frames.version,
        "main_columns": _column_names(frames),
        "branch_commit": branch.version if branch is not None else None,
        "branch_columns": _column_names(branch) if branch is not None else [],
        "annotation_rows": len(ann),
        "annotation_commit": ann.version,
        "annotation_columns": _column_names(ann),
    }


def run_demo(ns: argparse.Namespace | None = None) -> int:
    """``lb-assets demo``: materialize both demo projects against the in-process sandbox; prints a summary."""
    output = Path(_opt(ns, "output", DEFAULT_OUTPUT)).resolve()
    with demo_environment(output, seed=int(_opt(ns, "seed", 0))) as (_sandbox, projects):
        instance = dg.DagsterInstance.get()
        ensure_partitions(instance, list(projects.values()))
        failed = []
        for kind, pid in projects.items():
            print(f"Materializing the demo {kind} project {pid} ...", flush=True)
            result = _materialize_quietly(instance, pid, f"{kind} project", _opt(ns, "progress", None))
            if not result.success:
                failed.append(pid)
                print(f"  FAILED: see the run {result.run_id} in {os.environ['DAGSTER_HOME']}", flush=True)
        print(
            f"\nDagster instance: {os.environ['DAGSTER_HOME']} "
            "(open it with `lb-assets dev` or DAGSTER_HOME=... dagster dev)"
        )
        for kind, pid in projects.items():
            if pid in failed:
                continue
            s = summarize(pid)
            print(f"\n{kind} project {pid}")
            print(f"  frame dataset      {s['frames_path']}  ({s['rows']} rows)")
            print(f"    main@{s['main_commit']}  columns: {', '.join(s['main_columns'])}")
            print(f"    labelbox@{s['branch_commit']}  columns: {', '.join(s['branch_columns'])}")
            print(f"  annotation dataset {s['annotations_path']}  ({s['annotation_rows']} rows)")
            print(f"    main@{s['annotation_commit']}  columns: {', '.join(s['annotation_columns'])}")
        if not failed:
            _next_steps(summarize(next(iter(projects.values()))))
        instance.dispose()
    return 1 if failed else 0


def _next_steps(s: dict[str, Any]) -> None:
    print(
        f"""
Next steps
  make dev        # the Dagster UI on http://127.0.0.1:3000, with the sandbox's labeling moving on
  python          # read the annotated frames:
    import deeplake
    ds = deeplake.open_read_only("{s["frames_path"]}")
    branch = ds.branches["labelbox"].open()   # keep `ds` in a variable while you use the branch
    print(len(branch), [c.name for c in branch.schema.columns][:8])
    print(branch["row_key"][0], branch["frames"][0].shape)""",
        flush=True,
    )


def _materialize_quietly(
    instance: dg.DagsterInstance, pid: str, label: str, progress: Any
) -> dg.ExecuteInProcessResult:
    """`materialize_project` with one line per asset instead of Dagster's console log (warnings still shown)."""
    from lb_assets.defs.assets import PROJECT_ASSETS

    started = time.monotonic()
    with AssetLines(instance, label, sum(len(a.keys) for a in PROJECT_ASSETS), progress) as lines:
        result = materialize_project(instance, pid, QUIET_RUN_CONFIG, tags={DEMO_RUN_TAG: lines.token})
    lines.say(f"  {len(lines.lines)} assets in {time.monotonic() - started:.1f} s")
    return result


def run_dev(ns: argparse.Namespace | None = None) -> int:
    """``lb-assets dev``: sandbox + labeling on a timer + ``dagster dev``, until Ctrl-C."""
    from lb_assets.sandbox.demo import advance_labeling

    _interrupt_on_signals()
    output = Path(_opt(ns, "output", DEFAULT_OUTPUT)).resolve()
    every = float(_opt(ns, "advance_every", 60.0))
    port = int(_opt(ns, "port", 3000))
    with demo_environment(output, port=int(_opt(ns, "sandbox_port", 0))) as (sandbox, projects):
        instance = dg.DagsterInstance.get()
        ensure_partitions(instance, list(projects.values()))
        instance.dispose()
        stop = threading.Event()
        ticker = threading.Thread(
            target=_advance_loop, args=(sandbox, projects, every, stop, advance_labeling), daemon=True
        )
        ticker.start()
        env = dict(os.environ, LB_ASSETS_SENSOR_INTERVAL=os.environ.get("LB_ASSETS_SENSOR_INTERVAL", "15"))
        cmd = [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "lb_assets.definitions",
        ]
        print(
            f"Sandbox at {sandbox.endpoint}; labeling advances every {every:g}s. UI: http://127.0.0.1:{port}",
            flush=True,
        )
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            print("Stopping dagster dev ...", flush=True)
            return stop_process_group(proc)
        finally:
            stop.set()
            if proc.poll() is None:
                stop_process_group(proc)


def _interrupt_on_signals() -> None:
    """Make SIGINT and SIGTERM stop ``run_dev`` cleanly, even when started in the background.

    A shell starts background jobs with SIGINT ignored (Python then installs no KeyboardInterrupt handler),
    and service managers stop with SIGTERM: both become KeyboardInterrupt, which shuts dagster dev down.
    """

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def stop_process_group(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGINT the process group (dagster dev's clean shutdown), escalate to SIGKILL after ``timeout``."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()
    except ProcessLookupError:
        return proc.wait()


def _advance_loop(sandbox: Any, projects: dict[str, str], every: float, stop: threading.Event, advance: Any) -> None:
    """Play the demo's labeling steps, one per project every ``every`` seconds, until they run out."""
    pending = dict(projects)
    step = 0
    while pending and not stop.wait(every):
        for kind, pid in list(pending.items()):
            try:
                logger.info("Demo labeling (%s): %s", kind, advance(sandbox, pid, step))
            except IndexError:
                logger.info("Demo labeling (%s): all steps played", kind)
                pending.pop(kind)
        step += 1
