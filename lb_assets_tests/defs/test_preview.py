"""Preview pictures and tables for asset pages."""

import base64
import io

import numpy as np
from PIL import Image

from lb_assets.defs.preview import PreviewPicker, annotation_summary, preview_markdown, render_preview, rows_table


def test_render_draws_every_kind_and_downscales() -> None:
    image = np.zeros((240, 640, 3), dtype=np.uint8)
    mask = np.zeros((240, 640, 1), dtype=bool)
    mask[10:50, 10:50, 0] = True
    values = {
        "box": np.array([[100, 100, 80, 40]], dtype=np.float32),
        "pt": np.array([[400, 120]], dtype=np.float32),
        "seg": mask,
        "poly": [np.array([[500, 20], [600, 20], [550, 90]], dtype=np.float32)],
    }
    kinds = {"box": "bbox", "pt": "point", "seg": "mask", "poly": "polygon"}
    png = render_preview(image, values, kinds)
    picture = np.asarray(Image.open(io.BytesIO(png)))
    assert picture.shape == (120, 320, 3)
    assert picture[15, 15].any()  # mask tinted (scaled by 0.5)
    assert picture[50, 50].any()  # box edge at (100,100) -> (50,50)
    assert picture[60, 200].any()  # point at (400,120) -> (200,60)
    assert not picture[100, 100].any()  # untouched background
    md = preview_markdown(png, "row r:1").value
    assert md.startswith("![row r:1](data:image/png;base64,")
    assert base64.b64decode(md.split(",", 1)[1].split(")", 1)[0]) == png


def test_picker_prefers_frames_with_more_kinds() -> None:
    picker = PreviewPicker({"box": "bbox", "seg": "mask", "weather": "radio"})
    box = np.ones((1, 4), dtype=np.float32)
    mask = np.ones((2, 2, 1), dtype=bool)
    picker.offer(["a:1", "a:2", "a:3"], {"box": [None, box, box], "seg": [None, None, mask], "weather": [1, 1, 1]})
    assert picker.best.row_key == "a:3"
    assert set(picker.best.values) == {"box", "seg"}


def test_summary_and_table() -> None:
    values = {"box": np.ones((2, 4), dtype=np.float32), "name": "x", "none": None}
    assert annotation_summary(values) == "box: 2, name: 1"
    table = rows_table([{"row_key": "a:1", "frames": 3}], {"row_key": "string", "frames": "int"}).value
    assert [c.name for c in table.schema.columns] == ["row_key", "frames"]
    assert table.records[0].data == {"row_key": "a:1", "frames": 3}
