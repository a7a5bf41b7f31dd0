"""The annotated branch of a frame dataset, kept in step with main.

Annotations live on a branch (``labelbox`` by default) so that main holds only frames. When main gains rows
(a refresh appended new data rows), `sync_branch` merges main into the branch with deeplake 4.7.4's
``Dataset.merge(branch_name)``: the new rows arrive with empty annotation columns (filled by the next
`lb_assets.store.annotations.apply_annotations`) and every existing branch value is kept. Branching and
merging copy no data (a few ms on 655 MB, per the performance baseline). Dataset metadata
(``labelbox_meta``) is shared by every branch in deeplake 4.7.4.
"""

from __future__ import annotations

import logging
from typing import Any

from lb_assets.errors import IncompatibleDatasetsError
from lb_assets.store.row_keys import read_row_keys

logger = logging.getLogger(__name__)

DEFAULT_BRANCH = "labelbox"


def branch_names(ds: Any) -> list[str]:
    """Names of the dataset's branches."""
    return [str(n) for n in ds.branches.names()]


def current_branch(ds: Any) -> str:
    """Name of the branch ``ds`` is on."""
    return str(ds.current_branch.name)


def ensure_branch(ds: Any, name: str = DEFAULT_BRANCH, sync: bool = True) -> Any:
    """Open branch ``name`` of ``ds``, creating it from ``ds``'s branch (main) when missing.

    Args:
        ds: The frame dataset (on main, or already on the branch).
        name: Branch name.
        sync: Merge the source branch into it when the source has rows the branch lacks (`sync_branch`).

    Returns:
        A writable dataset on branch ``name``.
    """
    if current_branch(ds) == name:
        branch = ds
        source = "main"
    else:
        source = current_branch(ds)
        if name not in branch_names(ds):
            ds.branch(name)
            logger.info("Created branch %r from %r at %s", name, source, ds.version)
        branch = ds.branches[name].open()
    if sync and source != name and source in branch_names(branch):
        sync_branch(branch, source)
    return branch


def sync_branch(branch: Any, source: str = "main") -> bool:
    """Merge ``source`` into ``branch`` when ``source`` has row keys the branch lacks.

    Args:
        branch: A dataset opened on the branch to update (no uncommitted changes).
        source: The branch to take new rows from.

    Returns:
        True when a merge happened.

    Raises:
        IncompatibleDatasetsError: After the merge the branch still lacks rows of ``source``.
    """
    source_ds = branch.branches[source].open()
    source_keys = read_row_keys(source_ds)
    branch_keys = set(read_row_keys(branch))
    missing = [k for k in source_keys if k not in branch_keys]
    if not missing:
        return False
    name = current_branch(branch)
    logger.info("Merging %d new rows of %r into branch %r", len(missing), source, name)
    branch.merge(source, message=f"lb_assets: merge {len(missing)} new rows of {source} into {name}")
    after = set(read_row_keys(branch))
    still = [k for k in source_keys if k not in after]
    if still:
        raise IncompatibleDatasetsError(
            f"branch {name!r} still lacks {len(still)} rows of {source!r} after merging (e.g. {still[0]})"
        )
    return True
