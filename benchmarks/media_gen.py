"""Synthetic media for the benchmarks: H.264 mp4 clips and JPEG/PNG images.

Frames show a few moving shapes over a gradient plus per-pixel noise, so that both the video codec and
the image codecs have realistic work to do (pure flat colours would compress unrealistically well).
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

RESOLUTIONS: dict[str, tuple[int, int]] = {
    "240p": (426, 240),
    "360p": (640, 360),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
}


@dataclass(frozen=True)
class VideoSpec:
    """A generated video file and its properties."""

    path: Path
    width: int
    height: int
    frames: int
    fps: int


@dataclass(frozen=True)
class ImageSpec:
    """A generated image file and its properties."""

    path: Path
    width: int
    height: int
    mime_type: str


def resolution(name: str) -> tuple[int, int]:
    """Return (width, height) for a resolution name such as "360p".

    Raises:
        ValueError: the name is not one of RESOLUTIONS.
    """
    try:
        return RESOLUTIONS[name]
    except KeyError:
        raise ValueError(f"unknown resolution {name!r}; choose one of {sorted(RESOLUTIONS)}") from None


def synthetic_frames(width: int, height: int, count: int, seed: int = 0, noise: int = 8) -> Iterator[np.ndarray]:
    """Yield `count` HxWx3 uint8 frames: gradient background, moving shapes, uniform noise of +-`noise`.

    The default noise (8) gives H.264 clips that decode at about the speed of typical camera clips at 360p
    (~1,100 fps on 2 cores); more noise means a higher
    bitrate and a slower decode, less noise the opposite.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)), ((xx + yy) * 127 // max(width + height, 1))],
        axis=-1,
    ).astype(np.int16)
    shapes = [
        (rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-6, 6), rng.uniform(-4, 4),
         int(rng.integers(height // 12 + 2, height // 5 + 3)), rng.integers(0, 256, 3))
        for _ in range(5)
    ]
    for i in range(count):
        frame = background.copy()
        for k, (x0, y0, vx, vy, size, colour) in enumerate(shapes):
            cx = int((x0 + vx * i) % width)
            cy = int((y0 + vy * i) % height)
            if k % 2 == 0:
                frame[max(cy - size, 0):cy + size, max(cx - size, 0):cx + size] = colour
            else:
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= size * size
                frame[mask] = colour
        grain = rng.integers(-noise, noise + 1, size=(height, width, 1), dtype=np.int16)
        yield np.clip(frame + grain, 0, 255).astype(np.uint8)


def write_video(
    path: Path, width: int, height: int, frames: int, fps: int = 30, seed: int = 0, noise: int = 8
) -> VideoSpec:
    """Encode a synthetic H.264 (yuv420p, crf 23) mp4 at `path`; see synthetic_frames for `noise`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for array in synthetic_frames(width, height, frames, seed, noise):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    logger.debug("wrote %s (%dx%d, %d frames)", path, width, height, frames)
    return VideoSpec(path=path, width=width, height=height, frames=frames, fps=fps)


def encode_image(array: np.ndarray, fmt: str) -> bytes:
    """Encode an HxWx3 uint8 array as "JPEG" or "PNG" bytes."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_images(
    directory: Path,
    count: int,
    sizes: tuple[tuple[str, int, int], ...] = (("JPEG", 1280, 720), ("PNG", 640, 480)),
    seed: int = 0,
) -> list[ImageSpec]:
    """Write `count` images to `directory`, alternating over `sizes` (format, width, height)."""
    directory.mkdir(parents=True, exist_ok=True)
    specs: list[ImageSpec] = []
    per_kind = -(-count // len(sizes))
    for kind, (fmt, width, height) in enumerate(sizes):
        frames = synthetic_frames(width, height, per_kind, seed + kind)
        for i, array in enumerate(frames):
            if len(specs) >= count:
                break
            ext = "jpg" if fmt == "JPEG" else "png"
            path = directory / f"img_{kind}_{i:05d}.{ext}"
            path.write_bytes(encode_image(array, fmt))
            specs.append(ImageSpec(path, width, height, "image/jpeg" if fmt == "JPEG" else "image/png"))
    return specs


def main() -> None:
    """CLI: generate a video and some images into a directory (for manual experiments)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--resolution", default="360p", choices=sorted(RESOLUTIONS))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--images", type=int, default=0)
    args = parser.parse_args()
    width, height = resolution(args.resolution)
    video = write_video(args.out / f"clip_{args.resolution}.mp4", width, height, args.frames)
    print(f"video: {video.path} ({video.path.stat().st_size} bytes)")
    if args.images:
        images = write_images(args.out / "images", args.images)
        print(f"images: {len(images)} in {args.out / 'images'}")


if __name__ == "__main__":
    main()
