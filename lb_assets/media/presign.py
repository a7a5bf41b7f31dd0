"""URL presigners: turn a data row's ``row_data`` URL into a fetchable URL plus request headers.

A presigner is any callable ``url -> (url, headers)``, the same shape Deep Lake's Labelbox
integration (the "seed") accepts as ``url_presigner``. Users' existing presigners return several
shapes; :func:`normalize_presign_result` turns each into ``(str, dict[str, str])``.

Presigners hold secrets (API keys, SAS tokens): their ``repr`` never shows them, and they never log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from lb_assets.errors import ConfigError
from lb_assets.redact import redact_url

logger = logging.getLogger(__name__)

Headers = dict[str, str]


@runtime_checkable
class Presigner(Protocol):
    """Callable mapping a media URL to ``(url, headers)``; any seed-style shape is accepted."""

    def __call__(self, url: str) -> Any:  # pragma: no cover - protocol
        """Return ``(url, headers)`` (or a shape :func:`normalize_presign_result` accepts)."""
        ...


def _parse_header_block(block: str) -> Headers:
    """Parse an ffmpeg-style ``"K: V\\r\\nK2: V2\\r\\n"`` block into a dict."""
    headers: Headers = {}
    for line in block.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ConfigError(
                "url_presigner returned a header block with a line that is not 'Name: value' "
                f"(line starts with {name.strip()[:20]!r})"
            )
        headers[name.strip()] = value.strip()
    return headers


def validate_headers(headers: Mapping[Any, Any], *, setting: str = "url_presigner") -> Headers:
    """Check header names and values are strings without CR/LF and return a plain dict.

    Args:
        headers: Header mapping to check.
        setting: Name of the setting that produced the headers, for error messages.

    Returns:
        A new ``dict[str, str]``.

    Raises:
        ConfigError: A name or value is not a ``str`` or contains a line break (header injection
            into the ffmpeg header block). Values are never shown.
    """
    out: Headers = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not name or any(c in name for c in "\r\n:"):
            raise ConfigError(f"{setting} returned an invalid header name {str(name)[:40]!r}")
        if not isinstance(value, str):
            raise ConfigError(
                f"{setting} returned header {name!r} with a {type(value).__name__} value; "
                "header values must be str"
            )
        if "\r" in value or "\n" in value:
            raise ConfigError(f"{setting} returned header {name!r} whose value contains a line break")
        out[name] = value
    return out


def normalize_presign_result(result: Any) -> tuple[str, Headers]:
    """Normalise whatever a presigner returned to ``(url, headers)``.

    Accepted shapes: ``url`` alone, ``(url, None)``, ``(url, {})``, ``(url, {"Authorization": ...})``,
    the seed's default ``(url, {"headers": {...}})``, and ``(url, {"headers": "K: V\\r\\n..."})`` (an
    ffmpeg header block, as someone who worked around the seed's defect D2 may return).

    Args:
        result: The presigner's return value.

    Returns:
        ``(url, headers)`` with ``headers`` a fresh ``dict[str, str]``.

    Raises:
        ConfigError: The shape is not one of the above. Secrets are never part of the message.
    """
    if isinstance(result, str):
        return result, {}
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ConfigError(
            f"url_presigner must return (url, headers); got {type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        )
    url, headers = result
    if not isinstance(url, str) or not url:
        raise ConfigError(f"url_presigner returned a {type(url).__name__} URL; expected a non-empty str")
    if headers is None:
        return url, {}
    if not isinstance(headers, Mapping):
        raise ConfigError(f"url_presigner returned headers of type {type(headers).__name__}; expected a dict or None")
    if "headers" in headers:
        if len(headers) != 1:
            raise ConfigError(
                "url_presigner returned a dict with a 'headers' key and other keys "
                f"({sorted(k for k in headers if k != 'headers')}); return either the seed's "
                "{'headers': {...}} or a plain header dict"
            )
        inner = headers["headers"]
        if inner is None:
            return url, {}
        if isinstance(inner, str):
            return url, validate_headers(_parse_header_block(inner))
        if not isinstance(inner, Mapping):
            raise ConfigError(
                f"url_presigner returned {{'headers': {type(inner).__name__}}}; expected a dict or an "
                "'K: V\\r\\n' string"
            )
        return url, validate_headers(inner)
    return url, validate_headers(headers)


def _host_matches(url: str, hosts: tuple[str, ...]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in hosts)


class LabelboxBearerPresigner:
    """Adds ``Authorization: Bearer <api_key>`` (Labelbox-hosted media and masks).

    Args:
        api_key: The Labelbox API key.
        hosts: When given, the header is only added for URLs whose host is one of these or a
            subdomain (e.g. ``("labelbox.com",)``), so the key is not sent to third-party storage.
            ``None`` (default) adds it to every URL, like the seed's default presigner; note that
            S3/GCS/Azure reject (or leak) a foreign ``Authorization`` header, so restrict ``hosts``
            when a project mixes Labelbox-hosted and cloud-bucket media.
    """

    def __init__(self, api_key: str, hosts: Iterable[str] | None = None) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ConfigError("LabelboxBearerPresigner needs a non-empty api_key (LABELBOX_API_KEY)")
        if any(c in api_key for c in "\r\n"):
            raise ConfigError("LabelboxBearerPresigner: api_key contains a line break")
        self._api_key = api_key
        self.hosts = tuple(h.lower().lstrip(".") for h in hosts) if hosts is not None else None

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Return ``url`` unchanged and the bearer header (when the host matches)."""
        if self.hosts is not None and not _host_matches(url, self.hosts):
            return url, {}
        return url, {"Authorization": f"Bearer {self._api_key}"}

    def __repr__(self) -> str:
        return f"LabelboxBearerPresigner(api_key=<redacted>, hosts={self.hosts!r})"


