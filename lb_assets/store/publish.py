"""Write-audit-publish on Deep Lake branches.

A run never writes a published branch (``main`` of the frame or annotation dataset, ``labelbox``) directly:

1. `Stage.open` gives the run a staging branch off the published one, ``stage-<published>-<owner>`` (the
   owner is the run id). A stage left by an earlier attempt that died, branched from the published branch's
   current version and undamaged, is resumed (renamed to this run's stage) so committed work is not redone.
2. The writer writes and commits there (possibly every N data rows). The frame build keeps its
   ``labelbox_meta`` under the stage's own key (`Stage.meta_key`): dataset metadata is shared by every
   branch and saved by any commit, so the published ``labelbox_meta`` must not change before publishing.
3. `Stage.publish` checks the storage (`lb_assets.store.health`: no emptied version log), merges the
   published branch in first if it moved since the stage was branched, reopens the stage from storage and
   runs the caller's blocking check and audits on it (`lb_assets.store.verify`), and only when they pass
   merges it into the published branch, which readers see as one new version. The published branch's rows
   are verified after the merge.
4. On success this stage and any other left for the same published branch are deleted. When the check
   fails, the published branch is exactly as it was and the stage is renamed ``rejected-<published>-<owner>``
   (never resumed, kept for inspection, deleted by the next successful publish).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from lb_assets.errors import StorageWriteError
from lb_assets.redact import redact_url
from lb_assets.store import health
from lb_assets.store.atomic import META_KEY, clear_meta, read_meta
from lb_assets.store.branches import branch_names, current_branch
from lb_assets.store.verify import verify_rows

logger = logging.getLogger(__name__)

STAGE_PREFIX = "stage-"
REJECTED_PREFIX = "rejected-"
SHARD_PREFIX = "shard-"  # branches of a sharded build (`lb_assets.store.shards`), deleted with the stages
Audit = Callable[[Any], None]


class _CheckResult(Protocol):
    @property
    def passed(self) -> bool: ...


C = TypeVar("C", bound=_CheckResult)


def _safe(owner: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", owner).strip("-")[:36] or "run"


def stage_name(published: str, owner: str) -> str:
    """``stage-<published branch>-<owner>`` with only letters, digits, ``-`` and ``_``."""
    return f"{STAGE_PREFIX}{published}-{_safe(owner)}"


def meta_key_of(published: str) -> str:
    """The metadata key the stages of ``published`` keep their ``labelbox_meta`` under until publishing.

    One key per published branch: one writer at a time (the lease), and a resumed stage finds it as it was.
    """
    return f"{META_KEY}@{STAGE_PREFIX}{published}"


@dataclass
class Stage:
    """A staging branch of one published branch of a dataset at ``path``."""

    published: Any
    path: str
    name: str
    open_kwargs: dict[str, Any] = field(default_factory=dict)
    ds: Any = None
    rows_before: int = 0
    resumed: bool = False
    _meta_before: Any = None
    _readers: list[Any] = field(default_factory=list)

    @classmethod
    def open(
        cls, published: Any, path: str, owner: str, open_kwargs: dict[str, Any] | None = None, resume: bool = True
    ) -> Stage:
        """This run's staging branch off ``published``: a resumable one left by a dead attempt, or a new one."""
        target = current_branch(published)
        health.check_log(path, [_branch_id(published, target)])
        name = stage_name(target, owner)
        found = _resumable(published, path, target, name) if resume else None
        if found is None:
            if name in branch_names(published):
                published.branches[name].delete()
            published.branch(name)
        elif found != name:
            published.branches[found].rename(name)
        ds = published.branches[name].open()
        stage = cls(published, path, name, dict(open_kwargs or {}), ds, len(published), found is not None)
        stage._meta_before = read_meta(published)
        verb = f"Resuming {found} as" if found else "Writing on"
        logger.info("%s staging branch %s of %s (%d rows)", verb, name, redact_url(path), len(ds))
        return stage

    @property
    def target(self) -> str:
        """The published branch's name."""
        return current_branch(self.published)

    @property
    def meta_key(self) -> str:
        """Where this stage's writer keeps ``labelbox_meta`` until it is published."""
        return meta_key_of(self.target)

    def describe(self) -> str:
        """``<path>@<branch>`` of the published branch (redacted)."""
        return f"{redact_url(self.path)}@{self.target}"

    def reopened(self) -> Any:
        """The staging branch as stored (a fresh read-only open, not this process's cached dataset)."""
        from lb_assets.store.datasets import open_read_only

        parent = open_read_only(self.path, **self.open_kwargs)
        self._readers.append(parent)  # a branch's dataset needs its parent alive (deeplake 4.7.4)
        return parent.branches[self.name].open()

    def publish(self, message: str, check: Callable[[Any], C], audits: tuple[Audit, ...] = ()) -> tuple[C, str]:
        """Check the committed stage and merge it into the published branch when ``check`` passes.

        Args:
            message: The merge commit's message.
            check: The blocking check, run on the stage as stored; returns an object with ``passed``
                (e.g. a Dagster ``AssetCheckResult``).
            audits: More checks that raise when the stage must not be published.

        Returns:
            (the check's result, the published branch's version afterwards).

        Raises:
            StorageWriteError: The storage failed while the stage was written (the stage is kept).
            UnverifiedWriteError: An audit failed (the stage is kept, the published branch unchanged).
        """
        if len(list(self.ds.history)) <= 1:  # nothing committed on the stage: nothing to publish
            result = check(self.reopened())
            self.cleanup()
            return result, str(self.published.version)
        logs = [_branch_id(self.published, self.target), _branch_id(self.published, self.name)]
        try:
            health.check_log(self.path, logs)
            self._catch_up()
            staged = self.reopened()
            verify_rows(staged, len(self.ds), f"staging branch {self.name} of {redact_url(self.path)}")
            result = check(staged)
            if not result.passed:
                self.abandon()
                return result, str(self.published.version)
            for audit in audits:
                audit(staged)
            health.check_free_space(self.path)
            self._take_meta()
            self.published.merge(self.name, message=message)
        except BaseException as exc:
            self.restore_meta()
            if isinstance(exc, StorageWriteError):
                self.reject()
            raise
        health.check_log(self.path, logs)
        verify_rows(self.published, len(staged), f"{self.describe()} after publishing {self.name}")
        version = str(self.published.version)
        logger.info("Published %s to %s: version %s (%d rows)", self.name, self.describe(), version, len(staged))
        self.cleanup()
        return result, version

    def _catch_up(self) -> None:
        """Merge the published branch into the stage when it moved since the stage was branched."""
        self.published.refresh()  # see what other writers committed since this process opened it
        base = self.published.branches[self.name].base
        if base is not None and str(base[1]) != str(self.published.version):
            logger.warning(
                "%s moved since %s was branched; merging it in and checking again", self.describe(), self.name
            )
            self.ds.merge(self.target, message=f"lb_assets: catch up with {self.target}")

    def _take_meta(self) -> None:
        """Make the stage's own ``labelbox_meta`` (if any) the published one; saved by the merge commit."""
        staged = read_meta(self.ds, self.meta_key)
        if staged is not None:
            self.published.metadata[META_KEY] = staged
            clear_meta(self.published, self.meta_key)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Stage]:
        """The writer's block: a storage failure rejects the stage (its data is suspect, never resumed).

        Other failures (a media error, a crash) keep it resumable: its commits are whole and checked again
        before they are published.
        """
        try:
            yield self
        except Exception as exc:
            if isinstance(exc, StorageWriteError) or health.is_storage_error(exc):
                self.reject()
            raise

    def abandon(self) -> None:
        """Leave the published branch as it was; keep the stage for inspection as ``rejected-...``."""
        self.restore_meta()
        self.reject()
        logger.warning("Not published: %s stays as it was; staged data kept on branch %s", self.describe(), self.name)

    def reject(self) -> None:
        """Rename the stage ``rejected-...``: kept for inspection, never resumed, deleted by a later publish."""
        if self.name.startswith(REJECTED_PREFIX):
            return
        rejected = f"{REJECTED_PREFIX}{self.name[len(STAGE_PREFIX) :]}"
        try:
            if rejected in branch_names(self.published):
                self.published.branches[rejected].delete()
            self.published.branches[self.name].rename(rejected)
            self.name = rejected
        except (RuntimeError, OSError) as exc:  # e.g. the disk is still full: a later publish audits it again
            logger.error("Could not mark staging branch %s as rejected: %s", self.name, exc)

    def restore_meta(self) -> None:
        """Put back ``labelbox_meta`` as it was before the write and drop the stage's own key.

        Dataset metadata is shared by every branch and saved by the next commit of any branch, so the value is
        restored and saved with an (empty) commit of the staging branch.
        """
        try:
            if self._meta_before is None:
                clear_meta(self.ds, META_KEY)
            else:
                self.ds.metadata[META_KEY] = self._meta_before
            clear_meta(self.ds, self.meta_key)
            self.ds.commit(f"lb_assets: restore {META_KEY} (not published)")
        except (RuntimeError, OSError, KeyError) as exc:
            logger.error("Could not restore %s of %s: %s", META_KEY, redact_url(self.path), exc)

    def cleanup(self) -> None:
        """Delete this stage and the stages, rejected stages and shards left for the same published branch."""
        clear_meta(self.published, self.meta_key)
        prefixes = tuple(f"{prefix}{self.target}-" for prefix in (STAGE_PREFIX, REJECTED_PREFIX, SHARD_PREFIX))
        for name in branch_names(self.published):
            if name.startswith(prefixes):
                try:
                    self.published.branches[name].delete()
                except (RuntimeError, OSError) as exc:  # a damaged old stage must not fail a good publish
                    logger.warning("Could not delete staging branch %s of %s: %s", name, redact_url(self.path), exc)


def _branch_id(ds: Any, name: str) -> str:
    return str(ds.branches[name].id)


def _resumable(published: Any, path: str, target: str, name: str) -> str | None:
    """A stage of ``target`` branched from its current version with an intact log (this run's first)."""
    prefix = f"{STAGE_PREFIX}{target}-"
    version = str(published.version)
    found: list[tuple[bool, str, str]] = []
    for candidate in branch_names(published):
        if not candidate.startswith(prefix):
            continue
        branch = published.branches[candidate]
        base = branch.base
        if base is None or str(base[1]) != version:
            continue
        try:
            health.check_log(path, [str(branch.id)])
        except StorageWriteError:
            continue
        found.append((candidate == name, str(branch.timestamp), candidate))
    return max(found)[2] if found else None
