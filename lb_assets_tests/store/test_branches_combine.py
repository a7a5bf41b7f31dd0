"""Branch kept in step with main; separate annotation dataset, compatibility and the TQL JOIN."""

from __future__ import annotations

from pathlib import Path

import deeplake
import numpy as np
import pytest

from lb_assets.errors import IncompatibleDatasetsError
from lb_assets.store import schema
from lb_assets.store.annotation_dataset import write_annotation_dataset
from lb_assets.store.annotations import apply_annotations
from lb_assets.store.branches import ensure_branch
from lb_assets.store.combine import check_compatible, combined_view, join_query
from lb_assets.store.datasets import open_or_create
from lb_assets.store.frames import build_frame_dataset
from lb_assets.store.row_keys import read_row_keys
from lb_assets_tests.store import helpers as h


@pytest.fixture
def media(tmp_path: Path) -> list:
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    return [h.info("dr-a", h.write_video(media_dir / "a.mp4", 4), frame_count=4),
            h.info("dr-b", h.write_video(media_dir / "b.mp4", 3), frame_count=3, index=1)]


def _fetcher(media: list) -> object:
    return h.fetcher(Path(media[0].row_data).parent)


def test_branch_contains_every_frame_of_main_after_main_grows(tmp_path: Path, media: list) -> None:
    main = open_or_create(str(tmp_path / "frames"))
    build_frame_dataset(main, media[:1], _fetcher(media))
    branch = ensure_branch(main, "labelbox")
    assert branch.current_branch.name == "labelbox" and main.current_branch.name == "main"
    plan = h.plan(car="bbox")
    apply_annotations(branch, [h.converted(media[0], {"car": {0: h.box(1, 2, 3, 4)}})], plan, commit_message="v1")
    build_frame_dataset(main, media, _fetcher(media))  # main gains dr-b
    assert "car" not in schema.column_names(main)
    branch = ensure_branch(open_or_create(str(tmp_path / "frames")), "labelbox")
    assert read_row_keys(branch) == read_row_keys(main)
    np.testing.assert_array_equal(branch["car"][0], [[1, 2, 3, 4]])  # kept through the merge
    apply_annotations(branch, [h.converted(media[0], {}), h.converted(media[1], {"car": {2: h.box(5, 5, 5, 5)}})],
                      plan, commit_message="v2")
    np.testing.assert_array_equal(branch["car"][6], [[5, 5, 5, 5]])
    assert ensure_branch(branch, "labelbox") is branch  # already on it, nothing to merge


def test_annotation_dataset_join_and_versions(tmp_path: Path, media: list) -> None:
    frames_path, ann_path = str(tmp_path / "frames"), str(tmp_path / "annotations")
    frames = open_or_create(frames_path)
    build_frame_dataset(frames, media, _fetcher(media))
    plan = h.plan(car="bbox", weather="radio")
    conv = [h.converted(media[1], {"car": {0: h.box(7, 8, 9, 10)}}),
            h.converted(media[0], {"weather": {3: np.array([1], np.int32)}})]
    first = write_annotation_dataset(ann_path, frames, conv, plan)
    ann = open_or_create(ann_path)
    check_compatible(frames, ann)
    assert "frames" not in schema.column_names(ann) and len(ann) == len(frames) == 7

    joined = deeplake.query(join_query(frames_path, ann_path))
    keys = list(joined["row_key"][0 : len(joined)])
    assert sorted(keys) == sorted(read_row_keys(frames))
    row = keys.index("dr-b:1")
    np.testing.assert_array_equal(joined["car"][row], [[7, 8, 9, 10]])
    assert joined["frames"][row].shape == (h.H, h.W, 3)
    np.testing.assert_array_equal(joined["weather"][keys.index("dr-a:4")], [1])

    view = combined_view(frames, ann)
    assert len(view) == 7 and set(view[4]) >= {"frames", "car", "weather", "row_key", "lb_meta/id"}
    np.testing.assert_array_equal(view[4]["car"], [[7, 8, 9, 10]])

    second = write_annotation_dataset(ann_path, frames, [h.converted(media[1], {})], plan)  # the box was deleted
    assert second.commit_id != first.commit_id
    ann = open_or_create(ann_path)
    assert schema.is_empty(ann["car"][4])
    old = ann.history[first.commit_id].open()
    np.testing.assert_array_equal(old["car"][4], [[7, 8, 9, 10]])


def test_annotation_dataset_follows_frames_that_grew(tmp_path: Path, media: list, mem_url) -> None:
    frames = open_or_create(mem_url("frames"))
    build_frame_dataset(frames, media[:1], _fetcher(media))
    ann_url = mem_url("ann")
    plan = h.plan(car="bbox")
    write_annotation_dataset(ann_url, frames, [h.converted(media[0], {"car": {1: h.box(1, 1, 1, 1)}})], plan)
    build_frame_dataset(frames, media, _fetcher(media))
    write_annotation_dataset(ann_url, frames, [h.converted(media[1], {"car": {0: h.box(2, 2, 2, 2)}})], plan)
    ann = open_or_create(ann_url)
    check_compatible(frames, ann)
    np.testing.assert_array_equal(ann["car"][4], [[2, 2, 2, 2]])


def test_check_compatible_names_what_differs(media: list, mem_url) -> None:
    frames = open_or_create(mem_url("frames"))
    build_frame_dataset(frames, media, _fetcher(media))
    ann = open_or_create(mem_url("ann"))
    ann.add_column("row_key", deeplake.types.Text())
    ann.append({"row_key": read_row_keys(frames)[:6]})
    with pytest.raises(IncompatibleDatasetsError, match="lengths differ.*7.*6"):
        check_compatible(frames, ann)
    ann.append({"row_key": ["other:1"]})
    with pytest.raises(IncompatibleDatasetsError, match="labelbox_meta"):
        check_compatible(frames, ann)
    ann.metadata["labelbox_meta"] = dict(frames.metadata["labelbox_meta"])
    with pytest.raises(IncompatibleDatasetsError, match="row 6.*dr-b:3.*other:1"):
        check_compatible(frames, ann)
