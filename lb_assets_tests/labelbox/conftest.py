"""Fixtures for lb_assets.labelbox tests: small projects seeded in the real sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from lb_assets.sandbox import LabelboxSandbox
from lb_assets_tests.labelbox.helpers import API_KEY  # noqa: F401 - fixtures use the sandbox's key


@pytest.fixture
def sb(lb_sandbox: LabelboxSandbox) -> LabelboxSandbox:
    """The empty sandbox (key ``sandbox-key``)."""
    return lb_sandbox


@pytest.fixture
def client(sb: LabelboxSandbox) -> Any:
    """A client built by ``make_client`` against the sandbox."""
    from lb_assets.labelbox.client import make_client

    return make_client(API_KEY, sb.endpoint)
