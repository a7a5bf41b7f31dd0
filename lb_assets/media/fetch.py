"""Resolve a data row's ``row_data`` to something readable, and fetch its bytes.

Remote media (http/https, or any scheme a presigner maps to https, e.g. ``s3://``) goes through the
presigner; local paths and ``file://`` URLs are read only below ``allowed_roots``. There is no
per-item HEAD probe: a plain GET with the presigner's headers, with timeouts and retries.

Redirects are followed here, never by ``requests`` or ffmpeg: at each hop the credentials are decided
again for the new URL (a host-scoped presigner is asked again; any other presigner's headers follow
only to the same scheme, host and port; an https -> http hop drops them), at most
:data:`MAX_REDIRECTS` hops. Errors no retry can fix (HTTP 4xx other than 408/429, refused or missing
local files, NUL bytes, too many redirects) are :class:`PermanentMediaError`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

import requests

from lb_assets.errors import LbAssetsError, MediaError, PermanentMediaError
from lb_assets.media.presign import Headers, Presigner, is_host_scoped, normalize_presign_result
from lb_assets.redact import redact_text, redact_url

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_REDIRECTS = 5
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0
_REMOTE_SCHEMES = ("http", "https")


def secrets_of(url: str, headers: Mapping[str, str] | None = None) -> list[str]:
    """Strings that must never appear in messages: the URL's query string and header values."""
    out = [urlsplit(url).query] if "://" in url else []
    out.extend(v for v in (headers or {}).values() if len(v) >= 4)
    for value in (headers or {}).values():  # "Bearer <key>" -> also "<key>" alone
        _, _, token = value.partition(" ")
        if len(token) >= 4:
            out.append(token)
    return [s for s in out if s]


def safe_cause(exc: BaseException, url: str, headers: Mapping[str, str] | None = None) -> str:
    """A one-line description of ``exc`` with URLs, query strings and header values redacted."""
    text = f"{type(exc).__name__}: {exc}"
    return redact_text(text, secrets_of(url, headers))[:500]


def shown_source(source: str) -> str:
    """``source`` for a message: query string redacted, NUL bytes visible as ``\\x00``."""
    return redact_url(source.replace("\x00", "\\x00"))


def check_no_nul(source: str, what: str = "row_data") -> None:
    """Raise :class:`PermanentMediaError` naming ``source`` (redacted) when it contains a NUL byte."""
    if "\x00" in source:
        raise PermanentMediaError(f"{what} {shown_source(source)!r} contains a NUL byte; it is not a valid path or URL")


class RequestHeaders(dict[str, str]):
    """Request headers from a presigner, remembering the presigner to decide them again at redirects."""

    def __init__(self, headers: Mapping[str, str] | None = None, presigner: Presigner | None = None) -> None:
        super().__init__(headers or {})
        self.presigner = presigner


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def redirect_headers(
    presigner: Presigner | None, prev_url: str, prev_headers: Mapping[str, str], new_url: str
) -> Headers:
    """The headers to send to ``new_url``, a redirect target of ``prev_url`` (see the module doc)."""
    if _origin(prev_url)[0] == "https" and _origin(new_url)[0] != "https":
        return {}
    if is_host_scoped(presigner):
        try:
            return normalize_presign_result(presigner(new_url))[1]
        except Exception:  # noqa: BLE001 - a chain may hold a user's presigner; then send nothing
            logger.warning(
                "presigner failed for redirect target %s; following it without credentials", redact_url(new_url)
            )
            return {}
    return dict(prev_headers) if _origin(prev_url) == _origin(new_url) else {}


