"""A tiny stdlib HTTP file server for media tests, and helpers that make test media with PyAV/Pillow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lb_assets_tests.media.helpers import FileServer, make_video


@pytest.fixture
def media_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """A running :class:`FileServer` on 127.0.0.1 (proxies bypassed)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = FileServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def video12() -> bytes:
    """A 12-frame 64x48 mp4."""
    return make_video(12)


@pytest.fixture
def video12_file(tmp_path: Path, video12: bytes) -> Path:
    path = tmp_path / "media" / "clip.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(video12)
    return path
