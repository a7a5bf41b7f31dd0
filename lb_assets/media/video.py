"""Stream-decode videos with PyAV, and check frame counts.

:func:`iter_video_frames` yields bounded ``(N, H, W, 3)`` uint8 batches; :func:`iter_frames` single RGB
frames; :func:`iter_decoded` PyAV frames for pipelines that convert (:func:`frame_to_rgb`, thread-safe)
and encode on other threads. Decoding never loads the whole video: one batch of frames (plus ffmpeg's
buffers) is in memory.
Decode errors are never swallowed, and a video that decodes to zero frames is an error: both are
how Deep Lake's integration loses videos silently (defects D2, D5).

Credentials never reach ffmpeg: a remote video with request headers is downloaded by us
(:func:`lb_assets.media.fetch.download_to`, redirects followed with credentials decided per hop) into a
temporary file that PyAV decodes and that is deleted afterwards; public videos (no headers) stream
through ffmpeg as before. Errors no retry can fix (HTTP 4xx other than 408/429, empty or undecodable
files, no video stream, missing local files, NUL bytes) are :class:`PermanentMediaError`.

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

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, get_args

import av
import numpy as np
import requests
from av.video.reformatter import VideoReformatter
from PIL import Image

from lb_assets.choices import FrameCountPolicy
from lb_assets.errors import FrameCountMismatchError, MediaError, PermanentMediaError
from lb_assets.media.fetch import check_no_nul, download_to, ffmpeg_options, safe_cause, shown_source

logger = logging.getLogger(__name__)

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
        return shown_source(os.fspath(source))
    return f"<{type(source).__name__} stream>"


def _is_remote(source: VideoSource) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


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
) -> contextlib.AbstractContextManager[av.container.InputContainer]:
    """Open ``source`` for decoding (a context manager yielding the PyAV container).

    A remote source with headers is downloaded to a temporary file first (deleted on exit), so the
    credentials never reach ffmpeg, which would forward them across redirects. Public remote sources
    stream through ffmpeg with its timeouts. Opening (or downloading) is retried ``retries`` times
    with exponential ``backoff`` on 5xx, 408, 429, refused/reset connections and timeouts.
    """
    if isinstance(source, (str, os.PathLike)):
        check_no_nul(os.fspath(source), "video source")
    if _is_remote(source) and headers:
        return _open_downloaded(str(source), headers, timeout, retries, backoff)
    if isinstance(source, (str, os.PathLike)) and not _is_remote(source):
        _check_local(source)
    return _open_container(source, source, {}, timeout, retries, backoff)


@contextlib.contextmanager
def _open_downloaded(
    url: str, headers: Mapping[str, str], timeout: float, retries: int, backoff: float
) -> Iterator[av.container.InputContainer]:
    suffix = os.path.splitext(url.split("?", 1)[0].split("#", 1)[0])[1][:8]
    with tempfile.NamedTemporaryFile(prefix="lb_assets-video-", suffix=suffix) as tmp:
        try:
            size = download_to(url, headers, tmp, timeout=timeout, retries=retries, backoff=backoff)
        except MediaError as exc:
            raise type(exc)(f"cannot open video {_describe(url)}: {exc}") from None
        if size == 0:
            raise PermanentMediaError(f"video {_describe(url)} is an empty file (0 bytes)")
        logger.debug(
            "video %s: downloaded %d bytes to decode locally (credentials stay out of ffmpeg)", _describe(url), size
        )
        with _open_container(tmp.name, url, {}, timeout, 0, backoff) as container:
            yield container


def _check_local(source: str | os.PathLike[str]) -> None:
    try:
        size = os.path.getsize(source)
    except FileNotFoundError:
        raise PermanentMediaError(f"video {_describe(source)} does not exist") from None
    except OSError:
        return  # let ffmpeg report it
    if size == 0:
        raise PermanentMediaError(f"video {_describe(source)} is an empty file (0 bytes)")


def _open_container(
    target: VideoSource,
    source: VideoSource,
    headers: Mapping[str, str],
    timeout: float,
    retries: int,
    backoff: float,
) -> av.container.InputContainer:
    """``av.open`` with retries; ``source`` names the video in messages, ``target`` is what is opened."""
    is_remote = _is_remote(target)
    opened = os.fspath(target) if isinstance(target, os.PathLike) else target
    options = ffmpeg_options(headers, timeout) if is_remote else {}
    url = source if isinstance(source, str) else ""
    attempt = 0
    while True:
        try:
            return av.open(opened, mode="r", options=options, timeout=(timeout, timeout))
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
            raise _open_error(exc, source, is_remote, url, headers, timeout) from None


def _open_error(
    exc: BaseException, source: VideoSource, is_remote: bool, url: str, headers: Mapping[str, str], timeout: float
) -> MediaError:
    """Classify an ``av.open`` failure: permanent (4xx, undecodable, missing, empty) or transient."""
    where = _describe(source)
    cause = safe_cause(exc, url, headers)
    if isinstance(exc, av.error.HTTPClientError):
        other = isinstance(exc, av.error.HTTPOtherClientError)
        status = _public_status(url, timeout) if is_remote and other else None
        if status == 416:  # ffmpeg asks for bytes 0-: only an empty body cannot satisfy it
            return PermanentMediaError(f"video {where} is an empty file (0 bytes; the server answered HTTP 416)")
        if status == 408:
            return MediaError(f"cannot open video {where}: HTTP 408 (request timeout)")
        shown = f"HTTP {status}" if status else cause
        return PermanentMediaError(f"cannot open video {where}: {shown}")
    if isinstance(exc, av.error.InvalidDataError):
        return PermanentMediaError(f"cannot open video {where}: not a decodable video ({cause})")
    if isinstance(exc, (FileNotFoundError, ValueError)) or (not is_remote and isinstance(exc, av.FFmpegError)):
        return PermanentMediaError(f"cannot open video {where}: {cause}")
    return MediaError(f"cannot open video {where}: {cause}")


def _public_status(url: str, timeout: float) -> int | None:
    """The HTTP status of a public ``url`` for ``Range: bytes=0-`` (as ffmpeg asks), or None."""
    try:
        with requests.get(url, headers={"Range": "bytes=0-"}, timeout=timeout, stream=True) as response:
            return response.status_code
    except requests.RequestException:
        return None


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
            raise PermanentMediaError(f"video {_describe(source)} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            frame_rate=float(rate) if rate else 0.0,
            frame_count=int(stream.frames) if stream.frames else None,
        )


def _decoded_frames(
    source: VideoSource,
    headers: Mapping[str, str] | None,
    timeout: float,
    open_retries: int,
    decoder_threads: int | None = None,
) -> Generator[av.VideoFrame, None, None]:
    """Yield each decoded frame (PyAV ``VideoFrame``, decoder pixel format); errors become MediaError."""
    url = source if isinstance(source, str) else ""
    streamed = _is_remote(source) and not headers  # ffmpeg reads the network itself
    with _open(source, headers, timeout, open_retries) as container:
        if not container.streams.video:
            raise PermanentMediaError(f"video {_describe(source)} has no video stream")
        stream = container.streams.video[0]
        if decoder_threads is not None:
            stream.codec_context.thread_count = decoder_threads
        try:
            yield from container.decode(stream)
        except (av.FFmpegError, OSError, ValueError) as exc:
            message = f"decoding video {_describe(source)} failed: {safe_cause(exc, url, headers)}"
            permanent = isinstance(exc, av.error.InvalidDataError) or not (streamed or isinstance(exc, OSError))
            raise (PermanentMediaError if permanent else MediaError)(message) from None


_LOCAL = threading.local()


def frame_to_rgb(frame: av.VideoFrame, source: VideoSource | None = None) -> np.ndarray:
    """Convert a decoded frame to an ``(H, W, 3)`` uint8 RGB array (as ``to_ndarray(format="rgb24")``).

    Thread-safe: each thread keeps its own reformatter, so frames (even one frame object) may be
    converted on several threads at once; the conversion releases the GIL. The array is a view of
    a fresh rgb24 frame (no further copy) that the caller may keep.

    Args:
        frame: A frame from :func:`iter_decoded`.
        source: The video, only for error messages (redacted).

    Raises:
        MediaError: The conversion failed.
    """
    reformatter = getattr(_LOCAL, "reformatter", None)
    if reformatter is None:
        reformatter = _LOCAL.reformatter = VideoReformatter()
    try:
        return reformatter.reformat(frame, format="rgb24").to_ndarray()
    except (av.FFmpegError, ValueError) as exc:
        where = _describe(source) if source is not None else "frame"
        raise MediaError(f"converting a frame of video {where} to RGB failed: {type(exc).__name__}: {exc}") from None


#: Colorspaces whose YCbCr is JPEG's (BT.601); ``frame_to_rgb`` converts untagged frames as BT.601 too.
_BT601_COLORSPACES = frozenset({2, 5, 6})  # unspecified, BT470BG, SMPTE170M (AVColorSpace values)
_COLOR_RANGE_JPEG = 2  # AVCOL_RANGE_JPEG (full range)
#: Luma offset that makes full-range planes read back like :func:`frame_to_rgb`: swscale's fast YUV->RGB
#: path is ~1.2 levels darker than exact BT.601, and JPEGs from exactly expanded planes lose 0.5-1.6 dB
#: PSNR against it (0.04-0.32 dB with the offset, on real and demo clips).
LUMA_OFFSET = 1


def _range_lut(zero: int, span: int, full_zero: int, offset: int) -> list[int]:
    """256-entry table: limited-range sample ``x`` -> ``(x - zero) * 255 / span + full_zero - offset``, clipped."""
    values = np.round((np.arange(256) - zero) * 255.0 / span + full_zero - offset)
    return [int(v) for v in np.clip(values, 0, 255)]


_LUMA_LUT = _range_lut(16, 219, 0, LUMA_OFFSET)
_CHROMA_LUT = _range_lut(128, 224, 128, 0)


def _expanded(plane: av.video.plane.VideoPlane, table: list[int]) -> np.ndarray:
    """A full-range copy of a limited-range plane: one table lookup pass in Pillow (GIL released)."""
    image = Image.frombuffer("L", (plane.line_size, plane.height), plane, "raw", "L", 0, 1)  # type: ignore[arg-type]  # a PyAV plane is a buffer
    return np.asarray(image.point(table))[:, : plane.width]


def frame_to_jpeg_planes(frame: av.VideoFrame) -> list[np.ndarray] | None:
    """Full-range BT.601 YUV 4:2:0 planes ``[Y, U, V]`` of a decoded frame, as a JPEG encoder wants them.

    A limited-range (MPEG, the usual for video) ``yuv420p`` frame is range-expanded by a table lookup per
    plane (one pass, luma lowered by :data:`LUMA_OFFSET`); a full-range one is used as it is (views of
    the frame, strided by the line size, no copy). Thread-safe.

    Returns:
        The planes, or ``None`` for frames in another pixel format (4:2:2, 4:4:4, 10-bit, ...) or tagged
        with a colorspace other than BT.601 (e.g. BT.709; a JPEG decoder would show other colours than
        :func:`frame_to_rgb`): encode those from RGB.
    """
    name = frame.format.name
    if int(frame.colorspace) not in _BT601_COLORSPACES or name not in ("yuv420p", "yuvj420p"):
        return None
    planes = frame.planes
    if name == "yuvj420p" or int(frame.color_range) == _COLOR_RANGE_JPEG:
        return [np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in planes]
    return [_expanded(planes[0], _LUMA_LUT), _expanded(planes[1], _CHROMA_LUT), _expanded(planes[2], _CHROMA_LUT)]


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


def _check_args(source: VideoSource, expected_frames: int | None, frame_count_policy: str) -> None:
    if frame_count_policy not in get_args(FrameCountPolicy):
        raise MediaError(f"frame_count_policy must be one of {get_args(FrameCountPolicy)}, got {frame_count_policy!r}")
    if expected_frames is not None and expected_frames < 1:
        raise MediaError(f"expected_frames must be >= 1 for video {_describe(source)}, got {expected_frames}")


class _Counted:
    """Decoded frames with the truncate policy applied, counted; `tail` then pads or raises (D5)."""

    def __init__(
        self,
        source: VideoSource,
        headers: Mapping[str, str] | None,
        expected_frames: int | None,
        timeout: float,
        frame_count_policy: str,
        open_retries: int,
        decoder_threads: int | None = None,
    ) -> None:
        _check_args(source, expected_frames, frame_count_policy)
        self.source = source
        self.expected = expected_frames
        self.policy = frame_count_policy
        self.frames = _decoded_frames(source, headers, timeout, open_retries, decoder_threads)
        self.decoded = 0
        self.last: av.VideoFrame | None = None

    def __iter__(self) -> Iterator[av.VideoFrame]:
        try:
            for frame in self.frames:
                if self.expected is not None and self.policy == "truncate" and self.decoded >= self.expected:
                    logger.warning(
                        "video %s has more than the expected %d frames; truncating (frame_count_policy='truncate')",
                        _describe(self.source),
                        self.expected,
                    )
                    break
                self.decoded += 1
                self.last = frame
                yield frame
        finally:
            self.frames.close()  # closes the container now, also when the consumer stops early

    def padding(self) -> int:
        """Frames to pad after the last decoded one (0 when none); raises when the count is wrong."""
        if self.decoded == 0:
            raise PermanentMediaError(
                f"video {_describe(self.source)} decoded to 0 frames"
                + (f" (expected {self.expected})" if self.expected is not None else "")
            )
        if self.expected is None or self.decoded == self.expected:
            return 0
        if self.decoded < self.expected and self.policy == "pad":
            missing = self.expected - self.decoded
            logger.warning(
                "video %s decoded %d frames, expected %d; padding %d copies of the last frame "
                "(frame_count_policy='pad')",
                _describe(self.source),
                self.decoded,
                self.expected,
                missing,
            )
            return missing
        raise FrameCountMismatchError(
            f"video {_describe(self.source)} decoded {self.decoded} frames but Labelbox's frame_count is "
            f"{self.expected} (frame_count_policy={self.policy!r})"
        )


def iter_decoded(
    source: VideoSource,
    headers: Mapping[str, str] | None = None,
    expected_frames: int | None = None,
    timeout: float = 30.0,
    frame_count_policy: FrameCountPolicy = "fail",
    open_retries: int = 2,
    decoder_threads: int | None = None,
) -> Iterator[av.VideoFrame]:
    """Decode a video frame by frame, with the frame-count check, leaving RGB conversion to the caller.

    For pipelines that convert (:func:`frame_to_rgb`) and encode frames on other threads while this
    one keeps decoding. Arguments, checks and errors are those of :func:`iter_video_frames` (see the
    module doc for the policies); a ``"pad"`` policy yields the last decoded frame object again for
    each missing frame. ``decoder_threads`` sets the decoder's own threads (``None``: ffmpeg's
    default, one per CPU; ``1`` leaves the other cores to the caller's converters and encoders).

    Yields:
        PyAV ``VideoFrame`` objects in the decoder's pixel format, in frame order.

    Raises:
        MediaError: Open or decode failure (cause included, redacted), or zero frames decoded.
        FrameCountMismatchError: Decoded count differs from ``expected_frames`` and the policy does
            not cover it (raised after the last frame, so before anything is committed downstream).
    """
    counted = _Counted(source, headers, expected_frames, timeout, frame_count_policy, open_retries, decoder_threads)
    yield from counted
    missing = counted.padding()
    for _ in range(missing):
        yield counted.last  # type: ignore[misc]


def iter_frames(
    source: VideoSource,
    headers: Mapping[str, str] | None = None,
    expected_frames: int | None = None,
    timeout: float = 30.0,
    frame_count_policy: FrameCountPolicy = "fail",
    open_retries: int = 2,
) -> Iterator[np.ndarray]:
    """Decode a video into single ``(H, W, 3)`` uint8 RGB frames, streaming, never holding a batch.

    :func:`iter_decoded` with :func:`frame_to_rgb` applied; same arguments, checks and errors.
    """
    for frame in iter_decoded(source, headers, expected_frames, timeout, frame_count_policy, open_retries):
        yield frame_to_rgb(frame, source)


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
            change mid-stream) starts a new batch. Every batch is a fresh ``batch_size x H x W x 3``
            allocation (276 MB for 100 frames at 720p): to write frames somewhere, prefer
            :func:`iter_frames` (one frame at a time, no copy) or small batches.
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
    counted = _Counted(source, headers, expected_frames, timeout, frame_count_policy, open_retries)
    yield from _batches((frame_to_rgb(frame, source) for frame in counted), batch_size)
    missing = counted.padding()
    last = frame_to_rgb(counted.last, source) if missing else None  # type: ignore[arg-type]
    while missing > 0:
        n = min(batch_size, missing)
        yield np.repeat(last[np.newaxis], n, axis=0)  # type: ignore[index]
        missing -= n
