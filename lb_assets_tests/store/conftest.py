"""Fixtures of the store tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest


@pytest.fixture
def mem_url() -> Callable[[str], str]:
    """A factory of fresh ``mem://`` dataset URLs (mem datasets live as long as the process)."""
    return lambda name="ds": f"mem://{name}_{uuid.uuid4().hex}"
