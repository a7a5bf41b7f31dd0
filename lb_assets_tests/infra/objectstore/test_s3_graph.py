"""The whole asset graph with LB_ASSETS_HOME=s3://... on a real S3-compatible server (moto on loopback).

Every dataset, the export, its state, the ontology snapshot and the leases are objects in the bucket; nothing
is written to a local exports directory (only the reader cache). A run against an unreachable endpoint fails
naming the bucket and key, never the secret, and leaves the published versions as they were; a refresh after
labels change adds new commits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import deeplake
import pytest

from lb_assets.cli_demo import materialize_project
from lb_assets.defs.resources import StorageResource
from lb_assets_tests.defs.helpers import checks, materializations
from lb_assets_tests.infra.helpers import free_port
from lb_assets_tests.infra.objectstore.helpers import SECRET_KEY, MotoS3

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def s3_demo(s3_env: MotoS3, lb_demo_sandbox, lb_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo sandbox, LB_ASSETS_HOME on the moto bucket, the reader cache in tmp_path, cwd = tmp_path."""
    prefix = s3_env.new_prefix()
    monkeypatch.chdir(tmp_path)  # a local exports dir would appear here (./.lb_assets_data)
    monkeypatch.setenv("LB_ASSETS_HOME", f"s3://{s3_env.bucket}/{prefix}")
    monkeypatch.setenv("LB_ASSETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LB_ASSETS_PROJECTS_FILE", str(REPO / "projects.yaml"))
    return s3_env, lb_demo_sandbox, prefix


def _versions(pid: str) -> tuple[str, str, str, int]:
    storage = StorageResource()
    frames = deeplake.open_read_only(storage.frames_path(pid))
    branch = frames.branches["labelbox"].open()
    ann = deeplake.open_read_only(storage.annotations_path(pid))
    return frames.version, branch.version, ann.version, len(frames)


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run did not fail a step"
    return "\n".join(e.event_specific_data.error.to_string() for e in failures)


def test_graph_on_s3_survives_an_unreachable_endpoint_and_refreshes(
    s3_demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, sb, prefix = s3_demo
    pid = sb.demo_projects["image"]
    with dg.instance_for_test() as instance:
        first = materialize_project(instance, pid)
        assert first.success and checks(first) and all(checks(first).values()), checks(first)
        meta = materializations(first)
        export_dir = f"{prefix}/{pid}/export"
        assert meta["labelbox_project_export"]["dagster/uri"] == f"s3://{s3.bucket}/{export_dir}/export.ndjson"
        keys = set(s3.keys(f"{prefix}/{pid}/"))
        assert {f"{export_dir}/export.ndjson", f"{export_dir}/export_state.json", f"{export_dir}/ontology.json"} <= keys
        assert any(k.startswith(f"{prefix}/{pid}/frames/") for k in keys)
        assert any(k.startswith(f"{prefix}/{pid}/annotations/") for k in keys)
        assert not [k for k in keys if "/_leases/" in k]  # every lease was released
        state = json.loads(s3.read(f"{export_dir}/export_state.json"))
        export = s3.read(f"{export_dir}/export.ndjson")
        assert state["summary"]["sha256"] == hashlib.sha256(export).hexdigest()
        assert not (tmp_path / ".lb_assets_data").exists()  # no local exports dir, no local leases
        assert (tmp_path / "cache" / pid / f"export-{state['summary']['sha256']}.ndjson").read_bytes() == export
        before = _versions(pid)

        labeled = next(d for d in sb.data_row_ids(pid) if sb.labels(pid, d))
        sb.set_labels(pid, labeled, [])  # labels change ...
        with monkeypatch.context() as broken:  # ... but the storage endpoint is unreachable
            broken.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
            failed = materialize_project(instance, pid)
        assert not failed.success
        text = _failure_text(failed)
        assert f"s3://{s3.bucket}/{prefix}/{pid}/" in text and "cannot reach the S3 endpoint" in text
        assert SECRET_KEY not in text
        assert not any(SECRET_KEY in str(e) for e in instance.all_logs(failed.run_id))
        assert _versions(pid) == before  # published versions intact and readable
        assert s3.read(f"{export_dir}/export.ndjson") == export

        refreshed = materialize_project(instance, pid)
        assert refreshed.success and all(checks(refreshed).values()), checks(refreshed)
        assert materializations(refreshed)["labelbox_project_export"]["labelbox/export_mode"] == "incremental"
        after = _versions(pid)
        assert after[1] != before[1] and after[2] != before[2] and after[3] == before[3]
        assert s3.read(f"{export_dir}/export.ndjson") != export
    assert not (tmp_path / ".lb_assets_data").exists()
