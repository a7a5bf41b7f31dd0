"""Encode RGB frames to JPEG/PNG bytes, in a small thread pool overlapped with decoding.

Deep Lake 4.7.4 stores encoded bytes appended to an ``Image`` column as they are, when they are of the
column's compression. Encoding them ourselves is what makes frame builds fast on few cores:

* PyAV decodes on the calling thread while the encoders run on the other cores (Pillow's JPEG encoder
  and zlib release the GIL), instead of decoding and then encoding inside ``ds.append`` one after
  the other.
* :func:`encode_jpeg` at :data:`DEEPLAKE_JPEG_QUALITY` gives byte-for-byte what Deep Lake's own JPEG
  compression stores (Pillow quality 70, 4:2:0), so datasets do not change.
* :func:`encode_jpeg_frame` encodes a decoded video frame straight from its YUV 4:2:0 planes with
  libjpeg-turbo (``simplejpeg``): no RGB round trip (swscale to RGB, then RGB to YCbCr and chroma
  downsampling inside the encoder): ~3.6 ms instead of ~5.1 ms of CPU per 720p frame (measured alone), same
  quality setting and subsampling (70, 4:2:0), 0.04-0.32 dB PSNR below Deep Lake's own encoding against
  the decoded frames on real clips (benchmarks/README.md).
* :func:`encode_png` is a minimal lossless PNG writer (8-bit RGB, the "Up" filter on every row, zlib
  level 1): ~3-4x less CPU per frame than Deep Lake's (or Pillow's) PNG encoder, at about the same
  size on video frames. Read back, the pixels equal the input exactly.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import av
import numpy as np
import simplejpeg
from PIL import Image

from lb_assets.errors import MediaError
from lb_assets.media.video import VideoSource, frame_to_jpeg_planes, frame_to_rgb

logger = logging.getLogger(__name__)

#: Pillow JPEG quality that reproduces Deep Lake 4.7.4's JPEG ``Image`` compression exactly.
DEEPLAKE_JPEG_QUALITY = 70
#: zlib level of :func:`encode_png` (1 = fastest; higher levels cost much more CPU for a few % size).
PNG_LEVEL = 1
#: :func:`encode_jpeg_frame` from the decoder's YUV planes (True) or from RGB (False).
JPEG_FROM_YUV = True

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_FILTER_UP = 2

Encoder = Callable[[np.ndarray], bytes]
T = TypeVar("T")
R = TypeVar("R")


def _check_rgb(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        raise MediaError(f"expected an (H, W, 3) uint8 frame to encode, got {type(frame).__name__} {shape}")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise MediaError(f"cannot encode an empty frame of shape {frame.shape}")


def encode_jpeg(frame: np.ndarray, quality: int = DEEPLAKE_JPEG_QUALITY) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 RGB frame as baseline JPEG (4:2:0).

    Args:
        frame: The frame.
        quality: Pillow quality; the default equals Deep Lake's own JPEG compression.

    Raises:
        MediaError: ``frame`` is not an ``(H, W, 3)`` uint8 array.
    """
    _check_rgb(frame)
    out = io.BytesIO()
    Image.fromarray(frame, mode="RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def encode_jpeg_frame(
    frame: av.VideoFrame, quality: int = DEEPLAKE_JPEG_QUALITY, source: VideoSource | None = None
) -> bytes:
    """Encode a decoded video frame as baseline JPEG (4:2:0) from its YUV planes, without RGB.

    Thread-safe; the range expansion (Pillow's table lookup, see
    :func:`lb_assets.media.video.frame_to_jpeg_planes`) and libjpeg-turbo release the GIL, so several
    frames encode in parallel with decoding. Frames in other pixel formats, or tagged with a non-BT.601
    colorspace (e.g. BT.709), are converted to RGB (:func:`lb_assets.media.video.frame_to_rgb`) and
    encoded from that (same quality and 4:2:0), so that JPEG decoders (BT.601) show the colours RGB
    conversion gives. The bytes are what Deep Lake's ``Image(jpeg)`` column stores and decodes as given.

    Args:
        frame: A frame from :func:`lb_assets.media.video.iter_decoded`.
        quality: libjpeg quality (the default is Deep Lake's JPEG compression's).
        source: The video, only for error messages (redacted).

    Raises:
        MediaError: Conversion or encoding failed.
    """
    planes = frame_to_jpeg_planes(frame) if JPEG_FROM_YUV else None
    try:
        if planes is None:
            return simplejpeg.encode_jpeg(
                frame_to_rgb(frame, source), quality=quality, colorspace="RGB", colorsubsampling="420"
            )
        return simplejpeg.encode_jpeg_yuv_planes(*planes, quality=quality)
    except (ValueError, TypeError) as exc:
        raise MediaError(f"encoding a {frame.width}x{frame.height} frame as JPEG failed: {exc}") from None


