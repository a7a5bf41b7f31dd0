"""A real S3-compatible server on loopback: ``moto_server`` (the ``moto[server]`` wheel of the ``test`` extra).

``moto_s3`` starts it once per session on a free port of 127.0.0.1 with a bucket, and stops it at the end; its
state lives in memory only. ``s3_env`` points the standard ``AWS_*`` variables (fake keys) at it for one test.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lb_assets_tests.infra.helpers import free_port, stop_process
from lb_assets_tests.infra.objectstore.helpers import ACCESS_KEY, REGION, SECRET_KEY, MotoS3
from lb_assets_tests.polling import wait_for

START_DEADLINE = 120.0  # seconds; generous, polled
def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return True
        except OSError:
            return False

    wait_for(listening, START_DEADLINE, f"moto_server to listen on port {port}", interval=0.2)


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
        stop_process(proc)


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
