"""What the infrastructure tests share: the servers' descriptions, a free port, a Dagster home."""

from __future__ import annotations

import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG_PASSWORD_ENV = "LB_ASSETS_TEST_PG_PASSWORD"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server on loopback."""

    host: str
    port: int
    username: str
    password: str

    def connect(self, db_name: str = "postgres"):
        """A psycopg2 connection (autocommit) to ``db_name``."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.username, password=self.password,
                                dbname=db_name, connect_timeout=30)
        conn.autocommit = True
        return conn

    def query(self, db_name: str, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of one SQL query."""
        conn = self.connect(db_name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_database(self) -> str:
        """A new, empty database; returns its name."""
        name = f"lbassets_{uuid.uuid4().hex[:12]}"
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def storage_yaml(self, db_name: str) -> str:
        """The ``storage:`` block of a dagster.yaml: run, event log and schedule storage in ``db_name``."""
        return (
            "storage:\n"
            "  postgres:\n"
            "    postgres_db:\n"
            f"      username: {self.username}\n"
            f"      password:\n        env: {PG_PASSWORD_ENV}\n"
            f"      hostname: {self.host}\n"
            f"      db_name: {db_name}\n"
            f"      port: {self.port}\n"
            "      scheme: postgresql+psycopg2\n"
        )


@dataclass(frozen=True)
class Redis:
    """A running Redis server on loopback."""

    port: int

    def url(self, db: int) -> str:
        """``redis://127.0.0.1:PORT/db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"


def write_home(path: Path, body: str) -> Path:
    """A DAGSTER_HOME directory at ``path`` with ``dagster.yaml`` = ``body``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text(body)
    return path


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a server process, killing it when it does not end within 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
