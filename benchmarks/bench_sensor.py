"""``labeling_completion_sensor`` at scale: one tick over 10, 100 and 1,000 declared projects.

The Labelbox sandbox serves N projects (a few data rows each, labeling complete) and sleeps
``--delay`` seconds (default 0.05) before every response, like a remote API; the sensor is evaluated against
a real (temporary) Dagster instance exactly as the daemon would, with the SDK's real HTTP calls. Each size
gets a fresh instance and a first tick (no cursor: every project is new, so every one is polled, gets a
partition and a run request). Prints the tick's seconds per size and::

    RATIO sensor/1000 tick_seconds = 12.3s (target < 30s) PASS

Usage: ``.venv/bin/python benchmarks/bench_sensor.py [--sizes 10,100,1000] [--delay 0.05] [--rows 3]``.
The sensor's own settings (``LB_ASSETS_SENSOR_WORKERS``, ``LB_ASSETS_SENSOR_TICK_BUDGET``, ...) apply.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

TARGET_SIZE = 1000
TARGET_SECONDS = 30.0
API_KEY = "bench-sandbox-key"


def _row(n: int) -> dict:
    return {"data_row": {"row_data": f"https://example.invalid/{n}.jpg", "external_id": f"row-{n}"},
            "media_attributes": {"width": 8, "height": 8, "mime_type": "image/jpeg"}}


def tick(n_projects: int, delay: float, rows: int, workdir: Path) -> tuple[float, dict]:
    """Seconds of one first tick over ``n_projects`` projects, and a summary of its result."""
    import dagster as dg

    from lb_assets.definitions import REFRESH_SELECTION
    from lb_assets.defs.labelbox_resource import LabelboxResource
    from lb_assets.defs.partitions import LABELBOX_PROJECTS
    from lb_assets.defs.sensors import make_labeling_completion_sensor
    from lb_assets.sandbox import LabelboxSandbox

    with LabelboxSandbox(api_key=API_KEY) as sandbox:
        pids = []
        for p in range(n_projects):
            pid = sandbox.add_project(f"bench project {p}", media_type="IMAGE")
            for r in range(rows):
                sandbox.add_data_row(pid, _row(p * rows + r), [], workflow_status="DONE")
            pids.append(pid)
        projects_file = workdir / f"projects_{n_projects}.yaml"
        projects_file.write_text("projects:\n" + "".join(f"  {pid}:\n    media_type: image\n" for pid in pids))
        os.environ.update(LB_ASSETS_PROJECTS_FILE=str(projects_file), LABELBOX_ENDPOINT=sandbox.endpoint,
                          LABELBOX_API_KEY=API_KEY)
        sandbox.response_delay = delay
        sensor = make_labeling_completion_sensor(REFRESH_SELECTION, minimum_interval_seconds=1)
        with dg.instance_for_test() as instance:  # a real (SQLite) instance in a temporary DAGSTER_HOME
            ctx = dg.build_sensor_context(instance=instance, cursor=None,
                                          resources={"labelbox": LabelboxResource(api_key=API_KEY)})
            start = time.perf_counter()
            result = sensor(ctx)
            seconds = time.perf_counter() - start
            for request in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(LABELBOX_PROJECTS, list(request.partition_keys))
        cursor = json.loads(result.cursor)
    summary = {"projects": n_projects, "polled": len(cursor["projects"]), "skipped": len(cursor["skipped"]),
               "run_requests": len(result.run_requests or [])}
    return seconds, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated project counts")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added to every sandbox response")
    parser.add_argument("--rows", type=int, default=3, help="data rows per project")
    ns = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lb_assets.defs.sensors import PollLimits

    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ["no_proxy"] = os.environ["NO_PROXY"]
    limits = PollLimits.from_env()
    logging.disable(logging.INFO)  # the sensor logs one INFO line per project
    print(f"sensor limits: workers={limits.workers} call_timeout={limits.call_timeout}s "
          f"tick_budget={limits.tick_budget}s; sandbox delay {ns.delay * 1000:.0f} ms per response", flush=True)
    status = 0
    with tempfile.TemporaryDirectory(prefix="bench_sensor_") as tmp:
        for size in (int(s) for s in ns.sizes.split(",") if s.strip()):
            seconds, summary = tick(size, ns.delay, ns.rows, Path(tmp))
            complete = summary["polled"] == size and summary["skipped"] == 0 and summary["run_requests"] == size
            print(f"sensor tick: {size:>5} projects  {seconds:7.2f} s  ({seconds / size * 1000:.1f} ms/project; "
                  f"polled {summary['polled']}, skipped {summary['skipped']}, run requests {summary['run_requests']})",
                  flush=True)
            if size == TARGET_SIZE:
                ok = seconds < TARGET_SECONDS and complete
                status |= 0 if ok else 1
                print(f"RATIO sensor/{size} tick_seconds = {seconds:.1f}s (target < {TARGET_SECONDS:.0f}s, every "
                      f"project polled) {'PASS' if ok else 'FAIL'}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
