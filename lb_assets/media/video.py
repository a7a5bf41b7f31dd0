"""Stream-decode videos with PyAV into bounded (N, H, W, 3) uint8 batches, and check frame counts.

Decoding never loads the whole video: one batch of frames (plus ffmpeg's buffers) is in memory.
Decode errors are never swallowed, and a video that decodes to zero frames is an error: both are
how Deep Lake's integration loses videos silently (defects D2, D5).

Frame-count policies, used when ``expected_frames`` (Labelbox's ``media_attributes.frame_count``)
is given and the decoded count differs:

* ``"fail"`` (default): raise :class:`FrameCountMismatchError` after the last frame. Labels are
  keyed by frame number, so a short or long video would misplace them.
* ``"pad"``: a *short* video is completed by repeating its last frame up to the expected count
  (logged as a warning). A long video still fails.
* ``"truncate"``: a *long* video is cut at the expected count; decoding stops there (logged as a
  warning). A short video still fails.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Literal, get_args

import av
import numpy as np

from lb_assets.errors import FrameCountMismatchError, MediaError
from lb_assets.media.fetch import ffmpeg_options, safe_cause
from lb_assets.redact import redact_url

logger = logging.getLogger(__name__)

FrameCountPolicy = Literal["fail", "pad", "truncate"]
VideoSource = str | os.PathLike[str] | IO[bytes]


@dataclass(frozen=True)
class VideoInfo:
    """Stream properties read from the container header (no decoding).

    Attributes:
        width: Frame width in pixels.
        height: Frame height in pixels.
        frame_rate: Average frame rate (frames per second), 0.0 when unknown.
        frame_count: Frame count from the container, ``None`` when the container does not say.
    """

    width: int
    height: int
    frame_rate: float
    frame_count: int | None


def _describe(source: VideoSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return redact_url(os.fspath(source))
    return f"<{type(source).__name__} stream>"


_TRANSIENT_OPEN_ERRORS: tuple[type[BaseException], ...] = (
    av.error.HTTPServerError,
    av.error.HTTPTooManyRequestsError,
    ConnectionError,
    TimeoutError,
)


def _open(
    source: VideoSource,
    headers: Mapping[str, str] | None,
    timeout: float,
    retries: int = 2,
    backoff: float = 0.5,
) -> av.container.InputContainer:
    """Open ``source`` with headers and timeouts passed the way ffmpeg understands them.

    Opening is retried (``retries`` times, exponential ``backoff``) on 5xx, 429, refused/reset
    connections and timeouts; other failures raise at once.
    """
    is_remote = isinstance(source, str) and source.lower().startswith(("http://", "https://"))
    target = os.fspath(source) if isinstance(source, os.PathLike) else source
    options = ffmpeg_options(headers, timeout) if is_remote else {}
    url = target if isinstance(target, str) else ""
    attempt = 0
    while True:
        try:
            return av.open(target, mode="r", options=options, timeout=(timeout, timeout))
        except _TRANSIENT_OPEN_ERRORS as exc:
            if not is_remote or attempt >= retries:
                raise MediaError(
                    f"cannot open video {_describe(source)} after {attempt + 1} attempt(s): "
                    f"{safe_cause(exc, url, headers)}"
                ) from None
            attempt += 1
            delay = backoff * 2 ** (attempt - 1)
            logger.warning(
                "opening video %s failed (%s); retry %d/%d in %.2fs",
                _describe(source),
                type(exc).__name__,
                attempt,
                retries,
                delay,
            )
            time.sleep(delay)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise MediaError(f"cannot open video {_describe(source)}: {safe_cause(exc, url, headers)}") from None


def probe_video(
    source: VideoSource,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    open_retries: int = 2,
) -> VideoInfo:
    """Read width, height, frame rate and (if recorded) frame count of the first video stream.

    Args:
        source: Local path, http(s) URL or binary file object.
        headers: HTTP headers for remote sources (e.g. ``Authorization``).
        timeout: Open/read timeout in seconds.
        open_retries: Retries of a remote open on 5xx/429/connection errors/timeouts.

    Raises:
        MediaError: The source cannot be opened or has no video stream.
    """
    with _open(source, headers, timeout, open_retries) as container:
        if not container.streams.video:
            raise MediaError(f"video {_describe(source)} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            frame_rate=float(rate) if rate else 0.0,
            frame_count=int(stream.frames) if stream.frames else None,
        )


def _decoded_frames(
    source: VideoSource, headers: Mapping[str, str] | None, timeout: float, open_retries: int
) -> Iterator[np.ndarray]:
    """Yield each frame as an (H, W, 3) uint8 rgb24 array; errors become MediaError."""
    url = source if isinstance(source, str) else ""
    with _open(source, headers, timeout, open_retries) as container:
        if not container.streams.video:
            raise MediaError(f"video {_describe(source)} has no video stream")
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise MediaError(f"decoding video {_describe(source)} failed: {safe_cause(exc, url, headers)}") from None


def _batches(frames: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Group frames into (N, H, W, 3) arrays of at most ``batch_size``; a size change starts a batch.

    Frames are copied into one preallocated array per batch (no list + ``np.stack``, which would
    hold each batch twice); every yielded array is a fresh allocation the caller may keep.
    """
    buf: np.ndarray | None = None
    n = 0
    for frame in frames:
        if buf is not None and (n >= batch_size or frame.shape != buf.shape[1:]):
            yield buf[:n]
            buf = None
        if buf is None:
            buf = np.empty((batch_size, *frame.shape), dtype=np.uint8)
            n = 0
        buf[n] = frame
        n += 1
    if buf is not None and n:
        yield buf[:n]


