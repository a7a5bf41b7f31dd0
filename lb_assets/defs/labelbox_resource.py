"""``LabelboxResource``: the Dagster face of ``lb_assets.labelbox`` (thin; the core modules do the work).

Wire it with ``LabelboxResource(api_key=dg.EnvVar("LABELBOX_API_KEY"))`` so the UI shows the variable name,
never the key. Error messages raised here have the key scrubbed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import dagster as dg
from pydantic import PrivateAttr

from lb_assets.errors import LabelboxOperationError, LbAssetsError
from lb_assets.labelbox.client import make_client
from lb_assets.labelbox.export import ExportFilters, ExportSummary, export_project
from lb_assets.labelbox.ontology import fetch_ontology
from lb_assets.labelbox.overview import ProjectOverview, fetch_overview
from lb_assets.labelbox.upload import UploadResult, create_annotation_project, default_global_key
from lb_assets.redact import redact_text


class LabelboxResource(dg.ConfigurableResource):
    """Labelbox API access for assets and sensors.

    Attributes:
        api_key: Labelbox API key (use ``EnvVar("LABELBOX_API_KEY")``).
        endpoint: GraphQL endpoint; None falls back to ``$LABELBOX_ENDPOINT``, then Labelbox's.
        timeout_seconds: timeout of each API request.
    """

    api_key: str
    endpoint: Optional[str] = None
    timeout_seconds: float = 60.0
    _clients: dict[float, Any] = PrivateAttr(default_factory=dict)
    _clients_lock: Any = PrivateAttr(default_factory=threading.Lock)

    def secrets(self) -> tuple[str, ...]:
        """What errors, logs and metadata must never show."""
        return (self.api_key,) if self.api_key else ()

    @contextmanager
    def _scrubbed(self) -> Iterator[None]:
        """Re-raise lb_assets errors with the API key removed from the message (defence in depth)."""
        try:
            yield
        except LbAssetsError as exc:
            text = str(exc)
            clean = redact_text(text, [self.api_key])
            if clean != text:
                exc.args = (clean,)
                if isinstance(exc, LabelboxOperationError):
                    exc.reason = redact_text(exc.reason, [self.api_key])
            raise

    def get_client(self, timeout_seconds: Optional[float] = None) -> Any:
        """The ``labelbox.Client`` for this resource's key and endpoint (built once per timeout, then reused)."""
        timeout = float(timeout_seconds or self.timeout_seconds)
        with self._clients_lock, self._scrubbed():
            if timeout not in self._clients:
                self._clients[timeout] = make_client(self.api_key, self.endpoint, timeout)
            return self._clients[timeout]

    def export_project(
        self, project_id: str, dest: Path, filters: ExportFilters | None = None, interpolated_frames: bool = False
    ) -> ExportSummary:
        """Export a project to an NDJSON file (see ``lb_assets.labelbox.export.export_project``)."""
        with self._scrubbed():
            return export_project(self.get_client(), project_id, Path(dest), filters, interpolated_frames)

    def fetch_ontology(self, ontology_id: str) -> dict[str, Any]:
        """The ontology's normalized JSON."""
        with self._scrubbed():
            return fetch_ontology(self.get_client(), ontology_id)

    def get_overview(self, project_id: str, timeout_seconds: Optional[float] = None) -> ProjectOverview:
        """The project's workflow counts.

        Args:
            project_id: the project.
            timeout_seconds: timeout of each HTTP request of this call (default ``self.timeout_seconds``);
                the sensor passes a short one so a hanging Labelbox cannot hold it.
        """
        client = self.get_client(timeout_seconds)
        with self._scrubbed():
            return fetch_overview(client, project_id)

    def upload_media(
        self,
        files: Sequence[str],
        lb_dataset_name: str,
        lb_project_name: str,
        lb_ontology: Any = None,
        lb_batch_priority: int = 5,
        data_upload_strategy: str = "fail",
        lb_batches_name: Optional[str] = None,
        lb_iam_integration_id: Optional[str] = "DEFAULT",
        lb_global_key_generator: Callable[[str], str] = default_global_key,
        media_type: str = "VIDEO",
    ) -> UploadResult:
        """Upload media and set up the annotation project (see ``create_annotation_project``)."""
        with self._scrubbed():
            return create_annotation_project(
                self.get_client(),
                files,
                lb_dataset_name,
                lb_project_name,
                lb_ontology=lb_ontology,
                lb_batch_priority=lb_batch_priority,
                data_upload_strategy=data_upload_strategy,
                lb_batches_name=lb_batches_name,
                lb_iam_integration_id=lb_iam_integration_id,
                lb_global_key_generator=lb_global_key_generator,
                media_type=media_type,
            )
