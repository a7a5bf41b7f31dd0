"""All-or-nothing writes to a Deep Lake dataset, and commits.

Mechanism (verified in deeplake 4.7.4, see lb_assets_tests/store/test_atomic_datasets.py):

* Deep Lake persists nothing before ``commit()``: a process that fails (exception or hard exit) before the
  commit reopens the dataset at its last commit.
* In the SAME process the dataset object still holds the uncommitted rows, column values and new columns,
  and a later ``commit()`` (a retry, or the user's ``ds.commit(...)`` of the seed flow) would publish a half
  written state. `atomic` therefore calls ``ds.rollback()`` on any exception, which discards every
  uncommitted change of the dataset (also changes made before the block: commit them first).
* Dataset metadata (``ds.metadata``) is NOT versioned and NOT rolled back by ``rollback()``; it is shared by
  all branches and saved by the next commit of any branch. Writers set ``labelbox_meta`` last, right before
  committing, and `atomic` restores its previous value on failure (or clears a key the block added: keys
  cannot be deleted in deeplake 4.7.4).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator
from typing import Any

from lb_assets.redact import redact_text

logger = logging.getLogger(__name__)

META_KEY = "labelbox_meta"
_MISSING = object()


def read_meta(ds: Any, key: str = META_KEY) -> Any:
    """A plain-Python copy of ``ds.metadata[key]``, or None when absent or cleared (`clear_meta`)."""
    if key not in list(ds.metadata.keys()):
        return None
    value = _plain(ds.metadata[key])
    return None if value in ({}, None) else value


def clear_meta(ds: Any, key: str = META_KEY) -> None:
    """Clear ``ds.metadata[key]`` (deeplake 4.7.4 cannot delete a metadata key: it is set to ``{}``)."""
    if key in list(ds.metadata.keys()):
        ds.metadata[key] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or (
        hasattr(value, "keys") and hasattr(value, "__getitem__") and not isinstance(value, str)
    ):
        return {str(k): _plain(value[k]) for k in value.keys()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


@contextlib.contextmanager
def atomic(ds: Any, what: str, meta_key: str = META_KEY) -> Iterator[None]:
    """Roll back every uncommitted change of ``ds`` (and restore ``labelbox_meta``) if the block raises.

    Args:
        ds: A writable dataset (a branch's dataset is fine).
        what: What is being written, for the log message.
        meta_key: The metadata key to restore.
    """
    before = ds.metadata[meta_key] if meta_key in list(ds.metadata.keys()) else _MISSING
    before = before if before is _MISSING else _plain(before)
    try:
        yield
    except BaseException as exc:
        logger.warning("%s failed (%s); rolling back uncommitted changes", what, redact_text(type(exc).__name__))
        try:
            ds.rollback()
            if before is not _MISSING:
                ds.metadata[meta_key] = before
            else:
                clear_meta(ds, meta_key)  # undo a key the block added
        except Exception as rollback_exc:  # keep the original error; report the rollback failure
            logger.error("%s: rollback failed too: %s", what, redact_text(str(rollback_exc)))
        raise


def commit(ds: Any, message: str) -> str:
    """Commit ``ds`` and return its version id (unchanged when there was nothing to commit)."""
    ds.commit(message)
    version = str(ds.version)
    logger.info("Committed %s: %s", version, message)
    return version
