"""Exports kept on a real S3-compatible server (moto on loopback): refresh, checked reader copies, mismatches."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lb_assets.defs.exports import RemoteExport, local_export, read_state, refresh_export
from lb_assets.errors import ConfigError, StorageWriteError
from lb_assets.store.objects import S3Objects
from lb_assets_tests.infra.objectstore.helpers import MotoS3
from lb_assets_tests.labelbox.helpers import ExportClient, empty_label, image_row

pytestmark = pytest.mark.infra


def test_remote_export_refresh_reader_cache_and_mismatch(s3_env: MotoS3, lb_sandbox, tmp_path: Path) -> None:
    pid = lb_sandbox.add_project("s3-export", media_type="IMAGE")
    ids = [lb_sandbox.add_data_row(pid, image_row(n), [empty_label(str(n))]) for n in range(3)]
    objects = S3Objects.at(f"s3://{s3_env.bucket}/{s3_env.new_prefix()}/{pid}/export")
    writer = RemoteExport(objects, tmp_path / "writer-cache")
    reader = RemoteExport(objects, tmp_path / "reader-cache")  # another pod: its own cache
    with pytest.raises(ConfigError, match="no export at s3://"):
        local_export(reader)

    client = ExportClient(lb_sandbox)
    first = refresh_export(client, pid, writer)
    assert first.mode == "full" and first.summary.data_rows == 3
    copy = local_export(reader)
    assert copy.name == f"export-{first.summary.sha256}.ndjson" and copy.parent == reader.cache_dir
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert digest == first.summary.sha256 == read_state(reader)["summary"]["sha256"]

    lb_sandbox.set_labels(pid, ids[1], [empty_label("edited")])
    second = refresh_export(client, pid, writer)  # the remote export is the base of the delta
    assert second.mode == "incremental" and second.summary.data_rows == 3
    fresh = local_export(reader)  # the state changed: the stale cached copy is not used
    assert fresh != copy and b"label-edited" in fresh.read_bytes() and b"label-edited" not in copy.read_bytes()

    objects.put_bytes(b'{"half": "written"}\n', "export.ndjson")  # a writer died between export and state
    with pytest.raises(StorageWriteError, match="does not match its state"):
        local_export(RemoteExport(objects, tmp_path / "third-cache"), deadline_seconds=2)
    other_writer = RemoteExport(objects, tmp_path / "other-writer-cache")  # no checked copy of the base
    repaired = refresh_export(client, pid, other_writer)  # the base does not match its state: a full export
    assert repaired.mode == "full" and repaired.summary.data_rows == 3
    fourth = local_export(RemoteExport(objects, tmp_path / "fourth-cache"))
    assert fourth.read_bytes() == repaired.summary.path.read_bytes()
    assert not list(other_writer.cache_dir.glob(".work-*")) and not list(other_writer.cache_dir.glob(".download-*"))
