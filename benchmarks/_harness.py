"""Small helpers shared by the benchmarks: timing, peak memory in a fresh process, ratio lines.

Every ratio a benchmark reports is printed as one line starting with ``RATIO`` so that people and the
smoke test can grep for them::

    RATIO frames/360p ours_jpeg/decode = 0.81x (target >= 0.70x) PASS
    RATIO frames/360p ours_jpeg/decode = n/a (lb_assets.store.frames not importable: ...) SKIP
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    """Result of one benchmark variant: wall seconds (median over runs), optional peak memory and notes."""

    seconds: float
    runs: list[float]
    peak_mb: float | None = None
    extra: dict[str, Any] | None = None


class Unavailable(Exception):
    """A variant cannot run (e.g. the module under test has not landed yet); the message says why."""


class VariantError(RuntimeError):
    """A variant raised; ``str()`` is the one-line cause, ``details`` the full traceback."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


ERRORS: list[str] = []


def record_error(label: str, exc: BaseException) -> str:
    """Print and remember a failed variant; return ``"error: <cause>"`` for SKIP/ERROR lines.

    The benchmarks finish every section and then exit with status 1 if anything was recorded here.
    """
    cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    message = f"{label}: {type(exc).__name__}: {cause}"
    details = getattr(exc, "details", "")
    print(f"ERROR {message}" + (f"\n{details}" if details else ""))
    ERRORS.append(message)
    return f"error: {type(exc).__name__}: {cause}"


@contextlib.contextmanager
def workdir_session(work: Path, keep: bool) -> Any:
    """Run a benchmark's sections in ``work``; remove it afterwards unless ``keep``; exit 1 if a variant failed."""
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if ERRORS:
        print(f"\n{len(ERRORS)} variant(s) failed:\n  " + "\n  ".join(ERRORS))
        sys.exit(1)


def median_seconds(fn: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> Measurement:
    """Run ``setup()`` (untimed) then ``fn()`` (timed) ``repeats`` times; return the median wall time."""
    runs: list[float] = []
    for _ in range(max(repeats, 1)):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return Measurement(seconds=statistics.median(runs), runs=runs)


def read_status_kb(field: str) -> int:
    """Read a field such as ``VmRSS`` or ``VmHWM`` (kB) from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} field")


@contextlib.contextmanager
def quiet_stdout() -> Any:
    """Swallow ``print`` output of third-party code (Deep Lake's integration prints per video)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _child(target: Callable[..., dict[str, Any] | None], kwargs: dict[str, Any], queue: Any) -> None:
    """Body of the isolated process: baseline RSS, run, peak RSS (VmHWM) above the baseline."""
    try:
        prepare = kwargs.pop("_prepare", None)
        if prepare is not None:
            kwargs = prepare(**kwargs)
        baseline_kb = read_status_kb("VmRSS")
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:  # reset VmHWM to the current RSS
            fh.write("5")
        start = time.perf_counter()
        extra = target(**kwargs) or {}
        seconds = time.perf_counter() - start
        peak_kb = read_status_kb("VmHWM")
        queue.put(("ok", seconds, (peak_kb - baseline_kb) / 1024.0, extra))
    except Unavailable as exc:
        queue.put(("unavailable", 0.0, 0.0, {"reason": str(exc)}))
    except Exception:  # noqa: BLE001 - reported to the parent, which re-raises
        queue.put(("error", 0.0, 0.0, {"reason": traceback.format_exc()}))


def run_isolated(target: Callable[..., dict[str, Any] | None], **kwargs: Any) -> Measurement:
    """Run ``target(**kwargs)`` in a fresh (spawned) process and measure wall time and peak RSS above the
    RSS the process had just before the call (imports and interpreter excluded).

    ``target`` must be a module-level function. Pass ``_prepare=<module-level function>`` to do untimed,
    unmeasured work first (imports, building inputs): it gets the kwargs and returns the kwargs for
    ``target``.

    Raises:
        Unavailable: the target raised Unavailable.
        VariantError: the target failed; ``details`` carries the child's traceback.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, kwargs, queue))
    proc.start()
    status, seconds, peak_mb, extra = queue.get()
    proc.join()
    if status == "unavailable":
        raise Unavailable(extra["reason"])
    if status != "ok":
        last = extra["reason"].strip().splitlines()[-1]
        raise VariantError(f"isolated run of {target.__name__} failed: {last}", extra["reason"])
    return Measurement(seconds=seconds, runs=[seconds], peak_mb=peak_mb, extra=extra)


def ratio_line(name: str, value: float | None, target: float | None = None, op: str = ">=", why: str = "") -> bool | None:
    """Print one ``RATIO`` line; return True/False for PASS/FAIL, None when there is no target or value."""
    if value is None:
        print(f"RATIO {name} = n/a ({why}) {'ERROR' if why.startswith('error') else 'SKIP'}")
        return None
    if target is None:
        print(f"RATIO {name} = {value:.2f}x (no target)")
        return None
    ok = value >= target if op == ">=" else value <= target
    print(f"RATIO {name} = {value:.2f}x (target {op} {target:.2f}x) {'PASS' if ok else 'FAIL'}")
    return ok


def fmt_row(cells: list[str], widths: list[int]) -> str:
    """Left-align cells into fixed-width columns."""
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))


def dir_size_mb(path: Path) -> float:
    """Total size in MB of the files below ``path`` (0 for mem:// or missing paths)."""
    if not path.exists():
        return 0.0
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total / 1e6


def cpu_count() -> int:
    """Number of CPUs this process may use."""
    return len(os.sched_getaffinity(0))


def psnr_of_stored(ds_path: str, path: Path, samples: int) -> float:
    """Mean PSNR (dB) of ``samples`` frames read back from a frame dataset vs the decoded rgb24 frames (inf: lossless)."""
    import av
    import deeplake
    import numpy as np

    ds = deeplake.open_read_only(ds_path)
    column = ds["frames"]
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    picks = np.linspace(0, len(decoded) - 1, num=min(samples, len(decoded)), dtype=int)
    values = []
    for i in picks:
        mse = float(np.mean((np.asarray(column[int(i)], dtype=np.float64) - decoded[i]) ** 2))
        values.append(float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse))
    return float(np.mean(values))
