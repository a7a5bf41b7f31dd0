"""Segmentation masks: decode PNGs into boolean (H, W) arrays, fetching each URL once per data row.

``mask.url`` PNGs (one instance per PNG) -> any nonzero colour pixel, grayscale or RGB(A) (alpha ignored);
never an (H, W, 3, 1) array (D12). ``composite_mask`` PNGs are shared by every instance of a label (and
frame): this instance's pixels are those whose RGB equals ``color_rgb``. When an object carries both,
``composite_mask`` is preferred (it is what current Labelbox exports are built around; the per-instance
``mask`` is the legacy form). A mask that cannot be fetched or decoded raises, never swallowed.
"""

from __future__ import annotations

import io
import logging
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image, UnidentifiedImageError

from lb_assets.errors import ExportRowError, LbAssetsError, MediaError
from lb_assets.redact import redact_text, redact_url

logger = logging.getLogger(__name__)


@runtime_checkable
class MaskSource(Protocol):
    """Fetches mask PNGs. Supplied by the caller, which handles auth, retries and timeouts."""

    def fetch(self, url: str) -> bytes:
        """Return the bytes at ``url``; raise `MediaError` when it cannot be fetched."""
        ...


def decode_mask(png_bytes: bytes, color_rgb: tuple[int, int, int] | list[int] | None = None) -> np.ndarray:
    """Decode a mask PNG.

    Args:
        png_bytes: The PNG (or any image PIL reads).
        color_rgb: For composite masks, the instance colour; None for single-instance masks.

    Returns:
        bool array of shape (H, W).

    Raises:
        MediaError: The bytes are not a readable image.
        ValueError: ``color_rgb`` is not three integers.
    """
    try:
        image: Image.Image = Image.open(io.BytesIO(png_bytes))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaError(f"mask is not a readable image: {exc}") from exc
    if color_rgb is not None:
        colour = [int(c) for c in color_rgb]
        if len(colour) != 3:
            raise ValueError(f"color_rgb must have three values, got {color_rgb!r}")
        rgb = np.asarray(image.convert("RGB"))
        return np.all(rgb == np.array(colour, dtype=rgb.dtype), axis=-1)
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    arr = np.asarray(image)
    if arr.ndim == 3:
        channels = arr.shape[-1]
        colour_channels = arr[..., :3] if channels >= 3 else arr[..., :1]
        return np.any(colour_channels != 0, axis=-1)
    return arr != 0


class MaskReader:
    """Reads the masks of one data row, fetching each distinct URL once.

    Args:
        source: The caller's mask source.
        data_row_id: Named in errors.
    """

    def __init__(self, source: MaskSource, data_row_id: str) -> None:
        self._source = source
        self._data_row_id = data_row_id
        self._bytes: dict[str, bytes] = {}
        self.fetches = 0

    def _fetch(self, url: str) -> bytes:
        if url not in self._bytes:
            try:
                data = self._source.fetch(url)
            except LbAssetsError:
                raise
            except Exception as exc:  # the caller's source failed in its own way: name the row, redact the URL
                raise MediaError(
                    f"data row {self._data_row_id}: mask {redact_url(url)} could not be fetched: "
                    f"{redact_text(str(exc))}"
                ) from exc
            self.fetches += 1
            self._bytes[url] = data
        return self._bytes[url]

    def read(self, obj: dict) -> np.ndarray:
        """The (H, W) bool mask of one exported object (composite_mask preferred over mask).

        Raises:
            ExportRowError: The object has no usable mask reference.
            MediaError: The mask cannot be fetched or decoded.
        """
        composite = obj.get("composite_mask")
        single = obj.get("mask")
        if isinstance(composite, dict) and composite.get("url") and composite.get("color_rgb") is not None:
            url, colour = str(composite["url"]), composite["color_rgb"]
        elif isinstance(single, dict) and single.get("url"):
            url, colour = str(single["url"]), None
        else:
            raise ExportRowError(
                f"mask object {obj.get('name')!r} ({obj.get('feature_id')}) has no mask.url and no "
                "composite_mask with url and color_rgb",
                data_row_id=self._data_row_id,
            )
        data = self._fetch(url)
        try:
            return decode_mask(data, colour)
        except (MediaError, ValueError) as exc:
            raise MediaError(f"data row {self._data_row_id}: mask {redact_url(url)}: {exc}") from exc
