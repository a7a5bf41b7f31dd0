"""The loopback Labelbox API sandbox: an HTTP server the unmodified labelbox SDK 7.17.0 talks to.

``POST /graphql`` and ``/_gql`` dispatch on the GraphQL operation name; ``GET``/``HEAD`` serve
``/files/<name>`` (public or bearer-protected), ``/masks/<name>`` (bearer-protected) and export chunks
``/exports/...``. Errors are always HTTP 200 GraphQL errors with an ``extensions.code`` (the SDK
retries 5xx for two minutes), unless a test injected an HTTP failure.
"""

from __future__ import annotations

import copy
import logging
import threading
from datetime import datetime
from typing import Any

from lb_assets.sandbox import http_files
from lb_assets.sandbox.http_handler import SandboxHTTPServer, SandboxRequestHandler
from lb_assets.sandbox.operations import OPERATIONS, GraphQLError, Request, raise_unsupported
from lb_assets.sandbox.operations_export import export_chunk
from lb_assets.sandbox.selection import missing_fields
from lb_assets.sandbox.state import (
    WORKFLOW_STATUSES,
    FailureRule,
    Project,
    ProjectRow,
    SandboxState,
    ServedFile,
    parse_ts,
)

logger = logging.getLogger(__name__)

TESTED_SDK_AGENTS = ("python-sdk 7.17.0",)
FAILURE_MODES = ("graphql", "http500", "http429")
DEFAULT_CLIENT_KEY = "sandbox-key"


