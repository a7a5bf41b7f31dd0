"""The pipeline core: export rows -> data rows -> converted rows, shared by the Dagster assets and the seed API.

Knows nothing of Dagster. ``lb_assets.defs`` (the assets) and ``lb_assets.integrations`` (Deep Lake's documented
functions) both read data rows, choose the ontology, build the column plan and convert rows through these
functions, so one concept lives in one place (the ontology an export names:
`lb_assets.labelbox.ontology.ontology_id_from_export`):

* `read_infos`: every data row of an export (a file or the rows in memory) parsed once, a duplicated data row
  id read from its later row;
* `column_plan`: the Deep Lake column plan of a normalized ontology;
* `iter_converted`: each data row converted, one at a time (bounded memory);
* `FetcherMaskSource`: mask PNGs through a `lb_assets.media.fetch.MediaFetcher` (auth, retries, redaction).

The store side (frame build, annotations, staging and publishing) is `lb_assets.store`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lb_assets.convert.convert import ConvertedRow, convert_data_row
from lb_assets.convert.ontology import OntologyPlan, build_plan
from lb_assets.convert.rows import DataRowInfo, parse_row
from lb_assets.labelbox.export import iter_unique_rows

#: An export file or its rows in memory; a sequence, not any iterable: `iter_unique_rows` reads it twice.
ExportRows = Path | str | Sequence[dict[str, Any]]


def read_infos(rows: ExportRows, project_id: str, media_type: str | None = None) -> list[DataRowInfo]:
    """Parse each data row once, in export order (``media_type``: the default for rows that name none)."""
    source = Path(rows) if isinstance(rows, str) else rows
    return [parse_row(row, project_id, i, default_media_type=media_type) for i, row in iter_unique_rows(source)]


def column_plan(
    normalized: dict[str, Any],
    media_type: str,
    group_mapping: dict[str, str] | None = None,
    meta_prefix: str = "lb_meta",
) -> OntologyPlan:
    """The column plan of a normalized ontology."""
    return build_plan(normalized, media_type, group_mapping=group_mapping or None, meta_prefix=meta_prefix)


def iter_converted(
    rows: ExportRows,
    project_id: str,
    plan: OntologyPlan,
    *,
    policy: str = "latest",
    strict: bool = False,
    masks: Any | None = None,
    media_type: str | None = None,
) -> Iterator[ConvertedRow]:
    """Convert each data row once, one at a time; with ``media_type``, rows of another media type are skipped."""
    source = Path(rows) if isinstance(rows, str) else rows
    for i, row in iter_unique_rows(source):
        info = parse_row(row, project_id, i, default_media_type=media_type)
        if media_type is not None and info.media_type != media_type:
            continue
        yield convert_data_row(info, plan, policy=policy, masks=masks, strict=strict)


class FetcherMaskSource:
    """``lb_assets.convert.masks.MaskSource`` over a ``MediaFetcher`` (auth, retries, timeouts, redaction)."""

    def __init__(self, fetcher: Any) -> None:
        self.fetcher = fetcher

    def fetch(self, url: str) -> bytes:
        """The mask PNG bytes."""
        return self.fetcher.fetch_bytes(url)
