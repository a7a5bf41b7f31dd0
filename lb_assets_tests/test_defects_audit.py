"""Audit tests: one per defect / format mismatch / edge case that had no test failing without our fix.

Each test names the item(s) it proves: a defect of Deep Lake 4.7.4's Labelbox integration (D1..D21) or a
format mismatch ("mismatch N"), described in docs/deeplake-differences.md, or an edge case of Labelbox's
export v2 ("edge N"); docs/defect-tests.md describes every item and maps it to its tests. Real things only: Deep Lake datasets on tmp_path/mem://, PyAV-encoded videos, the labelbox
SDK against the loopback sandbox, real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import deeplake
import numpy as np
import pytest

from lb_assets.convert.convert import convert_data_row
from lb_assets.convert.ontology import build_plan
from lb_assets.convert.rows import parse_row
from lb_assets.errors import (
    IncompatibleDatasetsError, LabelboxOperationError, LbAssetsError, MediaError, SchemaClashError,
    UnknownAnnotationError,
)
from lb_assets.labelbox.client import make_client
from lb_assets.labelbox.export import export_project, iter_export_rows
from lb_assets.media.fetch import MediaFetcher
from lb_assets.media.video import iter_video_frames
from lb_assets.sandbox.demo import build_demo
from lb_assets.store import schema
from lb_assets_tests.convert.helpers import (
    PID, bbox, checklist, classification, frame, label, option, radio, tool, video_annotations, video_ontology,
    video_row,
)

API_KEY = "sandbox-key"
EXPORT_OP = "exportDataRowsInProjectPyApi"


@pytest.fixture(scope="module")
def demo_counts() -> dict[str, int]:
    return build_demo(seed=0).truth["frame_counts"]


def _exports(sb: Any) -> int:
    return sum(op == EXPORT_OP for op in sb.operations_seen)


def _export_rows(project_id: str, tmp_path: Path) -> list[dict]:
    dest = tmp_path / f"{project_id}.ndjson"
    export_project(make_client(API_KEY), project_id, dest)
    return list(iter_export_rows(dest))


# ----------------------------------------------------------------------------------------------------- D3
def test_d3_video_and_image_wrappers_reuse_project_json_without_exporting(
        lb_demo_sandbox, lb_sandbox_env, tmp_path, demo_counts) -> None:
    """D3: the seed's video wrapper ignores ``project_json`` and exports again; ours exports nothing."""
    from lb_assets.integrations import (
        create_dataset_from_image_annotation_project, create_dataset_from_video_annotation_project,
    )

    video_pid, image_pid = lb_demo_sandbox.demo_projects["video"], lb_demo_sandbox.demo_projects["image"]
    video_rows, image_rows = _export_rows(video_pid, tmp_path), _export_rows(image_pid, tmp_path)
    before = _exports(lb_demo_sandbox)
    ds, returned = create_dataset_from_video_annotation_project(str(tmp_path / "v"), video_pid, API_KEY,
                                                                project_json=video_rows)
    assert returned is video_rows and len(ds) == sum(demo_counts.values())
    ids, returned = create_dataset_from_image_annotation_project(str(tmp_path / "i"), image_pid, API_KEY,
                                                                 project_json=image_rows)
    assert returned is image_rows and len(ids) == len(image_rows)
    assert _exports(lb_demo_sandbox) == before  # no second export in either wrapper


def test_d3_d15_fail_flag_works_in_image_wrapper_and_image_converter(lb_demo_sandbox, lb_sandbox_env,
                                                                    tmp_path) -> None:
    """D3/D15: ``fail_on_labelbox_project_export_error`` is honoured by the image wrapper and converter too."""
    from lb_assets.integrations import converter_for_image_project_with_id, create_dataset_from_image_annotation_project

    pid = lb_demo_sandbox.demo_projects["image"]
    lb_demo_sandbox.set_export_errors(pid, [{"error": "image row could not be exported"}])
    path = tmp_path / "images"
    with pytest.raises(LabelboxOperationError, match=pid):
        create_dataset_from_image_annotation_project(str(path), pid, API_KEY, fail_on_labelbox_project_export_error=True)
    assert not path.exists()
    with pytest.raises(LabelboxOperationError, match="image row could not be exported"):
        converter_for_image_project_with_id(pid, lambda _n: None, API_KEY, fail_on_labelbox_project_export_error=True)
    ds, rows = create_dataset_from_image_annotation_project(str(path), pid, API_KEY)  # default False: converts
    assert rows and len(ds) == len(rows)


