"""HTTP side of the sandbox: GraphQL over POST, files/masks/export chunks over GET and HEAD.

Every request gets an answer: GraphQL errors (including sandbox bugs) are HTTP 200 with an
``extensions.code``; file errors are small JSON bodies with a 4xx status. Only failures a test asked
for (``fail_operation``/``fail_path``) produce 5xx or 429.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lb_assets.redact import redact_text
from lb_assets.sandbox import http_files
from lb_assets.sandbox.operations_common import GraphQLError, operation_name
from lb_assets.sandbox.state import FailureRule

if TYPE_CHECKING:
    from lb_assets.sandbox.server import LabelboxSandbox

logger = logging.getLogger(__name__)

UploadPart = tuple[bytes, str | None, str | None]  # (bytes, content type, filename)
RATE_LIMIT_MESSAGE = "You have exceeded the rate limit of the Labelbox sandbox (injected failure)"


class SandboxHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the sandbox it serves."""

    daemon_threads = True
    sandbox: LabelboxSandbox


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Request handler; every path answers, none drops the connection on a sandbox bug."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive + delayed ACK otherwise adds ~40 ms per request
    server_version = "lb-assets-sandbox/1"
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), redact_text(format % args))

    # ----------------------------------------------------------------- helpers
    def _send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _bearer_ok(self) -> bool:
        sandbox = self.server.sandbox
        header = self.headers.get("Authorization") or ""
        if sandbox.api_key is None:
            return header.startswith("Bearer ") and len(header) > len("Bearer ")
        return header == f"Bearer {sandbox.api_key}"

    # ----------------------------------------------------------------- GET / HEAD
    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._serve_get(head=True)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._serve_get(head=False)

    def _serve_get(self, head: bool) -> None:
        sandbox = self.server.sandbox
        path = unquote(urlsplit(self.path).path)
        try:
            if sandbox.response_delay > 0:
                time.sleep(sandbox.response_delay)
            status = sandbox._take_path_failure(path)
            if status is not None:
                http_files.send_plain_error(self, status, f"sandbox: injected HTTP {status} for {path}", head)
                return
            served = sandbox._lookup_served(path)
            if served is None:
                http_files.send_plain_error(self, 404, f"sandbox: no file at {path}", head)
                return
            if served.private and not self._bearer_ok():
                logger.info("sandbox: refused %s without a valid bearer key", path)
                http_files.send_plain_error(
                    self, 401, f"sandbox: {path} requires Authorization: Bearer <api key>", head
                )
                return
            http_files.send_bytes(self, served.data, served.content_type, head)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("sandbox: client went away during %s", path)
        except Exception:  # noqa: BLE001 - never drop the connection on a sandbox bug
            logger.exception("sandbox: error serving %s", path)
            http_files.send_plain_error(
                self, 400, f"sandbox: internal error serving {path} (see the sandbox log)", head
            )

    # ----------------------------------------------------------------- POST (GraphQL)
    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        sandbox = self.server.sandbox
        path = urlsplit(self.path).path
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path not in ("/graphql", "/_gql"):
            self._send_json(404, {"message": f"sandbox: no GraphQL endpoint at {path}"})
            return
        if sandbox.response_delay > 0:
            time.sleep(sandbox.response_delay)
        name: str | None = None
        try:
            if sandbox.api_key is not None and self.headers.get("Authorization") != f"Bearer {sandbox.api_key}":
                raise GraphQLError("Invalid API key", "AUTHENTICATION_ERROR")
            query, variables, files = self._parse_graphql(body)
            name = operation_name(query)
            sandbox._warn_untested_agent(self.headers.get("X-User-Agent", ""))
            http_failure = sandbox._take_operation_failure(name)
            if http_failure is not None:
                self._send_http_failure(http_failure, name)
                return
            data = sandbox._execute(name, query, variables, files)
        except GraphQLError as exc:
            if exc.code not in ("RESOURCE_NOT_FOUND", "AUTHENTICATION_ERROR"):
                logger.info("sandbox: %s -> %s: %s", name, exc.code, exc)
            self._send_json(200, {"data": None, "errors": [exc.payload()]})
            return
        except Exception as exc:  # noqa: BLE001 - never drop the connection (the SDK would see NetworkError)
            logger.exception("sandbox: error in operation %s", name)
            error = GraphQLError(f"sandbox: internal error in {name}: {type(exc).__name__}: {exc}", "SANDBOX_ERROR")
            self._send_json(200, {"data": None, "errors": [error.payload()]})
            return
        self._send_json(200, {"data": data})

    def _parse_graphql(self, body: bytes) -> tuple[str, dict[str, Any], dict[str, UploadPart]]:
        content_type = self.headers.get("Content-Type", "")
        files: dict[str, UploadPart] = {}
        try:
            if content_type.startswith("multipart/form-data"):
                parts = parse_multipart(body, content_type)
                payload = json.loads(parts.pop("operations")[0])
                parts.pop("map", None)
                files = parts
            else:
                payload = json.loads(body)
        except (ValueError, KeyError) as exc:
            raise GraphQLError(
                f"sandbox: request body is not a GraphQL request ({exc})", "GRAPHQL_PARSE_FAILED"
            ) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise GraphQLError("sandbox: request has no query string", "GRAPHQL_PARSE_FAILED")
        return payload["query"], payload.get("variables") or {}, files

    def _send_http_failure(self, rule: FailureRule, name: str | None) -> None:
        logger.info("sandbox: injected %s for %s", rule.mode, name)
        if rule.mode == "http429":
            self._send_json(429, {"message": RATE_LIMIT_MESSAGE}, {"Retry-After": "0"})
        else:
            self._send_json(rule.status or 500, {"message": f"sandbox: injected HTTP failure for {name}"})


def parse_multipart(body: bytes, content_type: str) -> dict[str, UploadPart]:
    """Parts of a ``multipart/form-data`` body: name -> (bytes, content type, filename)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts: dict[str, UploadPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True)  # bytes, or None for a nested multipart part
            data = payload if isinstance(payload, bytes) else b""
            parts[str(name)] = (data, part.get_content_type(), part.get_filename())
    return parts
