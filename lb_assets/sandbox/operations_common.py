"""Shared pieces of the sandbox's GraphQL handlers: the registry, the request and the error type."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lb_assets.sandbox.state import SandboxState

OPERATION_NAME = re.compile(r"^\s*(?:query|mutation)\s+(\w+)")


class GraphQLError(Exception):
    """An error answered as HTTP 200 ``{"errors": [{"message", "extensions": {"code"}}]}``.

    Args:
        message: human-readable message (no secrets).
        code: ``extensions.code``; the SDK maps it to an exception class. The default
            ``INTERNAL_SERVER_ERROR`` with status 400 becomes ``InvalidQueryError(message)`` for every
            SDK call (``MALFORMED_REQUEST`` would crash calls made with ``error_log_key="errors"``).
        status: ``extensions.exception.status`` (only read for ``INTERNAL_SERVER_ERROR``).
    """

    def __init__(self, message: str, code: str = "INTERNAL_SERVER_ERROR", status: int | None = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def payload(self) -> dict[str, Any]:
        """The GraphQL error object."""
        extensions: dict[str, Any] = {"code": self.code}
        if self.status is not None and self.code == "INTERNAL_SERVER_ERROR":
            extensions["exception"] = {"status": self.status}
        return {"message": str(self), "extensions": extensions}


def not_found(kind: str, ident: Any) -> GraphQLError:
    """``RESOURCE_NOT_FOUND`` naming the resource (the SDK raises ResourceNotFoundError)."""
    return GraphQLError(f"{kind} {ident!r} not found", "RESOURCE_NOT_FOUND", None)


@dataclass
class Request:
    """One GraphQL request as a handler sees it."""

    state: SandboxState
    name: str
    query: str
    variables: dict[str, Any]
    files: dict[str, tuple[bytes, str | None, str | None]] = field(default_factory=dict)

    def var(self, key: str) -> Any:
        """A required variable.

        Raises:
            GraphQLError: ``MALFORMED_REQUEST`` naming the operation and the variable.
        """
        if key not in self.variables:
            raise GraphQLError(f"{self.name}: missing variable ${key}")
        return self.variables[key]

    def where_id(self, field_name: str) -> Any:
        """Value bound to ``field_name(where: {id: $x ...`` in an ORM-generated query."""
        match = re.search(re.escape(field_name) + r"\(where: \{(?:AND: \[)?\{?id: \$(\w+)", self.query)
        return self.variables.get(match.group(1)) if match else None


Handler = Callable[[Request], dict[str, Any]]
OPERATIONS: dict[str, Handler] = {}


def operation(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler for one or more GraphQL operation names."""

    def register(handler: Handler) -> Handler:
        for name in names:
            OPERATIONS[name] = handler
        return handler

    return register


def operation_name(query: str) -> str | None:
    """The operation name of a ``query X`` / ``mutation X`` document, else None."""
    match = OPERATION_NAME.match(query or "")
    return match.group(1) if match else None


def page_bounds(query: str, default_first: int = 100) -> tuple[int, int]:
    """``(skip, first)`` inlined by the SDK's ORM in the query text (``skip: N first: M``)."""
    match = re.search(r"skip: (\d+) first: (\d+)", query)
    return (int(match.group(1)), int(match.group(2))) if match else (0, default_first)
