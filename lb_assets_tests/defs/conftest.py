"""Fixtures for the Dagster layer: a demo sandbox with the environment pointed at it, storage and instance."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_env(lb_demo_sandbox, lb_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo sandbox, LABELBOX_* pointing at it, LB_ASSETS_HOME in tmp_path, the repo's projects.yaml."""
    monkeypatch.setenv("LB_ASSETS_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LB_ASSETS_PROJECTS_FILE", str(REPO / "projects.yaml"))
    return lb_demo_sandbox


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A temporary Dagster instance (runs, events, dynamic partitions)."""
    with dg.instance_for_test() as inst:
        yield inst
