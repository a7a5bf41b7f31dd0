"""One writer at a time per dataset branch or export: a lease kept where the data lives.

Deep Lake 4.7.4 lets two processes append to the same branch at once and keeps both appends, so two runs of
one project would duplicate rows for good. Every writer of lb_assets therefore holds a lease named after what
it writes (``export``, ``frames@main``, ``frames@labelbox``, ``annotations@main``) for the whole write.

On a local storage root the lease is an ``fcntl`` lock on ``<project dir>/_leases/<name>.lock``: the kernel
drops it when the holding process ends, however it ends (a SIGKILLed run leaves no stale lease). The file
holds the holder's description (owner run id, host, pid, since, expiry) so that a waiting writer can name it.

On an ``s3://`` root the lease is the object ``<root>/<project id>/_leases/<name>.json`` (see `S3Lease`): created
with ``If-None-Match: *`` (only one creator wins), renewed by a heartbeat thread every third of its ttl with
``If-Match: <etag>``, taken over once expired with ``If-Match`` on the expired holder's etag (one taker wins) and
deleted on release. A killed holder's lease expires after its ttl (default 120 s).
Other remote roots (``al://``) keep local leases in the local exports directory (``StorageResource.lease_dir``),
which guards one machine only; a warning says so.

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
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Union

from lb_assets.errors import ConfigError, LeaseHeldError
from lb_assets.store.objects import S3Objects, error_code

logger = logging.getLogger(__name__)

LEASE_DIR = "_leases"
POLL_SECONDS = 0.5
DEFAULT_WAIT_SECONDS = 600.0
DEFAULT_TTL_SECONDS = 6 * 3600.0
S3_TTL_SECONDS = 120.0
S3_POLL_SECONDS = 1.0

#: Where a project's leases are: a local directory, or objects under ``s3://.../<project id>/_leases``.
LeaseLocation = Union[str, Path, S3Objects]


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


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "/\\\0") or name in {".", ".."}:
        raise ConfigError(f"lease name {name!r} cannot name a file")


def _lock_path(directory: Path, name: str) -> Path:
    _check_name(name)
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


def _new_holder(owner: str, ttl: float) -> LeaseHolder:
    now = datetime.now(timezone.utc)
    return LeaseHolder(
        owner=owner,
        host=socket.gethostname(),
        pid=os.getpid(),
        since=now.isoformat(timespec="seconds"),
        expires=(now + timedelta(seconds=ttl)).isoformat(timespec="milliseconds"),
    )


def _expired(holder: LeaseHolder) -> bool:
    try:
        expires = datetime.fromisoformat(holder.expires)
    except (TypeError, ValueError):
        return True
    expires = expires if expires.tzinfo else expires.replace(tzinfo=timezone.utc)
    return expires <= datetime.now(timezone.utc)


def _write_holder(fh: IO[str], owner: str, ttl: float) -> LeaseHolder:
    holder = _new_holder(owner, ttl)
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps(asdict(holder)))
    fh.flush()
    return holder


def as_location(directory: LeaseLocation) -> Path | S3Objects:
    """A lease location: `S3Objects` for ``s3://`` URLs (credentials from ``AWS_*``), else a local directory."""
    if isinstance(directory, str) and directory.startswith("s3://"):
        return S3Objects.at(directory)
    return directory if isinstance(directory, S3Objects) else Path(directory)


