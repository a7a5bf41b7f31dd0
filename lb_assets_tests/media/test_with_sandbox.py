"""Contract check against the loopback Labelbox sandbox: its private files need our bearer header."""

from __future__ import annotations

import pytest

from lb_assets.errors import MediaError
from lb_assets.media.fetch import MediaFetcher
from lb_assets.media.presign import LabelboxBearerPresigner
from lb_assets.media.video import iter_video_frames
from lb_assets_tests.media.helpers import make_video

sandbox_mod = pytest.importorskip("lb_assets.sandbox")

KEY = "sandbox-media-key"


def test_private_sandbox_video_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with sandbox_mod.LabelboxSandbox(api_key=KEY) as sb:
        monkeypatch.setenv("LABELBOX_ENDPOINT", sb.endpoint)  # the API host in use gets the key
        video_url = sb.add_file("clip.mp4", make_video(8), "video/mp4", private=True)
        image_url = sb.add_file("img.bin", b"payload", "application/octet-stream", private=True)
        with pytest.raises(MediaError, match="401"):
            MediaFetcher(retries=0).fetch_bytes(image_url)
        with MediaFetcher(presigner=LabelboxBearerPresigner(KEY), retries=2, backoff=0.01) as fetcher:
            sb.fail_path("/files/img.bin", times=1, status=500)
            assert fetcher.fetch_bytes(image_url) == b"payload"
            source, headers = fetcher.open_url(video_url)
            batches = list(iter_video_frames(source, headers, batch_size=3, expected_frames=8, timeout=10))
    assert [len(b) for b in batches] == [3, 3, 2]
