"""Serving bytes over HTTP the way ffmpeg/PyAV and ``requests`` need it.

GET and HEAD with single HTTP ranges (``206``, ``Content-Range``, suffix ranges, ``416`` past the
end) and ``Connection: close`` on every file response: ffmpeg reuses its socket unless the response
says ``close``, then reads EOF and silently decodes zero frames. A served file whose content type is
:data:`REDIRECT_CONTENT_TYPE` is a redirect: its bytes are the target URL, answered with ``302``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")
# Content type marking a served "file" that is a redirect (its bytes are the Location URL).
REDIRECT_CONTENT_TYPE = "application/x-lb-sandbox-redirect"


def redirect_body(target_url: str) -> tuple[bytes, str]:
    """``(data, content_type)`` to store for a redirect to ``target_url`` (see :func:`send_bytes`).

    Raises:
        ValueError: ``target_url`` is not an absolute http(s) URL or contains a line break.
    """
    if not target_url.startswith(("http://", "https://")) or any(c in target_url for c in "\r\n"):
        raise ValueError(f"sandbox: redirect target must be an absolute http(s) URL, got {target_url!r}")
    return target_url.encode(), REDIRECT_CONTENT_TYPE


def send_redirect(handler: BaseHTTPRequestHandler, location: str, head: bool = False, status: int = 302) -> int:
    """Answer the current GET/HEAD with a redirect to ``location``; returns the status sent."""
    handler.close_connection = True
    handler.send_response(status)
    handler.send_header("Location", location)
    handler.send_header("Content-Length", "0")
    handler.send_header("Connection", "close")
    handler.end_headers()
    return status


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``start..end`` of a body of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1

    def content_range(self) -> str:
        """The ``Content-Range`` header value."""
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(ValueError):
    """The requested range starts past the end of the body (HTTP 416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Parse a ``Range`` header against a body of ``size`` bytes.

    Args:
        header: the raw header value, or None.
        size: body length in bytes.

    Returns:
        The range to serve, or None to serve the whole body (no header, a syntax the server may
        ignore per RFC 9110 such as multiple ranges or an inverted range).

    Raises:
        RangeNotSatisfiable: the range starts at or after ``size`` (or is an empty suffix).
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if not match or (match.group(1) == "" and match.group(2) == ""):
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # suffix range: the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(0, size - count), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, min(end, size - 1), size)


def send_bytes(handler: BaseHTTPRequestHandler, data: bytes, content_type: str, head: bool = False) -> int:
    """Answer the current GET/HEAD with ``data``, honouring ``Range``; returns the status sent.

    Always sends ``Connection: close`` and closes the connection afterwards. ``content_type``
    :data:`REDIRECT_CONTENT_TYPE` answers ``302`` with ``data`` as the ``Location``.
    """
    if content_type == REDIRECT_CONTENT_TYPE:
        return send_redirect(handler, data.decode(), head)
    handler.close_connection = True
    try:
        byte_range = parse_range(handler.headers.get("Range"), len(data))
    except RangeNotSatisfiable:
        handler.send_response(416)
        handler.send_header("Content-Range", f"bytes */{len(data)}")
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", "0")
        handler.send_header("Connection", "close")
        handler.end_headers()
        return 416
    if byte_range is None:
        status, body = 200, data
    else:
        status, body = 206, data[byte_range.start : byte_range.end + 1]
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Accept-Ranges", "bytes")
    if byte_range is not None:
        handler.send_header("Content-Range", byte_range.content_range())
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    if not head:
        handler.wfile.write(body)
    return status


def send_plain_error(handler: BaseHTTPRequestHandler, status: int, message: str, head: bool = False) -> None:
    """Answer a GET/HEAD with a small JSON error body and ``Connection: close``."""
    body = json.dumps({"message": message}).encode()
    handler.close_connection = True
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    if status == 401:
        handler.send_header("WWW-Authenticate", 'Bearer realm="labelbox-sandbox"')
    if status == 429:
        handler.send_header("Retry-After", "0")
    handler.end_headers()
    if not head:
        handler.wfile.write(body)
