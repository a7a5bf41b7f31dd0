"""Preview pictures and tables for asset pages."""

import base64
import io

import numpy as np
from PIL import Image

from lb_assets.defs.preview import (
    MAX_WIDTH,
    MIN_WIDTH,
    PreviewPicker,
    annotation_summary,
    legend_entries,
    preview_markdown,
    render_preview,
    rows_table,
)

KINDS = {"box": "bbox", "pt": "point", "seg": "mask", "poly": "polygon", "weather": "radio"}


def _values(width: int, height: int) -> dict:
    mask = np.zeros((height, width, 1), dtype=bool)
    mask[height // 12 : height // 4, width // 32 : width // 8, 0] = True
    return {
        "box": np.array([[width * 0.15, height * 0.4, width * 0.12, height * 0.2]], dtype=np.float32),
        "pt": np.array([[width * 0.6, height * 0.5]], dtype=np.float32),
        "seg": mask,
        "poly": [np.array([[width * 0.8, height * 0.1], [width * 0.95, height * 0.1], [width * 0.9, height * 0.4]],
                          dtype=np.float32)],
        "weather": np.array([1], dtype=np.int32),
    }


def _picture(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_render_draws_every_kind_at_full_size() -> None:
    image = np.zeros((240, 640, 3), dtype=np.uint8)
    values = _values(640, 240)
    colors = {e.column: e.color for e in legend_entries(values, KINDS)}
    picture = _picture(render_preview(image, values, KINDS, legend=False))
    assert picture.shape == (240, 640, 3)
    assert tuple(picture[40, 50]) != (0, 0, 0)  # inside the mask: tinted
    assert tuple(picture[97, 120]) == colors["box"]  # box top edge (y=96), inside the dark halo
    assert tuple(picture[120, 384]) == colors["pt"]  # point centre
    assert not picture[200, 300].any()  # untouched background


def test_small_frames_are_enlarged_and_large_ones_shrunk() -> None:
    small = np.full((120, 160, 3), 40, dtype=np.uint8)
    values = {"box": np.array([[40, 30, 40, 30]], dtype=np.float32)}
    color = legend_entries(values, KINDS)[0].color
    picture = _picture(render_preview(small, values, KINDS, legend=False))
    assert picture.shape == (360, MIN_WIDTH, 3)  # 3x, so the annotations are drawn at 3x too
    assert tuple(picture[91, 150]) == color and tuple(picture[31, 50]) == (40, 40, 40)
    big = np.zeros((1080, 1920, 3), dtype=np.uint8)
    assert _picture(render_preview(big, _values(1920, 1080), KINDS)).shape[1] == MAX_WIDTH


def test_legend_strip_and_markdown_name_each_drawn_column() -> None:
    image = np.zeros((240, 640, 3), dtype=np.uint8)
    values = _values(640, 240)
    entries = legend_entries(values, KINDS)
    assert [e.column for e in entries] == ["box", "poly", "pt", "seg"]  # radio is not drawn
    assert len({e.color for e in entries}) == len(entries)
    assert entries[0].text == "box (1 bbox)"
    png = render_preview(image, values, KINDS)
    picture = _picture(png)
    assert picture.shape[0] > 240 and picture.shape[1] == 640  # the legend strip below the frame
    strip = {tuple(p) for p in picture[240:].reshape(-1, 3)}
    assert all(e.color in strip for e in entries)  # one swatch per column
    md = preview_markdown(png, "Frame 5 of clip.mp4 (row_key r:5)", entries).value
    assert md.startswith("![Frame 5 of clip.mp4 (row_key r:5)](data:image/png;base64,")
    assert base64.b64decode(md.split(",", 1)[1].split(")", 1)[0]) == png
    assert "**Frame 5 of clip.mp4 (row_key r:5)**" in md
    assert f"- {entries[0].color_name}: box (1 bbox)" in md


def test_noisy_frames_stay_small() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    png = render_preview(noise, {}, KINDS)
    assert Image.open(io.BytesIO(png)).mode == "P"  # palette-quantized: a full-colour PNG would be ~900 KB
    assert len(png) < 640 * 480 * 3 // 2


def test_picker_prefers_frames_with_more_kinds() -> None:
    picker = PreviewPicker({"box": "bbox", "seg": "mask", "weather": "radio"})
    box = np.ones((1, 4), dtype=np.float32)
    mask = np.ones((2, 2, 1), dtype=bool)
    picker.offer(["a:1", "a:2", "a:3"], {"box": [None, box, box], "seg": [None, None, mask], "weather": [1, 1, 1]})
    assert picker.best.row_key == "a:3"
    assert set(picker.best.values) == {"box", "seg"}


def test_summary_table_and_sizes() -> None:
    values = {"box": np.ones((2, 4), dtype=np.float32), "name": "x", "none": None}
    assert annotation_summary(values) == "box \u00d72, name"
    table = rows_table([{"row_key": "a:1", "frames": 3}], {"row_key": "string", "frames": "int"}).value
    assert [c.name for c in table.schema.columns] == ["row_key", "frames"]
    assert table.records[0].data == {"row_key": "a:1", "frames": 3}
