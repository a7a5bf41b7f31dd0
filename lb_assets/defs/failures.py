"""Turn core exceptions into Dagster failures that name the project and step, never a secret."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

import dagster as dg

from lb_assets.errors import (
    ConfigError,
    ExportRowError,
    FrameCountMismatchError,
    IncompatibleDatasetsError,
    LabelboxAuthError,
    LabelboxNotFoundError,
    LeaseHeldError,
    PermanentMediaError,
    SchemaClashError,
    StorageWriteError,
    UnknownAnnotationError,
)
from lb_assets.redact import redact_text

# Errors a retry cannot fix: fail at once instead of spending the retry policy.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    ExportRowError,
    FrameCountMismatchError,
    IncompatibleDatasetsError,
    LabelboxAuthError,
    LabelboxNotFoundError,
    LeaseHeldError,
    PermanentMediaError,
    SchemaClashError,
    StorageWriteError,
    UnknownAnnotationError,
)


@contextlib.contextmanager
def step_errors(step: str, project_id: str | None, secrets: tuple[str | None, ...] = ()) -> Iterator[None]:
    """Re-raise any error of a step as ``dg.Failure`` naming the step and project (redacted).

    Permanent errors (bad settings, unknown data, auth) are not retried; others (network, Labelbox 5xx,
    media download) go through the asset's RetryPolicy.
    """
    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        where = f" for project {project_id}" if project_id else ""
        known = [s for s in secrets if s]
        message = redact_text(f"{type(exc).__name__}: {exc}", known)
        # `from None`: Dagster stores an exception's whole cause chain unredacted; the redacted traceback
        # goes into the failure's metadata instead.
        raise dg.Failure(
            description=f"Step {step}{where} failed: {message}",
            metadata={
                "labelbox/project_id": project_id or "",
                "lb_assets/step": step,
                "error": type(exc).__name__,
                "lb_assets/traceback": dg.MetadataValue.text(redact_text(traceback.format_exc(), known)),
            },
            allow_retries=not isinstance(exc, PERMANENT_ERRORS),
        ) from None