class LabelboxSandbox:
    """A loopback Labelbox API for the real labelbox SDK (see docs/architecture.md).

    Args:
        api_key: when set, every GraphQL request must carry ``Authorization: Bearer <api_key>``
            (otherwise ``AUTHENTICATION_ERROR``); private files and masks require it too.
        host: interface to bind (loopback by default).
        port: TCP port; 0 picks a free one.
        strict: check every response holds all fields the SDK selected.
    """

    def __init__(self, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0, strict: bool = True) -> None:
        self.api_key = api_key
        self.strict = strict
        self.response_delay = 0.0
        self._httpd = SandboxHTTPServer((host, port), SandboxRequestHandler)
        self._httpd.sandbox = self
        advertised = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.base_url = f"http://{advertised}:{self._httpd.server_address[1]}"
        self.endpoint = f"{self.base_url}/graphql"
        self.state = SandboxState(self.base_url)
        self._thread: threading.Thread | None = None
        self._warned_agents: set[str] = set()
        self._default_batches: dict[str, str] = {}
        self._default_datasets: dict[str, str] = {}
        self.demo_projects: dict[str, str] = {}  # set by the ``lb_demo_sandbox`` fixture: ``load_demo()``'s result

    # ----------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    def start(self) -> LabelboxSandbox:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"lb-sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
            logger.debug("sandbox: serving %s", self.endpoint)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until KeyboardInterrupt."""
        self._httpd.serve_forever(poll_interval=0.2)

    def __enter__(self) -> LabelboxSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- clients
    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``labelbox.Client(**kw)`` bound to this sandbox."""
        return {
            "api_key": self.api_key or DEFAULT_CLIENT_KEY,
            "endpoint": self.endpoint,
            "rest_endpoint": f"{self.base_url}/api/v1",
            "app_url": self.base_url,
        }

    def client(self) -> Any:
        """A ``labelbox.Client`` bound to the sandbox."""
        import labelbox

        return labelbox.Client(**self.client_kwargs())

    # ----------------------------------------------------------------- knobs
    @property
    def export_chunk_bytes(self) -> int:
        """Approximate size of export stream chunks (cut on the next newline); 0 = one chunk."""
        return self.state.export_chunk_bytes

    @export_chunk_bytes.setter
    def export_chunk_bytes(self, value: int) -> None:
        self.state.export_chunk_bytes = int(value)

    @property
    def iam_integrations(self) -> list[dict[str, Any]]:
        """The organization's IAM integrations (``getAllIntegrationsPyApi`` items); assign a list."""
        return self.state.iam_integrations

    @iam_integrations.setter
    def iam_integrations(self, value: list[dict[str, Any]]) -> None:
        with self.state.lock:
            self.state.iam_integrations = [self._iam_integration(item) for item in value]

    def _iam_integration(self, item: dict[str, Any]) -> dict[str, Any]:
        now = self.state.now()
        full = {
            "id": self.state.new_id("iam"),
            "name": "sandbox-signer",
            "provider": "AWS",
            "isOrgDefault": False,
            "valid": True,
            "createdAt": now,
            "updatedAt": now,
            "lastValidAt": now,
            "settings": {"__typename": "AwsIamIntegrationSettings", "roleArn": "arn:aws:iam::000000000000:role/x"},
        }
        full.update(item)
        return full

    @property
    def task_pending_reads(self) -> int:
        """New tasks start IN_PROGRESS and complete after this many task reads (0 = complete at once)."""
        return self.state.task_pending_reads

    @task_pending_reads.setter
    def task_pending_reads(self, value: int) -> None:
        self.state.task_pending_reads = int(value)

    @property
    def files_seen(self) -> list[str]:
        """Paths of the files, masks and export chunks asked for, in order (a copy)."""
        with self.state.lock:
            return list(self.state.files_seen)

    @property
    def operations_seen(self) -> list[str]:
        """Names of the GraphQL operations served, in order (a copy)."""
        with self.state.lock:
            return list(self.state.operations_seen)

    @property
    def unsupported_operations(self) -> list[str]:
        """Operation names the sandbox could not serve (a copy)."""
        with self.state.lock:
            return list(self.state.unsupported_operations)

    def fail_operation(
        self,
        operation: str,
        times: int = 1,
        mode: str = "graphql",
        status: int | None = None,
        code: str = "INTERNAL_SERVER_ERROR",
        message: str | None = None,
    ) -> None:
        """Make the next ``times`` requests of ``operation`` fail.

        Args:
            operation: GraphQL operation name, e.g. ``"exportDataRowsInProjectPyApi"``.
            times: how many requests fail; later ones succeed.
            mode: ``"graphql"`` (HTTP 200 error with ``code``/``status``), ``"http500"`` (HTTP ``status``,
                default 500: the SDK retries) or ``"http429"`` (rate limited: the SDK raises ApiLimitError).
            status: ``extensions.exception.status`` for graphql mode (default 500 -> LabelboxError,
                400 -> InvalidQueryError, 503 -> InternalServerError, which the SDK retries), or the
                HTTP status for http500 mode.
            code: ``extensions.code`` for graphql mode.
            message: error message for graphql mode.
        """
        if mode not in FAILURE_MODES:
            raise ValueError(f"fail_operation mode must be one of {FAILURE_MODES}, got {mode!r}")
        with self.state.lock:
            self.state.operation_failures[operation] = FailureRule(
                times=times,
                mode=mode,
                status=status if status is not None else 500,
                code=code,
                message=message or f"sandbox: injected failure of {operation}",
            )

    def fail_path(self, prefix: str, times: int = 1, status: int = 500) -> None:
        """Make the next ``times`` GET/HEAD requests whose path starts with ``prefix`` answer ``status``."""
        with self.state.lock:
            self.state.path_failures[prefix] = FailureRule(times=times, mode="http", status=status)

    # ----------------------------------------------------------------- seeding
    def add_file(
        self, name: str, data: bytes, content_type: str = "application/octet-stream", private: bool = False
    ) -> str:
        """Serve ``data`` at ``/files/<name>`` (GET/HEAD with ranges); returns its URL.

        Private files (Labelbox-hosted media) require ``Authorization: Bearer <api_key>``.
        """
        with self.state.lock:
            return self.state.put_file(name, data, content_type, private)

    def add_redirect(self, name: str, target_url: str, private: bool = False) -> str:
        """Answer GET/HEAD of ``/files/<name>`` with ``302 Location: target_url``; returns its URL.

        ``private`` redirects require the bearer key first (like Labelbox-hosted media that redirects
        to signed storage URLs).
        """
        data, content_type = http_files.redirect_body(target_url)
        with self.state.lock:
            return self.state.put_file(name, data, content_type, private)

    def add_mask(self, name: str, png_bytes: bytes) -> str:
        """Serve a mask PNG at ``/masks/<name>`` (bearer key required); returns its URL."""
        with self.state.lock:
            self.state.masks[name] = ServedFile(bytes(png_bytes), "image/png", private=True)
        return f"{self.base_url}/masks/{name}"

    def add_ontology(
        self,
        normalized: dict[str, Any],
        name: str = "Ontology",
        media_type: str | None = "VIDEO",
        ontology_id: str | None = None,
    ) -> str:
        """Store an ontology given as ``{"tools": [...], "classifications": [...]}``; returns its id."""
        with self.state.lock:
            return self.state.create_ontology(normalized, name, media_type, ontology_id)["id"]

    def add_project(
        self, name: str, media_type: str = "VIDEO", ontology_id: str | None = None, project_id: str | None = None
    ) -> str:
        """Create a project (connected to ``ontology_id`` if given); returns its id.

        Raises:
            ValueError: the ontology is unknown or the project id is taken.
        """
        with self.state.lock:
            if ontology_id is not None and ontology_id not in self.state.ontologies:
                raise ValueError(f"sandbox: ontology {ontology_id!r} does not exist (add_ontology first)")
            if project_id is not None and project_id in self.state.projects:
                raise ValueError(f"sandbox: project {project_id!r} already exists")
            return self.state.create_project(name, media_type, ontology_id, project_id).id

    def add_dataset(self, name: str, dataset_id: str | None = None) -> str:
        """Create a dataset; returns its id."""
        with self.state.lock:
            return self.state.ensure_dataset(dataset_id, name)["id"]

    def add_data_row(
        self,
        project_id: str,
        row: dict[str, Any],
        labels: list[dict[str, Any]] | None = None,
        workflow_status: str = "DONE",
        batch_id: str | None = None,
    ) -> str:
        """Add a data row to a project; returns the data row id.

        Args:
            project_id: the project.
            row: export-v2 row without ``projects`` (``data_row`` needs ``row_data``; ``id`` is
                generated when absent; ``data_row.details.dataset_id``/``dataset_name`` choose the
                dataset, ``details.last_activity_at`` the initial activity time).
            labels: export-v2 labels, stored as-is.
            workflow_status: one of TO_LABEL, IN_REVIEW, IN_REWORK, DONE, SKIPPED.
            batch_id: the batch (a per-project default batch when None).

        Raises:
            ValueError: unknown project, bad status, missing ``data_row``, or a global key already used.
        """
        _check_status(workflow_status)
        row = copy.deepcopy(row)
        if row.pop("projects", None) is not None:
            logger.debug("sandbox: add_data_row ignores the given 'projects' block")
        data_row = row.get("data_row")
        if not isinstance(data_row, dict) or "row_data" not in data_row:
            raise ValueError(f"sandbox: add_data_row({project_id!r}) needs row['data_row']['row_data']")
        with self.state.lock:
            project = self._project(project_id)
            drid = data_row.setdefault("id", self.state.new_id("dr"))
            details = data_row.get("details") or {}
            dataset_id = details.get("dataset_id") or self._default_dataset(project_id)
            self.state.ensure_dataset(dataset_id, details.get("dataset_name") or f"{project.name} data")
            owner = self.state.global_key_owner(data_row.get("global_key"))
            if owner is not None and owner != drid:
                raise ValueError(
                    f"sandbox: add_data_row({project_id!r}, {drid!r}): global key "
                    f"{data_row['global_key']!r} already belongs to data row {owner}"
                )
            existing = self.state.data_rows.get(drid)
            if existing is not None:  # the same data row in another project, or re-added
                existing.row, existing.updated_at = row, self.state.now()
            else:
                self.state.add_catalog_row(row, dataset_id)
            batch = batch_id or self._default_batch(project_id)
            self.state.batches.setdefault(batch, {"id": batch, "name": batch, "priority": 5, "project_id": project_id})
            activity = self._initial_activity(details)
            project.rows[drid] = ProjectRow(drid, copy.deepcopy(list(labels or [])), workflow_status, batch, activity)
            self.state.touch_project(project, activity)
            return drid

    def set_labels(self, project_id: str, data_row_id: str, labels: list[dict[str, Any]]) -> None:
        """Replace a data row's labels in a project (add/edit/delete); bumps ``last_activity_at``."""
        with self.state.lock:
            row = self._row(project_id, data_row_id)
            row.labels = copy.deepcopy(list(labels))
            row.last_activity_at = self.state.clock.now()
            self.state.touch_project(self.state.projects[project_id], row.last_activity_at)

    def set_workflow_status(self, project_id: str, data_row_id: str, status: str) -> None:
        """Move a data row to another workflow status; bumps ``last_activity_at``."""
        _check_status(status)
        with self.state.lock:
            row = self._row(project_id, data_row_id)
            row.workflow_status = status
            row.last_activity_at = self.state.clock.now()
            self.state.touch_project(self.state.projects[project_id], row.last_activity_at)

    def labels(self, project_id: str, data_row_id: str) -> list[dict[str, Any]]:
        """A copy of a data row's labels in a project."""
        with self.state.lock:
            return copy.deepcopy(self._row(project_id, data_row_id).labels)

    def workflow_status(self, project_id: str, data_row_id: str) -> str:
        """A data row's workflow status in a project."""
        with self.state.lock:
            return self._row(project_id, data_row_id).workflow_status

    def last_activity_at(self, project_id: str, data_row_id: str) -> datetime:
        """A data row's last activity time in a project (aware UTC datetime)."""
        with self.state.lock:
            return self._row(project_id, data_row_id).last_activity_at

    def data_row_ids(self, project_id: str) -> list[str]:
        """The project's data row ids, in insertion order."""
        with self.state.lock:
            return list(self._project(project_id).rows)

    def set_export_errors(self, project_id: str, errors: list[dict[str, Any]]) -> None:
        """Lines every later export of the project puts on its ERRORS stream."""
        with self.state.lock:
            self._project(project_id).export_errors = copy.deepcopy(list(errors))

    def load_demo(self, seed: int = 0) -> dict[str, str]:
        """Install the deterministic demo projects; returns ``{"video": pid, "image": pid}``."""
        from lb_assets.sandbox.demo import build_demo, install_demo

        return install_demo(self, build_demo(seed))

    # ----------------------------------------------------------------- internals
    def _project(self, project_id: str) -> Project:
        project = self.state.projects.get(project_id)
        if project is None:
            raise ValueError(f"sandbox: project {project_id!r} does not exist")
        return project

    def _row(self, project_id: str, data_row_id: str) -> ProjectRow:
        row = self._project(project_id).rows.get(data_row_id)
        if row is None:
            raise ValueError(f"sandbox: data row {data_row_id!r} is not in project {project_id!r}")
        return row

    def _default_batch(self, project_id: str) -> str:
        if project_id not in self._default_batches:
            self._default_batches[project_id] = self.state.new_id("batch")
        return self._default_batches[project_id]

    def _default_dataset(self, project_id: str) -> str:
        if project_id not in self._default_datasets:
            self._default_datasets[project_id] = self.state.new_id("ds")
        return self._default_datasets[project_id]

    def _initial_activity(self, details: dict[str, Any]) -> datetime:
        given = details.get("last_activity_at")
        if isinstance(given, str):
            try:
                moment = parse_ts(given)
            except ValueError:
                logger.warning("sandbox: ignoring unparseable last_activity_at %r", given)
            else:
                return moment
        return self.state.clock.now()

    def _lookup_served(self, path: str) -> ServedFile | None:
        with self.state.lock:
            self.state.files_seen.append(path)
            if path.startswith("/files/"):
                return self.state.files.get(path[len("/files/") :])
            if path.startswith("/masks/"):
                return self.state.masks.get(path[len("/masks/") :])
            if path.startswith("/exports/"):
                data = export_chunk(self.state, path)
                return ServedFile(data, "application/x-ndjson") if data is not None else None
        return None

    def _take_path_failure(self, path: str) -> int | None:
        with self.state.lock:
            for prefix, rule in self.state.path_failures.items():
                if path.startswith(prefix) and rule.times > 0:
                    rule.times -= 1
                    return rule.status
        return None

    def _take_operation_failure(self, name: str | None) -> FailureRule | None:
        """Consume one injected failure of ``name``: HTTP rules are returned, graphql ones raised."""
        with self.state.lock:
            self.state.operations_seen.append(str(name))
            rule = self.state.operation_failures.get(name or "")
            if rule is None or rule.times <= 0:
                return None
            rule.times -= 1
        if rule.mode == "graphql":
            raise GraphQLError(rule.message, rule.code, rule.status)
        return rule

    def _execute(
        self,
        name: str | None,
        query: str,
        variables: dict[str, Any],
        files: dict[str, tuple[bytes, str | None, str | None]],
    ) -> dict[str, Any]:
        handler = OPERATIONS.get(name or "")
        with self.state.lock:
            if handler is None:
                self.state.unsupported_operations.append(str(name))
                logger.warning("sandbox: unsupported operation %r", name)
                raise_unsupported(name)
            data = handler(Request(self.state, str(name), query, variables, files))
        if self.strict:
            gaps = missing_fields(query, data)
            if gaps:
                logger.error("sandbox: %s response lacks selected fields %s", name, gaps)
                raise GraphQLError(
                    f"sandbox: {name} response lacks selected fields {gaps}", "SANDBOX_INCOMPLETE_RESPONSE"
                )
        return data

    def _warn_untested_agent(self, agent: str) -> None:
        if agent and agent not in TESTED_SDK_AGENTS and agent not in self._warned_agents:
            self._warned_agents.add(agent)
            logger.warning("sandbox: untested client %r (tested with %s)", agent, ", ".join(TESTED_SDK_AGENTS))