# ----------------------------------------------------------------------------------------------------- D4
def test_d4_deeplake_creds_token_and_org_id_reach_deeplake_through_the_wrapper(
        lb_demo_sandbox, lb_sandbox_env, tmp_path, monkeypatch) -> None:
    """D4: the seed nests creds and org_id into ``creds=`` (TypeError); ours passes deeplake's own arguments."""
    from lb_assets.integrations import create_dataset_from_image_annotation_project
    from lb_assets.store import datasets

    seen: list[tuple] = []
    real_create = deeplake.create

    def spy_create(url, creds=None, token=None, **kw):
        seen.append((url, creds, token, os.environ.get(datasets.ORG_ENV), kw))
        return real_create(url, creds=creds, token=token, **kw)

    monkeypatch.setattr(datasets.deeplake, "create", spy_create)
    monkeypatch.delenv(datasets.ORG_ENV, raising=False)
    creds = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "not-a-secret"}
    pid = lb_demo_sandbox.demo_projects["image"]
    ds, rows = create_dataset_from_image_annotation_project(
        str(tmp_path / "creds"), pid, API_KEY, deeplake_creds=creds, deeplake_org_id="org-1", deeplake_token="tok")
    assert len(ds) == len(rows) > 0  # a real dataset was created with those arguments
    assert seen == [(str(tmp_path / "creds"), creds, "tok", "org-1", {})]
    assert datasets.ORG_ENV not in os.environ  # only set for the call


# ----------------------------------------------------------------------------------------------------- D5
def test_d5_short_video_padded_does_not_shift_the_next_videos_labels(tmp_path, monkeypatch) -> None:
    """D5: a 2-frame shortfall moved the seed's video-2 frame-1 box by 2 rows; ours stays on ``dr-b:1``."""
    from lb_assets.store.annotations import apply_annotations
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.frames import build_frame_dataset
    from lb_assets.store.row_keys import read_row_keys
    from lb_assets_tests.store import helpers as h

    infos = [h.info("dr-a", h.write_video(tmp_path / "a.mp4", 4), frame_count=6),  # decodes 4 of 6 frames
             h.info("dr-b", h.write_video(tmp_path / "b.mp4", 3), frame_count=3, index=1)]
    ds = open_or_create(str(tmp_path / "frames"))
    with pytest.raises(MediaError):  # the default policy refuses the short video outright
        build_frame_dataset(ds, infos, h.fetcher(tmp_path))
    assert len(ds) == 0
    build_frame_dataset(ds, infos, h.fetcher(tmp_path), frame_count_policy="pad")
    keys = read_row_keys(ds)
    assert keys == [f"dr-a:{n}" for n in range(1, 7)] + [f"dr-b:{n}" for n in range(1, 4)]
    plan = h.plan(car="bbox")
    apply_annotations(ds, [h.converted(infos[1], {"car": {0: h.box(1, 2, 3, 4)}}),
                           h.converted(infos[0], {"car": {5: h.box(6, 6, 6, 6)}})], plan, commit_message="labels")
    np.testing.assert_array_equal(ds["car"][keys.index("dr-b:1")], [[1, 2, 3, 4]])
    np.testing.assert_array_equal(ds["car"][keys.index("dr-a:6")], [[6, 6, 6, 6]])
    assert [i for i in range(len(ds)) if not schema.is_empty(ds["car"][i])] == [5, 6]


# -------------------------------------------------------------------------------------------- D6, D7, D8, D9
def _video_convert(labels: list[dict], onto: dict | None = None, frame_count: int = 10, **kw):
    plan = build_plan(onto or video_ontology(), "video")
    return convert_data_row(parse_row(video_row(labels, frame_count), PID, 0), plan, **kw)


def _listed(values: list) -> list:
    return [None if v is None else np.asarray(v).tolist() for v in values]


def test_d8_unregistered_nested_classification_on_interpolated_box_is_skipped_not_keyerror() -> None:
    """D8: a nested answer of an archived feature (unknown schema id) raised KeyError on the seed's
    interpolation path; ours interpolates the box, counts the unknown answer, and refuses it only when strict."""
    archived = radio("archived", "fs-archived-gone", "x", "fs-x-gone", fid="arch")
    f1 = bbox(0.0, 0.0, 2.0, 2.0, nested=[archived])
    f5 = bbox(4.0, 0.0, 2.0, 2.0, nested=[archived])
    ann = video_annotations({"1": frame([f1]), "5": frame([f5])}, {"inst-1": [[1, 5]]}, {"inst-1": [1, 5]})
    out = _video_convert([label(ann)])
    boxes = _listed(out.values["car/car"])
    assert boxes[:5] == [[[0, 0, 2, 2]], [[1, 0, 2, 2]], [[2, 0, 2, 2]], [[3, 0, 2, 2]], [[4, 0, 2, 2]]]
    assert out.skipped["archived"] >= 1
    assert out.values["car/color"][:5] == [None] * 5  # the registered nested radio: unanswered everywhere
    with pytest.raises(UnknownAnnotationError, match="archived"):
        _video_convert([label(ann)], strict=True)


