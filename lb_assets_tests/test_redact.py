"""Redaction of URLs, headers, free text and third-party HTTP log records."""

import logging

import pytest

import lb_assets  # noqa: F401  (installs the log redaction)
from lb_assets.redact import RedactingFilter, redact_headers, redact_text, redact_url


def test_redact_url_drops_query_and_credentials() -> None:
    assert redact_url("https://user:pw@acct.blob.core.windows.net/c/v.mp4?sv=1&sig=S") == \
        "https://acct.blob.core.windows.net/c/v.mp4?<redacted>"
    assert redact_url("/data/videos/a.mp4") == "/data/videos/a.mp4"


def test_redact_headers_and_text() -> None:
    assert redact_headers({"Authorization": "Bearer k", "Range": "bytes=0-"}) == \
        {"Authorization": "<redacted>", "Range": "bytes=0-"}
    text = redact_text('GET https://x/y.mp4?sig=1 failed; "HEAD /files/a.mp4?sv=2&sig=S HTTP/1.1"; Bearer abc.d',
                       ["abc"])
    assert "sig=" not in text and "abc" not in text and "/files/a.mp4?<redacted>" in text


@pytest.mark.parametrize("name", ["urllib3.connectionpool", "lbox.request_client"])
def test_http_loggers_are_redacted(name: str, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(name)
    assert any(isinstance(f, RedactingFilter) for f in logger.filters)
    with caplog.at_level(logging.DEBUG, logger=name):
        logger.debug('%s:%s "%s %s %s" %s %s', "h", 1, "GET", "/a.mp4?sv=1&sig=SECRETSIG", "HTTP/1.1", 200, 5)
    assert caplog.records and all("SECRETSIG" not in r.getMessage() for r in caplog.records)
