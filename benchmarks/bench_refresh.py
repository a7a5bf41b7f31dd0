"""A refresh through the Dagster daemon: sensor -> run -> steps, run wall time against the steps' own time.

For each executor the benchmark starts the bundled Labelbox sandbox (in this process) and a real
``dagster-daemon`` on a fresh Dagster home, lets ``labeling_completion_sensor`` request a refresh of the demo
image project (its trigger is ``progress``, so the first tick requests it), waits for the run, and reads from
the instance: the run's wall time (from its creation by the sensor to its end) and the summed time of its
steps (step start to step end, what the work itself took). The goal: wall <= 2 x steps + 5 s.

    RATIO refresh forkserver wall/(2*steps+5s) = 0.61x (target <= 1.00x) PASS

Variants (the sensor chooses the executor per run, `lb_assets.defs.execution`): ``in_process`` (the demo's
5 data rows are under ``LB_ASSETS_IN_PROCESS_MAX_DATA_ROWS``, default 20: every step in the run's process) and
``forkserver`` (the threshold set to 0, as for a big project: a process per step, forked from a server that
preloaded Dagster, Deep Lake, PyAV and the Labelbox SDK).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ERRORS, fmt_row, ratio_line, record_error, workdir_session  # noqa: E402

DEADLINE = 900.0
SENSOR_INTERVAL = "2"
VARIANTS = {"in_process": "20", "forkserver": "0"}  # variant -> LB_ASSETS_IN_PROCESS_MAX_DATA_ROWS


def _environment(work: Path, variant: str, sandbox: Any) -> dict[str, str]:
    from lb_assets.cli_demo import DEV_INSTANCE_CONFIG
    from lb_assets.projects import demo_projects_file

    home = work / f"home-{variant}"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DEV_INSTANCE_CONFIG)  # the instance `lb-assets dev` uses (1 s run queue)
    return dict(
        os.environ,
        DAGSTER_HOME=str(home),
        LB_ASSETS_HOME=str(work / f"data-{variant}"),
        LB_ASSETS_PROJECTS_FILE=str(demo_projects_file()),
        LB_ASSETS_SENSOR_INTERVAL=SENSOR_INTERVAL,
        LB_ASSETS_IN_PROCESS_MAX_DATA_ROWS=VARIANTS[variant],
        LABELBOX_ENDPOINT=sandbox.endpoint,
        LABELBOX_API_KEY=sandbox.api_key,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )


def _wait_for_run(instance: Any, pid: str, daemon: subprocess.Popen, log: Path) -> Any:
    import dagster as dg

    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited: {log.read_text()[-2000:]}")
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": pid}), limit=1)
        if runs and runs[0].is_finished:
            return runs[0]
        time.sleep(0.5)
    raise TimeoutError(f"no finished refresh of {pid} within {DEADLINE:.0f} s")


def _timings(instance: Any, run: Any) -> tuple[float, float, int]:
    """(run wall seconds from creation to end, summed step seconds, steps) of a finished run."""
    record = instance.get_run_record_by_id(run.run_id)
    starts: dict[str, float] = {}
    steps = 0.0
    count = 0
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            steps += entry.timestamp - starts.pop(event.step_key)
            count += 1
    wall = record.end_time - record.create_timestamp.timestamp()
    return wall, steps, count


def measure(work: Path, variant: str) -> tuple[float, float, int]:
    """Run one refresh through the daemon with ``variant``; its (wall, steps, step count)."""
    import dagster as dg

    from lb_assets.sandbox import LabelboxSandbox

    with LabelboxSandbox(api_key="bench-key") as sandbox:
        projects = sandbox.load_demo(seed=0)
        env = _environment(work, variant, sandbox)
        log = work / f"daemon-{variant}.log"
        with open(log, "wb") as out:
            daemon = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m", "lb_assets.definitions"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
                run = _wait_for_run(instance, projects["image"], daemon, log)
                if run.status != dg.DagsterRunStatus.SUCCESS:
                    raise RuntimeError(f"the refresh ended {run.status.value}; see {log}")
                return _timings(instance, run)
        finally:
            os.killpg(daemon.pid, signal.SIGINT)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the default executor (smoke run)")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).resolve().parent / "results" / "refresh")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    ns = parser.parse_args(argv)
    variants = list(VARIANTS)[:1] if ns.quick else list(VARIANTS)
    print(fmt_row(["executor", "run wall s", "steps s", "steps"], [14, 12, 10, 6]))
    with workdir_session(ns.workdir, ns.keep) as work:
        for variant in variants:
            try:
                wall, steps, count = measure(Path(work), variant)
            except Exception as exc:  # noqa: BLE001 - report the variant and go on with the others
                ratio_line(f"refresh {variant} wall/(2*steps+5s)", None, why=record_error(variant, exc))
                continue
            print(fmt_row([variant, f"{wall:.1f}", f"{steps:.1f}", str(count)], [14, 12, 10, 6]))
            ratio_line(f"refresh {variant} wall/(2*steps+5s)", wall / (2 * steps + 5.0), 1.0, op="<=")
    return 1 if ERRORS else 0


if __name__ == "__main__":
    raise SystemExit(main())