def _chunk(kind: bytes, data: bytes) -> list[bytes]:
    return [struct.pack(">I", len(data)), kind, data, struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))]


def encode_png(frame: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 RGB frame as a lossless 8-bit RGB PNG.

    Every row uses the PNG "Up" filter (the row minus the row above, modulo 256; computed with
    numpy), then one zlib stream at ``level`` in one ``IDAT`` chunk. Both steps release the GIL.

    Args:
        frame: The frame.
        level: zlib compression level, 0-9.

    Raises:
        MediaError: ``frame`` is not an ``(H, W, 3)`` uint8 array.
    """
    _check_rgb(frame)
    height, width = frame.shape[:2]
    rows = np.ascontiguousarray(frame).reshape(height, width * 3)
    filtered = np.empty((height, width * 3 + 1), dtype=np.uint8)
    filtered[:, 0] = _PNG_FILTER_UP
    filtered[0, 1:] = rows[0]  # "Up" of the first row: the row above counts as zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG wants
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, colour type 2 (RGB), no interlace
    parts = [
        _PNG_SIGNATURE,
        *_chunk(b"IHDR", header),
        *_chunk(b"IDAT", zlib.compress(filtered.data, level)),
        *_chunk(b"IEND", b""),
    ]
    return b"".join(parts)


def encoder_for(storage: str) -> Encoder:
    """The frame encoder of a storage setting: ``"jpeg"``/``"jpg"`` or ``"png"``.

    Raises:
        MediaError: Another storage.
    """
    kind = (storage or "").lower()
    if kind in ("jpeg", "jpg"):
        return encode_jpeg
    if kind == "png":
        return encode_png
    raise MediaError(f"no frame encoder for storage {storage!r} (expected 'jpeg' or 'png')")


def default_workers() -> int:
    """Encoder threads: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def encode_in_pool(
    frames: Iterable[T],
    encode: Callable[[T], R],
    pool: ThreadPoolExecutor,
    max_pending: int,
) -> Iterator[R]:
    """Encode ``frames`` on ``pool`` while the caller's thread keeps pulling (decoding) the next frames.

    Order is kept. At most ``max_pending`` frames are submitted and not yet yielded, so memory stays
    bounded (``max_pending`` raw frames plus their encodings). If the consumer stops early or an
    error is raised, frames not yet started are cancelled and running ones are waited for.

    Args:
        frames: ``(H, W, 3)`` uint8 frames (e.g. :func:`lb_assets.media.video.iter_frames`).
        encode: :func:`encode_jpeg`, :func:`encode_png` or any frame -> bytes function.
        pool: The executor that runs ``encode``.
        max_pending: Bound on frames in flight, >= 1.

    Yields:
        The encoded bytes of each frame, in input order. Errors of ``frames`` or ``encode`` propagate.
    """
    if max_pending < 1:
        raise MediaError(f"max_pending must be >= 1, got {max_pending}")
    pending: deque[Future[R]] = deque()
    try:
        for frame in frames:
            if len(pending) >= max_pending:
                yield pending.popleft().result()
            pending.append(pool.submit(encode, frame))
            del frame  # the future holds the only reference until it has run
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                future.exception()  # wait; the error (if any) is the one already propagating, or irrelevant
