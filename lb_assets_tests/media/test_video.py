"""PyAV decoding: headers reach ffmpeg, batches, frame-count policies, errors never swallowed."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from lb_assets.errors import FrameCountMismatchError, MediaError
from lb_assets.media.fetch import MediaFetcher
from lb_assets.media.presign import LabelboxBearerPresigner
from lb_assets.media.video import VideoInfo, iter_video_frames, probe_video
from lb_assets_tests.media.helpers import FileServer, frame_pattern, make_video

API_KEY = "lb-video-key-SECRET"


def _brightness(batches: list[np.ndarray]) -> list[int]:
    """Per-frame mean of the bottom half (encodes the frame index, see frame_pattern)."""
    return [int(round(f[24:].mean())) for b in batches for f in b]


def test_local_video_decodes_in_bounded_batches(video12_file: Path) -> None:
    batches = list(iter_video_frames(str(video12_file), batch_size=5, expected_frames=12))
    assert [b.shape for b in batches] == [(5, 48, 64, 3), (5, 48, 64, 3), (2, 48, 64, 3)]
    assert all(b.dtype == np.uint8 for b in batches)
    expected = [int(frame_pattern(i)[24:].mean()) for i in range(12)]
    # each decoded frame is closest to the pattern of its own index: frames come in order
    nearest = [int(np.argmin(np.abs(np.array(expected) - b))) for b in _brightness(batches)]
    assert nearest == list(range(12))


def test_probe_video(video12_file: Path) -> None:
    info = probe_video(video12_file)
    assert info == VideoInfo(width=64, height=48, frame_rate=10.0, frame_count=12)


def test_private_video_over_http_decodes_only_with_header(media_server: FileServer, video12: bytes) -> None:
    url = media_server.add("clip.mp4", video12, "video/mp4", require={"Authorization": f"Bearer {API_KEY}"})
    with pytest.raises(MediaError) as info:
        list(iter_video_frames(url, timeout=5))
    assert API_KEY not in str(info.value) and "clip.mp4" in str(info.value)

    fetcher = MediaFetcher(presigner=LabelboxBearerPresigner(API_KEY, hosts=["127.0.0.1"]))
    source, headers = fetcher.open_url(url)
    frames = sum(len(b) for b in iter_video_frames(source, headers, batch_size=4, expected_frames=12, timeout=5))
    assert frames == 12
    seen = media_server.headers_for("clip.mp4")
    authorized = [h for h in seen if h.get("Authorization") == f"Bearer {API_KEY}"]
    assert authorized  # the headers were really sent (D2)
    # ...by our HTTP client, never by ffmpeg (which would forward them across a redirect)
    assert all(h.get("User-Agent", "").startswith("python-requests") for h in authorized)


def test_public_video_still_streams_through_ffmpeg(media_server: FileServer, video12: bytes) -> None:
    url = media_server.add("public.mp4", video12, "video/mp4")
    fetcher = MediaFetcher(presigner=LabelboxBearerPresigner(API_KEY, hosts=["labelbox.com"]))
    source, headers = fetcher.open_url(url)
    assert headers == {}
    assert sum(len(b) for b in iter_video_frames(source, headers, expected_frames=12, timeout=5)) == 12
    seen = media_server.headers_for("public.mp4")
    assert any("Range" in h for h in seen)  # ffmpeg seeks to the moov atom itself
    assert not any("Authorization" in h for h in seen)


def test_seed_style_presigner_result_works_for_video(media_server: FileServer, video12: bytes) -> None:
    url = media_server.add("seed.mp4", video12, "video/mp4", require={"Authorization": "Bearer s"})
    fetcher = MediaFetcher(presigner=lambda u: (u, {"headers": {"Authorization": "Bearer s"}}))
    source, headers = fetcher.open_url(url)
    info = probe_video(source, headers, timeout=5)
    assert (info.width, info.height) == (64, 48)


def test_probe_private_video_error_hides_key(media_server: FileServer, video12: bytes) -> None:
    url = media_server.add("p.mp4", video12, "video/mp4", require={"Authorization": "Bearer right"})
    with pytest.raises(MediaError, match="cannot open video") as info:
        probe_video(url + "?sig=QUERYSECRET", {"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    assert API_KEY not in str(info.value) and "QUERYSECRET" not in str(info.value)


def test_short_video_fails_with_both_counts(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    path.write_bytes(make_video(10))
    with pytest.raises(FrameCountMismatchError) as info:
        list(iter_video_frames(str(path), expected_frames=12))
    assert "short.mp4" in str(info.value) and "10" in str(info.value) and "12" in str(info.value)


def test_long_video_fails_after_last_frame(video12_file: Path) -> None:
    got: list[np.ndarray] = []
    with pytest.raises(FrameCountMismatchError, match="decoded 12 frames .* frame_count is 8"):
        for batch in iter_video_frames(str(video12_file), batch_size=4, expected_frames=8):
            got.append(batch)
    assert sum(len(b) for b in got) == 12


def test_pad_policy_repeats_last_frame(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "short.mp4"
    path.write_bytes(make_video(10))
    with caplog.at_level(logging.WARNING, logger="lb_assets.media.video"):
        batches = list(iter_video_frames(str(path), batch_size=4, expected_frames=15, frame_count_policy="pad"))
    assert [len(b) for b in batches] == [4, 4, 2, 4, 1]
    frames = np.concatenate(batches)
    assert all(np.array_equal(frames[i], frames[9]) for i in range(10, 15))
    assert "padding 5" in caplog.text


def test_pad_policy_still_fails_on_long_video(video12_file: Path) -> None:
    with pytest.raises(FrameCountMismatchError):
        list(iter_video_frames(str(video12_file), expected_frames=10, frame_count_policy="pad"))


def test_truncate_policy_drops_extra_frames(video12_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lb_assets.media.video"):
        batches = list(
            iter_video_frames(str(video12_file), batch_size=4, expected_frames=6, frame_count_policy="truncate")
        )
    assert [len(b) for b in batches] == [4, 2]
    assert "truncating" in caplog.text
    with pytest.raises(FrameCountMismatchError):
        list(iter_video_frames(str(video12_file), expected_frames=20, frame_count_policy="truncate"))


def test_corrupt_video_raises_media_error(tmp_path: Path, video12: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(video12[: len(video12) // 3])  # moov atom (at the end) is cut off
    with pytest.raises(MediaError, match="broken.mp4"):
        list(iter_video_frames(str(path), expected_frames=12))


def test_zero_frames_is_an_error_even_without_expected_count(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="garbage.mp4"):
        list(iter_video_frames(str(path)))


def test_resolution_change_starts_new_batch() -> None:
    # Two different-size frames can't share one array: batches split instead of failing np.stack.
    from lb_assets.media.video import _batches

    frames = [np.zeros((4, 4, 3), np.uint8)] * 3 + [np.zeros((8, 8, 3), np.uint8)] * 2
    assert [b.shape for b in _batches(iter(frames), batch_size=10)] == [(3, 4, 4, 3), (2, 8, 8, 3)]


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"frame_count_policy": "drop"}, {"expected_frames": 0}])
def test_bad_arguments(video12_file: Path, kwargs: dict) -> None:
    with pytest.raises(MediaError):
        list(iter_video_frames(str(video12_file), **kwargs))


@pytest.mark.parametrize("status", [500, 429])
def test_remote_open_is_retried_on_transient_errors(media_server: FileServer, video12: bytes, status: int) -> None:
    url = media_server.add(f"flaky{status}.mp4", video12, "video/mp4", fail_times=1, fail_status=status)
    info = probe_video(url, timeout=5, open_retries=2)
    assert info.frame_count == 12
    with pytest.raises(MediaError, match="after 1 attempt"):
        media_server.add("down.mp4", video12, "video/mp4", fail_times=5, fail_status=status)
        list(iter_video_frames(f"{media_server.base_url}/files/down.mp4", timeout=5, open_retries=0))


def test_iter_frames_yields_single_frames_equal_to_the_batches(video12_file: Path) -> None:
    from lb_assets.media.video import iter_frames

    frames = list(iter_frames(str(video12_file), expected_frames=12))
    batched = np.concatenate(list(iter_video_frames(str(video12_file), batch_size=5, expected_frames=12)))
    assert len(frames) == 12 and all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert np.array_equal(np.stack(frames), batched)


def test_iter_decoded_checks_counts_and_converts_on_other_threads(video12_file: Path, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from lb_assets.media.video import frame_to_rgb, iter_decoded

    raw = list(iter_decoded(str(video12_file), expected_frames=12, decoder_threads=1))
    with ThreadPoolExecutor(2) as pool:
        converted = list(pool.map(frame_to_rgb, raw))
    assert np.array_equal(np.stack(converted), np.concatenate(list(iter_video_frames(str(video12_file)))))
    with pytest.raises(FrameCountMismatchError, match="decoded 12 frames .* frame_count is 13"):
        list(iter_decoded(str(video12_file), expected_frames=13))
    path = tmp_path / "short.mp4"
    path.write_bytes(make_video(10))
    padded = list(iter_decoded(str(path), expected_frames=12, frame_count_policy="pad"))
    assert len(padded) == 12 and padded[-1] is padded[9]
    assert len(list(iter_decoded(str(video12_file), expected_frames=5, frame_count_policy="truncate"))) == 5