def test_d9_video_label_policies_choose_one_label_instead_of_merging() -> None:
    """D9: the seed merges several video labels frame by frame; ours applies the chosen label only."""
    old = label(video_annotations({"2": frame([bbox(2, 2, 2, 2, fid="old")])}, {"old": [[2, 2]]}, {"old": [2]}),
                label_id="lbl-old", updated_at="2024-01-01T00:00:00Z")
    new = label(video_annotations({"4": frame([bbox(4, 4, 4, 4, fid="new")])}, {"new": [[4, 4]]}, {"new": [4]}),
                label_id="lbl-new", updated_at="2024-06-01T00:00:00Z")
    for labels in ([old, new], [new, old]):  # list order does not matter, timestamps do
        latest = _listed(_video_convert(labels).values["car/car"])
        assert [i + 1 for i, v in enumerate(latest) if v is not None] == [4]
        first = _listed(_video_convert(labels, policy="first").values["car/car"])
        assert [i + 1 for i, v in enumerate(first) if v is not None] == [2]
    merged = _listed(_video_convert([old, new], policy="merge").values["car/car"])
    assert [i + 1 for i, v in enumerate(merged) if v is not None] == [2, 4]


def test_mismatch8_video_frames_without_objects_keys_and_every_video_tool_kind() -> None:
    """Mismatch 8: the seed's debug ontology maps only VideoBoundingBox and reads frame["objects"] and
    frame["classifications"] without defaults; ours converts polyline, point and checklist lists in frames
    without those keys."""
    lane = {"feature_id": "l1", "feature_schema_id": "fs-lane", "name": "lane", "annotation_kind": "VideoPolyline",
            "line": [{"x": 1, "y": 2}, {"x": 3.5, "y": 4}]}
    dot = {"feature_id": "p1", "feature_schema_id": "fs-dot", "name": "dot", "annotation_kind": "VideoPoint",
           "point": {"x": 5.25, "y": 6}}
    onto = video_ontology()
    onto["classifications"].append(classification("checklist", "flags", "fs-flags",
                                                  [option("x", "fs-x"), option("y", "fs-y")], scope="index"))
    frames = {"1": {"objects": {"l1": lane, "p1": dot}},  # no "classifications" key
              "2": {"classifications": [checklist("flags", "fs-flags", ["y", "x"])]},  # no "objects" key
              "3": {}}
    out = _video_convert([label(video_annotations(frames))], onto=onto)
    np.testing.assert_allclose(out.values["lane"][0][0], [[1, 2], [3.5, 4]])
    np.testing.assert_allclose(out.values["dot"][0], [[5.25, 6]])
    assert sorted(np.asarray(out.values["flags"][1]).tolist()) == [0, 1]
    assert out.values["lane"][2] is None and out.values["dot"][2] is None


# ---------------------------------------------------------------------------------------------------- D12
def test_d12_mask_download_is_retried_and_a_persistent_failure_raises(lb_demo_sandbox, lb_sandbox_env,
                                                                     tmp_path) -> None:
    """D12: the seed downloads masks once, serially, and prints every error; ours retries transient
    failures and raises (naming the data row) on persistent ones, leaving the branch as it was."""
    from lb_assets.integrations import converter_for_image_project_with_id, create_dataset_from_image_annotation_project

    pid = lb_demo_sandbox.demo_projects["image"]
    ds, rows = create_dataset_from_image_annotation_project(str(tmp_path / "img"), pid, API_KEY)
    lb_demo_sandbox.fail_path("/masks/", times=1, status=503)
    converter = converter_for_image_project_with_id(pid, lambda _n: ds, API_KEY, project_json=rows)
    converter.dataset_with_applied_annotations(commit_message="labels")
    mask_columns = [c for c in schema.column_names(ds) if str(ds.schema[c].dtype).startswith("kind=bmask")]
    assert mask_columns and any(not schema.is_empty(ds[c][i]) for c in mask_columns for i in range(len(ds)))
    version = ds.version
    lb_demo_sandbox.fail_path("/masks/", times=1000, status=500)
    with pytest.raises(MediaError, match=r"mask|masks"):
        converter.dataset_with_applied_annotations(commit_message="never")
    assert ds.version == version


