"""Pytest fixtures for the Labelbox sandbox.

Register with ``pytest_plugins = ["lb_assets.sandbox.pytest_plugin"]``. Fixtures:
``lb_sandbox`` (fresh, empty), ``lb_demo_sandbox`` (demo loaded), ``lb_sandbox_env`` (environment
pointing at ``lb_sandbox``), ``fast_labelbox_sdk`` (skip the SDK's per-request stack inspection) and
``fast_labelbox_retries`` (the SDK retries 5xx without sleeping).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from lb_assets.sandbox.server import LabelboxSandbox

SANDBOX_API_KEY = "sandbox-key"
LOOPBACK_NO_PROXY = "127.0.0.1,localhost"


def loopback_no_proxy(current: str | None) -> str:
    """``NO_PROXY`` value that keeps loopback out of any HTTP(S)_PROXY, keeping existing entries."""
    entries = [e.strip() for e in (current or "").split(",") if e.strip()]
    for host in LOOPBACK_NO_PROXY.split(","):
        if host not in entries:
            entries.append(host)
    return ",".join(entries)


@pytest.fixture
def lb_sandbox() -> Iterator[LabelboxSandbox]:
    """A fresh, empty sandbox (no demo) requiring the key ``sandbox-key``."""
    with LabelboxSandbox(api_key=SANDBOX_API_KEY) as sandbox:
        yield sandbox


@pytest.fixture
def lb_demo_sandbox(lb_sandbox: LabelboxSandbox) -> LabelboxSandbox:
    """``lb_sandbox`` with the demo projects loaded (``sb.demo_projects`` = ``{"video": pid, "image": pid}``)."""
    if importlib.util.find_spec("lb_assets.sandbox.demo") is None:
        pytest.skip("lb_assets.sandbox.demo is not written yet: the demo sandbox is unavailable")
    lb_sandbox.demo_projects = lb_sandbox.load_demo(seed=0)
    return lb_sandbox


@pytest.fixture
def lb_sandbox_env(lb_sandbox: LabelboxSandbox, monkeypatch: pytest.MonkeyPatch) -> LabelboxSandbox:
    """``lb_sandbox`` with LABELBOX_ENDPOINT, LABELBOX_API_KEY and NO_PROXY pointing at it."""
    monkeypatch.setenv("LABELBOX_ENDPOINT", lb_sandbox.endpoint)
    monkeypatch.setenv("LABELBOX_API_KEY", SANDBOX_API_KEY)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, loopback_no_proxy(os.environ.get(name)))
    return lb_sandbox


@pytest.fixture
def fast_labelbox_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the SDK's ``X-SDK-Method`` stack inspection (5-30 ms per request under pytest). Tests only."""
    import labelbox.pagination
    import lbox.request_client

    monkeypatch.setattr(lbox.request_client, "call_info_as_str", lambda: "")
    monkeypatch.setattr(labelbox.pagination, "call_info_as_str", lambda: "", raising=False)


@pytest.fixture
def fast_labelbox_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's retries (google.api_core Retry on 5xx) happen without sleeping. Tests only."""
    import time

    from google.api_core.retry import retry_unary

    monkeypatch.setattr(retry_unary, "time", SimpleNamespace(sleep=lambda seconds: None, monotonic=time.monotonic))
