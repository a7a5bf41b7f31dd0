"""Small pictures and tables for asset pages: one annotated frame drawn as a ``data:`` PNG, and row tables."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import numpy as np
from PIL import Image, ImageDraw

MAX_WIDTH = 320
_DRAWN_KINDS = ("mask", "bbox", "polygon", "line", "point")
_PALETTE = [(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (255, 0, 255), (0, 220, 220)]


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


def render_preview(image: np.ndarray, values: Mapping[str, Any], kinds: Mapping[str, str], max_width: int = MAX_WIDTH) -> bytes:
    """Draw masks, boxes, polygons, lines and points on a frame; returns PNG bytes at most ``max_width`` wide."""
    base = Image.fromarray(_as_rgb(image)).convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for n, (col, value) in enumerate(sorted(values.items())):
        color = _PALETTE[n % len(_PALETTE)]
        _draw(draw, overlay, kinds.get(col, ""), value, color)
    picture = Image.alpha_composite(base, overlay).convert("RGB")
    if picture.width > max_width:
        picture = picture.resize((max_width, max(1, round(picture.height * max_width / picture.width))))
    buf = io.BytesIO()
    picture.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def preview_markdown(png: bytes, caption: str) -> dg.MetadataValue:
    """Markdown metadata showing a PNG inline as a ``data:`` URI."""
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{encoded})\n\n{caption}")


def rows_table(records: Iterable[Mapping[str, Any]], columns: Mapping[str, str]) -> dg.MetadataValue:
    """A ``MetadataValue.table`` with the given columns (name -> dagster type name: string, int, bool...)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns.items()])
    rows = [dg.TableRecord({name: rec.get(name) for name in columns if rec.get(name) is not None}) for rec in records]
    return dg.MetadataValue.table(records=rows, schema=schema)


def annotation_summary(values: Mapping[str, Any]) -> str:
    """A short text like ``"car: 2, weather: 1"`` counting the values on one row."""
    parts = []
    for col, value in sorted(values.items()):
        if _non_empty(value):
            parts.append(f"{col}: {_count(value)}")
    return ", ".join(parts)


def _draw(draw: ImageDraw.ImageDraw, overlay: Image.Image, kind: str, value: Any, color: tuple[int, int, int]) -> None:
    if kind == "mask":
        mask = np.asarray(value, dtype=bool)
        if mask.ndim == 2:
            mask = mask[:, :, None]
        layer = np.zeros(mask.shape[:2] + (4,), dtype=np.uint8)
        layer[mask.any(axis=2)] = (*color, 110)
        if layer.shape[:2] == (overlay.height, overlay.width):
            overlay.alpha_composite(Image.fromarray(layer, "RGBA"))
    elif kind == "bbox":
        for left, top, width, height in np.asarray(value, dtype=float).reshape(-1, 4):
            draw.rectangle([left, top, left + width, top + height], outline=(*color, 255), width=2)
    elif kind in ("polygon", "line"):
        for points in value:
            pts = [tuple(p) for p in np.asarray(points, dtype=float).reshape(-1, 2)]
            if len(pts) >= 2:
                draw.line(pts + ([pts[0]] if kind == "polygon" else []), fill=(*color, 255), width=2)
    elif kind == "point":
        for x, y in np.asarray(value, dtype=float).reshape(-1, 2):
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(*color, 255))


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