class _Transient(Exception):
    """One attempt failed in a way a retry may fix."""

    def __init__(self, problem: str, delay: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.delay = delay


def _is_local(row_data: str) -> bool:
    scheme = urlsplit(row_data).scheme
    return scheme == "file" or "://" not in row_data


def ffmpeg_options(headers: Mapping[str, str] | None, timeout: float = 30.0) -> dict[str, str]:
    """Options for ``av.open(url, options=...)`` so headers and timeouts reach ffmpeg's http protocol.

    ffmpeg wants one ``str`` block ``"Name: value\\r\\n..."`` (passing a dict, as the seed does,
    fails: defect D2). Timeouts are in microseconds for ffmpeg.

    Args:
        headers: Request headers (e.g. from a presigner); ``None`` or empty for none.
        timeout: Socket read/write timeout in seconds.

    Returns:
        A ``dict[str, str]``; ``"headers"`` is present only when there are headers.
    """
    micros = str(max(1, int(timeout * 1_000_000)))
    options = {"rw_timeout": micros, "timeout": micros}
    if headers:
        block = ""
        for name, value in headers.items():
            if any(c in f"{name}{value}" for c in "\r\n"):
                raise MediaError(f"header {name!r} contains a line break; refusing to pass it to ffmpeg")
            block += f"{name}: {value}\r\n"
        options["headers"] = block
    return options


class MediaFetcher:
    """Resolves and fetches media for data rows.

    Args:
        presigner: Maps remote URLs to ``(url, headers)`` (see :mod:`lb_assets.media.presign`);
            ``None`` fetches http(s) URLs as they are.
        allowed_roots: Directories below which local paths / ``file://`` URLs may be read. Empty
            (default): local media is refused. Symlinks and ``..`` are resolved before the check.
        timeout: Connect and read timeout per request, seconds.
        retries: Extra attempts after a connection error, timeout, 408, 429 or 5xx (other 4xx are
            permanent and not retried).
        backoff: First retry delay in seconds, doubled for each further retry; a 429/503
            ``Retry-After`` of up to 30 s is honoured instead.
        session: A ``requests.Session`` to use (default: one per fetcher).
    """

    def __init__(
        self,
        presigner: Presigner | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] = (),
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        if timeout <= 0:
            raise MediaError(f"MediaFetcher: timeout must be positive, got {timeout}")
        if retries < 0:
            raise MediaError(f"MediaFetcher: retries must be >= 0, got {retries}")
        self.presigner = presigner
        self.allowed_roots = tuple(Path(root).resolve() for root in allowed_roots)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return (
            f"MediaFetcher(presigner={self.presigner!r}, allowed_roots={[str(r) for r in self.allowed_roots]!r}, "
            f"timeout={self.timeout}, retries={self.retries})"
        )

    def close(self) -> None:
        """Close the HTTP session (pooled connections)."""
        self._session.close()

    def __enter__(self) -> MediaFetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open_url(self, row_data: str) -> tuple[str, Headers]:
        """Resolve ``row_data`` to ``(url_or_local_path, headers)`` ready for requests or PyAV.

        Args:
            row_data: The data row's ``row_data`` (URL or local path).

        Returns:
            A resolved local path with ``{}``, or an http(s) URL with the presigner's headers for it
            (a :class:`RequestHeaders`, which carries the presigner for redirect decisions; PyAV
            fetches a video with credentials through :func:`download_to`, never through ffmpeg).

        Raises:
            PermanentMediaError: A local path outside ``allowed_roots`` (or missing), an unsupported
                scheme, a NUL byte. Messages redact URLs.
            MediaError: The presigner raised.
            ConfigError: The presigner returned a shape :func:`normalize_presign_result` rejects.
        """
        if not isinstance(row_data, str) or not row_data:
            raise PermanentMediaError(f"row_data must be a non-empty str, got {type(row_data).__name__}")
        check_no_nul(row_data)
        if _is_local(row_data):
            return str(self._local_path(row_data)), {}
        url = row_data
        headers: Headers = {}
        if self.presigner is not None:
            try:
                url, headers = normalize_presign_result(self.presigner(row_data))
            except LbAssetsError:
                raise
            except Exception as exc:  # a user's presigner may raise anything
                raise MediaError(
                    f"url_presigner failed for {redact_url(row_data)}: {safe_cause(exc, row_data)}"
                ) from None
        check_no_nul(url, "presigned URL")
        if urlsplit(url).scheme not in _REMOTE_SCHEMES:
            raise PermanentMediaError(
                f"cannot fetch {redact_url(url)}: scheme {urlsplit(url).scheme!r} is not http(s); "
                "configure a presigner for it (e.g. S3Presigner for s3://)"
            )
        return url, RequestHeaders(headers, self.presigner)

    def _local_path(self, row_data: str) -> Path:
        if row_data.startswith("file:"):
            parts = urlsplit(row_data)
            if parts.netloc not in ("", "localhost"):
                raise PermanentMediaError(
                    f"file URL {redact_url(row_data)} names a remote host; only local files are read"
                )
            raw = unquote(parts.path)
            check_no_nul(raw, f"file URL {redact_url(row_data)!r}: path")
        else:
            raw = row_data
        if not self.allowed_roots:
            raise PermanentMediaError(
                f"local media path {raw!r} refused: allowed_roots is empty (set allowed_roots to the "
                "directories local media may be read from)"
            )
        resolved = Path(raw).expanduser().resolve()
        if not any(resolved.is_relative_to(root) for root in self.allowed_roots):
            raise PermanentMediaError(
                f"local media path {raw!r} (resolves to {str(resolved)!r}) is outside allowed_roots "
                f"{[str(r) for r in self.allowed_roots]}"
            )
        if not resolved.is_file():
            raise PermanentMediaError(f"local media file {raw!r} does not exist or is not a file")
        return resolved

    def fetch_bytes(self, row_data: str) -> bytes:
        """Return the media's bytes (local file or HTTP GET with retries), e.g. an image or mask.

        Videos should not be fetched whole: pass :meth:`open_url`'s result to
        :func:`lb_assets.media.video.iter_video_frames`, which streams.

        Args:
            row_data: The data row's ``row_data``.

        Returns:
            The whole response body / file content.

        Raises:
            PermanentMediaError: Refused or missing path, 4xx (not 408/429), too many redirects.
            MediaError: Still failing after ``retries`` retries (5xx, timeouts, connection errors).
        """
        target, headers = self.open_url(row_data)
        if "://" not in target:
            try:
                return Path(target).read_bytes()
            except FileNotFoundError:
                raise PermanentMediaError(f"local media file {target!r} does not exist") from None
            except OSError as exc:
                raise MediaError(f"cannot read local media file {target!r}: {exc.strerror or exc}") from None
        return self._with_retries(target, headers, lambda: self._once(target, headers, lambda r: r.content))

    def download(self, url: str, headers: Mapping[str, str], dest: IO[bytes]) -> int:
        """Stream ``url`` into ``dest`` (truncated first, and again before each retry); returns the size.

        Redirects are followed as described in the module doc, with the presigner ``headers`` carry
        (:class:`RequestHeaders`) or, for plain headers, the same-origin rule.

        Raises:
            PermanentMediaError / MediaError: as :meth:`fetch_bytes`.
        """

        def write(response: requests.Response) -> int:
            dest.seek(0)
            dest.truncate()
            size = 0
            for chunk in response.iter_content(chunk_size=1 << 20):
                dest.write(chunk)
                size += len(chunk)
            dest.flush()
            return size

        return self._with_retries(url, headers, lambda: self._once(url, headers, write))

    def _with_retries(self, url: str, headers: Mapping[str, str], attempt_once: Callable[[], T]) -> T:
        shown = redact_url(url)
        attempt = 0
        while True:
            delay = self.backoff * (2**attempt)
            try:
                return attempt_once()
            except _Transient as exc:
                problem = exc.problem
                delay = exc.delay if exc.delay is not None else delay
            if attempt >= self.retries:
                raise MediaError(f"GET {shown} failed after {attempt + 1} attempts: {problem}")
            attempt += 1
            logger.warning("GET %s: %s; retry %d/%d in %.2fs", shown, problem, attempt, self.retries, delay)
            time.sleep(delay)

    def _once(self, url: str, headers: Mapping[str, str], consume: Callable[[requests.Response], T]) -> T:
        """One attempt: follow redirects, then ``consume`` a 2xx response; errors classified."""
        presigner = headers.presigner if isinstance(headers, RequestHeaders) else None
        try:
            response, final_url, final_headers = self._follow(url, dict(headers), presigner)
            with response:
                if 200 <= response.status_code < 300:
                    return consume(response)
                raise self._status_error(response, url, final_url, final_headers, presigner)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Transient(safe_cause(exc, url, headers)) from None
        except requests.RequestException as exc:
            raise MediaError(f"GET {redact_url(url)} failed: {safe_cause(exc, url, headers)}") from None

    def _follow(
        self, url: str, headers: Headers, presigner: Presigner | None
    ) -> tuple[requests.Response, str, Headers]:
        """GET ``url``, following up to :data:`MAX_REDIRECTS` redirects ourselves (credentials per hop)."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._session.get(url, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECT_STATUS or not location:
                return response, url, headers
            response.close()
            new_url = urljoin(url, location)
            if urlsplit(new_url).scheme not in _REMOTE_SCHEMES or "\x00" in new_url:
                raise PermanentMediaError(f"GET {redact_url(url)} redirects to a non-http(s) URL")
            headers = redirect_headers(presigner, url, headers, new_url)
            logger.debug(
                "GET %s: redirect to %s (%s)",
                redact_url(url),
                redact_url(new_url),
                "with credentials" if headers else "without credentials",
            )
            url = new_url
        raise PermanentMediaError(f"GET {redact_url(url)}: more than {MAX_REDIRECTS} redirects")

    def _status_error(
        self, response: requests.Response, url: str, final_url: str, headers: Headers, presigner: Presigner | None
    ) -> Exception:
        status = response.status_code
        shown = redact_url(url) + (f" (redirected to {redact_url(final_url)})" if final_url != url else "")
        if status in _RETRY_STATUS:
            return _Transient(f"HTTP {status}", _retry_after(response, None))
        if 400 <= status < 500:
            hint = _auth_hint(status, final_url, headers, presigner)
            return PermanentMediaError(f"GET {shown} failed: HTTP {status}{hint}")
        if 300 <= status < 400:
            return PermanentMediaError(f"GET {shown} failed: HTTP {status} without a usable Location")
        return MediaError(f"GET {shown} failed: HTTP {status}")


def _auth_hint(status: int, url: str, headers: Headers, presigner: Presigner | None) -> str:
    if status not in (401, 403):
        return ""
    hosts = getattr(presigner, "hosts", None)
    if not headers and hosts is not None:
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        return (
            f" (sent without credentials: host {host!r} is not in the presigner's host list "
            f"{list(hosts)}; add it to credential_hosts or $LB_ASSETS_CREDENTIAL_HOSTS if it should get them)"
        )
    return " (private media: configure a presigner)"


def download_to(
    url: str,
    headers: Mapping[str, str] | None,
    dest: IO[bytes],
    timeout: float = 30.0,
    retries: int = 2,
    backoff: float = 0.5,
) -> int:
    """Stream ``url`` into ``dest`` with :meth:`MediaFetcher.download`'s redirect and retry rules; returns the size."""
    with MediaFetcher(timeout=timeout, retries=retries, backoff=backoff) as fetcher:
        return fetcher.download(url, headers or {}, dest)


def _retry_after(response: requests.Response, default: float | None) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return default
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
