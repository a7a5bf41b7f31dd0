"""export_project / iter_export_rows / merge_exports against the real SDK and sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lb_assets.errors import ConfigError, ExportRowError, LabelboxNotFoundError, LabelboxOperationError
from lb_assets.labelbox.client import make_client
from lb_assets.labelbox.export import ExportFilters, export_project, iter_export_rows, merge_exports
from lb_assets_tests.labelbox.helpers import seed_project, video_label, video_row


def _ids(path: Path) -> list[str]:
    return [row["data_row"]["id"] for row in iter_export_rows(path)]


def test_full_export_summary_and_params(sb, client, tmp_path: Path) -> None:  # noqa: ANN001 - fixtures
    pid, ids = seed_project(sb, 6)
    summary = export_project(client, pid, tmp_path / "export.ndjson")
    rows = list(iter_export_rows(summary.path))
    assert [r["data_row"]["id"] for r in rows] == ids
    assert (summary.data_rows, summary.labeled_rows, summary.labels) == (6, 2, 2)
    assert summary.workflow_counts == {"DONE": 2, "IN_REVIEW": 1, "IN_REWORK": 1, "TO_LABEL": 2}
    assert summary.bytes == summary.path.stat().st_size and len(summary.sha256) == 64
    block = rows[0]["projects"][pid]
    assert block["project_details"]["ontology_id"]  # project_details requested
    assert "details" in rows[0]["data_row"] and "attachments" in rows[0] and "metadata_fields" in rows[0]
    assert not list(tmp_path.glob("*.tmp"))  # the writer's temporary file is gone
    assert json.loads(json.dumps(summary.as_dict()))["path"] == str(summary.path)


@pytest.mark.parametrize(
    ("status", "expected"), [("DONE", [0, 4]), ("TO_LABEL", [1, 5]), ("IN_REVIEW", [2]), ("InRework", [3])]
)
def test_workflow_status_filter(sb, client, tmp_path: Path, status: str, expected: list[int]) -> None:  # noqa: ANN001
    pid, ids = seed_project(sb, 6)
    summary = export_project(client, pid, tmp_path / "x.ndjson", ExportFilters(workflow_status=status))
    assert _ids(summary.path) == [ids[i] for i in expected]


def test_id_and_batch_filters(sb, client, tmp_path: Path) -> None:  # noqa: ANN001 - fixtures
    pid, ids = seed_project(sb, 3)
    extra = sb.add_data_row(pid, video_row(9), [], workflow_status="TO_LABEL", batch_id="batch-b")
    out = tmp_path / "x.ndjson"
    assert _ids(export_project(client, pid, out, ExportFilters(data_row_ids=[ids[1]])).path) == [ids[1]]
    assert _ids(export_project(client, pid, out, ExportFilters(global_keys=["gk-00002"])).path) == [ids[2]]
    assert _ids(export_project(client, pid, out, ExportFilters(batch_ids=["batch-b"])).path) == [extra]


def test_last_activity_filter(sb, client, tmp_path: Path) -> None:  # noqa: ANN001 - fixtures
    pid = sb.add_project("dated")
    ids = []
    for day in (1, 2, 3):
        row = video_row(day)
        row["data_row"]["details"]["last_activity_at"] = f"2024-01-0{day}T10:00:00.000Z"
        ids.append(sb.add_data_row(pid, row, []))
    out = tmp_path / "x.ndjson"
    start = datetime(2024, 1, 2, tzinfo=timezone.utc)
    assert _ids(export_project(client, pid, out, ExportFilters(last_activity_start=start)).path) == ids[1:]
    assert _ids(export_project(client, pid, out, ExportFilters(last_activity_end="2024-01-02 12:00:00")).path) == ids[:2]
    both = ExportFilters(last_activity_start="2024-01-02T00:00:00Z", last_activity_end="2024-01-02T23:00:00+0000")
    assert _ids(export_project(client, pid, out, both).path) == [ids[1]]
    sb.set_labels(pid, ids[0], [video_label("edit")])  # an edit bumps last_activity_at to now
    recent = ExportFilters(last_activity_start=datetime.now(timezone.utc) - timedelta(hours=1))
    assert _ids(export_project(client, pid, out, recent).path) == [ids[0]]


def test_filters_validation() -> None:
    with pytest.raises(ConfigError, match="workflow_status"):
        ExportFilters(workflow_status="SKIPPED").to_sdk()
    with pytest.raises(ConfigError, match="cannot be combined"):
        ExportFilters(data_row_ids=["a"], global_keys=["b"]).to_sdk()
    with pytest.raises(ConfigError, match="last_activity_start"):
        ExportFilters(last_activity_start="yesterday").to_sdk()
    with pytest.raises(ConfigError, match="at most 2000"):
        ExportFilters(batch_ids=[str(i) for i in range(2001)]).to_sdk()
    assert ExportFilters(last_activity_start="2024-01-02T03:04:05.678Z").to_sdk() == {
        "last_activity_at": ["2024-01-02T03:04:05+0000", None]}


def test_empty_project_gives_empty_file(sb, client, tmp_path: Path) -> None:  # noqa: ANN001 - fixtures
    pid = sb.add_project("empty")
    summary = export_project(client, pid, tmp_path / "e.ndjson")
    assert summary.data_rows == 0 and summary.path.read_bytes() == b"" and summary.workflow_counts == {}


def test_unknown_project(client, tmp_path: Path) -> None:  # noqa: ANN001 - fixture
    with pytest.raises(LabelboxNotFoundError, match="get_project for project missing-project"):
        export_project(client, "missing-project", tmp_path / "x.ndjson")


def test_errors_stream_fails_export_naming_project(sb, client, tmp_path: Path) -> None:  # noqa: ANN001
    pid, _ = seed_project(sb, 2)
    sb.set_export_errors(pid, [{"error": "row failed", "url": "https://h/x.mp4?token=SECRET"}])
    dest = tmp_path / "x.ndjson"
    dest.write_text("previous\n")
    with pytest.raises(LabelboxOperationError) as info:
        export_project(client, pid, dest)
    assert pid in str(info.value) and "row failed" in str(info.value) and "SECRET" not in str(info.value)
    assert dest.read_text() == "previous\n"


@pytest.mark.parametrize("how", ["chunk", "operation"])
def test_failure_midway_leaves_previous_file(sb, client, tmp_path: Path, how: str) -> None:  # noqa: ANN001
    pid, _ = seed_project(sb, 40)
    sb.export_chunk_bytes = 2000
    dest = tmp_path / "export.ndjson"
    first = export_project(client, pid, dest)
    before = dest.read_bytes()
    if how == "chunk":
        sb.fail_path("/exports/", times=1, status=404)
    else:
        sb.fail_operation("GetExportFileFromOffsetPyApi", mode="graphql", status=500)
    with pytest.raises(LabelboxOperationError, match=f"export stream for project {pid}"):
        export_project(client, pid, dest)
    assert dest.read_bytes() == before and first.data_rows == 40
    assert not list(dest.parent.glob("*.tmp"))


_SERVER_SCRIPT = """
import sys
from lb_assets.sandbox import LabelboxSandbox
from lb_assets_tests.labelbox.helpers import seed_project
sb = LabelboxSandbox(api_key="sandbox-key")
pid, ids = seed_project(sb, 1000, pad="\u00e9" * 400)
sb.export_chunk_bytes = 50_000
print(sb.endpoint, pid, ids[0], ids[-1], flush=True)
sb.start()
sys.stdin.read()
sb.stop()
"""


@pytest.fixture
def big_sandbox() -> Iterator[tuple[str, str, str, str]]:
    """A sandbox with a 1,000-row project in another process, so tracemalloc sees only the client."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        line = proc.stdout.readline().split()
        assert len(line) == 4, "sandbox subprocess did not start"
        yield tuple(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_thousand_rows_complete_with_bounded_memory(big_sandbox, tmp_path: Path) -> None:  # noqa: ANN001
    endpoint, pid, first_id, last_id = big_sandbox
    client = make_client("sandbox-key", endpoint)
    tracemalloc.start()
    try:
        summary = export_project(client, pid, tmp_path / "big.ndjson")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    ids = _ids(summary.path)
    assert summary.data_rows == 1000 and len(set(ids)) == 1000 and (ids[0], ids[-1]) == (first_id, last_id)
    assert summary.bytes > 1_000_000
    assert peak < summary.bytes / 4, f"peak {peak} bytes for a {summary.bytes}-byte export"


def test_iter_export_rows_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_export_rows(tmp_path / "none.ndjson"))
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"data_row": {"id": "a"}}\n\nnot json\n')
    with pytest.raises(ExportRowError, match="export row 1"):
        list(iter_export_rows(bad))


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(drid: str, version: int, status: str = "DONE") -> dict:
    return {"data_row": {"id": drid}, "v": version,
            "projects": {"p1": {"labels": [{"id": "l"}] * version, "project_details": {"workflow_status": status}}}}


