"""One writer at a time per dataset branch or export: a lease kept where the data lives.

Deep Lake 4.7.4 lets two processes append to the same branch at once and keeps both appends, so two runs of
one project would duplicate rows for good. Every writer of lb_assets therefore holds a lease named after what
it writes (``export``, ``frames@main``, ``frames@labelbox``, ``annotations@main``) for the whole write.

On a local storage root the lease is an ``fcntl`` lock on ``<project dir>/_leases/<name>.lock``: the kernel
drops it when the holding process ends, however it ends (a SIGKILLed run leaves no stale lease). The file
holds the holder's description (owner run id, host, pid, since, expiry) so that a waiting writer can name it.
A storage root that is not a local directory (``s3://``, ``al://``) keeps its leases in the local exports
directory instead (``StorageResource.lease_dir``), which guards one machine only; a warning says so.

A writer that cannot take the lease within ``wait_seconds`` fails with `LeaseHeldError` naming the holder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from lb_assets.errors import ConfigError, LeaseHeldError

logger = logging.getLogger(__name__)

LEASE_DIR = "_leases"
POLL_SECONDS = 0.5
DEFAULT_WAIT_SECONDS = 600.0
DEFAULT_TTL_SECONDS = 6 * 3600.0


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease: the owner (a Dagster run id or ``pid@host``), where, since when, until when."""

    owner: str
    host: str
    pid: int
    since: str
    expires: str

    def describe(self) -> str:
        """``run <owner> (pid 12 on host, since ...)``."""
        return f"run {self.owner} (pid {self.pid} on {self.host}, since {self.since})"


def default_owner() -> str:
    """``pid@host`` of this process, for writers outside Dagster."""
    return f"pid {os.getpid()}@{socket.gethostname()}"


def lease_dir(root_dir: str | Path) -> Path:
    """Where the leases of a local project directory live (created)."""
    path = Path(root_dir) / LEASE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def _lock_path(directory: Path, name: str) -> Path:
    if not name or any(c in name for c in "/\\\0") or name in {".", ".."}:
        raise ConfigError(f"lease name {name!r} cannot name a file")
    return directory / f"{name}.lock"


def _read_holder(fh: IO[str]) -> LeaseHolder | None:
    fh.seek(0)
    try:
        data = json.loads(fh.read() or "null")
        return LeaseHolder(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


def _try_lock(fh: IO[str]) -> bool:
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


def _write_holder(fh: IO[str], owner: str, ttl: float) -> LeaseHolder:
    now = datetime.now(timezone.utc)
    holder = LeaseHolder(
        owner=owner,
        host=socket.gethostname(),
        pid=os.getpid(),
        since=now.isoformat(timespec="seconds"),
        expires=(now + timedelta(seconds=ttl)).isoformat(timespec="seconds"),
    )
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps(asdict(holder)))
    fh.flush()
    return holder


@contextlib.contextmanager
def hold(
    directory: str | Path,
    name: str,
    owner: str | None = None,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    log: logging.Logger | None = None,
) -> Iterator[LeaseHolder]:
    """Hold the lease ``name`` in ``directory`` for the block; wait for it up to ``wait_seconds``.

    Args:
        directory: The lease directory (`lease_dir` of the project's storage directory).
        name: What is written, e.g. ``frames@main``.
        owner: The writer's id (a Dagster run id); default ``pid@host``.
        wait_seconds: How long to wait for another holder to finish.
        ttl_seconds: The expiry written for readers (the lock itself ends with the holding process).
        log: Where to say that the writer waits (default: this module's logger).

    Raises:
        LeaseHeldError: Another writer still held the lease after ``wait_seconds``; names it.
    """
    log = log or logger
    owner = owner or default_owner()
    path = _lock_path(Path(directory), name)
    deadline = time.monotonic() + max(0.0, wait_seconds)
    with open(path, "a+", encoding="utf-8") as fh:
        announced = False
        while not _try_lock(fh):
            holder = _read_holder(fh)
            if time.monotonic() >= deadline:
                who = holder.describe() if holder else "another writer"
                raise LeaseHeldError(
                    f"{name} at {path.parent.parent} is being written by {who}; waited {wait_seconds:.0f} s. "
                    "Wait for that run to end (or cancel it), then run again."
                )
            if not announced:
                log.info(f"Waiting for {name}: held by {holder.describe() if holder else 'another writer'}")
                announced = True
            time.sleep(POLL_SECONDS)
        holder = _write_holder(fh, owner, ttl_seconds)
        try:
            yield holder
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def current_holder(directory: str | Path, name: str) -> LeaseHolder | None:
    """The holder of a lease, or None when nobody holds it."""
    path = _lock_path(Path(directory), name)
    if not path.exists():
        return None
    with open(path, "a+", encoding="utf-8") as fh:
        if _try_lock(fh):
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return None
        return _read_holder(fh)
