"""Dropped geometry reaches the run log and the non-blocking check; duplicate data row ids: the later row wins.

Real components throughout: the sandbox's export through the real SDK, real Deep Lake datasets, real media.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pytest

from lb_assets import pipeline
from lb_assets.convert.convert import convert_data_row
from lb_assets.convert.ontology import build_plan
from lb_assets.convert.rows import parse_row
from lb_assets.defs import checks, observe
from lb_assets_tests.convert.helpers import PID, bbox, image_ontology, image_row, label

API_KEY = "sandbox-key"
MEDIA = {"height": 50, "width": 100, "mime_type": "image/jpeg", "asset_type": "image"}


# ----------------------------------------------------------------------------- dropped geometry: tap and check
def _converted(drid: str, boxes: list[dict]) -> Any:
    row = image_row([label({"objects": boxes, "classifications": []}, kind="Default")], drid=drid, media=dict(MEDIA))
    return convert_data_row(parse_row(row, PID, 0), build_plan(image_ontology(), "image"))


def _box(left: float, top: float, width: float, height: float, fid: str) -> dict:
    return bbox(left, top, width, height, name="box", fsid="fs-box", fid=fid, kind="ImageBoundingBox")


def test_tap_counts_drops_per_reason_and_data_row_and_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        _converted("dr-a", [_box(float("nan"), 1, 2, 2, "n"), _box(1, 1, -2, 2, "neg"), _box(1, 1, 2, 2, "ok")]),
        _converted("dr-b", [_box(500, 1, 2, 2, "out"), _box(-5, 1, 10, 2, "clip")]),
        _converted("dr-c", [_box(1, 1, 2, 2, "ok")]),
    ]
    tap = observe.ConversionTap(build_plan(image_ontology(), "image"), logging.getLogger("run"), "proj-1")
    with caplog.at_level(logging.WARNING, logger="run"):
        assert len(list(tap.wrap(rows))) == 3
    assert tap.invalid == {"non_finite": 1, "negative_size": 1, "outside_frame": 1}
    assert tap.invalid_by_data_row == {"dr-a": {"non_finite": 1, "negative_size": 1}, "dr-b": {"outside_frame": 1}}
    assert tap.clipped == 1 and tap.data_rows == 3
    assert "data row dr-a" in caplog.text and "data row dr-b" in caplog.text and "dr-c" not in caplog.text
    assert "negative_size" in caplog.text and "outside_frame" in caplog.text

    result = checks.check_unknown_tools(tap.skipped, tap.invalid_by_data_row, tap.clipped)
    assert result.check_name == checks.UNKNOWN_TOOLS and result.passed is False
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert "outside_frame" in (result.description or "") and "2 data rows" in (result.description or "")
    meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
    assert meta["invalid_geometry"] == {"non_finite": 1, "negative_size": 1, "outside_frame": 1}
    assert meta["invalid_geometry_by_data_row"] == {"dr-a": {"non_finite": 1, "negative_size": 1},
                                                    "dr-b": {"outside_frame": 1}}
    assert meta["invalid_geometry_total"] == 3 and meta["invalid_geometry_data_rows"] == 2
    assert meta["clipped_boxes"] == 1


def test_check_passes_when_nothing_dropped_even_with_clipping_and_keeps_old_call() -> None:
    clean = checks.check_unknown_tools(Counter(), {}, clipped=4)
    assert clean.passed is True and clean.metadata["clipped_boxes"].value == 4
    legacy = checks.check_unknown_tools(Counter({"stranger": 2}))  # the one-argument call still works
    assert legacy.passed is False and "stranger" in (legacy.description or "")
    assert legacy.metadata["invalid_geometry_total"].value == 0


# --------------------------------------------------------------------------------- duplicate data row ids
def _write_ndjson(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(drid: str, url: str) -> dict:
    return {"data_row": {"id": drid, "row_data": url}, "projects": {}}


def test_iter_unique_rows_keeps_the_last_occurrence_at_its_position(tmp_path: Path, caplog) -> None:
    from lb_assets.labelbox.export import iter_unique_rows

    rows = [_row("a", "a1"), _row("b", "b1"), _row("a", "a2"), _row("c", "c1"), _row("b", "b2")]
    path = _write_ndjson(tmp_path / "e.ndjson", rows)
    with caplog.at_level(logging.WARNING):
        got = [(i, r["data_row"]["row_data"]) for i, r in iter_unique_rows(path)]
    assert got == [(2, "a2"), (3, "c1"), (4, "b2")]
    assert "data row a" in caplog.text and "rows 0 and 2" in caplog.text and "rows 1 and 4" in caplog.text
    assert [(i, r["data_row"]["row_data"]) for i, r in iter_unique_rows(rows)] == got  # a list works alike


@pytest.fixture
def duplicated_image_export(lb_demo_sandbox, tmp_path: Path) -> tuple[str, list[dict], str, str]:
    """The demo image project's export with a LATER copy of data row 0 carrying data row 1's media and labels."""
    from lb_assets.labelbox.client import make_client
    from lb_assets.labelbox.export import export_project, iter_export_rows

    pid = lb_demo_sandbox.demo_projects["image"]
    export_project(make_client(API_KEY, lb_demo_sandbox.endpoint), pid, tmp_path / "export.ndjson")
    rows = list(iter_export_rows(tmp_path / "export.ndjson"))
    first, donor = rows[0], rows[1]
    assert first["data_row"]["row_data"] != donor["data_row"]["row_data"]
    assert first["projects"][pid]["labels"] != donor["projects"][pid]["labels"]
    later = copy.deepcopy(donor)
    later["data_row"]["id"] = first["data_row"]["id"]
    later["data_row"]["global_key"] = first["data_row"].get("global_key")
    rows.append(later)
    return pid, rows, first["data_row"]["id"], donor["data_row"]["id"]


def _index(ds: Any) -> dict[str, int]:
    return {str(k): i for i, k in enumerate(ds["row_key"][0 : len(ds)])}


def _assert_later_row_won(frames: Any, ann: Any, dup: str, donor: str, box_column: str) -> None:
    """Pixels and labels of ``dup`` equal the donor's (the later copy), each data row once, datasets aligned."""
    keys = _index(frames)
    assert len(frames) == len(keys) == 5  # 5 data rows, the duplicate counted once
    assert list(_index(ann)) == list(keys)
    np.testing.assert_array_equal(np.asarray(frames["image"][keys[f"{dup}:0"]]),
                                  np.asarray(frames["image"][keys[f"{donor}:0"]]))
    ann_keys = _index(ann)
    got = np.asarray(ann[box_column][ann_keys[f"{dup}:0"]])
    want = np.asarray(ann[box_column][ann_keys[f"{donor}:0"]])
    assert got.size and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_duplicate_rows_through_the_assets_helpers(lb_demo_sandbox, duplicated_image_export, tmp_path, caplog) -> None:
    from lb_assets.labelbox.client import make_client
    from lb_assets.labelbox.ontology import fetch_ontology
    from lb_assets.media.fetch import MediaFetcher
    from lb_assets.media.presign import LabelboxBearerPresigner
    from lb_assets.store.annotation_dataset import write_annotation_dataset
    from lb_assets.store.combine import check_compatible
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.frames import build_frame_dataset

    pid, rows, dup, donor = duplicated_image_export
    export_file = _write_ndjson(tmp_path / "dup.ndjson", rows)
    with caplog.at_level(logging.WARNING):
        infos = pipeline.read_infos(export_file, pid)
    assert [i.data_row_id for i in infos].count(dup) == 1 and len(infos) == 5
    assert f"data row {dup}" in caplog.text and "rows 0 and 5" in caplog.text
    fetcher = MediaFetcher(presigner=LabelboxBearerPresigner(API_KEY, endpoint=lb_demo_sandbox.endpoint))
    frames = open_or_create(str(tmp_path / "frames"))
    build_frame_dataset(frames, infos, fetcher, storage="png")

    client = make_client(API_KEY, lb_demo_sandbox.endpoint)
    plan = build_plan(fetch_ontology(client, infos[0].ontology_id), "image")
    tap = observe.ConversionTap(plan, logging.getLogger("run"), pid)
    masks = pipeline.FetcherMaskSource(fetcher)
    converted = tap.wrap(pipeline.iter_converted(export_file, pid, plan, masks=masks))
    write_annotation_dataset(str(tmp_path / "ann"), frames, converted, plan)
    ann = open_or_create(str(tmp_path / "ann"))
    check_compatible(frames, ann)
    assert tap.data_rows == 5
    coverage = checks.check_coverage(tap.labeled_frames, tap.frames, tap.labeled_data_rows, tap.data_rows)
    assert coverage.description.endswith("of 5 data rows") and f"{tap.frames} rows" in coverage.description
    box = "box" if "box" in plan.columns else "box/box"
    _assert_later_row_won(frames, ann, dup, donor, box)