def test_merge_exports_delta_wins_keeps_order(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.ndjson", [_row("a", 0, "TO_LABEL"), _row("b", 0), _row("c", 0)])
    delta = _write(tmp_path / "delta.ndjson", [_row("d", 1), _row("b", 2)])
    summary = merge_exports(base, delta, tmp_path / "merged.ndjson")
    rows = list(iter_export_rows(summary.path))
    assert [(r["data_row"]["id"], r["v"]) for r in rows] == [("a", 0), ("b", 2), ("c", 0), ("d", 1)]
    assert (summary.project_id, summary.data_rows, summary.labeled_rows, summary.labels) == ("p1", 4, 2, 3)
    assert summary.workflow_counts == {"DONE": 3, "TO_LABEL": 1}


def test_merge_exports_in_place_and_bad_rows(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.ndjson", [_row("a", 0)])
    delta = _write(tmp_path / "delta.ndjson", [_row("a", 1)])
    merge_exports(base, delta, base)
    assert [r["v"] for r in iter_export_rows(base)] == [1]
    no_id = _write(tmp_path / "noid.ndjson", [{"data_row": {}}])
    with pytest.raises(ExportRowError, match="data_row.id"):
        merge_exports(base, no_id, tmp_path / "m.ndjson")
    assert not (tmp_path / "m.ndjson").exists()


def test_errors_stream_tolerated_when_fail_on_errors_false(sb, client, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    pid, ids = seed_project(sb, 3)
    sb.set_export_errors(pid, [{"error": "row failed", "url": "https://h/x.mp4?token=SECRET"},
                               {"error": "another row failed"}])
    with caplog.at_level("WARNING", logger="lb_assets.labelbox.export"):
        summary = export_project(client, pid, tmp_path / "x.ndjson", fail_on_errors=False)
    assert summary.error_lines == 2 and summary.as_dict()["error_lines"] == 2
    assert _ids(summary.path) == ids and summary.data_rows == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and pid in warnings[0] and "2 error line(s)" in warnings[0]
    assert "row failed" in warnings[0] and "SECRET" not in caplog.text


def test_errors_stream_still_raises_with_fail_on_errors_true(sb, client, tmp_path: Path) -> None:  # noqa: ANN001
    pid, _ = seed_project(sb, 2)
    sb.set_export_errors(pid, [{"error": "row failed"}])
    with pytest.raises(LabelboxOperationError, match=f"export for project {pid}.*row failed"):
        export_project(client, pid, tmp_path / "x.ndjson", fail_on_errors=True)
    assert not (tmp_path / "x.ndjson").exists()
    sb.set_export_errors(pid, [])
    assert export_project(client, pid, tmp_path / "x.ndjson").error_lines == 0
