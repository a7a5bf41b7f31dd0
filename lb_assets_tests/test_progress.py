"""Progress bars of the seed API (lb_assets.progress) against the sandbox demo: phases, totals, the switch."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import pytest

from lb_assets import progress as lb_progress
from lb_assets.sandbox.demo import build_demo

API_KEY = "sandbox-key"
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def final_lines(text: str) -> dict[str, str]:
    """The last drawn state of each bar, by its description (text before the first ':')."""
    states: dict[str, str] = {}
    for part in re.split(r"[\r\n]", _ESCAPES.sub("", text)):
        part = part.strip()
        if ":" in part:
            states[part.split(":", 1)[0]] = part
    return states


@pytest.fixture(scope="module")
def demo_truth() -> dict[str, Any]:
    return build_demo(seed=0).truth


def _branch_provider(ds: Any) -> Any:
    def provider(_name: str) -> Any:
        if "labelbox" not in ds.branches.names():
            ds.branch("labelbox")
        return ds.branches["labelbox"].open()

    return provider


def test_seed_video_flow_draws_each_phase_with_totals(lb_demo_sandbox, lb_sandbox_env, demo_truth, tmp_path,
                                                      monkeypatch) -> None:  # noqa: ANN001
    from lb_assets.integrations import converter_for_video_project_with_id, create_dataset_from_video_annotation_project

    monkeypatch.setenv("LB_ASSETS_PROGRESS", "0")  # the keyword wins over the environment
    stream = io.StringIO()
    project_id = lb_demo_sandbox.demo_projects["video"]
    ds, project_json = create_dataset_from_video_annotation_project(str(tmp_path / "v"), project_id, API_KEY,
                                                                    progress=stream)
    created = stream.getvalue()
    converter = converter_for_video_project_with_id(project_id, _branch_provider(ds), API_KEY,
                                                    group_mapping={"raster-segmentation": "mask"},
                                                    project_json=project_json, progress=stream)
    converter.dataset_with_applied_annotations()

    counts = demo_truth["frame_counts"]
    videos, frames = len(counts), sum(counts.values())
    bars = final_lines(stream.getvalue())
    assert f"{len(project_json)} rows" in bars["export"], bars
    assert f"{videos}/{videos}" in bars["videos"] and "100%" in bars["videos"], bars
    assert f"{frames}/{frames}" in bars["frames"] and "frames/s" in bars["frames"], bars
    assert f"{videos}/{videos}" in bars["convert"] and "data rows/s" in bars["convert"], bars
    assert f"{frames}/{frames}" in bars["write"], bars
    masks = re.search(r"(\d+) masks", bars["masks"])
    assert masks and int(masks.group(1)) > 0, bars
    assert not {"convert", "write", "masks"} & set(final_lines(created)), "conversion bars before conversion"
    text = stream.getvalue()
    assert API_KEY not in text and "http" not in text and lb_demo_sandbox.base_url not in text


def test_progress_false_writes_nothing_even_with_the_env_var(lb_demo_sandbox, lb_sandbox_env, tmp_path, monkeypatch,
                                                             capsys) -> None:  # noqa: ANN001
    from lb_assets.integrations import converter_for_image_project_with_id, create_dataset_from_image_annotation_project

    monkeypatch.setenv("LB_ASSETS_PROGRESS", "1")
    project_id = lb_demo_sandbox.demo_projects["image"]
    ds, rows = create_dataset_from_image_annotation_project(str(tmp_path / "i"), project_id, API_KEY, progress=False)
    converter = converter_for_image_project_with_id(project_id, _branch_provider(ds), API_KEY, project_json=rows,
                                                    progress=False)
    converter.dataset_with_applied_annotations()
    assert len(ds) == len(rows) > 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_env_var_and_auto_mode(lb_demo_sandbox, lb_sandbox_env, tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from lb_assets.integrations import create_dataset_from_image_annotation_project

    project_id = lb_demo_sandbox.demo_projects["image"]
    monkeypatch.delenv("LB_ASSETS_PROGRESS", raising=False)  # auto: stderr is captured, not a terminal
    _, rows = create_dataset_from_image_annotation_project(str(tmp_path / "a"), project_id, API_KEY)
    assert capsys.readouterr().err == ""

    monkeypatch.setenv("LB_ASSETS_PROGRESS", "1")
    create_dataset_from_image_annotation_project(str(tmp_path / "b"), project_id, API_KEY, project_json=rows)
    bars = final_lines(capsys.readouterr().err)
    assert f"{len(rows)}/{len(rows)}" in bars["images"] and "export" not in bars, bars  # project_json: no export


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_resolve_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LB_ASSETS_PROGRESS", raising=False)
    assert lb_progress.resolve(None, io.StringIO())[0] is False
    assert lb_progress.resolve(None, _Terminal())[0] is True
    monkeypatch.setenv("LB_ASSETS_PROGRESS", "0")
    assert lb_progress.resolve(None, _Terminal())[0] is False
    assert lb_progress.resolve(True, io.StringIO())[0] is True
    monkeypatch.setenv("LB_ASSETS_PROGRESS", "1")
    assert lb_progress.resolve(None, io.StringIO())[0] is True
    assert lb_progress.resolve(False, _Terminal())[0] is False
    stream = io.StringIO()
    assert lb_progress.resolve(stream) == (True, stream)


def test_bars_redraw_at_most_every_min_interval() -> None:
    stream = io.StringIO()
    with lb_progress.Bars(stream) as bars:
        bar = bars.bar("frames", total=100_000, unit=" frames")
        for _ in range(100_000):
            bar.update(1)
    draws = stream.getvalue().count("\r")
    assert "100000/100000" in final_lines(stream.getvalue())["frames"]
    assert draws < 20, f"{draws} redraws for a loop of well under a few seconds"


def test_frame_build_bars_follow_the_events() -> None:
    class Info:
        def __init__(self, n: int) -> None:
            self.frame_count = n

    stream = io.StringIO()
    with lb_progress.Bars(stream, mininterval=0) as bars:
        report = lb_progress.FrameBuildBars(bars, "video", [Info(3), Info(2)])
        report({"event": "frames_written", "data_row_id": "a", "frames": 3, "frames_written": 3})
        report({"event": "video_done", "frames": 3, "videos_decoded": 1, "videos_total": 2, "frames_written": 3})
        report({"event": "frames_written", "data_row_id": "b", "frames": 2, "frames_written": 5})
        report({"event": "video_done", "frames": 2, "videos_decoded": 2, "videos_total": 2, "frames_written": 5})
        report({"event": "build_done", "rows_added": 5, "data_rows_added": 2, "data_rows_skipped": 0})
    bars = final_lines(stream.getvalue())
    assert "2/2" in bars["videos"] and "5/5" in bars["frames"], bars


def test_pipeline_finish_lines(caplog: pytest.LogCaptureFixture) -> None:
    from lb_assets.defs.observe import ProgressLogger

    log = logging.getLogger("run")
    reporter = ProgressLogger(log, "proj-1")
    reporter({"event": "frames_written", "frames_written": 40})
    reporter({"event": "build_done", "rows_added": 64, "data_rows_added": 2, "data_rows_skipped": 0})
    with caplog.at_level(logging.INFO, logger="run"):
        line = reporter.finish("frames")
    assert re.fullmatch(r"Project proj-1: 64 frames in \d+\.\d s", line), line
    assert line in caplog.text


def test_conversion_tap_finish_line(caplog: pytest.LogCaptureFixture) -> None:
    from lb_assets.convert.ontology import build_plan
    from lb_assets.defs.observe import ConversionTap

    tap = ConversionTap(build_plan({"tools": [], "classifications": []}, "image"), logging.getLogger("run"), "proj-1")
    tap.data_rows, tap.frames = 3, 3
    with caplog.at_level(logging.INFO, logger="run"):
        line = tap.finish()
    assert re.fullmatch(r"Project proj-1: 3 rows \(3 data rows\) converted in \d+\.\d s", line), line
    assert line in caplog.text


def test_cli_export_draws_rows_and_bytes(lb_sandbox_env, tmp_path, capsys) -> None:  # noqa: ANN001
    from lb_assets.cli import main
    from lb_assets_tests.labelbox.helpers import seed_project

    pid, _ = seed_project(lb_sandbox_env, 4)
    out = tmp_path / "export.ndjson"
    assert main(["export", "--project-id", pid, "--out", str(out), "--progress"]) == 0
    captured = capsys.readouterr()
    bar = final_lines(captured.err)["export"]
    assert re.search(rf"4 rows .*{out.stat().st_size / 1000:.1f} kB", bar), bar
    assert API_KEY not in captured.err
    assert main(["export", "--project-id", pid, "--out", str(out), "--no-progress"]) == 0
    assert "export:" not in capsys.readouterr().err


def test_cli_demo_prints_one_line_per_asset(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    from lb_assets.cli import main

    monkeypatch.delenv("LB_ASSETS_PROGRESS", raising=False)
    assert main(["demo", "--output", str(tmp_path / "demo")]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if re.match(r"  \w+ +(ok|FAILED) +\d+\.\d s$", line)]
    assets = ["labelbox_project_export", "frame_dataset", "annotated_branch", "annotation_dataset"]
    assert [line.split()[0] for line in lines] == assets * 2 and all(" ok " in line for line in lines), captured.out
    assert "STEP_SUCCESS" not in captured.err and "DEBUG" not in captured.err  # no pages of run logs
    assert "assets |" not in captured.err  # stderr is not a terminal: no bars
