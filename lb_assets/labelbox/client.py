"""Build labelbox SDK clients and turn SDK exceptions into lb_assets errors.

``LABELBOX_ENDPOINT``, when set, points every client at another GraphQL server (such as the loopback
sandbox); the REST endpoint and app URL are derived from it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from lb_assets.errors import (
    ConfigError,
    LabelboxAuthError,
    LabelboxNotFoundError,
    LabelboxOperationError,
    LabelboxRateLimitError,
    LbAssetsError,
)
from lb_assets.redact import redact_text

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://api.labelbox.com/graphql"
DEFAULT_REST_ENDPOINT = "https://api.labelbox.com/api/v1"
DEFAULT_APP_URL = "https://app.labelbox.com"
ENDPOINT_ENV = "LABELBOX_ENDPOINT"
MAX_REASON_CHARS = 600


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The GraphQL endpoint to use: ``endpoint`` if given, else ``$LABELBOX_ENDPOINT``, else Labelbox's.

    Raises:
        ConfigError: the chosen endpoint is not an http(s) URL.
    """
    chosen = (endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).strip()
    if not chosen.startswith(("http://", "https://")):
        source = "endpoint setting" if endpoint else ENDPOINT_ENV
        raise ConfigError(f"Labelbox {source} must be an http(s) URL ending in /graphql, got {chosen!r}")
    return chosen


def derived_urls(endpoint: str) -> tuple[str, str]:
    """``(rest_endpoint, app_url)`` that belong with a GraphQL ``endpoint``."""
    if endpoint.rstrip("/") == DEFAULT_ENDPOINT:
        return DEFAULT_REST_ENDPOINT, DEFAULT_APP_URL
    base = endpoint.rstrip("/")
    if base.endswith("/graphql"):
        base = base[: -len("/graphql")]
    return f"{base}/api/v1", base


class _TimeoutAdapter(HTTPAdapter):
    """An HTTP adapter that applies one request timeout to every request of a session."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send with this adapter's timeout, whatever ``timeout`` the caller gave."""
        return super().send(request, stream=stream, timeout=self._timeout, verify=verify, cert=cert, proxies=proxies)


def make_client(api_key: str, endpoint: str | None = None, timeout: float = 60.0) -> Any:
    """A ``labelbox.Client`` for ``api_key`` talking to the resolved endpoint.

    Args:
        api_key: Labelbox API key (never logged).
        endpoint: GraphQL endpoint; None uses ``$LABELBOX_ENDPOINT`` or Labelbox's.
        timeout: seconds each GraphQL request may take (the SDK's own default is 60).

    Raises:
        ConfigError: the key is empty or the endpoint is invalid.
    """
    import labelbox

    if not api_key or not str(api_key).strip():
        raise ConfigError("Labelbox API key is empty: set LABELBOX_API_KEY (or the resource's api_key)")
    if timeout <= 0:
        raise ConfigError(f"Labelbox timeout must be positive, got {timeout}")
    url = resolve_endpoint(endpoint)
    rest_endpoint, app_url = derived_urls(url)
    client = labelbox.Client(api_key=api_key, endpoint=url, rest_endpoint=rest_endpoint, app_url=app_url)
    adapter = _TimeoutAdapter(timeout)
    client.connection.mount("http://", adapter)
    client.connection.mount("https://", adapter)
    logger.debug("Labelbox client for %s (timeout %ss)", url, timeout)
    return client


def _reason(exc: BaseException, secrets: Sequence[str]) -> str:
    text = str(exc) or type(exc).__name__
    text = redact_text(f"{type(exc).__name__}: {text}", list(secrets))
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."


def map_labelbox_error(
    exc: BaseException, operation: str, project_id: str | None = None, secrets: Sequence[str] = ()
) -> LabelboxOperationError:
    """The lb_assets error for an exception raised by the SDK (or its HTTP layer) during ``operation``."""
    from lbox import exceptions as lbx

    reason = _reason(exc, secrets)
    if isinstance(exc, (lbx.AuthenticationError, lbx.AuthorizationError)):
        return LabelboxAuthError(operation, project_id, f"the API key was rejected ({reason})")
    if isinstance(exc, lbx.ResourceNotFoundError):
        return LabelboxNotFoundError(operation, project_id, f"not found or not visible to this API key ({reason})")
    if isinstance(exc, lbx.ApiLimitError) or "429" in str(exc) or "Too Many Requests" in str(exc):
        return LabelboxRateLimitError(operation, project_id, f"rate limited by Labelbox ({reason})")
    if isinstance(exc, requests.HTTPError) and exc.response is not None and exc.response.status_code == 429:
        return LabelboxRateLimitError(operation, project_id, f"rate limited by Labelbox ({reason})")
    return LabelboxOperationError(operation, project_id, reason)


@contextmanager
def labelbox_errors(operation: str, project_id: str | None = None, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Map SDK exceptions raised inside the block to ``LabelboxOperationError`` subclasses.

    Auth failures become ``LabelboxAuthError``, missing resources ``LabelboxNotFoundError``, 429s
    ``LabelboxRateLimitError`` and any other SDK or HTTP failure ``LabelboxOperationError``. Messages
    name ``operation`` and ``project_id``; bearer tokens, URL query strings and ``secrets`` are redacted.
    lb_assets errors pass through unchanged.

    Args:
        operation: what was being done, e.g. ``"export"``.
        project_id: the project concerned, if any.
        secrets: extra strings (such as the API key) to scrub from messages.
    """
    from lbox import exceptions as lbx

    try:
        yield
    except LbAssetsError:
        raise
    except (
        lbx.LabelboxError,
        lbx.MalformedQueryException,
        lbx.OperationNotAllowedException,
        lbx.ProcessingWaitTimeout,
        requests.RequestException,
    ) as exc:
        error = map_labelbox_error(exc, operation, project_id, secrets)
        logger.debug("Labelbox %s failed: %s", operation, error.reason)
        raise error from None
