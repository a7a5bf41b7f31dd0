"""build_frame_dataset: real PyAV decoding of generated videos, real Deep Lake datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lb_assets.errors import FrameCountMismatchError, IncompatibleDatasetsError, MediaError
from lb_assets.store.datasets import open_or_create
from lb_assets.store.frames import build_frame_dataset
from lb_assets.store.row_keys import iter_row_keys, present_data_rows, read_row_keys
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


def test_row_keys_read_in_slices_equal_one_read(tmp_path: Path, mem_url) -> None:
    """Slices that do not divide the row count, one row, or more than the rows: the same keys in order."""
    ds = open_or_create(mem_url("frames"))
    build_frame_dataset(ds, _videos(tmp_path), h.fetcher(tmp_path))
    whole = [str(k) for k in ds["row_key"][0 : len(ds)]]
    assert len(whole) == 8
    for chunk in (1, 3, 8, 1000):
        assert list(iter_row_keys(ds, chunk)) == whole
    assert present_data_rows(ds) == {"dr-a", "dr-b"}
    assert list(iter_row_keys(open_or_create(mem_url("empty")))) == [] and present_data_rows(ds[0:0]) == set()


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


def _decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_png_frames_read_back_exactly_as_decoded(tmp_path: Path, mem_url) -> None:
    infos = _videos(tmp_path)
    ds = open_or_create(mem_url("frames"))
    result = build_frame_dataset(ds, infos, h.fetcher(tmp_path), storage="png", batch_size=2)
    assert result.rows_added == 8 and read_row_keys(ds)[4:6] == ["dr-a:5", "dr-b:1"]
    decoded = _decoded(Path(infos[0].row_data)) + _decoded(Path(infos[1].row_data))
    for i, frame in enumerate(decoded):
        assert np.array_equal(np.asarray(ds["frames"][i]), frame)


def test_jpeg_frames_read_back_as_well_as_what_deeplake_itself_stores(tmp_path: Path, mem_url) -> None:
    """Our JPEGs (from the decoder's YUV planes) are no longer Deep Lake's bytes, but 4:2:0 JPEGs that its
    ``Image(jpeg)`` column decodes, within 0.5 dB PSNR of its own encoding (lb_assets_tests/media/test_jpeg_from_yuv.py)."""
    import deeplake
    import simplejpeg

    infos = _videos(tmp_path)[:1]
    ds = open_or_create(mem_url("frames"))
    build_frame_dataset(ds, infos, h.fetcher(tmp_path))
    decoded = _decoded(Path(infos[0].row_data))
    ref = deeplake.create(mem_url("ref"))
    ref.add_column("frames", deeplake.types.Image(sample_compression="jpg"))
    ref.append({"frames": decoded})

    def psnr(column, i: int) -> float:
        mse = float(np.mean((np.asarray(column[i], dtype=np.float64) - decoded[i]) ** 2))
        return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)

    for i in range(5):
        data = ds["frames"].get_bytes(i)
        assert simplejpeg.decode_jpeg_header(data)[2:] == ("YCbCr", "420")
        assert np.array_equal(np.asarray(ds["frames"][i]), simplejpeg.decode_jpeg(data))
    assert np.mean([psnr(ds["frames"], i) for i in range(5)]) >= np.mean([psnr(ref["frames"], i) for i in range(5)]) - 0.5


def test_long_videos_append_in_bounded_batches_with_progress(tmp_path: Path, mem_url) -> None:
    from lb_assets.store import frames as frames_mod

    long = h.info("dr-l", h.write_video(tmp_path / "l.mp4", 70), frame_count=70)
    for storage in ("jpeg", "png"):
        ds = open_or_create(mem_url("frames"))
        events: list[dict] = []
        build_frame_dataset(ds, [long], h.fetcher(tmp_path), storage=storage, progress=events.append)
        written = [e["frames"] for e in events if e["event"] == "frames_written"]
        assert written == [32, 64, 70]  # batch_size 100 is capped at MAX_FRAME_BATCH
        assert frames_mod.MAX_FRAME_BATCH == 32 and len(ds) == 70
        assert list(ds["frame_idx"][0:70]) == list(range(70)) and read_row_keys(ds)[-1] == "dr-l:70"
        assert events.index(next(e for e in events if e["event"] == "video_done")) == 3


def test_frame_count_mismatch_after_background_appends_rolls_back(tmp_path: Path, mem_url) -> None:
    long = h.info("dr-l", h.write_video(tmp_path / "l.mp4", 70), frame_count=71)
    for storage in ("jpeg", "png"):
        ds = open_or_create(mem_url("frames"))
        with pytest.raises(FrameCountMismatchError, match="dr-l.*decoded 70 frames.*71"):
            build_frame_dataset(ds, [long], h.fetcher(tmp_path), storage=storage)
        assert len(ds) == 0  # 70 frames were appended (in 3 appends), then rolled back


def test_png_storage_stores_decoded_images_losslessly(tmp_path: Path, mem_url) -> None:
    from lb_assets.media.image import load_image

    rng = np.random.default_rng(1)
    noisy = tmp_path / "noisy.jpg"
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, size=(h.H, h.W, 3), dtype=np.uint8)).save(noisy, quality=90)
    ds = open_or_create(mem_url("images"))
    build_frame_dataset(ds, [h.info("im-n", noisy, "image")], h.fetcher(tmp_path), storage="png")
    assert np.array_equal(np.asarray(ds["image"][0]), load_image(noisy.read_bytes()))


def test_empty_export_leaves_a_new_dataset_untyped_so_a_later_image_build_works(tmp_path) -> None:
    """A project with no data rows yet must not commit a guessed (video) schema."""
    import deeplake

    from lb_assets.store.frames import build_frame_dataset

    ds = deeplake.create(str(tmp_path / "frames"))
    result = build_frame_dataset(ds, [], fetcher=None)
    assert result.rows_added == 0 and result.commit_id is None
    assert list(ds.metadata.keys()) == [] and [c.name for c in ds.schema.columns] == []


@pytest.mark.parametrize("policy", ["fail", "pad", "truncate"])
def test_video_without_frame_count_is_refused_whatever_the_policy(tmp_path: Path, mem_url, policy: str) -> None:
    """The converter cannot place such a video's labels on frames either: refuse it before writing frames."""
    from lb_assets.errors import ExportRowError

    ds = open_or_create(mem_url("frames"))
    unknown = h.info("dr-x", h.write_video(tmp_path / "x.mp4", 3), frame_count=None)
    with pytest.raises(ExportRowError, match="dr-x.*frame_count"):
        build_frame_dataset(ds, [unknown], h.fetcher(tmp_path), frame_count_policy=policy)
    assert len(ds) == 0


@pytest.mark.parametrize(
    ("width", "height", "per_task"), [(640, 360, 16), (1280, 720, 4), (1920, 1080, 4), (64, 48, 16)]
)
def test_encoder_tasks_take_more_frames_when_frames_are_small(width: int, height: int, per_task: int) -> None:
    """Frames below 720p go to the encoders several per task (up to 16), 720p and larger 4 per task; order kept."""
    import av

    from lb_assets.store.frames import _chunks

    frames = [av.VideoFrame(width, height, "yuv420p") for _ in range(per_task * 2 + 1)]
    chunks = list(_chunks(iter(frames)))
    assert [len(c) for c in chunks] == [per_task, per_task, 1]
    assert [f for c in chunks for f in c] == frames
