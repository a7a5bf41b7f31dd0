"""A real S3-compatible server on loopback: ``moto_server`` (the ``moto[server]`` wheel of the ``test`` extra).

``moto_s3`` starts it once per session on a free port of 127.0.0.1 with a bucket, and stops it at the end; its
state lives in memory only. ``s3_env`` points the standard ``AWS_*`` variables (fake keys) at it for one test.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_DEADLINE = 120.0  # seconds; generous, polled
ACCESS_KEY = "lbassets-test-access-key"
SECRET_KEY = "lbassets-test-secret-3f9a1c"  # distinctive, so tests can look for it in errors and logs
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class MotoS3:
    """A running moto S3 server and its bucket."""

    endpoint: str
    bucket: str

    def client(self) -> Any:
        """A boto3 client of the server (the test's own keys)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        """An object's content."""
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def new_prefix(self) -> str:
        """A prefix no other test uses."""
        return f"t-{uuid.uuid4().hex[:12]}"


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not listen on port {port} within {START_DEADLINE:.0f} s")


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """``moto_server -H 127.0.0.1 -p <free port>`` with the bucket ``lb-assets-test``; stopped at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc, log)
        server = MotoS3(f"http://127.0.0.1:{port}", "lb-assets-test")
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def s3_env(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:
    """The standard ``AWS_*`` variables pointing at the moto server (fake keys) for one test."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    return moto_s3
