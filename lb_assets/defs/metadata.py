"""Typed metadata sets: every key of a materialization in one place, with one type across runs.

In the style of dagster-dlt's metadata set (Dagster's ``NamespacedMetadataSet``, which dagster-dlt imports from
the same module): numbers stay numbers (plots on the asset page), a dataset's columns are a
``dagster/column_schema`` table schema, and the ``deeplake/*`` keys are fields here rather than strings spread
over the assets.
"""

# No `from __future__ import annotations`: the metadata sets are pydantic models, resolved at runtime.

from typing import Any, Optional

import dagster as dg
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet, TableMetadataSet


class DeepLakeMetadataSet(NamespacedMetadataSet):
    """``deeplake/*``: where a dataset write went and what it did."""

    branch: Optional[str] = None
    commit_id: Optional[str] = None  # "<branch>@<version>": version ids repeat across branches
    columns: Optional[str] = None
    size_bytes: Optional[int] = None
    published: Optional[bool] = None
    rows_added: Optional[int] = None
    rows_written: Optional[int] = None
    data_rows_added: Optional[int] = None
    data_rows_skipped: Optional[int] = None
    data_rows_resumed: Optional[int] = None
    shards: Optional[int] = None
    sources: Optional[int] = None
    frame_storage: Optional[str] = None
    rows_per_second: Optional[float] = None
    build_seconds: Optional[float] = None
    bytes_written: Optional[int] = None

    @classmethod
    def namespace(cls) -> str:
        """The key prefix."""
        return "deeplake"


def column_schema(ds: Any) -> dict[str, Any]:
    """``dagster/column_schema`` (and ``dagster/row_count``) of a Deep Lake dataset."""
    columns = [dg.TableColumn(name=str(c.name), type=str(c.dtype)) for c in ds.schema.columns]
    return dict(TableMetadataSet(column_schema=dg.TableSchema(columns=columns), row_count=len(ds)))
