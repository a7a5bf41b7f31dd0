"""Image decoding (EXIF, grayscale, alpha), format detection, passthrough, bounded batches."""

from __future__ import annotations

import io

import deeplake
import numpy as np
import pytest
from PIL import Image

from lb_assets.errors import MediaError
from lb_assets.media.image import encoded_passthrough, image_format, iter_image_batches, load_image


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _rgb(width: int = 40, height: int = 20) -> Image.Image:
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, : width // 2] = (200, 30, 30)  # left half red, right half black
    return Image.fromarray(arr)


def _with_orientation(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(img, "JPEG", exif=exif, quality=95)


def test_rgb_jpeg_and_png_decode_to_hwc_uint8() -> None:
    for fmt in ("JPEG", "PNG"):
        arr = load_image(_encode(_rgb(), fmt))
        assert arr.shape == (20, 40, 3) and arr.dtype == np.uint8
        assert arr[10, 5, 0] > 150 and arr[10, 35].max() < 30


def test_exif_rotation_is_applied() -> None:
    arr = load_image(_with_orientation(_rgb(), 6))  # 6 = rotate 90 degrees clockwise to display
    assert arr.shape == (40, 20, 3)
    assert arr[5, 10, 0] > 150 and arr[35, 10].max() < 40  # red (left) half is now on top


def test_grayscale_becomes_rgb() -> None:
    gray = Image.fromarray(np.tile(np.arange(0, 250, 10, dtype=np.uint8), (5, 1)))
    arr = load_image(_encode(gray, "PNG"))
    assert arr.shape == (5, 25, 3)
    assert np.array_equal(arr[..., 0], arr[..., 2]) and arr[0, 3, 1] == 30


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    gray16 = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    arr = load_image(_encode(gray16, "PNG"))
    assert arr[0, :, 0].tolist() == [0, 128, 255]


def test_alpha_is_composited_on_black() -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[..., 3] = [[255, 128, 0], [255, 128, 0]]
    arr = load_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert arr.shape == (2, 3, 3)
    assert arr[0, 0].tolist() == [200, 100, 50]
    assert arr[0, 1].tolist() == [100, 50, 25]
    assert arr[0, 2].tolist() == [0, 0, 0]


def test_palette_with_transparency() -> None:
    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([255, 255, 255, 10, 200, 10] + [0] * 762)
    pal.putpixel((1, 0), 1)
    arr = load_image(_encode(pal, "PNG", transparency=0))
    assert arr[0, 0].tolist() == [0, 0, 0] and arr[0, 1].tolist() == [10, 200, 10]


def test_image_format() -> None:
    assert image_format(_encode(_rgb(), "JPEG")) == "jpeg"
    assert image_format(_encode(_rgb(), "PNG")) == "png"
    assert image_format(_encode(_rgb(), "WEBP")) == "webp"


def test_garbage_is_a_media_error_naming_the_source() -> None:
    with pytest.raises(MediaError, match="row.png"):
        load_image(b"not an image", source="https://h/row.png?sig=SECRET")
    with pytest.raises(MediaError) as info:
        image_format(b"nope", source="https://h/row.png?sig=SECRET")
    assert "SECRET" not in str(info.value)
    truncated = _encode(_rgb(), "PNG")[:60]
    with pytest.raises(MediaError, match="decoding image"):
        load_image(truncated)


def test_passthrough_only_for_matching_rgb8_unrotated() -> None:
    jpeg, png = _encode(_rgb(), "JPEG"), _encode(_rgb(), "PNG")
    assert encoded_passthrough(jpeg, "jpeg") == jpeg
    assert encoded_passthrough(jpeg, "jpg") == jpeg
    assert encoded_passthrough(png, "png") == png
    assert encoded_passthrough(jpeg, "png") is None  # wrong format: Deep Lake would accept it silently
    assert encoded_passthrough(png, "jpeg") is None
    assert encoded_passthrough(jpeg, "raw") is None and encoded_passthrough(jpeg, None) is None
    assert encoded_passthrough(_with_orientation(_rgb(), 6), "jpeg") is None  # needs rotation
    assert encoded_passthrough(_with_orientation(_rgb(), 1), "jpeg") is not None  # orientation 1 is fine
    assert encoded_passthrough(_encode(_rgb().convert("L"), "JPEG"), "jpeg") is None  # grayscale
    assert encoded_passthrough(_encode(_rgb().convert("RGBA"), "PNG"), "png") is None  # alpha
    assert encoded_passthrough(_encode(_rgb().convert("P"), "PNG"), "png") is None  # palette
    assert encoded_passthrough(jpeg[:-200], "jpeg") is None  # truncated
    assert encoded_passthrough(png[:-12], "png") is None
    assert encoded_passthrough(b"junk" * 20, "jpeg") is None


def test_passthrough_bytes_read_back_from_deeplake() -> None:
    arr = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)
    jpeg = _encode(Image.fromarray(arr), "JPEG")
    png = _encode(Image.fromarray(arr), "PNG")
    ds = deeplake.create("mem://passthrough")
    ds.add_column("j", deeplake.types.Image(sample_compression="jpg"))
    ds.add_column("p", deeplake.types.Image(sample_compression="png"))
    ds.append({"j": [encoded_passthrough(jpeg, "jpg")], "p": [encoded_passthrough(png, "png")]})
    assert np.array_equal(ds["p"][0], arr)
    assert np.abs(ds["j"][0].astype(int) - load_image(jpeg).astype(int)).max() <= 2


def test_iter_image_batches_is_bounded_and_lazy() -> None:
    loaded: list[int] = []

    def load(i: int) -> np.ndarray:
        loaded.append(i)
        return np.zeros((2, 2, 3), np.uint8)

    gen = iter_image_batches(iter(range(7)), load, batch_size=3)
    items, values = next(gen)
    assert items == [0, 1, 2] and len(values) == 3 and loaded == [0, 1, 2]  # nothing loaded ahead
    rest = list(gen)
    assert [len(i) for i, _ in rest] == [3, 1] and rest[-1][0] == [6]
    with pytest.raises(MediaError):
        list(iter_image_batches([1], load, batch_size=0))
