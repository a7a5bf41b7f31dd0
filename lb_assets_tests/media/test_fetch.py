"""MediaFetcher: local path rules, presigned GETs, retries, redaction; ffmpeg_options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lb_assets.errors import MediaError, PermanentMediaError
from lb_assets.media.fetch import MediaFetcher, ffmpeg_options
from lb_assets.media.presign import AzureSasPresigner, LabelboxBearerPresigner
from lb_assets_tests.media.helpers import FileServer

API_KEY = "lb-api-key-SECRET123"
SAS = "sv=2022-11-02&sig=SAS-SECRET-XYZ"


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "a.bin").write_bytes(b"inside")
    (outside / "secret.bin").write_bytes(b"outside")
    return allowed, outside


def test_local_path_below_allowed_root_is_read(roots) -> None:
    allowed, _ = roots
    fetcher = MediaFetcher(allowed_roots=[allowed])
    assert fetcher.fetch_bytes(str(allowed / "a.bin")) == b"inside"
    assert fetcher.fetch_bytes((allowed / "a.bin").as_uri()) == b"inside"
    assert fetcher.open_url(str(allowed / "a.bin")) == (str((allowed / "a.bin").resolve()), {})


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "file_url_dotdot"])
def test_local_path_outside_allowed_roots_is_refused(roots, how: str) -> None:
    allowed, outside = roots
    if how == "absolute":
        row_data = str(outside / "secret.bin")
    elif how == "dotdot":
        row_data = str(allowed / ".." / "outside" / "secret.bin")
    elif how == "symlink":
        link = allowed / "link.bin"
        os.symlink(outside / "secret.bin", link)
        row_data = str(link)
    else:
        row_data = "file://" + str(allowed) + "/../outside/secret.bin"
    fetcher = MediaFetcher(allowed_roots=[allowed])
    with pytest.raises(MediaError, match="allowed_roots"):
        fetcher.fetch_bytes(row_data)


def test_local_paths_refused_when_no_roots(roots) -> None:
    allowed, _ = roots
    with pytest.raises(MediaError, match="allowed_roots is empty"):
        MediaFetcher().open_url(str(allowed / "a.bin"))


def test_missing_local_file_is_named(roots) -> None:
    allowed, _ = roots
    with pytest.raises(MediaError, match="missing.bin"):
        MediaFetcher(allowed_roots=[allowed]).fetch_bytes(str(allowed / "missing.bin"))


def test_private_file_needs_bearer_header(media_server: FileServer) -> None:
    url = media_server.add("img.png", b"PNGDATA", require={"Authorization": f"Bearer {API_KEY}"})
    with pytest.raises(MediaError) as info:
        MediaFetcher(retries=0).fetch_bytes(url)
    assert "HTTP 401" in str(info.value) and "presigner" in str(info.value)
    with pytest.raises(PermanentMediaError, match="not in the presigner's host list") as info:
        MediaFetcher(presigner=LabelboxBearerPresigner(API_KEY)).fetch_bytes(url)  # 127.0.0.1 is not Labelbox
    assert API_KEY not in str(info.value)
    assert "Authorization" not in media_server.headers_for("img.png")[-1]
    presigner = LabelboxBearerPresigner(API_KEY, hosts=["127.0.0.1"])
    assert MediaFetcher(presigner=presigner).fetch_bytes(url) == b"PNGDATA"
    assert media_server.headers_for("img.png")[-1]["Authorization"] == f"Bearer {API_KEY}"
    assert not any(m == "HEAD" for m, _, _ in media_server.requests)  # no per-item HEAD probe (D16)


def test_seed_style_presigner_headers_are_really_sent(media_server: FileServer) -> None:
    url = media_server.add("a.jpg", b"JPEGDATA", require={"Authorization": "Bearer seed"})

    def seed_default(u: str):
        return u, {"headers": {"Authorization": "Bearer seed"}}

    assert MediaFetcher(presigner=seed_default).fetch_bytes(url) == b"JPEGDATA"


def test_retries_500_then_succeeds(media_server: FileServer) -> None:
    url = media_server.add("flaky.bin", b"ok", fail_times=2, fail_status=500)
    assert MediaFetcher(retries=3, backoff=0.01).fetch_bytes(url) == b"ok"
    assert len(media_server.headers_for("flaky.bin")) == 3


def test_retries_429_with_retry_after(media_server: FileServer) -> None:
    url = media_server.add("limited.bin", b"ok", fail_times=1, fail_status=429, retry_after="0")
    assert MediaFetcher(retries=1, backoff=5.0).fetch_bytes(url) == b"ok"  # Retry-After: 0 beats backoff
    assert len(media_server.headers_for("limited.bin")) == 2


def test_gives_up_after_retries_and_does_not_retry_4xx(media_server: FileServer) -> None:
    url = media_server.add("down.bin", b"x", fail_times=10, fail_status=503)
    with pytest.raises(MediaError, match="after 3 attempts: HTTP 503"):
        MediaFetcher(retries=2, backoff=0.01).fetch_bytes(url)
    gone = media_server.add("gone.bin", b"x", fail_times=10, fail_status=404)
    with pytest.raises(MediaError, match="HTTP 404"):
        MediaFetcher(retries=5, backoff=0.01).fetch_bytes(gone)
    assert len(media_server.headers_for("gone.bin")) == 1


def test_connection_error_is_retried_and_redacted() -> None:
    # Port 9 on loopback: nothing listens, so every attempt is refused.
    url = f"http://127.0.0.1:9/files/x.mp4?{SAS}"
    with pytest.raises(MediaError) as info:
        MediaFetcher(retries=1, backoff=0.01, timeout=2).fetch_bytes(url)
    message = str(info.value)
    assert "after 2 attempts" in message
    assert "SAS-SECRET-XYZ" not in message and "sig=" not in message
    assert info.value.__cause__ is None and info.value.__context__ is None  # no secret-bearing chain


def test_no_secret_in_http_error_messages(media_server: FileServer) -> None:
    url = media_server.add("private.mp4", b"x", require={"X-Never": "never"})
    with pytest.raises(MediaError) as sas_info:
        MediaFetcher(presigner=AzureSasPresigner(SAS, hosts=["127.0.0.1"]), retries=0).fetch_bytes(url)
    with pytest.raises(MediaError) as bearer_info:
        MediaFetcher(presigner=LabelboxBearerPresigner(API_KEY, hosts=["127.0.0.1"]), retries=0).fetch_bytes(url)
    assert "SAS-SECRET-XYZ" not in str(sas_info.value) and "/files/private.mp4" in str(sas_info.value)
    assert API_KEY not in str(bearer_info.value)
    assert media_server.requests[0][1].endswith(SAS)  # the token really went out


def test_failing_user_presigner_is_wrapped_without_secret() -> None:
    def broken(url: str):
        raise RuntimeError(f"could not sign {url}")

    with pytest.raises(MediaError, match="url_presigner failed") as info:
        MediaFetcher(presigner=broken).open_url(f"https://h/x.mp4?{SAS}")
    assert "SAS-SECRET-XYZ" not in str(info.value)


def test_non_http_scheme_needs_presigner() -> None:
    with pytest.raises(MediaError, match="S3Presigner"):
        MediaFetcher().open_url("s3://bucket/key.mp4")


def test_ffmpeg_options_are_strings_with_header_block() -> None:
    opts = ffmpeg_options({"Authorization": "Bearer k", "X-A": "1"}, timeout=2.5)
    assert opts["headers"] == "Authorization: Bearer k\r\nX-A: 1\r\n"
    assert opts["rw_timeout"] == "2500000"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in opts.items())
    assert "headers" not in ffmpeg_options(None, 1.0)
    with pytest.raises(MediaError, match="line break"):
        ffmpeg_options({"X": "a\r\nHost: evil"}, 1.0)
