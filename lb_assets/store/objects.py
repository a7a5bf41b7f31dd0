"""Files under a storage root: put, get, exists and delete, on a local directory or S3-compatible storage.

Plain code, no Dagster. `LocalObjects` keeps files in a directory (each put is a temp file + ``os.replace``);
`S3Objects` keeps them as objects under ``s3://bucket/prefix/`` (each PUT is atomic per object; files are
uploaded with boto3's ``upload_file``, which streams large files in parts, so memory stays flat).

Credentials: the standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` /
``AWS_ENDPOINT_URL`` / ``AWS_REGION`` variables (boto3 reads them), or an `S3Creds` whose given fields win.
Errors name the bucket and key (``s3://bucket/key``) and the endpoint, never a secret: refused credentials and
missing buckets raise `ConfigError`, an unreachable endpoint or another failure `StorageWriteError`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lb_assets.errors import ConfigError, StorageWriteError
from lb_assets.redact import redact_text

logger = logging.getLogger(__name__)

ENV_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
)
_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
    "Forbidden",
    "403",
}
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class Objects(Protocol):
    """Files under one location of a storage root, by name (``export.ndjson``)."""

    def url(self, name: str = "") -> str: ...

    def exists(self, name: str) -> bool: ...

    def read_bytes(self, name: str) -> bytes | None: ...

    def get_file(self, name: str, dest: Path) -> bool: ...

    def put_file(self, src: Path, name: str) -> None: ...

    def put_bytes(self, data: bytes, name: str) -> None: ...

    def delete(self, name: str) -> None: ...


@dataclass(frozen=True)
class S3Creds:
    """S3 settings given explicitly (e.g. fields of the ``storage`` resource); unset ones come from ``AWS_*``."""

    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None
    region: str | None = None

    def given(self) -> bool:
        """Whether any field is set (else boto3 and Deep Lake read the standard variables themselves)."""
        return any((self.access_key_id, self.secret_access_key, self.endpoint_url, self.region))

    def endpoint(self) -> str | None:
        """The endpoint in use (None: AWS's own)."""
        return self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in errors or logs."""
        values = (self.secret_access_key, os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN"))
        return tuple(v for v in values if v)

    def deeplake_creds(self) -> dict[str, str] | None:
        """Deep Lake's ``creds=`` for s3 paths (4.7.4's keys), or None to let it read ``AWS_*`` itself."""
        if not self.given():
            return None
        env = os.environ.get
        values = {
            "aws_access_key_id": self.access_key_id or env("AWS_ACCESS_KEY_ID"),
            "aws_secret_access_key": self.secret_access_key or env("AWS_SECRET_ACCESS_KEY"),
            "aws_session_token": None if self.access_key_id else env("AWS_SESSION_TOKEN"),
            "endpoint_url": self.endpoint(),
            "aws_region": self.region or env("AWS_REGION") or env("AWS_DEFAULT_REGION"),
        }
        return {k: v for k, v in values.items() if v}


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    if not url.startswith("s3://"):
        raise ConfigError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigError(f"{url!r} names no bucket")
    return bucket, key.strip("/")


def s3_client(creds: S3Creds | None = None) -> Any:
    """A boto3 S3 client (shared per settings; boto3 clients are thread-safe)."""
    return _client(creds or S3Creds(), tuple(os.environ.get(k) for k in ENV_KEYS))


@functools.lru_cache(maxsize=16)
def _client(creds: S3Creds, _env: tuple[str | None, ...]) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigError("s3:// storage needs boto3: pip install 'lb_assets[s3]'") from exc
    config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
    keys: dict[str, Any] = {}
    if creds.access_key_id or creds.secret_access_key:  # boto3 takes both or neither: the other from AWS_*
        keys = {
            "aws_access_key_id": creds.access_key_id or os.environ.get("AWS_ACCESS_KEY_ID"),
            "aws_secret_access_key": creds.secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        }
    return boto3.session.Session().client(
        "s3", endpoint_url=creds.endpoint_url or None, region_name=creds.region or None, config=config, **keys
    )


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` (``PreconditionFailed``, ``404``, ...), else ``""``."""
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def is_missing(exc: BaseException) -> bool:
    """Whether a ``ClientError`` says the object does not exist."""
    return error_code(exc) in _MISSING_CODES


