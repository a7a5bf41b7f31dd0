"""Smoke test: each benchmark runs end to end in its --quick mode and prints its RATIO lines.

No timing is asserted (speed is what the benchmarks report, on demand); only that they complete.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_quick(script: str, tmp_path: Path, *extra: str) -> str:
    """Run ``benchmarks/<script> --quick`` in a subprocess; return its stdout (fails with its stderr)."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--workdir", str(tmp_path), *extra],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, f"{script} --quick failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def ratio_lines(output: str) -> list[str]:
    """The RATIO lines of a benchmark's output."""
    return [line for line in output.splitlines() if line.startswith("RATIO ")]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("bench_frames.py", ["ours_jpeg/decode", "ours_jpeg/deeplake_png", "ours_png/deeplake_png",
                             "images peak_mem", "scaling video peak_mem 10N/N", "scaling image peak_mem 10N/N"]),
        ("bench_annotations.py", ["ours vs per-row", "scaling annotations peak_mem 10N/N"]),
        ("bench_shards.py", ["shards speedup 1/2 shards (pinned", "shards speedup 1/2 shards (unpinned)",
                             "shards memory peak 10N/N commit_every=25", "shards memory peak 10N/N commit_every=None",
                             "shards memory peak 10N/N deeplake_alone"]),
    ],
)
def test_quick_mode_prints_ratio_lines(script: str, expected: list[str], tmp_path: Path) -> None:
    output = run_quick(script, tmp_path)
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert not errors, f"{script} reported errors: {errors}"  # a variant that failed is a failed benchmark
    lines = ratio_lines(output)
    for name in expected:
        matching = [line for line in lines if name in line]
        assert matching, f"{script}: no RATIO line for {name!r} in {lines}"
        for line in matching:
            assert line.rstrip().endswith(("PASS", "FAIL", "SKIP", "(no target)")), line