# ---------------------------------------------------------------------------------------------------- D14
def test_d14_failing_image_raises_naming_it_and_nothing_drifts(tmp_path) -> None:
    """D14: the seed records an index for an image that failed (image_idx drifts from sources); ours raises
    naming the data row and appends nothing, so a re-run starts clean."""
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.frames import build_frame_dataset
    from lb_assets_tests.store import helpers as h

    good = h.info("im-good", h.write_image(tmp_path / "a.jpg", 100), "image")
    bad = h.info("im-bad", tmp_path / "missing.jpg", "image", index=1)
    ds = open_or_create(str(tmp_path / "images"))
    with pytest.raises(MediaError, match="im-bad"):
        build_frame_dataset(ds, [good, bad], h.fetcher(tmp_path))
    assert len(ds) == 0 and "labelbox_meta" not in ds.metadata.keys()


# ---------------------------------------------------------------------------------------------------- D15
def test_d15_empty_project_through_the_seed_api(lb_sandbox, lb_sandbox_env, tmp_path) -> None:
    """D15: an empty project makes the seed raise ValueError("This should not happen"); ours gives an empty
    dataset and no converter, as the seed's docs promise."""
    from lb_assets.integrations import converter_for_video_project_with_id, create_dataset_from_video_annotation_project

    oid = lb_sandbox.add_ontology(video_ontology(), name="empty onto")
    pid = lb_sandbox.add_project("empty video project", media_type="VIDEO", ontology_id=oid)
    ds, rows = create_dataset_from_video_annotation_project(str(tmp_path / "empty"), pid, API_KEY)
    assert rows == [] and len(ds) == 0
    assert converter_for_video_project_with_id(pid, lambda _n: ds, API_KEY) is None


# ---------------------------------------------------------------------------------------------------- D16
class _CountingHandler(http.server.BaseHTTPRequestHandler):
    methods: list[str] = []
    body = b"x" * 64

    def do_HEAD(self) -> None:  # noqa: N802
        self.methods.append("HEAD")
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.methods.append("GET")
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    methods: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"methods": methods})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", methods
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stalled_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        sock.close()


def test_d16_no_head_probe_and_a_stalled_server_times_out(counting_server, stalled_server) -> None:
    """D16: the seed sends a HEAD per item with no timeout (a stalled server hangs the run); ours only GETs,
    with a timeout, and a stalled server gives a MediaError."""
    base, methods = counting_server
    with MediaFetcher(timeout=5.0, retries=0) as fetcher:
        assert fetcher.fetch_bytes(f"{base}/a.jpg") == _CountingHandler.body
    assert methods == ["GET"]
    with MediaFetcher(timeout=0.3, retries=1, backoff=0.01) as fetcher:
        with pytest.raises(MediaError):
            fetcher.fetch_bytes(f"{stalled_server}/stalled.jpg")
    with pytest.raises(MediaError):
        next(iter_video_frames(f"{stalled_server}/stalled.mp4", timeout=0.3, open_retries=0))


# ---------------------------------------------------------------------------------------------------- D17
def test_d17_overwrite_with_a_failing_export_keeps_the_old_dataset(lb_demo_sandbox, lb_sandbox_env, tmp_path,
                                                                   demo_counts) -> None:
    """D17: the seed deletes the dataset (overwrite=True) before the export is validated; ours validates
    first, so a failing export or bad rows leave the previous dataset intact."""
    from lb_assets.integrations import create_dataset_from_video_annotation_project

    pid = lb_demo_sandbox.demo_projects["video"]
    path = str(tmp_path / "frames")
    ds, rows = create_dataset_from_video_annotation_project(path, pid, API_KEY)
    version, n = ds.version, len(ds)
    lb_demo_sandbox.fail_operation(EXPORT_OP, times=10, mode="graphql")
    with pytest.raises(LabelboxOperationError):
        create_dataset_from_video_annotation_project(path, pid, API_KEY, overwrite=True)
    bad = [dict(rows[0], data_row={})] + rows[1:]  # a row without a data row id
    with pytest.raises(LbAssetsError):
        create_dataset_from_video_annotation_project(path, pid, API_KEY, overwrite=True, project_json=bad)
    reopened = deeplake.open(path)
    assert len(reopened) == n == sum(demo_counts.values()) and reopened.version == version


