"""Small pictures and tables for asset pages: one annotated frame drawn as a ``data:`` PNG, and row tables."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import numpy as np
from PIL import Image, ImageDraw, ImageFont

MAX_WIDTH = 640
MIN_WIDTH = 480
MAX_UPSCALE = 4.0
MAX_PNG_BYTES = 250_000
_DRAWN_KINDS = ("mask", "bbox", "polygon", "line", "point")
# Saturated colours that rarely occur in footage, with the names the text legend uses.
_PALETTE: list[tuple[str, tuple[int, int, int]]] = [
    ("cyan", (0, 229, 255)),
    ("magenta", (255, 0, 200)),
    ("lime", (140, 255, 0)),
    ("orange", (255, 150, 0)),
    ("violet", (150, 90, 255)),
    ("pink", (255, 120, 160)),
]
_HALO = (0, 0, 0, 255)
_LEGEND_ROW = 20


@dataclass(frozen=True)
class LegendEntry:
    """One drawn column: its colour (name and RGB), kind and number of instances."""

    column: str
    kind: str
    count: int
    color_name: str
    color: tuple[int, int, int]

    @property
    def text(self) -> str:
        """``"box (2 bbox)"``."""
        return f"{self.column} ({self.count} {self.kind})"


@dataclass
class PreviewCandidate:
    """The best frame seen so far for the preview: its row key and drawable values."""

    row_key: str | None = None
    score: int = -1
    values: dict[str, Any] = field(default_factory=dict)


class PreviewPicker:
    """Watches converted rows go by and keeps the frame with the most kinds of drawable annotations."""

    def __init__(self, kinds: Mapping[str, str]) -> None:
        self.kinds = {col: kind for col, kind in kinds.items() if kind in _DRAWN_KINDS}
        self.best = PreviewCandidate()

    def offer(self, row_keys: list[str], values: Mapping[str, list[Any]]) -> None:
        """Consider every frame of one converted data row."""
        for i, key in enumerate(row_keys):
            present = {col: values[col][i] for col in self.kinds if col in values and _non_empty(values[col][i])}
            score = len({self.kinds[col] for col in present}) * 100 + len(present)
            if present and score > self.best.score:
                self.best = PreviewCandidate(key, score, present)


def legend_entries(values: Mapping[str, Any], kinds: Mapping[str, str]) -> list[LegendEntry]:
    """The colour of each drawable column in ``values`` (sorted by name), as ``render_preview`` draws them."""
    entries: list[LegendEntry] = []
    for col, value in sorted(values.items()):
        kind = kinds.get(col, "")
        if kind not in _DRAWN_KINDS or not _non_empty(value):
            continue
        name, rgb = _PALETTE[len(entries) % len(_PALETTE)]
        entries.append(LegendEntry(col, kind, _count(value), name, rgb))
    return entries


def render_preview(
    image: np.ndarray,
    values: Mapping[str, Any],
    kinds: Mapping[str, str],
    max_width: int = MAX_WIDTH,
    min_width: int = MIN_WIDTH,
    legend: bool = True,
) -> bytes:
    """Draw masks, boxes, polygons, lines and points on a frame, with a colour legend strip below it.

    The frame is scaled to between ``min_width`` and ``max_width`` pixels wide (small frames are enlarged at
    most ``MAX_UPSCALE`` times) before drawing, so outlines stay crisp. Shapes get a dark halo so they stand
    out from footage of the same colour.

    Returns:
        PNG bytes (palette-quantized when the full-colour PNG would exceed ``MAX_PNG_BYTES``).
    """
    rgb = _as_rgb(image)
    scale = _scale(rgb.shape[1], min_width, max_width)
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    base = Image.fromarray(rgb)
    if size != base.size:
        base = base.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    base = base.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    entries = legend_entries(values, kinds)
    for entry in entries:
        _draw(draw, overlay, entry.kind, values[entry.column], entry.color, scale)
    picture = Image.alpha_composite(base, overlay).convert("RGB")
    if legend and entries:
        picture = _with_legend(picture, entries)
    return _png(picture)


def preview_markdown(png: bytes, caption: str, legend: Iterable[LegendEntry] = ()) -> dg.MetadataValue:
    """Markdown metadata showing a PNG inline as a ``data:`` URI, its caption and a text legend."""
    encoded = base64.b64encode(png).decode("ascii")
    lines = [f"![{caption}](data:image/png;base64,{encoded})", "", f"**{caption}**"]
    entries = list(legend)
    if entries:
        lines += ["", *(f"- {e.color_name}: {e.text}" for e in entries)]
    return dg.MetadataValue.md("\n".join(lines))


def rows_table(records: Iterable[Mapping[str, Any]], columns: Mapping[str, str]) -> dg.MetadataValue:
    """A ``MetadataValue.table`` with the given columns (name -> dagster type name: string, int, bool...)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns.items()])
    rows = [dg.TableRecord({name: rec.get(name) for name in columns if rec.get(name) is not None}) for rec in records]
    return dg.MetadataValue.table(records=rows, schema=schema)


