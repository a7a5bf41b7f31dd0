"""The seed's documented flow (docs/seed-deeplake-labelbox-docs.md) against the sandbox demo, import line changed."""

from __future__ import annotations

import json
from typing import Any

import deeplake
import numpy as np
import pytest

from lb_assets.errors import ConfigError, FrameCountMismatchError, LbAssetsError
from lb_assets.sandbox.demo import build_demo
from lb_assets.store import schema

API_KEY = "sandbox-key"


@pytest.fixture(scope="module")
def demo_truth() -> dict[str, Any]:
    return build_demo(seed=0).truth


def _column(ds: Any, key: str) -> str | None:
    names = schema.column_names(ds)
    for candidate in (key, f"{key}/{key}"):
        if candidate in names:
            return candidate
    return None


def _assert_row_matches(ds: Any, row: int, truth: dict[str, Any], where: str) -> int:
    """Compare every non-mask truth value of one row; returns how many values were compared."""
    compared = 0
    for key, want in truth.items():
        if isinstance(want, np.ndarray) and _column(ds, key) is None:  # masks grouped as "mask" by group_mapping
            names = list(ds["mask_labels"].metadata["class_names"])
            channels = [names[i] for i in np.asarray(ds["mask_labels"][row]).tolist()]
            assert key in channels, f"{where}: mask {key!r} missing"
            got_mask = np.asarray(ds["mask"][row])[:, :, channels.index(key)]
            np.testing.assert_array_equal(got_mask, want.any(axis=-1), err_msg=f"{where}: mask {key}")
            compared += 1
            continue
        column = _column(ds, key)
        assert column is not None, f"{where}: no column for {key!r}"
        got = ds[column][row]
        kind = str(ds.schema[column].dtype)
        if isinstance(want, np.ndarray) or kind.startswith("kind=bmask"):
            assert not schema.is_empty(got), f"{where}: mask {key!r} missing"
        elif kind.startswith("kind=class_label"):
            names = list(ds[column].metadata["class_names"])
            assert [names[i] for i in np.asarray(got).tolist()] == list(want), f"{where}: {key}"
        elif kind.startswith("text"):
            assert got == want, f"{where}: {key}"
        elif kind == "polygon":
            assert len(got) == len(want), f"{where}: {key}"
            for g, w in zip(got, want):
                np.testing.assert_allclose(np.asarray(g), np.asarray(w, np.float32), atol=1e-3, err_msg=f"{where}: {key}")
        else:
            np.testing.assert_allclose(np.asarray(got), np.asarray(want, np.float32), atol=1e-3, err_msg=f"{where}: {key}")
        compared += 1
    return compared


