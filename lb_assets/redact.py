"""Keep secrets (API keys, SAS tokens, signed URL query strings) out of logs, metadata and errors."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

_SECRET_HEADER_NAMES = {"authorization", "x-api-key", "cookie", "x-ms-blob-sas", "proxy-authorization"}
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# A query string ends at whitespace, a quote or the end; punctuation glued to its end (``: HTTP 404``,
# ``, then``, ``).``) is the sentence's, so it is kept after the redaction.
_QUERY = r"\?(?!<redacted>)[^\s\"']*?(?=[:;,.!?)\]}>]*(?:[\s\"']|$))"
_REQUEST_LINE_QUERY = re.compile(r"\b((?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) [^\s?\"']+)" + _QUERY)
_URL_QUERY = re.compile(r"(https?://[^\s?'\"]+)" + _QUERY)
# Third-party loggers that write request URLs (with signed query strings) at DEBUG.
HTTP_LOGGERS = ("urllib3.connectionpool", "lbox.request_client", "labelbox")


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
    out = _REQUEST_LINE_QUERY.sub(r"\1?<redacted>", out)
    return _URL_QUERY.sub(r"\1?<redacted>", out)


class RedactingFilter(logging.Filter):
    """Rewrite a log record's message with `redact_text` (URL query strings, bearer tokens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging's own error handling
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_log_redaction(names: tuple[str, ...] = HTTP_LOGGERS) -> None:
    """Add a `RedactingFilter` to the third-party HTTP loggers (idempotent).

    urllib3 logs every request line, signed query string included, at DEBUG; the filter keeps SAS tokens and
    signed URL parameters out of logs whatever level a user sets.
    """
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
