"""Errors a retry cannot fix are PermanentMediaError; transient ones stay plain MediaError. Redaction keeps text."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lb_assets.errors import MediaError, PermanentMediaError
from lb_assets.media.fetch import MediaFetcher
from lb_assets.media.image import load_image
from lb_assets.media.presign import LabelboxBearerPresigner
from lb_assets.media.video import iter_video_frames, probe_video
from lb_assets.redact import redact_text
from lb_assets.sandbox import LabelboxSandbox
from lb_assets_tests.media.helpers import FileServer

KEY = "perm-key-SECRET"


def _video(fetcher: MediaFetcher, row_data: str) -> int:
    source, headers = fetcher.open_url(row_data)
    return sum(len(b) for b in iter_video_frames(source, headers, timeout=5, open_retries=0))


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 416])
def test_http_4xx_is_permanent_and_not_retried(media_server: FileServer, status: int) -> None:
    url = media_server.add(f"s{status}.jpg", b"x", fail_times=10, fail_status=status)
    with pytest.raises(PermanentMediaError, match=f"HTTP {status}"):
        MediaFetcher(retries=3, backoff=0.01).fetch_bytes(url)
    assert len(media_server.headers_for(f"s{status}.jpg")) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_408_429_and_5xx_are_retried_and_transient(media_server: FileServer, status: int) -> None:
    url = media_server.add(f"t{status}.jpg", b"x", fail_times=10, fail_status=status, retry_after="0")
    with pytest.raises(MediaError, match=f"after 2 attempts: HTTP {status}") as info:
        MediaFetcher(retries=1, backoff=0.01).fetch_bytes(url)
    assert not isinstance(info.value, PermanentMediaError)


def test_connection_refused_is_transient() -> None:
    with pytest.raises(MediaError) as info:
        MediaFetcher(retries=0, timeout=2).fetch_bytes("http://127.0.0.1:9/x.jpg")
    assert not isinstance(info.value, PermanentMediaError)


def test_video_http_errors(media_server: FileServer) -> None:
    gone = media_server.add("gone.mp4", b"x", fail_times=10, fail_status=404)
    with pytest.raises(PermanentMediaError, match="404"):
        _video(MediaFetcher(), gone)  # public: ffmpeg streams
    private = media_server.add("gone-private.mp4", b"x", fail_times=10, fail_status=404)
    fetcher = MediaFetcher(presigner=LabelboxBearerPresigner(KEY, hosts=["127.0.0.1"]))
    with pytest.raises(PermanentMediaError, match="cannot open video .*HTTP 404") as info:
        _video(fetcher, private)  # with credentials: our download
    assert KEY not in str(info.value)
    down = media_server.add("down.mp4", b"x", fail_times=10, fail_status=503)
    with pytest.raises(MediaError) as info:
        _video(MediaFetcher(), down)
    assert not isinstance(info.value, PermanentMediaError)


def test_zero_byte_video_says_empty_file(media_server: FileServer, tmp_path: Path) -> None:
    public = media_server.add("empty.mp4", b"", "video/mp4")
    with pytest.raises(PermanentMediaError, match="empty file") as info:
        _video(MediaFetcher(), public)
    message = str(info.value)
    assert "is an empty file (0 bytes" in message
    assert "HTTP 416" not in message.split("empty file", 1)[0]  # the server's 416 only as the detail after it
    private = media_server.add("empty-private.mp4", b"", "video/mp4")
    with pytest.raises(PermanentMediaError, match="empty file"):
        _video(MediaFetcher(presigner=LabelboxBearerPresigner(KEY, hosts=["127.0.0.1"])), private)
    local = tmp_path / "empty.mp4"
    local.write_bytes(b"")
    with pytest.raises(PermanentMediaError, match="empty file"):
        probe_video(local)


def test_undecodable_media_is_permanent(media_server: FileServer, tmp_path: Path) -> None:
    garbage = b"this is not a video at all " * 50
    with pytest.raises(PermanentMediaError):
        _video(MediaFetcher(), media_server.add("junk.mp4", garbage, "video/mp4"))
    (tmp_path / "junk.mp4").write_bytes(garbage)
    with pytest.raises(PermanentMediaError):
        _video(MediaFetcher(allowed_roots=[tmp_path]), str(tmp_path / "junk.mp4"))
    with pytest.raises(PermanentMediaError, match="cannot be identified"):
        load_image(garbage, source="https://h/x.jpg?sig=abc")
    with pytest.raises(PermanentMediaError, match="decoding image"):
        load_image(_png(64, 64)[:2000])  # truncated PNG
    with pytest.raises(PermanentMediaError, match="empty file"):
        load_image(b"")


def test_decompression_bomb_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _png(300, 300)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100 // 2)  # 90,000 px > 2x the limit
    with pytest.raises(PermanentMediaError, match="decompression bomb"):
        load_image(data, source="https://h/big.png")


def test_local_refusals_are_permanent(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(PermanentMediaError, match="allowed_roots is empty"):
        MediaFetcher().fetch_bytes(str(tmp_path / "in" / "a.jpg"))
    with pytest.raises(PermanentMediaError, match="outside allowed_roots"):
        MediaFetcher(allowed_roots=[tmp_path / "in"]).fetch_bytes(str(tmp_path / "a.jpg"))
    with pytest.raises(PermanentMediaError, match="does not exist"):
        MediaFetcher(allowed_roots=[tmp_path]).fetch_bytes(str(tmp_path / "in" / "missing.jpg"))
    with pytest.raises(PermanentMediaError, match="does not exist"):
        probe_video(tmp_path / "missing.mp4")


@pytest.mark.parametrize("row_data", ["/data/a\x00b.jpg", "file:///data/a%00b.jpg",
                                      "https://h/a\x00b.mp4?sig=NULSECRET"])
def test_nul_byte_gives_a_clear_permanent_error(tmp_path: Path, row_data: str) -> None:
    with pytest.raises(PermanentMediaError, match="NUL byte") as info:
        MediaFetcher(allowed_roots=[tmp_path]).fetch_bytes(row_data)
    assert "NULSECRET" not in str(info.value) and "a\\\\x00b" in str(info.value)
    if "\x00" in row_data:
        with pytest.raises(PermanentMediaError, match="NUL byte"):
            list(iter_video_frames(row_data))


def test_redirect_loop_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with LabelboxSandbox(api_key=KEY) as sb:
        sb.add_redirect("a.jpg", f"{sb.base_url}/files/b.jpg")
        sb.add_redirect("b.jpg", f"{sb.base_url}/files/a.jpg")
        with pytest.raises(PermanentMediaError, match="more than 5 redirects"):
            MediaFetcher(retries=2).fetch_bytes(f"{sb.base_url}/files/a.jpg")


def test_user_presigner_headers_follow_only_same_origin_redirects(media_server: FileServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    target = media_server.add("t.jpg", b"payload")
    with LabelboxSandbox(api_key=KEY) as sb:
        sb.add_redirect("hop2.jpg", target)  # other port: another origin
        first = sb.add_redirect("hop1.jpg", f"{sb.base_url}/files/hop2.jpg")  # same origin

        def user_presigner(url: str):  # a seed-style presigner that does not scope its header
            return url, {"headers": {"X-Custom-Key": "USER-SECRET"}}

        with MediaFetcher(presigner=user_presigner) as fetcher:
            assert fetcher.fetch_bytes(first) == b"payload"
    assert media_server.headers_for("t.jpg") and all("X-Custom-Key" not in h for h in media_server.headers_for("t.jpg"))


@pytest.mark.parametrize(("text", "expected"), [
    ("GET https://h/x.mp4?sig=abc: HTTP 404", "GET https://h/x.mp4?<redacted>: HTTP 404"),
    ("fetching https://h/x.mp4?sig=abc, then retrying", "fetching https://h/x.mp4?<redacted>, then retrying"),
    ("(see https://h/x.mp4?sig=abc).", "(see https://h/x.mp4?<redacted>)."),
    ("'https://h/x.mp4?sig=abc' failed", "'https://h/x.mp4?<redacted>' failed"),
    ("GET /files/x.mp4?sig=abc; status 403", "GET /files/x.mp4?<redacted>; status 403"),
    ("url https://h/x?a=b:c:d then", "url https://h/x?<redacted> then"),
])
def test_redact_text_keeps_the_separator_and_the_text_after(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert "abc" not in redact_text(text)
