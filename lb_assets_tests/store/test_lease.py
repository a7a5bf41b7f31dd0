"""One writer at a time: the lease waits, names its holder, and dies with a killed holder process."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lb_assets.errors import ConfigError, LeaseHeldError
from lb_assets.store import lease

DEADLINE = 120.0  # generous: CI may run on a busy machine

HOLDER = """
import sys, time
from lb_assets.store import lease
with lease.hold(sys.argv[1], "frames@main", owner="run-in-child"):
    print("held", flush=True)
    time.sleep(600)
"""


def _start_holder(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_waits_then_gets_the_lease(tmp_path: Path) -> None:
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with lease.hold(tmp_path, "export", owner="run-1"):
            first_in.set()
            time.sleep(1.0)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(DEADLINE)
    with lease.hold(tmp_path, "export", owner="run-2", wait_seconds=DEADLINE) as holder:
        order.append("second in")
        assert holder.owner == "run-2" and holder.pid == os.getpid()
        seen = lease.current_holder(tmp_path, "export")  # flock is per open file: this process sees itself
        assert seen is not None and seen.owner == "run-2"
    thread.join(DEADLINE)
    assert order == ["first done", "second in"]
    assert lease.current_holder(tmp_path, "export") is None


def test_held_lease_names_the_holding_run_after_the_wait(tmp_path: Path) -> None:
    proc = _start_holder(tmp_path)
    try:
        holder = lease.current_holder(tmp_path, "frames@main")
        assert holder is not None and holder.owner == "run-in-child" and holder.pid == proc.pid
        started = time.monotonic()
        with pytest.raises(LeaseHeldError, match=r"frames@main .* run run-in-child \(pid \d+"):
            with lease.hold(tmp_path, "frames@main", owner="run-2", wait_seconds=1.0):
                pytest.fail("the lease was given to a second writer")
        assert time.monotonic() - started >= 1.0
        with lease.hold(tmp_path, "annotations@main", owner="run-2", wait_seconds=0):
            pass  # another dataset's lease is independent
    finally:
        proc.kill()
        proc.wait(DEADLINE)


def test_a_killed_holder_leaves_no_stale_lease(tmp_path: Path) -> None:
    proc = _start_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(DEADLINE)
    with lease.hold(tmp_path, "frames@main", owner="run-after-kill", wait_seconds=DEADLINE) as holder:
        assert holder.owner == "run-after-kill"


def test_lease_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot name a file"):
        with lease.hold(tmp_path, "../x"):
            pass
