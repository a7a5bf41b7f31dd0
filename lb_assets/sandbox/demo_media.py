"""Deterministic media for the demo projects: H.264 clips, still images and mask PNGs.

Everything is drawn with Pillow from known geometry (so labels match pixels) and encoded with settings
that make the same inputs give the same bytes: libx264 with one thread and bit-exact muxing (no encoder
string, no creation time), Pillow PNG/JPEG with fixed parameters.

Geometry conventions (pixels, image coordinates as Labelbox shows the image):

* box ``(left, top, width, height)`` covers columns ``left .. left+width-1`` and rows ``top .. top+height-1``;
* point ``(x, y)`` is drawn as a small disc centred on the rounded position;
* line ``((x, y), ...)`` is drawn 1 px wide;
* polygon ``((x, y), ...)`` is filled;
* region (a mask) is an ellipse inscribed in a box ``(left, top, width, height)``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

RGB = tuple[int, int, int]
Box = tuple[float, float, float, float]
XY = tuple[float, float]

#: Orientation tag of the EXIF block (0x0112).
EXIF_ORIENTATION = 0x0112
_DOT_RADIUS = 2


@dataclass(frozen=True)
class Shape:
    """One shape to draw.

    Attributes:
        kind: ``"box"``, ``"point"``, ``"line"``, ``"polygon"`` or ``"region"``.
        geometry: The geometry in the convention of the module docstring.
        color: Fill colour (RGB; grayscale images use the mean).
    """

    kind: str
    geometry: tuple
    color: RGB


def _rounded(points: Sequence[XY]) -> list[tuple[int, int]]:
    return [(int(round(x)), int(round(y))) for x, y in points]


def _box_corners(box: Box) -> tuple[int, int, int, int]:
    left, top, width, height = (int(round(v)) for v in box)
    return left, top, left + width - 1, top + height - 1


def draw_shapes(image: Image.Image, shapes: Sequence[Shape]) -> None:
    """Draw ``shapes`` onto ``image`` in order (later shapes on top).

    Args:
        image: A Pillow image in mode ``RGB``, ``RGBA`` or ``L``.
        shapes: Shapes to draw.

    Raises:
        ValueError: a shape kind is unknown.
    """
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        fill: int | tuple[int, ...] = shape.color
        if image.mode == "L":
            fill = int(round(sum(shape.color) / 3))
        elif image.mode == "RGBA":
            fill = (*shape.color, 255)
        if shape.kind == "box":
            draw.rectangle(_box_corners(shape.geometry), fill=fill)
        elif shape.kind == "region":
            draw.ellipse(_box_corners(shape.geometry), fill=fill)
        elif shape.kind == "point":
            (x, y), r = _rounded([shape.geometry])[0], _DOT_RADIUS
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        elif shape.kind == "line":
            draw.line(_rounded(shape.geometry), fill=fill, width=1)
        elif shape.kind == "polygon":
            draw.polygon(_rounded(shape.geometry), fill=fill)
        else:
            raise ValueError(f"demo media: unknown shape kind {shape.kind!r}")


def region_mask(width: int, height: int, box: Box) -> np.ndarray:
    """The boolean ``(height, width)`` mask of a region (ellipse inscribed in ``box``), as drawn."""
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).ellipse(_box_corners(box), fill=255)
    return np.asarray(image) > 0


def background(width: int, height: int, base: RGB) -> np.ndarray:
    """A smooth ``(height, width, 3)`` uint8 gradient around ``base`` (gives the encoder some texture)."""
    ys = np.linspace(0.0, 30.0, height, dtype=np.float64)[:, None, None]
    xs = np.linspace(0.0, 20.0, width, dtype=np.float64)[None, :, None]
    img = np.asarray(base, dtype=np.float64)[None, None, :] + ys + xs
    return np.clip(img, 0, 255).astype(np.uint8)


def render_rgb(width: int, height: int, base: RGB, shapes: Sequence[Shape]) -> Image.Image:
    """An RGB image with the background gradient and ``shapes`` drawn on it."""
    image = Image.fromarray(background(width, height, base), mode="RGB")
    draw_shapes(image, shapes)
    return image


def encode_video(
    width: int,
    height: int,
    frame_count: int,
    rate: Fraction | int,
    frame_at: Callable[[int], Image.Image],
    crf: int = 18,
) -> bytes:
    """Encode an H.264 (yuv420p) MP4 deterministically.

    Args:
        width: Frame width (even).
        height: Frame height (even).
        frame_count: Number of frames.
        rate: Frame rate (``Fraction(30000, 1001)`` for NTSC).
        frame_at: Returns the RGB image of a **1-based** frame number.
        crf: x264 constant rate factor.

    Returns:
        The MP4 bytes; the same arguments give the same bytes.
    """
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count = 1
        stream.options = {"preset": "ultrafast", "crf": str(crf), "threads": "1"}
        for index in range(frame_count):
            rgb = np.asarray(frame_at(index + 1).convert("RGB"))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = buf.getvalue()
    logger.debug("demo video %dx%d, %d frames at %s fps: %d bytes", width, height, frame_count, rate, len(data))
    return data


def encode_jpeg(image: Image.Image, exif_orientation: int | None = None) -> bytes:
    """JPEG bytes (quality 90, no optimisation pass); with an EXIF Orientation tag when given."""
    buf = io.BytesIO()
    kwargs: dict = {"quality": 90, "optimize": False, "progressive": False, "subsampling": 0}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    image.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes (fixed compression level, no metadata chunks)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def stored_for_orientation_6(displayed: Image.Image) -> Image.Image:
    """The pixels to store so that EXIF orientation 6 (rotate 90° clockwise to view) shows ``displayed``."""
    return displayed.transpose(Image.Transpose.ROTATE_90)


def single_mask_png(width: int, height: int, box: Box) -> bytes:
    """A Labelbox-style single-instance mask: RGB PNG, white on the region, black elsewhere."""
    mask = region_mask(width, height, box)
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[mask] = 255
    return encode_png(Image.fromarray(rgb, mode="RGB"))


def composite_mask_png(width: int, height: int, regions: Sequence[tuple[Box, RGB]]) -> bytes:
    """A Labelbox-style composite mask: one RGB PNG, each instance's pixels in its ``color_rgb``."""
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    for box, color in regions:
        rgb[region_mask(width, height, box)] = color
    return encode_png(Image.fromarray(rgb, mode="RGB"))
