"""Where the storage resource puts exports, caches and leases for s3:// and other roots; S3 errors name the object."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lb_assets.defs.exports import RemoteExport
from lb_assets.defs.resources import StorageResource
from lb_assets.errors import ConfigError
from lb_assets.store.objects import S3Creds, S3Objects
from lb_assets_tests.infra.objectstore.helpers import SECRET_KEY, MotoS3

pytestmark = pytest.mark.infra


def test_s3_root_keeps_exports_and_leases_under_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LB_ASSETS_CACHE", str(tmp_path / "cache"))
    storage = StorageResource(root="s3://bucket/pre/", aws_secret_access_key="field-secret",
                              aws_endpoint_url="http://127.0.0.1:9", aws_region="eu-west-1")
    place = storage.export_location("p1")
    assert isinstance(place, RemoteExport)
    assert place.objects.url("export.ndjson") == "s3://bucket/pre/p1/export/export.ndjson"
    assert place.cache_dir == tmp_path / "cache" / "p1"
    leases = storage.lease_dir("p1")
    assert isinstance(leases, S3Objects) and leases.url() == "s3://bucket/pre/p1/_leases"
    assert storage.open_kwargs()["creds"] == {**storage.open_kwargs()["creds"], "aws_secret_access_key": "field-secret",
                                              "endpoint_url": "http://127.0.0.1:9", "aws_region": "eu-west-1"}
    assert "field-secret" in storage.secrets() and "field-secret" not in repr(storage.s3_creds())
    assert not (tmp_path / ".lb_assets_data").exists()  # nothing local but the cache


def test_local_and_other_remote_roots_keep_todays_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    local = StorageResource(root=str(tmp_path / "home"))
    assert local.export_location("p1") == tmp_path / "home" / "exports" / "p1"
    assert local.lease_dir("p1") == tmp_path / "home" / "p1" / "_leases" and "creds" not in local.open_kwargs()
    with caplog.at_level(logging.WARNING):
        leases = StorageResource(root="al://org/ds").lease_dir("p1")
    assert leases == tmp_path / ".lb_assets_data" / "exports" / "p1" / "_leases"
    assert "one-writer leases are kept on this machine only" in caplog.text


def test_missing_bucket_names_it_and_never_the_secret(s3_env: MotoS3) -> None:
    objects = S3Objects("no-such-bucket-here", "p/p1/export", S3Creds(secret_access_key=SECRET_KEY))  # key id: env
    with pytest.raises(ConfigError) as raised:
        objects.put_bytes(b"{}", "export_state.json")
    text = str(raised.value)
    assert "s3://no-such-bucket-here/p/p1/export/export_state.json" in text and "does not exist" in text
    assert SECRET_KEY not in text