class AzureSasPresigner:
    """Replaces the URL's query string with an Azure SAS token (as in the seed docs' example).

    Args:
        sas_token: The SAS token, with or without a leading ``?``.
    """

    def __init__(self, sas_token: str) -> None:
        token = (sas_token or "").lstrip("?")
        if not token:
            raise ConfigError("AzureSasPresigner needs a non-empty sas_token")
        if any(c in token for c in "\r\n #"):
            raise ConfigError("AzureSasPresigner: sas_token contains whitespace or '#'")
        self._token = token

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Return the URL with its query string replaced by the token, and no headers."""
        base = url.split("#", 1)[0].partition("?")[0]
        return f"{base}?{self._token}", {}

    def __repr__(self) -> str:
        return "AzureSasPresigner(sas_token=<redacted>)"


class StaticHeadersPresigner:
    """Adds a fixed set of headers to every URL (e.g. an API gateway key).

    Args:
        headers: Header names and values (values are treated as secrets in ``repr``).
    """

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = validate_headers(headers, setting="StaticHeadersPresigner")

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Return ``url`` unchanged and a copy of the headers."""
        return url, dict(self._headers)

    def __repr__(self) -> str:
        return f"StaticHeadersPresigner(headers={sorted(self._headers)!r} <values redacted>)"


class S3Presigner:
    """Turns ``s3://bucket/key`` URLs into presigned HTTPS GET URLs with boto3.

    Other URLs pass through unchanged. boto3 is optional (``pip install lb_assets[s3]``).

    Args:
        expires_in: Lifetime of the presigned URL in seconds.
        client: A boto3 S3 client (or anything with ``generate_presigned_url``); by default one is
            created on first use from the usual AWS environment/config.

    Raises:
        ConfigError: No ``client`` was given and boto3 is not installed.
    """

    def __init__(self, expires_in: int = 3600, client: Any | None = None) -> None:
        if expires_in <= 0:
            raise ConfigError(f"S3Presigner: expires_in must be positive, got {expires_in}")
        self.expires_in = int(expires_in)
        self._client = client
        if client is None:
            try:
                import boto3  # noqa: F401
            except ImportError as exc:
                raise ConfigError(
                    "S3Presigner needs boto3, which is not installed: pip install boto3 "
                    "(or lb_assets[s3]), or pass client=..."
                ) from exc

    def _s3(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Presign ``s3://`` URLs; return other URLs unchanged."""
        parts = urlsplit(url)
        if parts.scheme != "s3":
            return url, {}
        key = parts.path.lstrip("/")
        if not parts.netloc or not key:
            raise ConfigError(f"S3Presigner: {redact_url(url)!r} is not s3://bucket/key")
        signed = self._s3().generate_presigned_url(
            "get_object", Params={"Bucket": parts.netloc, "Key": key}, ExpiresIn=self.expires_in
        )
        logger.debug("presigned %s", redact_url(url))
        return str(signed), {}

    def __repr__(self) -> str:
        return f"S3Presigner(expires_in={self.expires_in})"


class ChainPresigner:
    """Applies presigners in order: each gets the previous URL; headers are merged (later wins).

    Example: ``ChainPresigner(AzureSasPresigner(tok), StaticHeadersPresigner({"x-ms-version": "2021-08-06"}))``.
    Each step's result may be any shape :func:`normalize_presign_result` accepts.
    """

    def __init__(self, *presigners: Presigner) -> None:
        if not presigners:
            raise ConfigError("ChainPresigner needs at least one presigner")
        self.presigners = presigners

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Run every presigner in turn."""
        headers: Headers = {}
        for presigner in self.presigners:
            url, more = normalize_presign_result(presigner(url))
            headers.update(more)
        return url, headers

    def __repr__(self) -> str:
        return "ChainPresigner(" + ", ".join(repr(p) for p in self.presigners) + ")"
