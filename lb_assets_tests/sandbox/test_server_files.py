"""Files, masks and export chunks over HTTP: ranges, Connection: close, bearer auth, PyAV decoding."""

from __future__ import annotations

import io
import socket

import av
import numpy as np
import pytest
import requests

from lb_assets.sandbox import LabelboxSandbox
from lb_assets.sandbox.http_files import ByteRange, RangeNotSatisfiable, parse_range

BODY = bytes(range(256)) * 4  # 1024 bytes
AUTH = {"Authorization": "Bearer sandbox-key"}


def tiny_mp4(frames: int = 5, size: int = 32) -> bytes:
    """An mp4 (moov atom at the end, as ffmpeg writes it without faststart) with distinct frames."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((size, size, 3), 40 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def decode(url: str, headers: dict[str, str] | None = None) -> list[np.ndarray]:
    options = {"headers": "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())} if headers else {}
    with av.open(url, options=options, timeout=10) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("bytes=0-", ByteRange(0, 1023, 1024)), ("bytes=10-19", ByteRange(10, 19, 1024)),
    ("bytes=1000-5000", ByteRange(1000, 1023, 1024)), ("bytes=-24", ByteRange(1000, 1023, 1024)),
    ("bytes=-5000", ByteRange(0, 1023, 1024)), ("bytes=5-2", None), ("bytes=0-1,5-6", None), ("items=0-1", None),
])
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1024) == expected


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=-0"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1024)


def test_get_head_and_ranges(lb_sandbox: LabelboxSandbox) -> None:
    url = lb_sandbox.add_file("blob.bin", BODY, "application/octet-stream")
    full = requests.get(url, timeout=5)
    assert (full.status_code, full.content) == (200, BODY)
    assert full.headers["Accept-Ranges"] == "bytes" and full.headers["Connection"] == "close"
    head = requests.head(url, timeout=5)
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "1024", b"")
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert (part.status_code, part.content, part.headers["Content-Range"]) == (206, BODY[10:20], "bytes 10-19/1024")
    suffix = requests.get(url, headers={"Range": "bytes=-4"}, timeout=5)
    assert (suffix.status_code, suffix.content) == (206, BODY[-4:])
    past = requests.get(url, headers={"Range": "bytes=2000-"}, timeout=5)
    assert (past.status_code, past.headers["Content-Range"]) == (416, "bytes */1024")
    assert requests.get(f"{lb_sandbox.base_url}/files/missing", timeout=5).status_code == 404


def test_file_response_says_connection_close_even_on_keep_alive(lb_sandbox: LabelboxSandbox) -> None:
    url = lb_sandbox.add_file("blob.bin", BODY)
    with socket.create_connection(("127.0.0.1", lb_sandbox.port), timeout=5) as sock:
        sock.sendall(b"GET /files/blob.bin HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b"" instead of hanging
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and body == BODY
    assert url.endswith("/files/blob.bin")


def test_pyav_decodes_mp4_over_http(lb_sandbox: LabelboxSandbox) -> None:
    url = lb_sandbox.add_file("clip.mp4", tiny_mp4(), "video/mp4")
    frames = decode(url)
    assert len(frames) == 5
    assert frames[0].shape == (32, 32, 3)
    assert frames[4].mean() > frames[0].mean() + 100  # the frames really are the encoded ones


def test_private_file_needs_bearer_key(lb_sandbox: LabelboxSandbox) -> None:
    url = lb_sandbox.add_file("private.mp4", tiny_mp4(), "video/mp4", private=True)
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 200
    with pytest.raises(av.error.HTTPUnauthorizedError):
        decode(url)
    assert len(decode(url, AUTH)) == 5


def test_masks_need_bearer_key(lb_sandbox: LabelboxSandbox) -> None:
    url = lb_sandbox.add_mask("m1.png", b"\x89PNG fake")
    assert url == f"{lb_sandbox.base_url}/masks/m1.png"
    assert requests.get(url, timeout=5).status_code == 401
    response = requests.get(url, headers=AUTH, timeout=5)
    assert (response.status_code, response.content, response.headers["Content-Type"]) == (200, b"\x89PNG fake",
                                                                                          "image/png")


def test_fail_path_injects_http_errors(lb_sandbox: LabelboxSandbox) -> None:
    url = lb_sandbox.add_mask("m2.png", b"png")
    lb_sandbox.fail_path("/masks/", times=2, status=503)
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 503
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 503
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 200
    other = lb_sandbox.add_file("f.bin", b"x")
    lb_sandbox.fail_path("/files/f", times=1, status=429)
    assert requests.get(other, timeout=5).status_code == 429
    assert requests.get(other, timeout=5).content == b"x"
