"""Storage failures (full disk, I/O errors, a damaged Deep Lake log) turned into one clear, final error.

Deep Lake 4.7.4 does not report every failed write: on a full local disk ``commit()`` returns normally while
chunks are lost (rows read back as zeros) and the branch's ``_deeplake_log/<branch>/next_base`` is left empty,
after which every later commit on that branch fails with ``Invalid CAS counter: empty``. So lb_assets

* refuses to commit when the local storage has less than ``min_free_bytes`` free (`check_free_space`),
* looks for an emptied version log after each commit (`check_log`), and
* maps the storage errors Deep Lake and the OS do raise to `StorageWriteError` (`storage_errors`), which names
  the dataset and the likely cause and is not retried.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from lb_assets.errors import StorageWriteError
from lb_assets.redact import redact_text, redact_url

logger = logging.getLogger(__name__)

MIN_FREE_ENV = "LB_ASSETS_MIN_FREE_MB"
DEFAULT_MIN_FREE_MB = 100
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}
_STORAGE_MESSAGES = re.compile(
    r"no space left|disk quota|input/output error|read-only file system|invalid cas counter|file too large",
    re.IGNORECASE,
)
REPAIR_HINT = "free space (or fix the storage), then run the step again with run config repair: true"


def local_dir(path: str) -> Path | None:
    """The local directory of a dataset path (``/x``, ``file:///x``), or None for remote storage."""
    local = path[len("file://") :] if path.startswith("file://") else path
    return None if "://" in local else Path(local)


def min_free_bytes() -> int:
    """``$LB_ASSETS_MIN_FREE_MB`` (default 100) in bytes: the free space a local commit needs."""
    try:
        return max(0, int(float(os.environ.get(MIN_FREE_ENV, DEFAULT_MIN_FREE_MB)) * 1024 * 1024))
    except ValueError:
        return DEFAULT_MIN_FREE_MB * 1024 * 1024


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(path: str, needed: int | None = None) -> None:
    """Raise `StorageWriteError` when the local storage of ``path`` has less than ``needed`` bytes free.

    Remote storage is not checked (it reports its own errors).
    """
    directory = local_dir(path)
    if directory is None:
        return
    needed = min_free_bytes() if needed is None else needed
    free = shutil.disk_usage(_existing(directory)).free
    if free < needed:
        raise StorageWriteError(
            f"dataset {path}: only {free / 2**20:.1f} MiB free on its storage, {needed / 2**20:.0f} MiB needed "
            f"to commit safely ({MIN_FREE_ENV}); nothing was committed. Free space, then run again."
        )


def check_log(path: str, branch_ids: Iterable[str] | None = None) -> None:
    """Raise `StorageWriteError` when a version log of a local dataset was left empty.

    Args:
        path: The dataset.
        branch_ids: Only these branches' logs (``ds.branches[name].id``) and the shared ``_meta`` log; default
            every log (a damaged log of an abandoned staging branch does not harm the others).
    """
    directory = local_dir(path)
    if directory is None:
        return
    log_dir = directory / "_deeplake_log"
    if not log_dir.is_dir():
        return
    names = None if branch_ids is None else {"_meta", *branch_ids}
    for counter in log_dir.glob("*/next_base"):
        if names is not None and counter.parent.name not in names:
            continue
        if counter.stat().st_size == 0:
            raise StorageWriteError(
                f"dataset {path}: its version log {counter.relative_to(directory)} was left empty, so a write "
                f"did not complete (the storage was probably full); {REPAIR_HINT}"
            )


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) is a storage failure no retry can fix."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRNOS:
            return True
        if _STORAGE_MESSAGES.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def storage_errors(path: str, secrets: tuple[str | None, ...] = ()) -> Iterator[None]:
    """Re-raise storage failures inside the block as `StorageWriteError` naming ``path``."""
    try:
        yield
    except StorageWriteError:
        raise
    except Exception as exc:
        if not is_storage_error(exc):
            raise
        cause = redact_text(f"{type(exc).__name__}: {exc}", [s for s in secrets if s])
        logger.error("Storage failure writing %s: %s", redact_url(path), cause)
        raise StorageWriteError(
            f"writing dataset {redact_url(path)} failed: {cause}. Likely cause: the storage is full or failing; "
            f"{REPAIR_HINT}"
        ) from None
