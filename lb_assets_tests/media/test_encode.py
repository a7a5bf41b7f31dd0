"""Frame encoders and the encoding pool: exact PNG round trips, Deep Lake-identical JPEG, order and bounds."""

from __future__ import annotations

import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import deeplake
import numpy as np
import pytest
from PIL import Image

from lb_assets.errors import MediaError
from lb_assets.media.encode import encode_in_pool, encode_jpeg, encode_png, encoder_for


def _frames(n: int = 4, h: int = 37, w: int = 53) -> list[np.ndarray]:
    """Noisy frames with odd sizes (row padding, wrap-around of the Up filter)."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_png_decodes_to_the_exact_frame_with_pillow() -> None:
    for frame in _frames():
        data = encode_png(frame)
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "PNG" and img.mode == "RGB" and img.size == (53, 37)
            assert np.array_equal(np.asarray(img), frame)


def test_png_of_a_strided_view_is_exact() -> None:
    frame = _frames(1, 40, 60)[0][::2, 1::2]  # not contiguous
    with Image.open(io.BytesIO(encode_png(frame))) as img:
        assert np.array_equal(np.asarray(img), frame)


def test_encoded_frames_read_back_from_deeplake() -> None:
    frames = _frames(3)
    ds = deeplake.create(f"mem://enc_{uuid.uuid4().hex}")
    ds.add_column("png", deeplake.types.Image(sample_compression="png"))
    ds.add_column("jpg_ours", deeplake.types.Image(sample_compression="jpg"))
    ds.add_column("jpg_deeplake", deeplake.types.Image(sample_compression="jpg"))
    ds.append({"png": [encode_png(f) for f in frames], "jpg_ours": [encode_jpeg(f) for f in frames],
               "jpg_deeplake": frames})
    for i, frame in enumerate(frames):
        assert np.array_equal(np.asarray(ds["png"][i]), frame)  # lossless
        # our default JPEG settings are Deep Lake's own: identical bytes
        assert ds["jpg_ours"].get_bytes(i) == ds["jpg_deeplake"].get_bytes(i)


def test_encoders_refuse_non_rgb_input() -> None:
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(MediaError, match="frame"):
            encode_png(bad)
        with pytest.raises(MediaError, match="frame"):
            encode_jpeg(bad)
    assert encoder_for("JPG") is encode_jpeg and encoder_for("png") is encode_png
    with pytest.raises(MediaError, match="raw"):
        encoder_for("raw")


def test_pool_keeps_order_and_bounds_frames_in_flight() -> None:
    submitted = 0
    in_flight_max = 0
    yielded = 0

    def source():
        nonlocal submitted, in_flight_max
        for i in range(40):
            submitted += 1
            in_flight_max = max(in_flight_max, submitted - yielded)
            yield i

    def slow_encode(i: int) -> bytes:
        time.sleep(0.001 * (i % 3))  # out-of-order completion
        return str(i).encode()

    out = []
    with ThreadPoolExecutor(2) as pool:
        for value in encode_in_pool(source(), slow_encode, pool, max_pending=3):
            out.append(int(value))
            yielded += 1
    assert out == list(range(40))
    assert in_flight_max <= 4  # max_pending submitted + the one being pulled


def test_pool_propagates_errors_of_the_source_and_the_encoder() -> None:
    def failing_source():
        yield from range(5)
        raise MediaError("decode failed at frame 6")

    with ThreadPoolExecutor(2) as pool:
        got: list[bytes] = []
        with pytest.raises(MediaError, match="frame 6"):
            for value in encode_in_pool(failing_source(), lambda i: bytes([i]), pool, 2):
                got.append(value)
        assert got == [bytes([i]) for i in range(len(got))]  # in order up to the failure

        def bad_encode(i: int) -> bytes:
            if i == 3:
                raise MediaError("cannot encode frame 3")
            return b"x"

        with pytest.raises(MediaError, match="frame 3"):
            list(encode_in_pool(iter(range(10)), bad_encode, pool, 2))


def test_pool_stops_cleanly_when_the_consumer_stops() -> None:
    started = threading.Event()

    def encode(i: int) -> bytes:
        started.set()
        return b"%d" % i

    with ThreadPoolExecutor(1) as pool:
        gen = encode_in_pool(iter(range(100)), encode, pool, 4)
        assert next(gen) == b"0"
        gen.close()  # cancels what has not started, waits for what runs
        assert started.is_set()
    with pytest.raises(MediaError, match="max_pending"):
        list(encode_in_pool(iter([1]), encode, ThreadPoolExecutor(1), 0))