@contextlib.contextmanager
def s3_errors(action: str, url: str, creds: S3Creds | None = None) -> Iterator[None]:
    """Re-raise botocore failures inside the block as `ConfigError` / `StorageWriteError` naming ``url``."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    creds = creds or S3Creds()
    secrets = list(creds.secrets())
    endpoint = creds.endpoint() or "AWS S3"
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        reason = redact_text(f"{code}: {exc}", secrets)
        if code in _AUTH_CODES:
            raise ConfigError(
                f"{action} {url} failed: the credentials were refused at {endpoint} ({reason}); check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the storage resource's aws_* fields"
            ) from None
        if code == "NoSuchBucket":
            raise ConfigError(f"{action} {url} failed: the bucket does not exist at {endpoint}") from None
        raise StorageWriteError(f"{action} {url} failed at {endpoint}: {reason}") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise ConfigError(
            f"{action} {url} failed: no complete AWS credentials (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, a role, or the storage resource's aws_* fields)"
        ) from None
    except BotoCoreError as exc:
        reason = redact_text(f"{type(exc).__name__}: {exc}", secrets)
        raise StorageWriteError(f"{action} {url} failed: cannot reach the S3 endpoint {endpoint} ({reason})") from None


@dataclass(frozen=True)
class S3Objects:
    """Objects under ``s3://bucket/prefix/``."""

    bucket: str
    prefix: str
    creds: S3Creds = field(default_factory=S3Creds)

    @classmethod
    def at(cls, url: str, creds: S3Creds | None = None) -> S3Objects:
        """The objects under an ``s3://bucket/prefix`` URL."""
        bucket, prefix = split_s3(url)
        return cls(bucket, prefix, creds or S3Creds())

    def key(self, name: str) -> str:
        """The object key of ``name``."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str = "") -> str:
        """``s3://bucket/prefix/name``."""
        return f"s3://{self.bucket}/{self.key(name)}".rstrip("/")

    def child(self, name: str) -> S3Objects:
        """The objects under ``prefix/name/``."""
        return S3Objects(self.bucket, self.key(name), self.creds)

    def client(self) -> Any:
        """The boto3 client for these settings."""
        return s3_client(self.creds)

    def errors(self, action: str, name: str) -> contextlib.AbstractContextManager[None]:
        """`s3_errors` naming the object ``name``."""
        return s3_errors(action, self.url(name), self.creds)

    def exists(self, name: str) -> bool:
        """Whether the object exists."""
        head = self._missing_as_none("checking", name, lambda c: c.head_object(Bucket=self.bucket, Key=self.key(name)))
        return head is not None

    def read_bytes(self, name: str) -> bytes | None:
        """The object's content (None when it does not exist)."""
        key = self.key(name)
        response = self._missing_as_none("reading", name, lambda c: c.get_object(Bucket=self.bucket, Key=key))
        if response is None:
            return None
        with self.errors("reading", name):
            return response["Body"].read()

    def get_file(self, name: str, dest: Path) -> bool:
        """Download the object to ``dest`` (atomically, streamed); False when it does not exist."""
        tmp = _tmp_beside(dest)
        try:
            done = self._missing_as_none(
                "downloading", name, lambda c: c.download_file(self.bucket, self.key(name), str(tmp)) or True
            )
            if done is None:
                return False
            os.replace(tmp, dest)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, src: Path, name: str) -> None:
        """Upload a local file as the object (streamed in parts; the object appears whole or not at all)."""
        with self.errors("uploading", name):
            self.client().upload_file(str(src), self.bucket, self.key(name))

    def put_bytes(self, data: bytes, name: str) -> None:
        """Write the object (one PUT)."""
        with self.errors("writing", name):
            self.client().put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def delete(self, name: str) -> None:
        """Delete the object (no error when it does not exist)."""
        with self.errors("deleting", name):
            self.client().delete_object(Bucket=self.bucket, Key=self.key(name))

    def _missing_as_none(self, action: str, name: str, call: Any) -> Any:
        from botocore.exceptions import ClientError

        with self.errors(action, name):
            try:
                return call(self.client())
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise


@dataclass(frozen=True)
class LocalObjects:
    """Files in a local directory (created on first write)."""

    base: Path

    def url(self, name: str = "") -> str:
        """The file's path."""
        return str(self.base / name) if name else str(self.base)

    def exists(self, name: str) -> bool:
        """Whether the file exists."""
        return (self.base / name).is_file()

    def read_bytes(self, name: str) -> bytes | None:
        """The file's content (None when it does not exist)."""
        try:
            return (self.base / name).read_bytes()
        except FileNotFoundError:
            return None

    def get_file(self, name: str, dest: Path) -> bool:
        """Copy the file to ``dest`` (atomically); False when it does not exist."""
        if not self.exists(name):
            return False
        _copy_atomic(self.base / name, dest)
        return True

    def put_file(self, src: Path, name: str) -> None:
        """Copy a file in (atomically)."""
        self.base.mkdir(parents=True, exist_ok=True)
        _copy_atomic(src, self.base / name)

    def put_bytes(self, data: bytes, name: str) -> None:
        """Write the file (atomically)."""
        self.base.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_beside(self.base / name)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, self.base / name)
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, name: str) -> None:
        """Delete the file (no error when it does not exist)."""
        (self.base / name).unlink(missing_ok=True)


def objects_at(url: str, creds: S3Creds | None = None) -> Objects:
    """The files under ``url``: `S3Objects` for ``s3://``, `LocalObjects` for a local path or ``file://``."""
    if url.startswith("s3://"):
        return S3Objects.at(url, creds)
    local = url[len("file://") :] if url.startswith("file://") else url
    if "://" in local:
        raise ConfigError(f"files under {url.split('://', 1)[0]}:// storage are not supported (local or s3:// only)")
    return LocalObjects(Path(local))


def _tmp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _copy_atomic(src: Path, dest: Path) -> None:
    tmp = _tmp_beside(dest)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