def iter_video_frames(
    source: VideoSource,
    headers: Mapping[str, str] | None = None,
    batch_size: int = 100,
    expected_frames: int | None = None,
    timeout: float = 30.0,
    frame_count_policy: FrameCountPolicy = "fail",
    open_retries: int = 2,
) -> Iterator[np.ndarray]:
    """Decode a video into batches of RGB frames, streaming.

    Args:
        source: Local path, http(s) URL (use :meth:`MediaFetcher.open_url` first) or binary file object.
        headers: HTTP headers for remote sources; they reach ffmpeg as a ``"K: V\\r\\n"`` block.
        batch_size: Maximum frames per yielded batch. A frame of a different size (resolution
            change mid-stream) starts a new batch.
        expected_frames: Labelbox's frame count; checked after the last frame (see module doc).
        timeout: Open/read timeout in seconds.
        frame_count_policy: ``"fail"``, ``"pad"`` or ``"truncate"`` (see module doc).
        open_retries: Retries of a remote open on 5xx/429/connection errors/timeouts (with
            backoff). A failure after frames were yielded is not retried: it raises.

    Yields:
        ``(N, H, W, 3)`` uint8 arrays, ``1 <= N <= batch_size``, in frame order.

    Raises:
        MediaError: Open or decode failure (cause included, redacted), or zero frames decoded.
        FrameCountMismatchError: Decoded count differs from ``expected_frames`` and the policy does
            not cover it; names the source and both counts.
    """
    if batch_size < 1:
        raise MediaError(f"batch_size must be >= 1, got {batch_size}")
    if frame_count_policy not in get_args(FrameCountPolicy):
        raise MediaError(f"frame_count_policy must be one of {get_args(FrameCountPolicy)}, got {frame_count_policy!r}")
    if expected_frames is not None and expected_frames < 1:
        raise MediaError(f"expected_frames must be >= 1 for video {_describe(source)}, got {expected_frames}")

    frames = _decoded_frames(source, headers, timeout, open_retries)
    truncating = expected_frames is not None and frame_count_policy == "truncate"
    decoded = 0
    last: np.ndarray | None = None

    def counted() -> Iterator[np.ndarray]:
        nonlocal decoded, last
        for frame in frames:
            if truncating and decoded >= expected_frames:  # type: ignore[operator]
                logger.warning(
                    "video %s has more than the expected %d frames; truncating (frame_count_policy='truncate')",
                    _describe(source),
                    expected_frames,
                )
                frames.close()
                return
            decoded += 1
            last = frame
            yield frame

    yield from _batches(counted(), batch_size)

    if decoded == 0:
        raise MediaError(
            f"video {_describe(source)} decoded to 0 frames"
            + (f" (expected {expected_frames})" if expected_frames is not None else "")
        )
    if expected_frames is None or decoded == expected_frames:
        return
    if decoded < expected_frames and frame_count_policy == "pad":
        missing = expected_frames - decoded
        logger.warning(
            "video %s decoded %d frames, expected %d; padding %d copies of the last frame (frame_count_policy='pad')",
            _describe(source),
            decoded,
            expected_frames,
            missing,
        )
        assert last is not None
        while missing > 0:
            n = min(batch_size, missing)
            yield np.repeat(last[np.newaxis], n, axis=0)
            missing -= n
        return
    raise FrameCountMismatchError(
        f"video {_describe(source)} decoded {decoded} frames but Labelbox's frame_count is {expected_frames} "
        f"(frame_count_policy={frame_count_policy!r})"
    )
