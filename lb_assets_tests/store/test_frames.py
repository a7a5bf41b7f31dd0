"""build_frame_dataset: real PyAV decoding of generated videos, real Deep Lake datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lb_assets.errors import FrameCountMismatchError, IncompatibleDatasetsError, MediaError
from lb_assets.store.datasets import open_or_create
from lb_assets.store.frames import build_frame_dataset, read_row_keys
from lb_assets_tests.store import helpers as h


def _videos(tmp_path: Path) -> list:
    v1 = h.write_video(tmp_path / "a.mp4", 5)
    v2 = h.write_video(tmp_path / "b.mp4", 3)
    return [h.info("dr-a", v1, frame_count=5), h.info("dr-b", v2, frame_count=3, index=1)]


def test_video_frames_keys_indices_and_metadata(tmp_path: Path, mem_url) -> None:
    ds = open_or_create(mem_url("frames"))
    events: list[dict] = []
    result = build_frame_dataset(ds, _videos(tmp_path), h.fetcher(tmp_path), batch_size=2, progress=events.append)
    assert (result.rows_added, result.data_rows_added, result.data_rows_skipped) == (8, 2, 0)
    assert len(ds) == 8
    assert read_row_keys(ds) == [f"dr-a:{n}" for n in range(1, 6)] + [f"dr-b:{n}" for n in range(1, 4)]
    assert list(ds["frame_idx"][0:8]) == [0, 1, 2, 3, 4, 0, 1, 2]
    assert list(ds["video_idx"][0:8]) == [0] * 5 + [1] * 3
    # frame n of each video has brightness 10*n (JPEG is lossy: compare the mean)
    assert abs(float(np.mean(ds["frames"][3])) - 40) < 4
    assert abs(float(np.mean(ds["frames"][7])) - 30) < 4
    meta = dict(ds.metadata["labelbox_meta"])
    assert meta == {"project_id": h.PID, "type": "video", "sources": ["a.mp4", "b.mp4"], "project_name": "store project"}
    assert result.commit_id == ds.version
    assert "8 frames of 2 video(s)" in ds.history[ds.version].message
    assert any(e["event"] == "video_done" for e in events) and events[-1]["event"] == "build_done"


def test_refresh_appends_only_new_data_rows(tmp_path: Path, mem_url) -> None:
    ds = open_or_create(mem_url("frames"))
    infos = _videos(tmp_path)
    build_frame_dataset(ds, infos[:1], h.fetcher(tmp_path))
    first = ds.version
    again = build_frame_dataset(ds, infos[:1], h.fetcher(tmp_path))
    assert (again.rows_added, again.data_rows_skipped, again.commit_id) == (0, 1, first)
    more = build_frame_dataset(ds, infos, h.fetcher(tmp_path))
    assert (more.rows_added, more.data_rows_added, more.data_rows_skipped) == (3, 1, 1)
    assert len(ds) == 8 and more.sources == ["a.mp4", "b.mp4"]
    assert list(ds["video_idx"][5:8]) == [1, 1, 1]


def test_frame_count_mismatch_fails_before_commit_d5(tmp_path: Path, mem_url) -> None:
    ds = open_or_create(mem_url("frames"))
    infos = _videos(tmp_path)
    build_frame_dataset(ds, infos[:1], h.fetcher(tmp_path))
    before = ds.version
    short = h.info("dr-c", h.write_video(tmp_path / "c.mp4", 4), frame_count=6)
    with pytest.raises(FrameCountMismatchError, match="dr-c.*decoded 4 frames.*6"):
        build_frame_dataset(ds, [infos[1], short], h.fetcher(tmp_path), batch_size=2)
    assert ds.version == before and len(ds) == 5  # dr-b's frames were appended, then rolled back
    assert dict(ds.metadata["labelbox_meta"])["sources"] == ["a.mp4"]
    result = build_frame_dataset(ds, [infos[1]], h.fetcher(tmp_path))
    assert result.rows_added == 3 and len(ds) == 8


def test_pad_policy_completes_short_video(tmp_path: Path, mem_url) -> None:
    ds = open_or_create(mem_url("frames"))
    short = h.info("dr-c", h.write_video(tmp_path / "c.mp4", 4), frame_count=6)
    result = build_frame_dataset(ds, [short], h.fetcher(tmp_path), frame_count_policy="pad")
    assert result.rows_added == 6 and read_row_keys(ds)[-1] == "dr-c:6"


def test_images_pass_through_and_decode(tmp_path: Path, mem_url) -> None:
    jpg = h.write_image(tmp_path / "a.jpg", 100, "JPEG")
    png = h.write_image(tmp_path / "b.png", 200, "PNG")
    infos = [h.info("im-a", jpg, "image"), h.info("im-b", png, "image", index=1),  # bytes, then a decoded array
             h.info("im-c", jpg, "image", external_id="a.jpg", index=2)]  # then bytes again: one batch
    ds = open_or_create(mem_url("images"))
    result = build_frame_dataset(ds, infos, h.fetcher(tmp_path), batch_size=3)
    assert result.rows_added == 3
    assert read_row_keys(ds) == ["im-a:0", "im-b:0", "im-c:0"]
    assert list(ds["image_idx"][0:3]) == [0, 1, 2]
    assert abs(float(np.mean(ds["image"][1])) - 200) < 3
    assert ds["image"][0].shape == ds["image"][2].shape == (h.H, h.W, 3)
    assert abs(float(np.mean(ds["image"][2])) - 100) < 3
    assert dict(ds.metadata["labelbox_meta"])["sources"] == ["a.jpg", "b.png", "a.jpg"]  # duplicate external ids kept


def test_png_storage_is_lossless(tmp_path: Path, mem_url) -> None:
    ds = open_or_create(mem_url("frames"))
    build_frame_dataset(ds, _videos(tmp_path)[1:], h.fetcher(tmp_path), storage="png")
    assert ds.schema["frames"].dtype.sample_compression == "png"
    first = ds["frames"][0]
    assert first.dtype == np.uint8 and first.shape == (h.H, h.W, 3)


def test_media_error_names_the_data_row_and_rolls_back(tmp_path: Path, mem_url) -> None:
    ds = open_or_create(mem_url("frames"))
    bad = h.info("dr-bad", tmp_path / "missing.mp4", frame_count=3)
    with pytest.raises(MediaError, match="dr-bad"):
        build_frame_dataset(ds, [_videos(tmp_path)[0], bad], h.fetcher(tmp_path))
    assert len(ds) == 0


def test_other_project_is_refused(tmp_path: Path, mem_url) -> None:
    ds = open_or_create(mem_url("frames"))
    infos = _videos(tmp_path)
    build_frame_dataset(ds, infos[:1], h.fetcher(tmp_path))
    other = h.info("dr-z", infos[1].row_data, frame_count=3)
    other.project_id = "otherproject"
    with pytest.raises(IncompatibleDatasetsError, match="otherproject"):
        build_frame_dataset(ds, [other], h.fetcher(tmp_path))


def test_png_storage_with_jpeg_then_png_sources(tmp_path: Path, mem_url) -> None:
    png = h.write_image(tmp_path / "b.png", 200, "PNG")
    jpg = h.write_image(tmp_path / "a.jpg", 100, "JPEG")
    infos = [h.info("im-j", jpg, "image"), h.info("im-p", png, "image", index=1)]  # decoded array, then bytes
    ds = open_or_create(mem_url("images"))
    build_frame_dataset(ds, infos, h.fetcher(tmp_path), storage="png")
    assert read_row_keys(ds) == ["im-j:0", "im-p:0"]
    assert int(np.asarray(ds["image"][1]).mean()) == 200
