"""In-memory state of the loopback Labelbox sandbox (one lock, no I/O).

Everything the GraphQL handlers read or change lives here: organization, user, projects with their
data rows (labels, workflow status, batch, last activity), datasets, ontologies, tasks, jobs and the
served files. Callers hold ``state.lock`` around every access.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

WORKFLOW_STATUSES = ("TO_LABEL", "IN_REVIEW", "IN_REWORK", "DONE", "SKIPPED")
TASK_NAMES = {
    "TO_LABEL": "Initial labeling task",
    "IN_REVIEW": "Initial review task",
    "IN_REWORK": "Rework",
    "DONE": "Done",
    "SKIPPED": "Skipped",
}
SDK_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def format_ts(moment: datetime) -> str:
    """Format a datetime as Labelbox does: ``YYYY-MM-DDTHH:MM:SS.sssZ`` in UTC."""
    return moment.astimezone(timezone.utc).strftime(SDK_TIME_FORMAT)[:-3] + "Z"


def parse_ts(value: str) -> datetime:
    """Parse an ISO timestamp (``Z`` or offset; naive means UTC) into an aware datetime.

    Raises:
        ValueError: if ``value`` is not ISO 8601.
    """
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Clock:
    """Wall clock in UTC with millisecond resolution that never repeats or goes back.

    Two edits in the same millisecond still get different ``last_activity_at`` values.
    """

    def __init__(self) -> None:
        self._last: datetime | None = None

    def now(self) -> datetime:
        """Next strictly increasing UTC time, truncated to milliseconds."""
        moment = datetime.now(timezone.utc)
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        if self._last is not None and moment <= self._last:
            moment = self._last + timedelta(milliseconds=1)
        self._last = moment
        return moment

    def observe(self, moment: datetime) -> None:
        """Make later ``now()`` values come after ``moment`` (for seeded future timestamps)."""
        if self._last is None or moment > self._last:
            self._last = moment


@dataclass
class ServedFile:
    """Bytes served over HTTP at /files/<name> or /masks/<name>."""

    data: bytes
    content_type: str
    private: bool = False


@dataclass
class DataRowRecord:
    """A data row of the organization: its export row (without ``projects``) and catalog fields."""

    id: str
    row: dict[str, Any]
    dataset_id: str
    created_at: str
    updated_at: str

    @property
    def global_key(self) -> str | None:
        """The data row's global key, if any."""
        return self.row["data_row"].get("global_key")

    @property
    def external_id(self) -> str | None:
        """The data row's external id, if any."""
        return self.row["data_row"].get("external_id")

    @property
    def row_data(self) -> str | None:
        """The asset URL (or text) of the data row."""
        return self.row["data_row"].get("row_data")


@dataclass
class ProjectRow:
    """A data row's state inside one project."""

    data_row_id: str
    labels: list[dict[str, Any]]
    workflow_status: str
    batch_id: str | None
    last_activity_at: datetime


