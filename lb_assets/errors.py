"""Exceptions raised by lb_assets. Each names the project, data row, file or setting at fault."""

from __future__ import annotations


class LbAssetsError(Exception):
    """Base class of every error lb_assets raises on purpose."""


class ConfigError(LbAssetsError):
    """A setting (resource field, run config, projects file) is missing or invalid."""


class LabelboxOperationError(LbAssetsError):
    """A Labelbox API call failed; names the operation and the project."""

    def __init__(self, operation: str, project_id: str | None, reason: str) -> None:
        self.operation = operation
        self.project_id = project_id
        self.reason = reason
        where = f" for project {project_id}" if project_id else ""
        super().__init__(f"Labelbox {operation}{where} failed: {reason}")


class LabelboxAuthError(LabelboxOperationError):
    """The API key was rejected (or lacks permission)."""


class LabelboxNotFoundError(LabelboxOperationError):
    """The project, ontology or dataset does not exist (or is not visible to the key)."""


class LabelboxRateLimitError(LabelboxOperationError):
    """Labelbox kept answering 429 after the SDK's retries."""


class ExportRowError(LbAssetsError):
    """An export row cannot be parsed; names the row and the data row id."""

    def __init__(self, message: str, *, row_index: int | None = None, data_row_id: str | None = None) -> None:
        self.row_index = row_index
        self.data_row_id = data_row_id
        parts = []
        if row_index is not None:
            parts.append(f"export row {row_index}")
        if data_row_id:
            parts.append(f"data row {data_row_id}")
        prefix = (", ".join(parts) + ": ") if parts else ""
        super().__init__(prefix + message)


class MediaError(LbAssetsError):
    """Media (video, image, mask) could not be fetched or decoded. Sources are redacted."""


class PermanentMediaError(MediaError):
    """Media that no retry can fix: HTTP 4xx, undecodable or empty files, decompression bombs, refused paths."""


class FrameCountMismatchError(MediaError):
    """Decoded frames differ from Labelbox's media_attributes.frame_count."""


class UnknownAnnotationError(LbAssetsError):
    """An annotation names a tool or kind the ontology plan does not know (strict mode)."""


class SchemaClashError(LbAssetsError):
    """Two ontology features map to one Deep Lake column with different kinds, or a name is taken."""


class IncompatibleDatasetsError(LbAssetsError):
    """The annotation dataset cannot be combined with the frame dataset (length, metadata or keys)."""


class StorageWriteError(LbAssetsError):
    """Writing a dataset or file under the storage root failed (disk full, I/O error, a damaged Deep Lake log).

    Names the dataset path and the likely cause; a retry cannot fix it, so the step fails at once.
    """


class LeaseHeldError(LbAssetsError):
    """Another run holds the one-writer lease of a dataset or export; names the holder."""


class UnverifiedWriteError(StorageWriteError):
    """A staged write failed its checks before the commit (row count, empty or duplicate row keys)."""