@contextlib.contextmanager
def hold(
    directory: LeaseLocation,
    name: str,
    owner: str | None = None,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ttl_seconds: float | None = None,
    log: logging.Logger | None = None,
) -> Iterator[LeaseHolder]:
    """Hold the lease ``name`` in ``directory`` for the block; wait for it up to ``wait_seconds``.

    Args:
        directory: The lease location (``StorageResource.lease_dir``): a local directory, or `S3Objects` /
            an ``s3://`` URL of the project's ``_leases``.
        name: What is written, e.g. ``frames@main``.
        owner: The writer's id (a Dagster run id); default ``pid@host``.
        wait_seconds: How long to wait for another holder to finish.
        ttl_seconds: Local: the expiry written for readers (the lock itself ends with the holding process;
            default 6 h). S3: how long the lease lasts without renewal (default 120 s; renewed every third).
        log: Where to say that the writer waits (default: this module's logger).

    Raises:
        LeaseHeldError: Another writer still held the lease after ``wait_seconds``; names it.
    """
    location = as_location(directory)
    if isinstance(location, S3Objects):
        with S3Lease(location, name, ttl_seconds or S3_TTL_SECONDS).hold(owner, wait_seconds, log) as holder:
            yield holder
        return
    with _hold_local(location, name, owner, wait_seconds, ttl_seconds or DEFAULT_TTL_SECONDS, log) as holder:
        yield holder


@contextlib.contextmanager
def _hold_local(
    directory: Path,
    name: str,
    owner: str | None,
    wait_seconds: float,
    ttl_seconds: float,
    log: logging.Logger | None,
) -> Iterator[LeaseHolder]:
    log = log or logger
    owner = owner or default_owner()
    path = _lock_path(directory, name)
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


def current_holder(directory: LeaseLocation, name: str) -> LeaseHolder | None:
    """The holder of a lease, or None when nobody holds it (an expired S3 lease is nobody's)."""
    location = as_location(directory)
    if isinstance(location, S3Objects):
        found = S3Lease(location, name).read()
        return None if found is None or _expired(found[0]) else found[0]
    path = _lock_path(location, name)
    if not path.exists():
        return None
    with open(path, "a+", encoding="utf-8") as fh:
        if _try_lock(fh):
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return None
        return _read_holder(fh)


_LOST_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class S3Lease:
    """One lease as the object ``<location>/<name>.json`` on S3-compatible storage (conditional writes)."""

    def __init__(self, location: S3Objects, name: str, ttl_seconds: float = S3_TTL_SECONDS) -> None:
        _check_name(name)  # the same name rules as local leases
        self.location, self.name, self.ttl = location, name, float(ttl_seconds)
        self.object_name = f"{name}.json"
        self.url = location.url(self.object_name)

    def read(self) -> tuple[LeaseHolder, str] | None:
        """(holder, etag) of the lease object, or None when there is none. An unreadable one reads as expired."""
        from botocore.exceptions import ClientError

        from lb_assets.store.objects import is_missing

        with self.location.errors("reading lease", self.object_name):
            try:
                response = self.location.client().get_object(
                    Bucket=self.location.bucket, Key=self.location.key(self.object_name)
                )
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            body = response["Body"].read()
        return _parse_holder(body), response["ETag"]

    def put(self, holder: LeaseHolder, **condition: str) -> str | None:
        """Write the holder if ``condition`` (``IfNoneMatch``/``IfMatch``) holds; its etag, or None if it did not."""
        from botocore.exceptions import ClientError

        with self.location.errors("writing lease", self.object_name):
            try:
                response = self.location.client().put_object(
                    Bucket=self.location.bucket,
                    Key=self.location.key(self.object_name),
                    Body=json.dumps(asdict(holder)).encode(),
                    ContentType="application/json",
                    **condition,
                )
            except ClientError as exc:
                if error_code(exc) in _LOST_CODES:
                    return None
                raise
        return response["ETag"]

    def try_take(self, owner: str, log: Any) -> tuple[tuple[LeaseHolder, str] | None, LeaseHolder | None]:
        """Create the lease, or take it over when expired: ((holder, etag), None), or (None, the other holder)."""
        mine = _new_holder(owner, self.ttl)
        etag = self.put(mine, IfNoneMatch="*")
        if etag:
            return (mine, etag), None
        found = self.read()
        if found is None:  # released meanwhile
            return None, None
        other, other_etag = found
        if not _expired(other):
            return None, other
        etag = self.put(mine, IfMatch=other_etag)  # only one taker's If-Match succeeds
        if etag is None:
            return None, other
        log.warning(f"Took over the expired lease {self.name} at {self.url} from {other.describe()}")
        return (mine, etag), None

    @contextlib.contextmanager
    def hold(self, owner: str | None, wait_seconds: float, log: logging.Logger | None) -> Iterator[LeaseHolder]:
        """Hold the lease for the block, renewed by a heartbeat thread; released (deleted) at the end."""
        log = log or logger
        taken = self._wait(owner or default_owner(), wait_seconds, log)
        beat = _Heartbeat(self, *taken)
        beat.start()
        try:
            yield taken[0]
        finally:
            etag = beat.stop()
            if etag is None:
                log.error(
                    f"Lease {self.name} at {self.url} was lost while held (renewals did not arrive within "
                    f"{self.ttl:.0f} s) and may have been taken over by another writer"
                )
            else:
                self._release(etag)

    def _wait(self, owner: str, wait_seconds: float, log: Any) -> tuple[LeaseHolder, str]:
        deadline = time.monotonic() + max(0.0, wait_seconds)
        announced = False
        while True:
            taken, other = self.try_take(owner, log)
            if taken is not None:
                return taken
            who = other.describe() if other else "another writer"
            if time.monotonic() >= deadline:
                project = self.location.url().rsplit("/", 1)[0]
                raise LeaseHeldError(
                    f"{self.name} at {project} is being written by {who}; waited {wait_seconds:.0f} s. "
                    "Wait for that run to end (or cancel it), then run again."
                )
            if not announced and other is not None:
                log.info(f"Waiting for {self.name}: held by {who}")
                announced = True
            time.sleep(S3_POLL_SECONDS)

    def _release(self, etag: str) -> None:
        from botocore.exceptions import ClientError

        from lb_assets.errors import LbAssetsError

        try:
            with self.location.errors("releasing lease", self.object_name):
                try:
                    self.location.client().delete_object(
                        Bucket=self.location.bucket, Key=self.location.key(self.object_name), IfMatch=etag
                    )
                except ClientError as exc:
                    if error_code(exc) not in _LOST_CODES:
                        raise
                    logger.warning("Lease %s was no longer ours at release; left as it is", self.url)
        except LbAssetsError as exc:  # it expires after its ttl anyway
            logger.warning("Could not release lease %s (%s); it expires in %.0f s", self.url, exc, self.ttl)


