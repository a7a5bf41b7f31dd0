"""Session-wide test setup: sandbox fixtures, loopback never through a proxy, a fast SDK."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["lb_assets.sandbox.pytest_plugin"]


def _with_loopback(current: str | None) -> str:
    entries = [e.strip() for e in (current or "").split(",") if e.strip()]
    return ",".join(entries + [h for h in ("127.0.0.1", "localhost") if h not in entries])


for _name in ("NO_PROXY", "no_proxy"):  # an HTTP(S)_PROXY must never see the sandbox's traffic
    os.environ[_name] = _with_loopback(os.environ.get(_name))


@pytest.fixture(autouse=True)
def _fast_sdk_everywhere(fast_labelbox_sdk: None) -> None:
    """Every test gets the SDK without per-request stack inspection."""
