"""Open or create Deep Lake datasets, passing credentials the way deeplake 4.7.4 takes them (D4).

The seed nests ``creds`` and ``org_id`` into one dict passed as ``creds=`` (``deeplake.create`` then raises
``TypeError`` whenever creds are given, and the org id never reaches Deep Lake). Here ``creds`` and ``token``
are passed as deeplake's own ``creds=`` and ``token=`` arguments. deeplake 4.7.4's ``create``/``open``/
``exists``/``delete`` have no ``org_id`` parameter (its docs show one): when the installed deeplake accepts
``org_id`` it is passed as an argument, otherwise it is set as ``ACTIVELOOP_ORG_ID`` for the duration of the
call, which is how deeplake's own managed client tells its C++ layer the organisation.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import deeplake

from lb_assets.errors import ConfigError
from lb_assets.redact import redact_url

logger = logging.getLogger(__name__)

ORG_ENV = "ACTIVELOOP_ORG_ID"


def _accepts_org_id(func: Callable[..., Any]) -> bool:
    try:
        return "org_id" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # pybind11 functions may have no introspectable signature
        doc = (getattr(func, "__doc__", "") or "").split("\n", 1)[0]
        return "org_id" in doc


@contextlib.contextmanager
def _org_env(org_id: str | None) -> Iterator[None]:
    if not org_id:
        yield
        return
    previous = os.environ.get(ORG_ENV)
    os.environ[ORG_ENV] = org_id
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ORG_ENV, None)
        else:
            os.environ[ORG_ENV] = previous


def _call(func: Callable[..., Any], path: str, creds: dict | None, token: str | None, org_id: str | None) -> Any:
    kwargs: dict[str, Any] = {"creds": creds, "token": token}
    if org_id and _accepts_org_id(func):
        return func(path, org_id=org_id, **kwargs)
    with _org_env(org_id):
        return func(path, **kwargs)


def exists(path: str, creds: dict | None = None, token: str | None = None, org_id: str | None = None) -> bool:
    """Whether a dataset exists at ``path``."""
    return bool(_call(deeplake.exists, path, creds, token, org_id))


def open_or_create(
    path: str,
    creds: dict[str, str] | None = None,
    token: str | None = None,
    org_id: str | None = None,
    overwrite: bool = False,
) -> Any:
    """Open the dataset at ``path`` (its main branch), or create an empty one.

    Args:
        path: Deep Lake URL (``file://``, ``mem://``, ``s3://``, ``al://``, ...) or local directory.
        creds: Storage credentials, passed as deeplake's ``creds=``.
        token: Activeloop token, passed as deeplake's ``token=``.
        org_id: Activeloop organisation id (see module docstring).
        overwrite: Delete an existing dataset first.

    Returns:
        A writable ``deeplake.Dataset``.

    Raises:
        ConfigError: ``creds`` is not a dict of strings, or the path is empty.
    """
    if not path or not str(path).strip():
        raise ConfigError("Deep Lake dataset path is empty")
    if creds is not None and (not isinstance(creds, dict) or not all(isinstance(v, str) for v in creds.values())):
        raise ConfigError(
            f"deeplake creds for {redact_url(path)} must be a dict of strings (got {type(creds).__name__})"
        )
    path = str(path)
    if exists(path, creds, token, org_id):
        if overwrite:
            logger.info("Deleting existing Deep Lake dataset %s (overwrite=True)", redact_url(path))
            _call(deeplake.delete, path, creds, token, org_id)
        else:
            logger.debug("Opening Deep Lake dataset %s", redact_url(path))
            return _call(deeplake.open, path, creds, token, org_id)
    logger.info("Creating Deep Lake dataset %s", redact_url(path))
    return _call(deeplake.create, path, creds, token, org_id)


def open_read_only(path: str, creds: dict | None = None, token: str | None = None, org_id: str | None = None) -> Any:
    """Open the dataset at ``path`` read-only, as stored (hold the result while opening its branches)."""
    return _call(deeplake.open_read_only, str(path), creds, token, org_id)