@dataclass
class Project:
    """A project: public GraphQL fields plus the sandbox's own bookkeeping."""

    fields: dict[str, Any]
    ontology_id: str | None = None
    labeling_frontend_id: str | None = None
    rows: dict[str, ProjectRow] = field(default_factory=dict)
    export_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The project id."""
        return self.fields["id"]

    @property
    def name(self) -> str:
        """The project name."""
        return self.fields["name"]


@dataclass
class Task:
    """A Labelbox task (export, upsert, batch creation)."""

    fields: dict[str, Any]
    streams: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    pending_reads: int = 0
    final_status: str = "COMPLETE"

    @property
    def id(self) -> str:
        """The task id."""
        return self.fields["id"]


@dataclass
class FailureRule:
    """An injected failure: the next ``times`` matching requests fail."""

    times: int
    mode: str = "graphql"
    status: int | None = None
    code: str = "INTERNAL_SERVER_ERROR"
    message: str = "sandbox: injected failure"


class SandboxState:
    """All sandbox data. Hold ``lock`` while reading or changing anything."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.lock = threading.RLock()
        self.clock = Clock()
        self.run_tag = uuid.uuid4().hex[:8]  # ids differ across sandboxes (the SDK caches by task id)
        self._counter = itertools.count(1)
        started = format_ts(self.clock.now())
        self.user: dict[str, Any] = {
            "id": self.new_id("user"),
            "email": "sandbox@example.com",
            "name": "Sandbox User",
            "nickname": "sandbox",
            "isExternalUser": False,
            "isViewer": False,
            "lastLoginAt": started,
            "picture": None,
            "createdAt": started,
            "updatedAt": started,
        }
        self.timezone = "UTC"
        self.org: dict[str, Any] = {
            "id": self.new_id("org"),
            "name": "Sandbox Org",
            "createdAt": started,
            "updatedAt": started,
        }
        self.iam_integrations: list[dict[str, Any]] = []
        self.projects: dict[str, Project] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.dataset_rows: dict[str, list[str]] = {}
        self.data_rows: dict[str, DataRowRecord] = {}
        self.ontologies: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, Task] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.files: dict[str, ServedFile] = {}
        self.masks: dict[str, ServedFile] = {}
        self.labeling_frontends: dict[str, dict[str, Any]] = {
            "lf-editor": {"id": "lf-editor", "name": "Editor", "description": "", "iframeUrlPath": ""},
        }
        self.operations_seen: list[str] = []
        self.files_seen: list[str] = []
        self.unsupported_operations: list[str] = []
        self.operation_failures: dict[str, FailureRule] = {}
        self.path_failures: dict[str, FailureRule] = {}
        self.export_chunk_bytes = 64 * 1024
        self.max_export_streams = 64  # older exports' streams are freed (the SDK reads a task once)
        self.expired_exports: set[str] = set()
        self.task_pending_reads = 0
        self.uploads_private = False

    # ---------------------------------------------------------------- ids and time
    def new_id(self, kind: str) -> str:
        """A fresh id such as ``proj-1a2b3c4d-7``, unique across sandboxes."""
        return f"{kind}-{self.run_tag}-{next(self._counter)}"

    def now(self) -> str:
        """The current sandbox time as a Labelbox timestamp string."""
        return format_ts(self.clock.now())

    # ---------------------------------------------------------------- files
    def put_file(self, name: str, data: bytes, content_type: str, private: bool = False) -> str:
        """Store bytes served at ``/files/<name>``; returns the absolute URL."""
        self.files[name] = ServedFile(bytes(data), content_type, private)
        return f"{self.base_url}/files/{name}"

    def file_for_url(self, url: str) -> ServedFile | None:
        """The served file behind one of the sandbox's own /files/ URLs, else None."""
        prefix = f"{self.base_url}/files/"
        if not isinstance(url, str) or not url.startswith(prefix):
            return None
        return self.files.get(url[len(prefix) :].split("?", 1)[0])

    # ---------------------------------------------------------------- catalog
    def ensure_dataset(self, dataset_id: str | None, name: str) -> dict[str, Any]:
        """The dataset with this id (created when unknown; a fresh id when None)."""
        dataset_id = dataset_id or self.new_id("ds")
        if dataset_id not in self.datasets:
            now = self.now()
            self.datasets[dataset_id] = {
                "id": dataset_id,
                "name": name,
                "description": "",
                "createdAt": now,
                "updatedAt": now,
                "rowCount": 0,
            }
            self.dataset_rows[dataset_id] = []
        return self.datasets[dataset_id]

    def global_key_owner(self, global_key: str | None) -> str | None:
        """Id of the data row that holds ``global_key`` (unique per organization), else None."""
        if not global_key:
            return None
        for record in self.data_rows.values():
            if record.global_key == global_key:
                return record.id
        return None

    def add_catalog_row(self, row: dict[str, Any], dataset_id: str) -> DataRowRecord:
        """Register a data row (export row without ``projects``) in a dataset.

        Raises:
            ValueError: if its global key belongs to another data row.
        """
        drid = row["data_row"]["id"]
        owner = self.global_key_owner(row["data_row"].get("global_key"))
        if owner is not None and owner != drid:
            raise ValueError(f"global key {row['data_row']['global_key']!r} already belongs to data row {owner}")
        now = self.now()
        record = DataRowRecord(id=drid, row=row, dataset_id=dataset_id, created_at=now, updated_at=now)
        self.data_rows[drid] = record
        rows = self.dataset_rows.setdefault(dataset_id, [])
        if drid not in rows:
            rows.append(drid)
        self.datasets[dataset_id]["rowCount"] = len(rows)
        return record

    def create_ontology(
        self, normalized: dict[str, Any], name: str, media_type: str | None, ontology_id: str | None = None
    ) -> dict[str, Any]:
        """Store an ontology (``normalized`` = ``{"tools": [...], "classifications": [...]}``)."""
        oid = ontology_id or self.new_id("onto")
        norm = {
            "tools": list(normalized.get("tools") or []),
            "classifications": list(normalized.get("classifications") or []),
        }
        now = self.now()
        self.ontologies[oid] = {
            "id": oid,
            "name": name,
            "description": "",
            "createdAt": now,
            "updatedAt": now,
            "normalized": copy.deepcopy(norm),
            "mediaType": media_type,
            "objectSchemaCount": len(norm["tools"]),
            "classificationSchemaCount": len(norm["classifications"]),
        }
        return self.ontologies[oid]

    def create_project(
        self,
        name: str,
        media_type: str | None,
        ontology_id: str | None = None,
        project_id: str | None = None,
        **overrides: Any,
    ) -> Project:
        """Store a new project with every field ``GetProjectPyApi`` selects."""
        pid = project_id or self.new_id("proj")
        now = self.now()
        fields: dict[str, Any] = {
            "id": pid,
            "name": name,
            "description": "",
            "createdAt": now,
            "updatedAt": now,
            "setupComplete": None,
            "lastActivityTime": now,
            "autoAuditNumberOfLabels": 1,
            "autoAuditPercentage": 1.0,
            "allowedMediaType": media_type,
            "editorTaskType": None,
            "dataRowCount": 0,
            "modelSetupComplete": False,
            "uploadType": "MANUAL",
            "isBenchmarkEnabled": False,
            "isConsensusEnabled": False,
        }
        fields.update(overrides)
        project = Project(
            fields=fields, ontology_id=ontology_id, labeling_frontend_id="lf-editor" if ontology_id else None
        )
        self.projects[pid] = project
        return project

    # ---------------------------------------------------------------- tasks
    def add_task(self, kind: str, name: str, status: str = "COMPLETE", result: str | None = None) -> Task:
        """Create a task; with ``task_pending_reads`` it starts IN_PROGRESS for that many reads."""
        tid = self.new_id("task")
        now = self.now()
        task = Task(
            fields={
                "id": tid,
                "type": kind,
                "name": name,
                "status": status,
                "completionPercentage": 1.0,
                "createdAt": now,
                "updatedAt": now,
                "result": result,
                "errors": None,
                "metadata": None,
            }
        )
        if self.task_pending_reads > 0:
            task.pending_reads, task.final_status = self.task_pending_reads, status
            task.fields.update(status="IN_PROGRESS", completionPercentage=0.0)
        self.tasks[tid] = task
        return task

    def project_or_none(self, project_id: str | None) -> Project | None:
        """The project with this id, or None."""
        return self.projects.get(project_id) if project_id else None

    def touch_project(self, project: Project, moment: datetime) -> None:
        """Record activity on a project (``lastActivityTime``/``updatedAt``)."""
        stamp = format_ts(moment)
        project.fields["lastActivityTime"] = stamp
        project.fields["updatedAt"] = stamp
        project.fields["dataRowCount"] = len(project.rows)


def public_copy(fields: dict[str, Any]) -> dict[str, Any]:
    """A deep copy safe to hand to a response (handlers never leak internal objects)."""
    return copy.deepcopy(fields)
