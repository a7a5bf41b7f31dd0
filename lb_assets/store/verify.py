"""Checks a write must pass before it is committed or published.

`verify_rows` reads the ``row_key`` column in bounded chunks (`lb_assets.store.row_keys`): the dataset has the
expected number of rows, and every key is non-empty, not ``"None"`` and unique (uniqueness by 64-bit hashes, 8 bytes
a row).
`verify_media` reads back the stored bytes of new frames or images and checks that each one starts like an
image file, which catches chunks that the storage lost (they read back as zeros or nothing).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from lb_assets.errors import UnverifiedWriteError
from lb_assets.store import schema
from lb_assets.store.row_keys import iter_key_chunks

logger = logging.getLogger(__name__)

MEDIA_CHUNK_ROWS = 256
_BAD_KEYS = {"", "None", "none", "null"}
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*")


def _key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def verify_rows(ds: Any, expected_rows: int, what: str) -> None:
    """Raise `UnverifiedWriteError` unless ``ds`` has ``expected_rows`` rows with unique, non-empty keys.

    Args:
        ds: The dataset (or branch) about to be committed or published.
        expected_rows: How many rows it must have.
        what: The dataset and branch, for the error message.
    """
    rows = len(ds)
    if rows != expected_rows:
        raise UnverifiedWriteError(f"{what}: {rows} rows where {expected_rows} were expected; nothing was published")
    if rows == 0:
        return
    if schema.column_type(ds, schema.ROW_KEY) is None:
        raise UnverifiedWriteError(f"{what}: no row_key column; nothing was published")
    hashes = np.empty(rows, dtype=np.uint64)
    for first, keys in iter_key_chunks(ds):
        for offset, key in enumerate(keys):
            if key.strip() in _BAD_KEYS:
                raise UnverifiedWriteError(
                    f"{what}: row {first + offset} has an empty row_key ({key!r}); the write is incomplete "
                    "(storage full or failing?); nothing was published"
                )
            hashes[first + offset] = _key_hash(key)
    unique = np.unique(hashes)
    if unique.size != rows:
        raise UnverifiedWriteError(f"{what}: {rows - unique.size} duplicate row keys; nothing was published")


def verify_media(ds: Any, column: str, start: int, stop: int, what: str) -> None:
    """Raise `UnverifiedWriteError` when a stored frame or image of rows ``start:stop`` is not an image file."""
    for first in range(start, stop, MEDIA_CHUNK_ROWS):
        last = min(first + MEDIA_CHUNK_ROWS, stop)
        for offset, data in enumerate(ds[column].get_bytes(slice(first, last))):
            blob = bytes(data)
            if not blob.startswith(_IMAGE_SIGNATURES):
                raise UnverifiedWriteError(
                    f"{what}: the stored {column} of row {first + offset} is not an image ({len(blob)} bytes, "
                    f"starting {blob[:4].hex() or 'empty'}); the storage lost data; nothing was published"
                )
