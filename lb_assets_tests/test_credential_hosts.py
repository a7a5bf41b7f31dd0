"""Credentials (Labelbox key, SAS token, static headers) reach only their hosts, also across redirects.

A capture server on 127.0.0.2 (not a Labelbox host, not the sandbox's 127.0.0.1) serves public media and
records every request. Data rows point at it directly, or at sandbox URLs that 302-redirect to it. The
media must still be fetched (without credentials) and no request at 127.0.0.2 may carry a secret, through
the Dagster assets' fetchers (the ``PresignerResource`` kinds) and through ``lb_assets.integrations``.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lb_assets.defs.resources import (
    AzureSasPresignerResource,
    LabelboxBearerPresignerResource,
    NoPresignerResource,
    StaticHeadersPresignerResource,
)
from lb_assets.errors import ConfigError
from lb_assets.media.video import iter_video_frames
from lb_assets.sandbox import LabelboxSandbox
from lb_assets_tests.media.helpers import make_video

KEY = "sandbox-key"  # the lb_sandbox fixture's key
SAS = "sv=2024&sig=SAS-TOKEN-SECRET"
STATIC = "static-header-SECRET"
CAPTURE_HOST = "127.0.0.2"


class CaptureServer:
    """Public files on 127.0.0.2 (Range, ``Connection: close``); records each request's path and headers."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(head=True)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                with lock:
                    outer.requests.append((self.path, dict(self.headers.items())))
                data = outer.files.get(self.path.split("?", 1)[0].removeprefix("/"))
                status, extra = 200, {}
                if data is None:
                    status, data = 404, b""
                else:
                    match = re.fullmatch(r"bytes=(\d+)-(\d*)", (self.headers.get("Range") or "").strip())
                    if match and int(match.group(1)) < len(data):
                        start = int(match.group(1))
                        end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
                        status, extra = 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
                        data = data[start:end + 1]
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if not head:
                    self.wfile.write(data)
                self.close_connection = True

        self._httpd = ThreadingHTTPServer((CAPTURE_HOST, 0), Handler)
        self._httpd.daemon_threads = True
        self.host = f"{CAPTURE_HOST}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def add(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"http://{self.host}/{name}"

    def paths(self) -> set[str]:
        return {path.split("?", 1)[0] for path, _ in self.requests}

    def assert_clean(self, *secrets: str) -> None:
        """No request carried Authorization or any of ``secrets`` (in a header or the query string)."""
        assert self.requests, "the capture server saw no request at all"
        for path, headers in self.requests:
            assert "authorization" not in {k.lower() for k in headers}, f"{path}: Authorization sent"
            blob = path + "\n" + "\n".join(f"{k}: {v}" for k, v in headers.items())
            for secret in secrets:
                assert secret not in blob, f"{path}: a secret reached 127.0.0.2"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def capture(lb_sandbox_env: LabelboxSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[CaptureServer]:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,127.0.0.2,localhost")
    monkeypatch.delenv("LB_ASSETS_CREDENTIAL_HOSTS", raising=False)
    server = CaptureServer()
    try:
        yield server
    finally:
        server.close()


def _jpeg(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((24, 32, 3), value, dtype=np.uint8)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _media(sb: LabelboxSandbox, capture: CaptureServer, kind: str) -> dict[str, tuple[str, bytes]]:
    """``{case: (row_data, bytes)}``: direct on 127.0.0.2, sandbox 302 -> 127.0.0.2, private sandbox file."""
    data = {"direct": make_video(5), "redirect": make_video(7), "private": make_video(4)} if kind == "video" else {
        "direct": _jpeg(40), "redirect": _jpeg(120), "private": _jpeg(200)}
    ext = "mp4" if kind == "video" else "jpg"
    direct = capture.add(f"direct.{ext}", data["direct"])
    target = capture.add(f"target.{ext}", data["redirect"])
    redirect = sb.add_redirect(f"redirect.{ext}", target, private=True)  # like Labelbox -> signed storage
    private = sb.add_file(f"private.{ext}", data["private"], "application/octet-stream", private=True)
    return {"direct": (direct, data["direct"]), "redirect": (redirect, data["redirect"]),
            "private": (private, data["private"])}


def _decode_video(fetcher: Any, row_data: str) -> int:
    source, headers = fetcher.open_url(row_data)
    return sum(len(batch) for batch in iter_video_frames(source, headers, batch_size=4, timeout=10))


@pytest.mark.parametrize("kind", ["video", "image"])
def test_default_presigner_keeps_the_key_on_labelbox_hosts(lb_sandbox_env, capture, kind: str) -> None:
    media = _media(lb_sandbox_env, capture, kind)
    with LabelboxBearerPresignerResource(api_key=KEY).media_fetcher() as fetcher:
        for case, (row_data, data) in media.items():
            if kind == "video":
                assert _decode_video(fetcher, row_data) == {"direct": 5, "redirect": 7, "private": 4}[case], case
            else:
                assert fetcher.fetch_bytes(row_data) == data, case
    assert {f"/direct.{'mp4' if kind == 'video' else 'jpg'}", f"/target.{'mp4' if kind == 'video' else 'jpg'}"} \
        <= capture.paths()
    capture.assert_clean(KEY)


def test_mask_fetcher_keeps_the_key_on_labelbox_hosts(lb_sandbox_env, capture) -> None:
    target = capture.add("mask.png", b"mask-bytes")
    redirect = lb_sandbox_env.add_redirect("mask-redirect.png", target, private=True)
    with NoPresignerResource().mask_fetcher(KEY) as fetcher:
        assert fetcher.fetch_bytes(redirect) == b"mask-bytes"
        assert fetcher.fetch_bytes(target) == b"mask-bytes"
    capture.assert_clean(KEY)


def test_credential_hosts_setting_extends_the_list(lb_sandbox_env, capture, monkeypatch) -> None:
    """Control: a host in the list does get the key (so the checks above can fail)."""
    url = capture.add("listed.jpg", _jpeg(10))
    video = capture.add("listed.mp4", make_video(3))
    resource = LabelboxBearerPresignerResource(api_key=KEY, credential_hosts=[capture.host])
    with resource.media_fetcher() as fetcher:
        fetcher.fetch_bytes(url)
        assert _decode_video(fetcher, video) == 3
    sent = [h for p, h in capture.requests if h.get("Authorization") == f"Bearer {KEY}"]
    assert {p for p, h in capture.requests if h.get("Authorization")} == {"/listed.jpg", "/listed.mp4"}
    assert all(h.get("User-Agent", "").startswith("python-requests") for h in sent)  # never ffmpeg
    capture.requests.clear()
    monkeypatch.setenv("LB_ASSETS_CREDENTIAL_HOSTS", f"example.org, {CAPTURE_HOST}")
    with LabelboxBearerPresignerResource(api_key=KEY).media_fetcher() as fetcher:
        fetcher.fetch_bytes(url)
    assert capture.requests[-1][1].get("Authorization") == f"Bearer {KEY}"


def test_azure_sas_only_on_its_hosts(lb_sandbox_env, capture) -> None:
    media = _media(lb_sandbox_env, capture, "image")
    sandbox_host = lb_sandbox_env.base_url.removeprefix("http://")
    lb_sandbox_env.add_redirect("public-redirect.jpg", capture.add("target2.jpg", _jpeg(90)))
    resource = AzureSasPresignerResource(sas_token=SAS, credential_hosts=[sandbox_host])
    with resource.media_fetcher() as fetcher:
        assert fetcher.fetch_bytes(media["direct"][0]) == media["direct"][1]
        assert fetcher.fetch_bytes(f"{lb_sandbox_env.base_url}/files/public-redirect.jpg") == _jpeg(90)
    capture.assert_clean(SAS, "SAS-TOKEN-SECRET")
    with AzureSasPresignerResource(sas_token=SAS).media_fetcher() as fetcher:
        assert fetcher.open_url("https://acct.blob.core.windows.net/c/a.mp4")[0].endswith(SAS)
        assert fetcher.open_url(media["direct"][0])[0] == media["direct"][0]


@pytest.mark.parametrize("kind", ["video", "image"])
def test_static_headers_only_on_their_hosts(lb_sandbox_env, capture, kind: str) -> None:
    with pytest.raises(ConfigError, match="credential_hosts"):
        StaticHeadersPresignerResource(header_name="X-Api-Key", header_value=STATIC).get_presigner()
    ext = "mp4" if kind == "video" else "jpg"
    data = make_video(6) if kind == "video" else _jpeg(70)
    redirect = lb_sandbox_env.add_redirect(f"static.{ext}", capture.add(f"static.{ext}", data))
    sandbox_host = lb_sandbox_env.base_url.removeprefix("http://")
    resource = StaticHeadersPresignerResource(header_name="X-Api-Key", header_value=STATIC,
                                 credential_hosts=[sandbox_host])
    with resource.media_fetcher() as fetcher:
        if kind == "video":
            assert _decode_video(fetcher, redirect) == 6
        else:
            assert fetcher.fetch_bytes(redirect) == data
    capture.assert_clean(STATIC)


# ---------------------------------------------------------------------------- lb_assets.integrations
def _video_row(i: int, url: str, frames: int) -> dict[str, Any]:
    return {"data_row": {"id": f"clvid{i:021d}", "global_key": f"vid-{i}", "external_id": f"v{i}.mp4",
                         "row_data": url},
            "media_attributes": {"asset_type": "video", "mime_type": "video/mp4", "width": 64, "height": 48,
                                 "frame_rate": 10, "frame_count": frames}}


def _image_row(i: int, url: str) -> dict[str, Any]:
    return {"data_row": {"id": f"climg{i:021d}", "global_key": f"img-{i}", "external_id": f"i{i}.jpg",
                         "row_data": url},
            "media_attributes": {"asset_type": "image", "mime_type": "image/jpeg", "width": 32, "height": 24}}


def test_integrations_video_flow_keeps_the_key_on_labelbox_hosts(lb_sandbox_env, capture, tmp_path) -> None:
    from lb_assets.integrations import create_dataset_from_video_annotation_project

    sb = lb_sandbox_env
    media = _media(sb, capture, "video")
    oid = sb.add_ontology({"tools": [], "classifications": []}, name="o", media_type="VIDEO")
    pid = sb.add_project("credential hosts video", media_type="VIDEO", ontology_id=oid)
    frames = {"direct": 5, "redirect": 7, "private": 4}
    for i, case in enumerate(frames):
        sb.add_data_row(pid, _video_row(i, media[case][0], frames[case]), [])
    ds, _ = create_dataset_from_video_annotation_project(str(tmp_path / "ds"), pid, KEY)
    assert len(ds) == sum(frames.values())
    keys = list(ds["row_key"][0:len(ds)])
    for i, case in enumerate(frames):
        assert sum(k.startswith(f"clvid{i:021d}:") for k in keys) == frames[case]
    capture.assert_clean(KEY)


def test_integrations_image_flow_keeps_the_key_on_labelbox_hosts(lb_sandbox_env, capture, tmp_path) -> None:
    from lb_assets.integrations import create_dataset_from_image_annotation_project

    sb = lb_sandbox_env
    media = _media(sb, capture, "image")
    oid = sb.add_ontology({"tools": [], "classifications": []}, name="o", media_type="IMAGE")
    pid = sb.add_project("credential hosts image", media_type="IMAGE", ontology_id=oid)
    cases = ["direct", "redirect", "private"]
    for i, case in enumerate(cases):
        sb.add_data_row(pid, _image_row(i, media[case][0]), [])
    ds, _ = create_dataset_from_image_annotation_project(str(tmp_path / "ds"), pid, KEY)
    assert len(ds) == 3
    keys = list(ds["row_key"][0:3])
    for i, case in enumerate(cases):
        row = keys.index(f"climg{i:021d}:0")
        want = np.asarray(Image.open(io.BytesIO(media[case][1])).convert("RGB"), dtype=np.int16)
        got = np.asarray(ds["image"][row], dtype=np.int16)
        assert got.shape == want.shape and np.abs(got - want).mean() < 3, case
    capture.assert_clean(KEY)
