"""Synthetic media shared by the media tests (and others that need a small real video)."""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import numpy as np


def frame_pattern(i: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A recognisable frame: brightness encodes the frame index (10 + 12*i, so up to ~20 frames)."""
    value = min(255, 10 + 12 * i)
    frame = np.full((height, width, 3), value, dtype=np.uint8)
    frame[: height // 4, : width // 4] = (255, 0, 0)
    return frame


def make_video(n_frames: int = 12, width: int = 64, height: int = 48, fps: int = 10, codec: str = "mpeg4") -> bytes:
    """Encode a tiny mp4 (moov atom at the end, as ffmpeg writes without faststart)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


@dataclass
class _File:
    data: bytes
    content_type: str
    required_headers: dict[str, str] = field(default_factory=dict)
    fail_times: int = 0
    fail_status: int = 500
    retry_after: str | None = None


class FileServer:
    """Serves registered bytes at /files/<name> with Range support and ``Connection: close``.

    Records every request's path and headers. A file can require headers (401 otherwise) and can
    fail its first N requests with a given status.
    """

    def __init__(self) -> None:
        self.files: dict[str, _File] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path incl. query, headers)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # silence stderr
                return

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _reply(
                self, status: int, body: bytes = b"", extra: dict[str, str] | None = None, head: bool = False
            ) -> None:
                self.send_response(status)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")  # ffmpeg reuses sockets unless told
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                self.close_connection = True

            def _serve(self, head: bool) -> None:
                with server._lock:
                    server.requests.append((self.command, self.path, dict(self.headers.items())))
                name = self.path.split("?", 1)[0].removeprefix("/files/")
                entry = server.files.get(name)
                if entry is None:
                    return self._reply(404, b"not found", head=head)
                with server._lock:
                    if entry.fail_times > 0:
                        entry.fail_times -= 1
                        extra = {"Retry-After": entry.retry_after} if entry.retry_after else {}
                        return self._reply(entry.fail_status, b"injected failure", extra, head=head)
                for k, v in entry.required_headers.items():
                    if self.headers.get(k) != v:
                        return self._reply(401, b"unauthorized", head=head)
                data, size = entry.data, len(entry.data)
                rng = self.headers.get("Range")
                base = {"Content-Type": entry.content_type, "Accept-Ranges": "bytes"}
                if not rng:
                    return self._reply(200, data, base, head=head)
                m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
                if not m or (not m.group(1) and not m.group(2)):
                    return self._reply(416, b"", {"Content-Range": f"bytes */{size}"}, head=head)
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:  # suffix range bytes=-N
                    start, end = max(0, size - int(m.group(2))), size - 1
                if start >= size or start > end:
                    return self._reply(416, b"", {"Content-Range": f"bytes */{size}"}, head=head)
                extra = dict(base, **{"Content-Range": f"bytes {start}-{end}/{size}"})
                return self._reply(206, data[start : end + 1], extra, head=head)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def add(
        self,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        require: dict[str, str] | None = None,
        fail_times: int = 0,
        fail_status: int = 500,
        retry_after: str | None = None,
    ) -> str:
        """Register a file and return its URL."""
        self.files[name] = _File(data, content_type, dict(require or {}), fail_times, fail_status, retry_after)
        return f"{self.base_url}/files/{name}"

    def headers_for(self, name: str) -> list[dict[str, str]]:
        """Request headers of every request made for ``name``."""
        return [h for _, p, h in self.requests if p.split("?", 1)[0] == f"/files/{name}"]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
