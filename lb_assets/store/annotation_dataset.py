"""A separate annotation dataset, row for row with a frame dataset (the seed docs' "keep the annotations in a
separate dataset": same length, same ``labelbox_meta``).

It holds ``row_key`` + annotation + ``lb_meta`` columns only, in the frame dataset's row order, with the frame
dataset's ``labelbox_meta``. Re-writing it after labels changed is a new commit (earlier commits stay readable
through ``ds.history[version].open()``). When the frame dataset gained rows, they are appended (empty) before
the rewrite; any other difference in row keys is an error unless ``overwrite=True``. Keys are compared and
appended in bounded chunks and the columns are written by `apply_annotations` through its bounded window, so
memory stays flat as projects grow. Combine the two with `lb_assets.store.combine` (a TQL JOIN on ``row_key``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from lb_assets.convert.convert import ConvertedRow
from lb_assets.convert.ontology import OntologyPlan
from lb_assets.errors import IncompatibleDatasetsError
from lb_assets.redact import redact_url
from lb_assets.store import schema
from lb_assets.store.annotations import ApplyResult, apply_annotations
from lb_assets.store.atomic import META_KEY, atomic, read_meta
from lb_assets.store.datasets import open_or_create
from lb_assets.store.row_keys import iter_key_chunks

logger = logging.getLogger(__name__)

_READ = object()  # write_annotations_into: read the frame dataset's labelbox_meta itself


def _align_rows(ann: Any, frames_ds: Any, path: str) -> int:
    """Append the frame dataset's rows the annotation dataset lacks; return how many.

    Keys are compared and appended in chunks of `KEY_READ_ROWS` rows, so memory does not grow with the
    dataset.
    """
    schema.ensure_column(ann, schema.ROW_KEY, schema.frame_columns("image")[schema.ROW_KEY], "row key")
    have, total = len(ann), len(frames_ds)
    if total and schema.column_type(frames_ds, schema.ROW_KEY) is None:
        raise IncompatibleDatasetsError(
            "the frame dataset has no 'row_key' column: build it with lb_assets.store.frames"
        )
    if have > total:
        raise IncompatibleDatasetsError(
            f"annotation dataset {redact_url(path)} has more rows than the frame dataset ({have} vs {total}); "
            "rewrite it with overwrite=True"
        )
    for first, frame_keys in iter_key_chunks(frames_ds, 0, have):
        ann_keys = [str(k) for k in ann[schema.ROW_KEY][first : first + len(frame_keys)]]
        if ann_keys != frame_keys:
            row = first + next(i for i, (a, f) in enumerate(zip(ann_keys, frame_keys, strict=True)) if a != f)
            raise IncompatibleDatasetsError(
                f"annotation dataset {redact_url(path)} rows differ from the frame dataset from row {row} "
                f"({have} vs {total} rows); rewrite it with overwrite=True"
            )
    empties = {c.name: schema.empty_for_type(c.dtype, c.name) for c in ann.schema.columns if c.name != schema.ROW_KEY}
    for _, new in iter_key_chunks(frames_ds, have, total):
        batch: dict[str, Any] = {schema.ROW_KEY: new}
        batch.update({name: [empty] * len(new) for name, empty in empties.items()})
        ann.append(batch)
    return total - have


def write_annotation_dataset(
    path: str,
    frames_ds: Any,
    converted_rows: Iterable[ConvertedRow],
    plan: OntologyPlan,
    meta_prefix: str = "lb_meta",
    generate_metadata: bool = True,
    commit_message: str | None = None,
    creds: dict[str, str] | None = None,
    token: str | None = None,
    org_id: str | None = None,
    overwrite: bool = False,
) -> ApplyResult:
    """Write (or rewrite) the annotation dataset of ``frames_ds`` at ``path`` and commit once.

    Args:
        path: Where the annotation dataset lives (created when missing).
        frames_ds: The frame dataset (main) whose rows to mirror.
        converted_rows: `ConvertedRow` values (consumed once).
        plan: The ontology plan.
        meta_prefix: Prefix of the metadata columns.
        generate_metadata: Write ``lb_meta`` columns.
        commit_message: Commit message (default names the project and the row count).
        creds: Storage credentials (`lb_assets.store.datasets.open_or_create`).
        token: Activeloop token.
        org_id: Activeloop organisation id.
        overwrite: Start from an empty dataset (history is lost).

    Returns:
        The `ApplyResult` (``commit_id`` is the new version).

    Raises:
        IncompatibleDatasetsError: The existing dataset's rows are not a prefix of the frame dataset's.
        SchemaClashError: An existing column has another type.
    """
    ann = open_or_create(path, creds=creds, token=token, org_id=org_id, overwrite=overwrite)
    return write_annotations_into(
        ann, frames_ds, converted_rows, plan, path, meta_prefix, generate_metadata, commit_message
    )


def write_annotations_into(
    ann: Any,
    frames_ds: Any,
    converted_rows: Iterable[ConvertedRow],
    plan: OntologyPlan,
    path: str,
    meta_prefix: str = "lb_meta",
    generate_metadata: bool = True,
    commit_message: str | None = None,
    before_commit: Callable[[], None] | None = None,
    frames_meta: Any = _READ,
) -> ApplyResult:
    """Align the open annotation dataset (or a staging branch of it) with ``frames_ds``, write, commit once.

    ``path`` names the dataset in messages; ``before_commit`` runs right before the commit. ``frames_meta``: the
    frame dataset's ``labelbox_meta`` when the caller read it already (default: read it here). A caller that
    writes on another thread while a branch of the frame dataset is written reads it first: deeplake 4.7.4's
    dataset metadata is shared in the process and was seen empty while another thread committed a branch.
    """
    rows = len(frames_ds)
    meta = read_meta(frames_ds) if frames_meta is _READ else frames_meta
    project = (meta or {}).get("project_id", "?")
    with atomic(ann, f"writing the annotation dataset {redact_url(path)}"):
        added = _align_rows(ann, frames_ds, path)
        if meta is not None:
            ann.metadata[META_KEY] = meta
        message = commit_message or (
            f"lb_assets: annotations of Labelbox project {project} ({rows} rows, "
            f"{len(plan.columns)} annotation columns)"
        )
        result = apply_annotations(ann, converted_rows, plan, meta_prefix, generate_metadata, message, before_commit)
    logger.info("annotation dataset %s: %d rows (%d new), commit %s", redact_url(path), rows, added, result.commit_id)
    return result