def annotation_summary(values: Mapping[str, Any]) -> str:
    """A short text like ``"car ×2, weather"`` naming the columns with a value on one row (counts above 1)."""
    parts = []
    for col, value in sorted(values.items()):
        if _non_empty(value):
            n = _count(value)
            parts.append(f"{col} \u00d7{n}" if n > 1 else col)
    return ", ".join(parts)


def _scale(width: int, min_width: int, max_width: int) -> float:
    if width > max_width:
        return max_width / width
    if width < min_width:
        return min(min_width / width, MAX_UPSCALE)
    return 1.0


def _draw(
    draw: ImageDraw.ImageDraw, overlay: Image.Image, kind: str, value: Any, color: tuple[int, int, int], scale: float
) -> None:
    solid = (*color, 255)
    if kind == "mask":
        _draw_mask(overlay, value, color)
    elif kind == "bbox":
        for left, top, width, height in np.asarray(value, dtype=float).reshape(-1, 4) * scale:
            box = [left, top, left + width, top + height]
            draw.rectangle(box, outline=_HALO, width=5)
            draw.rectangle([box[0] + 1, box[1] + 1, box[2] - 1, box[3] - 1], outline=solid, width=3)
    elif kind in ("polygon", "line"):
        for points in value:
            pts = [tuple(p) for p in np.asarray(points, dtype=float).reshape(-1, 2) * scale]
            if len(pts) >= 2:
                pts = pts + ([pts[0]] if kind == "polygon" else [])
                draw.line(pts, fill=_HALO, width=6, joint="curve")
                draw.line(pts, fill=solid, width=3, joint="curve")
    elif kind == "point":
        radius = 6
        for x, y in np.asarray(value, dtype=float).reshape(-1, 2) * scale:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=solid, outline=_HALO, width=2)


def _draw_mask(overlay: Image.Image, value: Any, color: tuple[int, int, int]) -> None:
    """Tint the mask's pixels and outline its border (resized to the overlay with nearest neighbour)."""
    mask = np.asarray(value, dtype=bool)
    if mask.ndim == 3:
        mask = np.any(mask, axis=2)
    if mask.ndim != 2 or not mask.any():
        return
    if mask.shape != (overlay.height, overlay.width):
        mask = np.asarray(Image.fromarray(mask).resize(overlay.size, Image.Resampling.NEAREST), dtype=bool)
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    edge = mask & ~inner
    edge = edge | np.roll(edge, 1, axis=0) | np.roll(edge, 1, axis=1)
    layer = np.zeros(mask.shape + (4,), dtype=np.uint8)
    layer[mask] = (*color, 120)
    layer[edge & mask] = (*color, 255)
    overlay.alpha_composite(Image.fromarray(layer, "RGBA"))


def _with_legend(picture: Image.Image, entries: list[LegendEntry]) -> Image.Image:
    """The picture with a dark strip below it: a colour swatch and ``column (n kind)`` per entry."""
    font = ImageFont.load_default(size=13)
    measure = ImageDraw.Draw(picture)
    lines: list[list[tuple[LegendEntry, int]]] = [[]]
    x = 8
    for entry in entries:
        width = 18 + int(measure.textlength(entry.text, font=font)) + 16
        if lines[-1] and x + width > picture.width:
            lines.append([])
            x = 8
        lines[-1].append((entry, x))
        x += width
    out = Image.new("RGB", (picture.width, picture.height + len(lines) * _LEGEND_ROW + 8), (24, 24, 28))
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out)
    for row, line in enumerate(lines):
        y = picture.height + 6 + row * _LEGEND_ROW
        for entry, x in line:
            draw.rectangle([x, y + 2, x + 12, y + 14], fill=entry.color, outline=(255, 255, 255))
            draw.text((x + 18, y), entry.text, fill=(235, 235, 235), font=font)
    return out


def _png(picture: Image.Image) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, format="PNG", optimize=True)
    if buf.tell() > MAX_PNG_BYTES:
        buf = io.BytesIO()
        picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _as_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.shape[-1] == 4:
        arr = arr[..., :3]
    return arr.astype(np.uint8)


def _non_empty(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.size > 0 and (value.dtype != bool or bool(value.any()))
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    return True


def _count(value: Any) -> int:
    if isinstance(value, np.ndarray):
        if value.dtype == bool and value.ndim == 3:
            return int(value.shape[2])
        return int(value.shape[0]) if value.ndim else 1
    if isinstance(value, (list, tuple)):
        return len(value)
    return 1
