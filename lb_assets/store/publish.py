"""Write-audit-publish on Deep Lake branches.

A run never writes a published branch (``main`` of the frame or annotation dataset, ``labelbox``) directly:

1. `Stage.open` branches a staging branch off the published one, named after the run
   (``stage-<published>-<run>``); the writer writes and commits there.
2. `Stage.publish` checks the storage (`lb_assets.store.health`: no emptied version log, enough free space),
   reopens the staging branch from storage and audits it (`lb_assets.store.verify` plus the caller's checks,
   e.g. the blocking asset checks), and only then merges it into the published branch, which readers see as
   one new version. The published branch's row count is checked after the merge.
3. On success the staging branch, and any left by earlier failed runs of the same published branch, are
   deleted. On failure the published branch is exactly as it was (same version, same rows) and the staging
   branch is kept for inspection; its name is in the error and in the asset's metadata.

Dataset metadata (``labelbox_meta``) is shared by every branch in deeplake 4.7.4 and saved at once: `Stage`
restores the value it had before the write when the write or the audit fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lb_assets.redact import redact_url
from lb_assets.store import health
from lb_assets.store.atomic import META_KEY, read_meta
from lb_assets.store.branches import branch_names, current_branch
from lb_assets.store.verify import verify_rows

logger = logging.getLogger(__name__)

STAGE_PREFIX = "stage-"
Audit = Callable[[Any], None]


def stage_name(published: str, owner: str) -> str:
    """``stage-<published branch>-<owner>`` with only letters, digits, ``-`` and ``_``."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", owner).strip("-")[:36] or "run"
    return f"{STAGE_PREFIX}{published}-{safe}"


@dataclass
class Stage:
    """A staging branch of one published branch of a dataset at ``path``."""

    published: Any
    path: str
    name: str
    open_kwargs: dict[str, Any] = field(default_factory=dict)
    ds: Any = None
    rows_before: int = 0
    base_version: str = ""
    _meta_before: Any = None
    _readers: list[Any] = field(default_factory=list)

    @classmethod
    def open(cls, published: Any, path: str, owner: str, open_kwargs: dict[str, Any] | None = None) -> Stage:
        """Branch a fresh staging branch off ``published`` (a stage of the same name is replaced)."""
        name = stage_name(current_branch(published), owner)
        health.check_log(path, [_branch_id(published, current_branch(published))])
        if name in branch_names(published):
            logger.info("Replacing staging branch %s left by an earlier attempt", name)
            published.branches[name].delete()
        published.branch(name)
        ds = published.branches[name].open()
        stage = cls(published, path, name, dict(open_kwargs or {}), ds, len(published), str(ds.version))
        stage._meta_before = read_meta(published)
        logger.info("Writing %s on staging branch %s", redact_url(path), name)
        return stage

    @property
    def target(self) -> str:
        """The published branch's name."""
        return current_branch(self.published)

    def describe(self) -> str:
        """``<path>@<branch>`` of the published branch (redacted)."""
        return f"{redact_url(self.path)}@{self.target}"

    def reopened(self) -> Any:
        """The staging branch as stored (a fresh read-only open, not this process's cached dataset)."""
        from lb_assets.store.datasets import open_read_only

        parent = open_read_only(self.path, **self.open_kwargs)
        self._readers.append(parent)  # a branch's dataset needs its parent alive (deeplake 4.7.4)
        return parent.branches[self.name].open()

    def publish(self, message: str, audits: tuple[Audit, ...] = ()) -> str:
        """Audit the committed staging branch, merge it into the published branch, clean up; the new version.

        Raises:
            StorageWriteError: The storage failed while the stage was written (the stage is kept).
            UnverifiedWriteError: A check failed (the stage is kept, the published branch unchanged).
        """
        if str(self.ds.version) == self.base_version:  # nothing was committed: nothing to publish
            self.cleanup()
            return str(self.published.version)
        logs = [_branch_id(self.published, self.target), _branch_id(self.published, self.name)]
        try:
            health.check_log(self.path, logs)
            staged = self.reopened()
            verify_rows(staged, len(self.ds), f"staging branch {self.name} of {redact_url(self.path)}")
            for audit in audits:
                audit(staged)
            health.check_free_space(self.path)
            self.published.merge(self.name, message=message)
        except BaseException:
            self.restore_meta()
            raise
        health.check_log(self.path, logs)
        verify_rows(self.published, len(staged), f"{self.describe()} after publishing {self.name}")
        version = str(self.published.version)
        logger.info("Published %s to %s: version %s (%d rows)", self.name, self.describe(), version, len(staged))
        self.cleanup()
        return version

    def abandon(self) -> None:
        """Leave the published branch as it was (metadata restored); the stage stays for inspection."""
        self.restore_meta()
        logger.warning("Not published: %s stays as it was; staging branch %s kept", self.describe(), self.name)

    def restore_meta(self) -> None:
        """Put back ``labelbox_meta`` as it was before the write.

        Dataset metadata is shared by every branch and saved by the next commit of any branch, so the value is
        restored and saved with an (empty) commit of the staging branch.
        """
        try:
            if self._meta_before is None:
                if META_KEY in list(self.ds.metadata.keys()):
                    del self.ds.metadata[META_KEY]
            else:
                self.ds.metadata[META_KEY] = self._meta_before
            self.ds.commit(f"lb_assets: restore {META_KEY} (not published)")
        except (RuntimeError, OSError, KeyError) as exc:
            logger.error("Could not restore %s of %s: %s", META_KEY, redact_url(self.path), exc)

    def cleanup(self) -> None:
        """Delete this staging branch and those earlier runs left for the same published branch."""
        prefix = f"{STAGE_PREFIX}{self.target}-"
        for name in branch_names(self.published):
            if name.startswith(prefix):
                try:
                    self.published.branches[name].delete()
                except (RuntimeError, OSError) as exc:  # a damaged old stage must not fail a good publish
                    logger.warning("Could not delete staging branch %s of %s: %s", name, redact_url(self.path), exc)



def _branch_id(ds: Any, name: str) -> str:
    return str(ds.branches[name].id)
