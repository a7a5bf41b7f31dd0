"""Keep secrets (API keys, SAS tokens, signed URL query strings) out of logs, metadata and errors."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SECRET_HEADER_NAMES = {"authorization", "x-api-key", "cookie", "x-ms-blob-sas", "proxy-authorization"}
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Drop the query string and fragment of a URL (signed URLs carry their secret there).

    Local paths and strings that are not URLs are returned unchanged.
    """
    if not isinstance(url, str) or "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]  # drop user:password@
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """Headers with secret values replaced, for logs."""
    return {k: ("<redacted>" if k.lower() in _SECRET_HEADER_NAMES else v) for k, v in (headers or {}).items()}


def redact_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Remove bearer tokens, the given secret strings and URL query strings from free text."""
    out = _BEARER.sub(r"\1<redacted>", text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "<redacted>")
    return re.sub(r"(https?://[^\s?'\"]+)\?[^\s'\"]*", r"\1?<redacted>", out)
