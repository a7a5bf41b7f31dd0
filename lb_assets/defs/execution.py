"""How a run executes its steps, chosen per run by the sensor (run config of ``multi_or_in_process_executor``).

Small partitions run every step in the run's own process: a refresh of a few data rows then costs its step work
plus one process start, not a Python start-up per step. Bigger ones run each step in its own process (one
step's crash cannot take the others, shards run in parallel), forked from a server that imported Dagster, Deep
Lake, PyAV and the Labelbox SDK once (``forkserver`` with ``preload_modules``), so a step starts in well under
a second. Runs launched from the UI use the executor's default (a process per step) unless their run config
says otherwise.
"""

from __future__ import annotations

import os
from typing import Any

IN_PROCESS_ENV = "LB_ASSETS_IN_PROCESS_MAX_DATA_ROWS"
DEFAULT_IN_PROCESS_MAX_DATA_ROWS = 20
PRELOAD_MODULES = [
    "lb_assets.definitions",
    "lb_assets.pipeline",
    "lb_assets.store.frames",
    "lb_assets.store.publish",
    "deeplake",
    "av",
    "labelbox",
    "numpy",
    "PIL.Image",
]


def in_process_max_data_rows() -> int:
    """``$LB_ASSETS_IN_PROCESS_MAX_DATA_ROWS`` (default 20): projects up to this size run in one process."""
    try:
        return max(0, int(os.environ.get(IN_PROCESS_ENV, DEFAULT_IN_PROCESS_MAX_DATA_ROWS)))
    except ValueError:
        return DEFAULT_IN_PROCESS_MAX_DATA_ROWS


def execution_config(data_rows: int) -> dict[str, Any]:
    """The ``execution`` run config for a refresh of a project with ``data_rows`` data rows."""
    if data_rows <= in_process_max_data_rows():
        return {"execution": {"config": {"in_process": {}}}}
    forkserver = {"forkserver": {"preload_modules": PRELOAD_MODULES}}
    return {"execution": {"config": {"multiprocess": {"start_method": forkserver}}}}