def _check_status(status: str) -> None:
    if status not in WORKFLOW_STATUSES:
        raise ValueError(f"sandbox: workflow status must be one of {WORKFLOW_STATUSES}, got {status!r}")


def serve(
    host: str = "127.0.0.1", port: int = 8765, api_key: str | None = None, demo: bool = True, seed: int = 0
) -> None:
    """Run the sandbox in the foreground until interrupted (the ``lb-assets sandbox`` command).

    Args:
        host: interface to bind.
        port: TCP port (0 = any free port).
        api_key: key clients must send (None accepts any key).
        demo: load the demo projects.
        seed: demo seed.
    """
    sandbox = LabelboxSandbox(api_key=api_key, host=host, port=port)
    try:
        if demo:
            projects = sandbox.load_demo(seed=seed)
            logger.info("Labelbox sandbox demo projects: %s", projects)
        logger.info("Labelbox sandbox serving at %s", sandbox.endpoint)
        # the sandbox key is a local test key chosen by the user, not a Labelbox secret
        logger.info(
            "Use LABELBOX_ENDPOINT=%s LABELBOX_API_KEY=%s",
            sandbox.endpoint,
            api_key if api_key is not None else f"<any> (e.g. {DEFAULT_CLIENT_KEY})",
        )
        sandbox.serve_forever()
    except KeyboardInterrupt:
        logger.info("Labelbox sandbox stopped")
    finally:
        sandbox.stop()