def test_seed_video_flow_end_to_end(lb_demo_sandbox, lb_sandbox_env, demo_truth, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    from lb_assets.integrations import converter_for_video_project_with_id, create_dataset_from_video_annotation_project

    LABELBOX_API_KEY = API_KEY
    ds_path = str(tmp_path / "labelbox_connect_test")
    project_id = lb_demo_sandbox.demo_projects["video"]

    # ---- the documented flow, verbatim apart from the import
    ds, project_json = create_dataset_from_video_annotation_project(ds_path, project_id, LABELBOX_API_KEY)
    ds.commit("create dataset")

    def ds_provider(p):
        with open(f"{project_id}_mapping.json", "w") as f:
            json.dump({p: ds_path}, f)
        try:
            ds.branch("labelbox")
        except Exception:
            pass
        return ds.branches["labelbox"].open()

    converter = converter_for_video_project_with_id(
        project_id, ds_provider, LABELBOX_API_KEY, group_mapping={"raster-segmentation": "mask"},
        project_json=project_json,
    )
    ds = converter.dataset_with_applied_annotations()
    ds.commit("add labelbox annotations")
    # ----

    exports = [op for op in lb_demo_sandbox.operations_seen if op == "exportDataRowsInProjectPyApi"]
    assert len(exports) == 1  # project_json really reused (D3)
    counts = demo_truth["frame_counts"]
    assert len(ds) == sum(counts.values())
    import deeplake
    main = deeplake.open(ds_path)
    assert "box" not in schema.column_names(main) and "lb_meta/id" not in schema.column_names(main)
    assert len(main) == len(ds)
    keys = list(ds["row_key"][0 : len(ds)])
    compared = 0
    for drid, frames in demo_truth["video"].items():
        for frame, truth in frames.items():
            row = keys.index(f"{drid}:{frame}")
            compared += _assert_row_matches(ds, row, truth, f"{drid} frame {frame}")
            if "box" not in truth:
                assert schema.is_empty(ds["box"][row]), f"{drid} frame {frame}: stale box"
    assert compared > 100
    assert list(ds["lb_meta/id"][0 : len(ds)]) == [k.rsplit(":", 1)[0] for k in keys]  # D11
    assert json.loads((tmp_path / f"{project_id}_mapping.json").read_text())


def test_seed_image_flow_end_to_end(lb_demo_sandbox, lb_sandbox_env, demo_truth, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    from lb_assets.integrations import converter_for_image_project_with_id, create_dataset_from_image_annotation_project

    LABELBOX_API_KEY = API_KEY
    ds_path = str(tmp_path / "images")
    project_id = lb_demo_sandbox.demo_projects["image"]
    ds, project_json = create_dataset_from_image_annotation_project(ds_path, project_id, LABELBOX_API_KEY)
    ds.commit("create dataset")

    def ds_provider(p):
        try:
            ds.branch("labelbox")
        except Exception:
            pass
        return ds.branches["labelbox"].open()

    converter = converter_for_image_project_with_id(
        project_id, ds_provider, LABELBOX_API_KEY, group_mapping={"raster-segmentation": "mask"},
        project_json=project_json,
    )
    ds = converter.dataset_with_applied_annotations()
    ds.commit("add labelbox annotations")

    truth = demo_truth["image"]
    assert len(ds) == len(truth)
    keys = list(ds["row_key"][0 : len(ds)])
    compared = sum(_assert_row_matches(ds, keys.index(f"{drid}:0"), t, drid) for drid, t in truth.items())
    assert compared > 5
    assert ds["image"][0].ndim == 3


def test_refetch_after_labels_change_and_main_grows(lb_demo_sandbox, lb_sandbox_env, tmp_path) -> None:
    from lb_assets.integrations import converter_for_video_project_with_id, create_dataset_from_video_annotation_project

    project_id = lb_demo_sandbox.demo_projects["video"]
    ds_path = str(tmp_path / "frames")
    ds, _ = create_dataset_from_video_annotation_project(ds_path, project_id, API_KEY)

    def provider(_name: str) -> Any:
        if "labelbox" not in list(ds.branches.names()):
            ds.branch("labelbox")
        return ds.branches["labelbox"].open()

    first = converter_for_video_project_with_id(project_id, provider, API_KEY)
    branch = first.dataset_with_applied_annotations(commit_message="v1")
    v1 = branch.version
    labeled = int(first.last_result.labeled_rows)
    # delete every label of one labeled data row in Labelbox, then re-fetch
    drid = next(k.rsplit(":", 1)[0] for k, b in zip(branch["row_key"][0 : len(branch)], range(len(branch)))
                if not schema.is_empty(branch["box"][b]))
    lb_demo_sandbox.set_labels(project_id, drid, [])
    second = converter_for_video_project_with_id(project_id, provider, API_KEY)
    branch = second.dataset_with_applied_annotations(commit_message="v2")
    rows = [i for i, k in enumerate(branch["row_key"][0 : len(branch)]) if k.startswith(drid + ":")]
    assert all(schema.is_empty(branch["box"][i]) for i in rows)
    assert second.last_result.labeled_rows < labeled
    old = branch.history[v1].open()
    assert any(not schema.is_empty(old["box"][i]) for i in rows)


def test_bad_export_never_creates_the_dataset_d17(lb_sandbox, lb_sandbox_env, tmp_path) -> None:
    from lb_assets.integrations import create_dataset_from_video_annotation_project

    ds_path = tmp_path / "never"
    with pytest.raises(LbAssetsError):
        create_dataset_from_video_annotation_project(str(ds_path), "clmissingproject000000001", API_KEY)
    assert not ds_path.exists()


def test_frame_count_mismatch_is_fatal_d5(lb_demo_sandbox, lb_sandbox_env, tmp_path) -> None:
    from lb_assets.integrations import create_dataset_from_video_annotation_project
    from lb_assets.labelbox.client import make_client
    from lb_assets.labelbox.export import export_project, iter_export_rows

    project_id = lb_demo_sandbox.demo_projects["video"]
    export_project(make_client(API_KEY), project_id, tmp_path / "e.ndjson")
    rows = list(iter_export_rows(tmp_path / "e.ndjson"))
    rows[0]["media_attributes"]["frame_count"] += 2
    with pytest.raises(FrameCountMismatchError):
        create_dataset_from_video_annotation_project(str(tmp_path / "ds"), project_id, API_KEY, project_json=rows)
    import deeplake
    assert len(deeplake.open(str(tmp_path / "ds"))) == 0


def test_custom_data_filler_and_seed_presigner_shape(lb_demo_sandbox, lb_sandbox_env, tmp_path) -> None:
    from deeplake.integrations.labelbox.labelbox_utils import create_video_tensors_default_, fill_video_data_default_

    from lb_assets.integrations import create_dataset_from_video_annotation_project_with_custom_data_filler

    calls: list[str] = []

    def url_presigner(url: str) -> tuple[str, dict]:  # the seed's default return shape (D2)
        calls.append(url)
        return url, {"headers": {"Authorization": f"Bearer {API_KEY}"}}

    project_id = lb_demo_sandbox.demo_projects["video"]
    ds, _ = create_dataset_from_video_annotation_project_with_custom_data_filler(
        str(tmp_path / "custom"), project_id, API_KEY,
        data_filler={"create_tensors": create_video_tensors_default_, "fill_data": fill_video_data_default_},
        url_presigner=url_presigner, video_generator_batch_size=16,
    )
    assert calls and len(ds) == sum(build_demo(0).truth["frame_counts"].values())
    assert ds["row_key"][0].endswith(":1") and ds.schema["frames"].dtype.sample_compression == "png"
    version = ds.version
    with pytest.raises(ConfigError, match=f"project {project_id}.*already has {len(ds)} rows"):  # no silent mix
        create_dataset_from_video_annotation_project_with_custom_data_filler(
            str(tmp_path / "custom"), project_id, API_KEY,
            data_filler={"create_tensors": create_video_tensors_default_, "fill_data": fill_video_data_default_},
        )
    assert deeplake.open(str(tmp_path / "custom")).version == version


def test_export_errors_are_logged_and_skipped_by_default_d15(lb_demo_sandbox, lb_sandbox_env, tmp_path,
                                                             caplog) -> None:
    from lb_assets.integrations import converter_for_video_project_with_id, create_dataset_from_video_annotation_project

    project_id = lb_demo_sandbox.demo_projects["video"]
    lb_demo_sandbox.set_export_errors(project_id, [
        {"error": "data row could not be exported", "url": "https://h/v.mp4?sig=SECRET"},
        {"error": "another data row could not be exported"},
    ])
    with caplog.at_level("WARNING"):
        ds, rows = create_dataset_from_video_annotation_project(str(tmp_path / "frames"), project_id, API_KEY)
    assert len(rows) == len(build_demo(0).truth["frame_counts"])
    assert len(ds) == sum(build_demo(0).truth["frame_counts"].values())
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(project_id in w and "2 export error line(s)" in w for w in warnings), warnings
    assert "SECRET" not in caplog.text

    def provider(_name: str) -> Any:
        return ds

    converter = converter_for_video_project_with_id(project_id, provider, API_KEY)  # a second export, errors again
    assert converter is not None
    converter.dataset_with_applied_annotations()
    assert converter.last_result.labeled_rows > 0


def test_export_errors_raise_when_flag_set_d15(lb_demo_sandbox, lb_sandbox_env, tmp_path) -> None:
    from lb_assets.errors import LabelboxOperationError
    from lb_assets.integrations import converter_for_video_project_with_id, create_dataset_from_video_annotation_project

    project_id = lb_demo_sandbox.demo_projects["video"]
    lb_demo_sandbox.set_export_errors(project_id, [{"error": "data row could not be exported"}])
    ds_path = tmp_path / "frames"
    with pytest.raises(LabelboxOperationError, match=project_id):
        create_dataset_from_video_annotation_project(str(ds_path), project_id, API_KEY,
                                                     fail_on_labelbox_project_export_error=True)
    assert not ds_path.exists()  # the export is validated before the dataset is created (D17)
    with pytest.raises(LabelboxOperationError, match="data row could not be exported"):
        converter_for_video_project_with_id(project_id, lambda _n: None, API_KEY,
                                            fail_on_labelbox_project_export_error=True)
