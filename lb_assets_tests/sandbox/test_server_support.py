"""Sandbox support pieces: strict selection checker, clock, fixtures, the ``serve`` entry point."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import timezone

import pytest
import requests

from lb_assets.sandbox import LabelboxSandbox
from lb_assets.sandbox.selection import missing_fields
from lb_assets.sandbox.state import Clock, format_ts, parse_ts

TASKS_QUERY = ("query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!){user(where: {id: $param_1})"
               "{createdTasks(where: {id: $param_0} skip: 0 first: 100){completionPercentage status status id}}}")


def test_missing_fields_walks_lists_and_nested_objects() -> None:
    complete = {"user": {"createdTasks": [{"completionPercentage": 1, "status": "COMPLETE", "id": "t"}]}}
    assert missing_fields(TASKS_QUERY, complete) == []
    partial = {"user": {"createdTasks": [{"status": "COMPLETE"}]}}
    assert missing_fields(TASKS_QUERY, partial) == ["user.createdTasks[].completionPercentage",
                                                    "user.createdTasks[].id"]
    assert missing_fields(TASKS_QUERY, {"user": None}) == []  # null objects select nothing


def test_missing_fields_optional_include_and_fragments() -> None:
    query = ("query Q($i: Boolean!) { project { issues @include(if: $i) { totalCount } "
             "settings { __typename ... on Aws {roleArn} } name } }")
    assert missing_fields(query, {"project": {"settings": {"__typename": "Gcp"}, "name": "n"}}) == []
    assert missing_fields(query, {"project": {"settings": None}}) == ["project.name"]


def test_clock_is_strictly_increasing_with_millisecond_resolution() -> None:
    clock = Clock()
    moments = [clock.now() for _ in range(50)]
    assert all(a < b for a, b in zip(moments, moments[1:]))
    assert all(m.microsecond % 1000 == 0 and m.tzinfo == timezone.utc for m in moments)
    stamp = format_ts(moments[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert parse_ts(stamp) == moments[0]


def test_lb_sandbox_env_points_environment_at_sandbox(lb_sandbox_env: LabelboxSandbox) -> None:
    assert os.environ["LABELBOX_ENDPOINT"] == lb_sandbox_env.endpoint
    assert os.environ["LABELBOX_API_KEY"] == "sandbox-key"
    assert "127.0.0.1" in os.environ["NO_PROXY"].split(",")
    import labelbox

    pid = lb_sandbox_env.add_project("p", media_type="IMAGE")
    client = labelbox.Client(endpoint=os.environ["LABELBOX_ENDPOINT"])  # key from LABELBOX_API_KEY
    assert client.get_project(pid).name == "p"


def test_lb_demo_sandbox_loads_demo_or_skips(lb_demo_sandbox: LabelboxSandbox) -> None:
    projects = lb_demo_sandbox.demo_projects
    assert set(projects) == {"video", "image"}
    client = lb_demo_sandbox.client()
    assert client.get_project(projects["video"]).media_type.name == "Video"


def test_serve_entry_point_runs_until_interrupted() -> None:
    code = ("import logging; logging.basicConfig(level=logging.INFO);"
            "from lb_assets.sandbox import serve; serve('127.0.0.1', 0, 'cli-key', False, 0)")
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                               env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"serving at (http://\S+)", line)
            if match:
                endpoint = match.group(1)
                break
        else:
            pytest.fail("serve() did not log its endpoint: " + "".join(lines))
        response = requests.post(endpoint, json={"query": "query CurrentUserPyApi { user { timezone } }"},
                                 headers={"Authorization": "Bearer cli-key"}, timeout=5)
        assert response.json() == {"data": {"user": {"timezone": "UTC"}}}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