def test_duplicate_rows_through_the_integrations_api(lb_demo_sandbox, lb_sandbox_env, duplicated_image_export,
                                                     tmp_path) -> None:
    from lb_assets.integrations import converter_for_image_project_with_id, create_dataset_from_image_annotation_project
    from lb_assets.store.annotation_dataset import write_annotation_dataset
    from lb_assets.store.combine import check_compatible
    from lb_assets.store.datasets import open_or_create

    pid, rows, dup, donor = duplicated_image_export
    ds, project_json = create_dataset_from_image_annotation_project(str(tmp_path / "frames"), pid, API_KEY,
                                                                    project_json=rows)
    ds.commit("frames")
    converter = converter_for_image_project_with_id(pid, lambda _name: ds, API_KEY, project_json=project_json)
    branch = converter.dataset_with_applied_annotations(commit_message="labels")
    assert converter.last_result is not None
    box = "box" if "box" in converter.plan.columns else "box/box"
    _assert_later_row_won(branch, branch, dup, donor, box)
    write_annotation_dataset(str(tmp_path / "ann"), ds, converter.converted_rows(), converter.plan)
    ann = open_or_create(str(tmp_path / "ann"))
    check_compatible(ds, ann)
    _assert_later_row_won(ds, ann, dup, donor, box)


def test_check_result_is_accepted_by_dagster_as_a_non_blocking_warning() -> None:
    specs = [s for s in checks.annotated_branch_specs("x") if s.name == checks.UNKNOWN_TOOLS]
    assert len(specs) == 1 and not specs[0].blocking

    @dg.asset(name="x", check_specs=specs)
    def x() -> dg.MaterializeResult:
        drops = {"dr-a": Counter({"negative_size": 2}), "dr-b": Counter({"outside_frame": 1})}
        return dg.MaterializeResult(check_results=[checks.check_unknown_tools(Counter(), drops, 3)])

    result = dg.materialize([x])
    assert result.success  # a failed non-blocking check does not fail the run
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["invalid_geometry_by_data_row"].value == {"dr-a": {"negative_size": 2},
                                                                         "dr-b": {"outside_frame": 1}}
