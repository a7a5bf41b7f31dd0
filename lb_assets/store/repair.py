"""Rebuild a damaged dataset beside the old one and swap it in, keeping the damaged one for inspection.

A dataset whose version log was damaged (e.g. by a full disk before lb_assets checked for one) fails every
later commit. With run config ``repair: true`` a step builds the dataset afresh at `rebuild_path` (from the
export, like a first run) and, once that build is published, `swap_in` renames the damaged dataset to
``<name>.damaged-<UTC time>`` and the rebuilt one to the dataset's path. If the rebuild fails, the damaged
dataset stays where it was, untouched. Renaming is a local file-system operation: repair needs a local
storage root.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

from lb_assets.errors import ConfigError
from lb_assets.store.health import local_dir

logger = logging.getLogger(__name__)


def _local(path: str) -> Path:
    directory = local_dir(path)
    if directory is None:
        raise ConfigError(
            f"repair: true needs a local storage root; {path} is remote. Copy the dataset to a local root, "
            "or delete it and run again to rebuild it"
        )
    return directory


def rebuild_path(path: str, owner: str) -> str:
    """A fresh path beside ``path`` to rebuild into (any earlier rebuild of the same owner is removed)."""
    directory = _local(path)
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", owner).strip("-")[:36] or "run"
    target = directory.with_name(f"{directory.name}.rebuild-{safe}")
    if target.exists():
        shutil.rmtree(target)
    return str(target)


def swap_in(path: str, rebuilt: str) -> str | None:
    """Move the dataset at ``path`` aside and the rebuilt one into its place; the damaged copy's path."""
    directory, fresh = _local(path), _local(rebuilt)
    aside = None
    if directory.exists():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = directory.with_name(f"{directory.name}.damaged-{stamp}")
        os.rename(directory, aside)
        logger.warning("Moved the damaged dataset %s aside to %s", directory, aside)
    os.rename(fresh, directory)
    logger.info("Rebuilt dataset swapped in at %s", directory)
    return str(aside) if aside else None