# ---------------------------------------------------------------------------------------------------- D20
def test_d20_raw_names_that_collide_as_column_paths_clash() -> None:
    """D20: names are column paths; a top-level ``car/color`` text and the radio ``color`` nested under tool
    ``car`` (column ``car/color``) would silently share a column; ours raises naming both."""
    onto = {"tools": [tool("rectangle", "car", "fs-car", [classification("radio", "color", "fs-color", [
        option("red", "fs-red")])])], "classifications": [classification("text", "car/color", "fs-t", scope="global")]}
    with pytest.raises(SchemaClashError, match=r"car/color.*radio.*text|car/color.*text.*radio"):
        build_plan(onto, "video")
    dup = {"tools": [tool("rectangle", "thing", "fs-1"), tool("polygon", "thing", "fs-2")]}
    with pytest.raises(SchemaClashError, match="thing"):
        build_plan(dup, "image")


# ---------------------------------------------------------------------------------------------------- D21
def test_d21_converter_refuses_a_dataset_that_does_not_match(lb_demo_sandbox, lb_sandbox_env, tmp_path,
                                                             caplog) -> None:
    """D21: the seed's validation failures are non-fatal, so conversion runs against a mismatched dataset;
    ours refuses a dataset without row keys, and another project's dataset."""
    from lb_assets.integrations import (
        converter_for_image_project_with_id, converter_for_video_project_with_id,
        create_dataset_from_image_annotation_project,
    )

    video_pid, image_pid = lb_demo_sandbox.demo_projects["video"], lb_demo_sandbox.demo_projects["image"]
    plain = deeplake.create(str(tmp_path / "plain"))
    plain.add_column("frames", deeplake.types.Int32())
    with pytest.raises(IncompatibleDatasetsError, match="row_key"):
        converter_for_video_project_with_id(video_pid, lambda _n: plain, API_KEY)
    images, _ = create_dataset_from_image_annotation_project(str(tmp_path / "images"), image_pid, API_KEY)
    with pytest.raises(IncompatibleDatasetsError, match=video_pid):
        converter_for_video_project_with_id(video_pid, lambda _n: images, API_KEY, fail_on_error=True)
    # another project's dataset is refused even without fail_on_error: a full rewrite would empty its labels
    version = images.version
    with pytest.raises(IncompatibleDatasetsError, match=f"project_id is '{image_pid}'"):
        converter_for_video_project_with_id(video_pid, lambda _n: images, API_KEY)
    assert images.version == version
    ok = converter_for_image_project_with_id(image_pid, lambda _n: images, API_KEY, fail_on_error=True)
    assert ok is not None


# ------------------------------------------------------------------------------------------------ mismatch 1
def test_mismatch1_default_image_labels_pass_strict_validation(lb_demo_sandbox, lb_sandbox_env, tmp_path) -> None:
    """Mismatch 1: the seed's image validation wants label_kind "Image" (real labels say "Default"), so
    fail_on_error=True always fails; ours validates by media type and converts."""
    from lb_assets.integrations import converter_for_image_project_with_id, create_dataset_from_image_annotation_project

    pid = lb_demo_sandbox.demo_projects["image"]
    ds, rows = create_dataset_from_image_annotation_project(str(tmp_path / "img"), pid, API_KEY, fail_on_error=True)
    kinds = {lab["label_kind"] for r in rows for lab in r["projects"][pid]["labels"]}
    assert kinds == {"Default"}
    converter = converter_for_image_project_with_id(pid, lambda _n: ds, API_KEY, fail_on_error=True,
                                                    project_json=rows)
    converter.dataset_with_applied_annotations()
    assert converter.last_result.labeled_rows > 0


# ------------------------------------------------------------------------------------------------ mismatch 7
def test_mismatch7_checklist_answers_without_value_key() -> None:
    """Mismatch 7 / edge 5: the seed's checkbox_converter reads ``o["value"]`` (KeyError on 2023 exports);
    ours answers by option label/name when ``value`` is absent (video frame checklist and global checklist)."""
    flags = checklist("tags", "fs-tags", ["a", "c"])
    for answer in flags["checklist_answers"]:
        del answer["value"]
    del flags["value"]
    out = _video_convert([label(video_annotations(classifications=[flags]))], frame_count=3)
    assert [np.asarray(v).tolist() for v in out.values["tags"]] == [[0, 2]] * 3
    frame_flags = checklist("flags", "fs-flags", ["y"])
    del frame_flags["checklist_answers"][0]["value"]
    onto = video_ontology()
    onto["classifications"].append(classification("checklist", "flags", "fs-flags",
                                                  [option("x", "fs-x"), option("y", "fs-y")], scope="index"))
    out = _video_convert([label(video_annotations({"2": frame(classifications=[frame_flags])}))], onto=onto,
                         frame_count=3)
    assert _listed(out.values["flags"]) == [None, [1], [1]]  # held from its keyframe to the end