class _Heartbeat(threading.Thread):
    """Renews a held S3 lease every third of its ttl with ``If-Match`` on the last etag."""

    def __init__(self, lease: S3Lease, holder: LeaseHolder, etag: str) -> None:
        super().__init__(name=f"lb_assets-lease-{lease.name}", daemon=True)
        self.lease, self.holder, self.etag = lease, holder, etag
        self.lost = False
        self._done = threading.Event()

    def run(self) -> None:
        interval = self.lease.ttl / 3
        wait = interval
        while not self._done.wait(wait):
            ok = self._renew()
            if self.lost:
                return
            wait = interval if ok else min(interval, 5.0)

    def _renew(self) -> bool:
        from lb_assets.errors import LbAssetsError

        expires = datetime.now(timezone.utc) + timedelta(seconds=self.lease.ttl)
        renewed = LeaseHolder(**{**asdict(self.holder), "expires": expires.isoformat(timespec="milliseconds")})
        try:
            etag = self.lease.put(renewed, IfMatch=self.etag)
        except LbAssetsError as exc:  # storage unreachable for now: try again soon
            logger.warning("Could not renew lease %s (%s); trying again", self.lease.url, exc)
            return False
        if etag is None:
            self.lost = True
            logger.error("Lease %s was taken over by another writer", self.lease.url)
            return False
        self.holder, self.etag = renewed, etag
        return True

    def stop(self) -> str | None:
        """Stop renewing; the last etag, or None when the lease was lost."""
        self._done.set()
        self.join()
        return None if self.lost else self.etag


def _parse_holder(body: bytes) -> LeaseHolder:
    try:
        data = json.loads(body or b"null")
        return LeaseHolder(**data)
    except (ValueError, TypeError):
        return LeaseHolder(owner="unknown", host="unknown", pid=0, since="unknown", expires="")
