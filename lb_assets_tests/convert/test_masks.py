"""Masks: mask.url vs composite_mask colour selection vs both (spec 10.7, D12, format mismatch 4)."""

from __future__ import annotations

import numpy as np
import pytest

from lb_assets.convert.convert import convert_data_row
from lb_assets.convert.masks import decode_mask
from lb_assets.convert.ontology import build_plan
from lb_assets.convert.rows import parse_row
from lb_assets.errors import ConfigError, MediaError
from lb_assets_tests.convert.helpers import DictMaskSource, PID, image_ontology, image_row, label, png_bytes

RED, GREEN = (255, 0, 0), (0, 255, 0)
COMPOSITE_URL = "https://api.example.com/api/v1/tasks/t/masks/m1/index/1?token=SECRET"


def _composite() -> np.ndarray:
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, :3] = RED
    rgb[3, 3:] = GREEN
    return rgb


def _mask_obj(name: str, colour: tuple | None = None, url: str | None = None, fid: str = "m") -> dict:
    obj = {"feature_id": fid, "feature_schema_id": f"fs-{name}", "name": name, "annotation_kind": "ImageSegmentationMask"}
    if colour is not None:
        obj["composite_mask"] = {"url": COMPOSITE_URL, "color_rgb": list(colour)}
    if url is not None:
        obj["mask"] = {"url": url}
    return obj


def _convert(objects: list[dict], source, group: bool = False, **kw):
    plan = build_plan(image_ontology(), "image", group_mapping={"raster-segmentation": "masks"} if group else None)
    row = image_row([label({"objects": objects, "classifications": []}, kind="Default")])
    return convert_data_row(parse_row(row, PID, 0), plan, masks=source, **kw)


def test_decode_grayscale_and_rgb_single_masks_are_2d() -> None:
    gray = np.zeros((4, 6), np.uint8)
    gray[1, 2] = 1
    assert decode_mask(png_bytes(gray)).tolist() == (gray != 0).tolist()
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[2, 3] = (0, 0, 9)
    out = decode_mask(png_bytes(rgb))
    assert out.shape == (4, 6) and out.dtype == bool and out.sum() == 1 and out[2, 3]  # never (H,W,3,1) (D12)
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 3] = 255  # opaque black is background
    rgba[0, 0] = (255, 255, 255, 255)
    assert decode_mask(png_bytes(rgba)).sum() == 1


def test_decode_composite_by_colour() -> None:
    out = decode_mask(png_bytes(_composite()), RED)
    assert out.sum() == 3 and out[0, :3].all()
    with pytest.raises(MediaError, match="not a readable image"):
        decode_mask(b"not a png")


def test_composite_instances_select_their_colour_and_fetch_once() -> None:
    source = DictMaskSource({COMPOSITE_URL: png_bytes(_composite())})
    out = _convert([_mask_obj("road", RED, fid="a"), _mask_obj("sky", GREEN, fid="b")], source)
    road, sky = out.values["road"][0], out.values["sky"][0]
    assert road.shape == (4, 6, 1) and road.dtype == bool and road[0, :3, 0].all() and road.sum() == 3
    assert sky[3, 3:, 0].all() and sky.sum() == 3
    assert source.calls == [COMPOSITE_URL]


def test_composite_preferred_when_both_present() -> None:
    single = np.full((4, 6), 255, np.uint8)
    source = DictMaskSource({COMPOSITE_URL: png_bytes(_composite()), "https://m/single.png": png_bytes(single)})
    out = _convert([_mask_obj("road", RED, url="https://m/single.png")], source)
    assert out.values["road"][0].sum() == 3 and source.calls == [COMPOSITE_URL]


def test_grouped_masks_channels_and_label_column() -> None:
    source = DictMaskSource({COMPOSITE_URL: png_bytes(_composite())})
    out = _convert([_mask_obj("sky", GREEN, fid="b"), _mask_obj("road", RED, fid="a")], source, group=True)
    masks = out.values["masks"][0]
    assert masks.shape == (4, 6, 2)
    assert masks[..., 0].sum() == 3 and masks[0, 0, 0]  # channel 0 = road (class id 0)
    assert masks[3, 5, 1]
    np.testing.assert_array_equal(out.values["masks_labels"][0], np.array([0, 1], np.int32))


def test_fetch_failure_raises_never_swallowed() -> None:
    with pytest.raises(MediaError) as err:
        _convert([_mask_obj("road", RED)], DictMaskSource({}))
    assert "SECRET" not in str(err.value)

    class Broken:
        def fetch(self, url: str) -> bytes:
            raise ConnectionError(f"cannot reach {url}")

    with pytest.raises(MediaError, match="dr-image-1") as err:
        _convert([_mask_obj("road", RED)], Broken())
    assert "SECRET" not in str(err.value)


def test_masks_without_source_are_counted_or_refused_when_strict() -> None:
    out = _convert([_mask_obj("road", RED)], None)
    assert out.values["road"] == [None] and out.skipped == {"road (mask, no MaskSource)": 1}
    with pytest.raises(ConfigError, match="MaskSource"):
        _convert([_mask_obj("road", RED)], None, strict=True)
