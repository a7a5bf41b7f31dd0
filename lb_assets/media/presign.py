"""URL presigners: turn a data row's ``row_data`` URL into a fetchable URL plus request headers.

A presigner is any callable ``url -> (url, headers)``, the same shape Deep Lake's Labelbox
integration (the "seed") accepts as ``url_presigner``. Users' existing presigners return several
shapes; :func:`normalize_presign_result` turns each into ``(str, dict[str, str])``.

Presigners hold secrets (API keys, SAS tokens): their ``repr`` never shows them, and they never log.

The built-in presigners add their credentials only for URLs on their hosts (:class:`HostPatterns`):
``LabelboxBearerPresigner`` for Labelbox's hosts and the API host in use, ``AzureSasPresigner`` for
``*.blob.core.windows.net``, ``StaticHeadersPresigner`` for a list that must be given. Other URLs pass
through without credentials (public media). ``$LB_ASSETS_CREDENTIAL_HOSTS`` (comma-separated patterns)
extends every built-in default list.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeGuard, runtime_checkable
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
                f"{setting} returned header {name!r} with a {type(value).__name__} value; header values must be str"
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


CREDENTIAL_HOSTS_ENV = "LB_ASSETS_CREDENTIAL_HOSTS"
DEFAULT_LABELBOX_HOSTS: tuple[str, ...] = ("labelbox.com", "*.labelbox.com")
DEFAULT_AZURE_HOSTS: tuple[str, ...] = ("*.blob.core.windows.net",)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split_pattern(pattern: str, setting: str) -> tuple[str, int | None]:
    """``"Host[:port]"`` -> ``(host, port)``, lower-cased; raises ConfigError naming ``setting``."""
    text = pattern.strip().lower().rstrip(".")
    host, port = text, None
    if text.startswith("["):  # IPv6 literal
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        head, sep, tail = text.rpartition(":")
        host, port_text = (head, tail) if sep else (text, "")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"{setting}: host pattern {pattern!r} has an invalid port")
        port = int(port_text)
    body = host[2:] if host.startswith("*.") else host
    if not body or any(c in body for c in "*/?#@ \\") or "://" in text:
        raise ConfigError(
            f"{setting}: invalid host pattern {pattern!r}; use 'host', 'host:port' or '*.domain' (no scheme or path)"
        )
    return host, port


def _url_host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return "", None
    return (parts.hostname or "").lower().rstrip("."), port or _DEFAULT_PORTS.get(parts.scheme.lower())


class HostPatterns:
    """Hosts credentials may be sent to: exact ``host``, or ``*.suffix`` (subdomains only), case-insensitive.

    A pattern with a port (``127.0.0.1:8765``, ``*.example.com:8443``) matches that port only (the URL's
    explicit port, else 80/443 by scheme); a pattern without one matches any port.

    Args:
        patterns: The host patterns.
        setting: Name of the setting they come from, for error messages.

    Raises:
        ConfigError: A pattern is not a host pattern (e.g. has a scheme or a path).
    """

    def __init__(self, patterns: Iterable[str], setting: str = "hosts") -> None:
        if isinstance(patterns, str):
            patterns = [patterns]
        kept: list[str] = []
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise ConfigError(f"{setting}: host patterns must be non-empty strings, got {pattern!r}")
            if pattern.strip().lower() not in kept:
                kept.append(pattern.strip().lower())
        self.patterns = tuple(kept)
        self._parsed = tuple(_split_pattern(p, setting) for p in self.patterns)

    def matches(self, url: str) -> bool:
        """True when ``url`` is http(s) and its host (and port, if the pattern has one) match a pattern."""
        if urlsplit(url).scheme.lower() not in _DEFAULT_PORTS:
            return False
        host, port = _url_host_port(url)
        if not host:
            return False
        for pattern, pattern_port in self._parsed:
            if pattern_port is not None and pattern_port != port:
                continue
            if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __iter__(self) -> Iterator[str]:
        return iter(self.patterns)

    def __add__(self, other: Iterable[str]) -> HostPatterns:
        return HostPatterns((*self.patterns, *other))

    def __repr__(self) -> str:
        return f"HostPatterns({list(self.patterns)!r})"


def env_credential_hosts() -> tuple[str, ...]:
    """Patterns from ``$LB_ASSETS_CREDENTIAL_HOSTS`` (comma- or whitespace-separated; empty when unset)."""
    raw = os.environ.get(CREDENTIAL_HOSTS_ENV, "")
    return tuple(p for p in raw.replace(",", " ").split() if p)


def api_host(endpoint: str | None = None) -> str:
    """``host[:port]`` of the Labelbox GraphQL endpoint in use (explicit > ``$LABELBOX_ENDPOINT`` > Labelbox's)."""
    from lb_assets.labelbox.client import resolve_endpoint

    parts = urlsplit(resolve_endpoint(endpoint))
    return parts.netloc.rsplit("@", 1)[-1].lower()


def labelbox_hosts(endpoint: str | None = None, extra: Iterable[str] = ()) -> HostPatterns:
    """Labelbox's hosts: defaults, the API host in use, ``extra`` and ``$LB_ASSETS_CREDENTIAL_HOSTS``."""
    return HostPatterns(
        (*DEFAULT_LABELBOX_HOSTS, api_host(endpoint), *extra, *env_credential_hosts()),
        setting=f"Labelbox credential hosts (credential_hosts / ${CREDENTIAL_HOSTS_ENV})",
    )


def _hosts_or(hosts: Iterable[str] | None, defaults: Iterable[str], extra: Iterable[str], setting: str) -> HostPatterns:
    if hosts is not None:
        return hosts if isinstance(hosts, HostPatterns) else HostPatterns(hosts, setting)
    return HostPatterns((*defaults, *extra, *env_credential_hosts()), setting)


def is_host_scoped(presigner: object) -> TypeGuard[Presigner]:
    """True for presigners whose headers for a URL are safe to send to that URL (the built-in ones).

    Such a presigner is asked again for each redirect hop; any other presigner's headers follow a
    redirect only to the same scheme, host and port.
    """
    return bool(getattr(presigner, "host_scoped", False))


class LabelboxBearerPresigner:
    """Adds ``Authorization: Bearer <api_key>`` for Labelbox's hosts only (Labelbox-hosted media and masks).

    Args:
        api_key: The Labelbox API key.
        hosts: Host patterns (:class:`HostPatterns`) that get the key, replacing the defaults.
            ``None`` (default): ``labelbox.com``, ``*.labelbox.com``, the host of the GraphQL endpoint
            in use (``endpoint`` / ``$LABELBOX_ENDPOINT``), ``extra_hosts`` and
            ``$LB_ASSETS_CREDENTIAL_HOSTS``. Other URLs are returned without the header.
        extra_hosts: Patterns added to the defaults.
        endpoint: The GraphQL endpoint whose host gets the key (default: the one in use).
    """

    host_scoped = True

    def __init__(
        self,
        api_key: str,
        hosts: Iterable[str] | None = None,
        *,
        extra_hosts: Iterable[str] = (),
        endpoint: str | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ConfigError("LabelboxBearerPresigner needs a non-empty api_key (LABELBOX_API_KEY)")
        if any(c in api_key for c in "\r\n"):
            raise ConfigError("LabelboxBearerPresigner: api_key contains a line break")
        self._api_key = api_key
        if hosts is None:
            self.hosts = labelbox_hosts(endpoint, extra_hosts)
        else:
            self.hosts = _hosts_or(hosts, (), (), "LabelboxBearerPresigner hosts")

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Return ``url`` unchanged, with the bearer header only when its host is in ``hosts``."""
        if not self.hosts.matches(url):
            return url, {}
        return url, {"Authorization": f"Bearer {self._api_key}"}

    def __repr__(self) -> str:
        return f"LabelboxBearerPresigner(api_key=<redacted>, hosts={list(self.hosts)!r})"


class AzureSasPresigner:
    """Replaces the URL's query string with an Azure SAS token (as in the seed docs' example), on its hosts.

    Args:
        sas_token: The SAS token, with or without a leading ``?``.
        hosts: Host patterns that get the token, replacing the defaults; ``None``: ``*.blob.core.windows.net``,
            ``extra_hosts`` and ``$LB_ASSETS_CREDENTIAL_HOSTS``. Other URLs are returned unchanged.
        extra_hosts: Patterns added to the defaults.
    """

    host_scoped = True

    def __init__(self, sas_token: str, hosts: Iterable[str] | None = None, *, extra_hosts: Iterable[str] = ()) -> None:
        token = (sas_token or "").lstrip("?")
        if not token:
            raise ConfigError("AzureSasPresigner needs a non-empty sas_token")
        if any(c in token for c in "\r\n #"):
            raise ConfigError("AzureSasPresigner: sas_token contains whitespace or '#'")
        self._token = token
        self.hosts = _hosts_or(hosts, DEFAULT_AZURE_HOSTS, extra_hosts, "AzureSasPresigner hosts (credential_hosts)")

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Return the URL with its query string replaced by the token (on ``hosts``), and no headers."""
        if not self.hosts.matches(url):
            return url, {}
        base = url.split("#", 1)[0].partition("?")[0]
        return f"{base}?{self._token}", {}

    def __repr__(self) -> str:
        return f"AzureSasPresigner(sas_token=<redacted>, hosts={list(self.hosts)!r})"


class StaticHeadersPresigner:
    """Adds a fixed set of headers (e.g. an API gateway key) to URLs on the given hosts.

    Args:
        headers: Header names and values (values are treated as secrets in ``repr``).
        hosts: Host patterns that get the headers; ``None``: ``extra_hosts`` plus
            ``$LB_ASSETS_CREDENTIAL_HOSTS``, which must not be empty together.
        extra_hosts: Patterns added to ``$LB_ASSETS_CREDENTIAL_HOSTS`` when ``hosts`` is None.

    Raises:
        ConfigError: No host list (names the settings), or invalid headers.
    """

    host_scoped = True

    def __init__(
        self, headers: Mapping[str, str], hosts: Iterable[str] | None = None, *, extra_hosts: Iterable[str] = ()
    ) -> None:
        self._headers = validate_headers(headers, setting="StaticHeadersPresigner")
        self.hosts = _hosts_or(hosts, (), extra_hosts, "StaticHeadersPresigner hosts (credential_hosts)")
        if not self.hosts:
            raise ConfigError(
                "StaticHeadersPresigner needs the hosts its headers may be sent to: set credential_hosts "
                f"(PresignerResource) or ${CREDENTIAL_HOSTS_ENV}, e.g. 'media.example.com,*.cdn.example.com'"
            )

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Return ``url`` unchanged and a copy of the headers when its host is in ``hosts``."""
        if not self.hosts.matches(url):
            return url, {}
        return url, dict(self._headers)

    def __repr__(self) -> str:
        names = sorted(self._headers)
        return f"StaticHeadersPresigner(headers={names!r} <values redacted>, hosts={list(self.hosts)!r})"


class S3Presigner:
    """Turns ``s3://bucket/key`` URLs into presigned HTTPS GET URLs with boto3.

    Other URLs pass through unchanged. boto3 is optional (``pip install lb_assets[s3]``). The signature
    lives in the URL it returns (never in headers), so it is host-scoped by construction.

    Args:
        expires_in: Lifetime of the presigned URL in seconds.
        client: A boto3 S3 client (or anything with ``generate_presigned_url``); by default one is
            created on first use from the usual AWS environment/config.

    Raises:
        ConfigError: No ``client`` was given and boto3 is not installed.
    """

    host_scoped = True

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

    @property
    def host_scoped(self) -> bool:
        """True when every presigner of the chain is host-scoped."""
        return all(is_host_scoped(p) for p in self.presigners)

    def __call__(self, url: str) -> tuple[str, Headers]:
        """Run every presigner in turn."""
        headers: Headers = {}
        for presigner in self.presigners:
            url, more = normalize_presign_result(presigner(url))
            headers.update(more)
        return url, headers

    def __repr__(self) -> str:
        return "ChainPresigner(" + ", ".join(repr(p) for p in self.presigners) + ")"
