"""GraphQL handlers: user, organization, tasks, projects, ontologies, overview, ontology connection.

Export handlers live in ``operations_export``, dataset/upload/batch handlers in ``operations_upload``;
importing this module registers all of them in ``OPERATIONS``.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any, NoReturn

from lb_assets.sandbox import operations_export, operations_upload  # noqa: F401  (register handlers)
from lb_assets.sandbox.operations_common import OPERATIONS, GraphQLError, Request, not_found, operation, page_bounds
from lb_assets.sandbox.state import Project, format_ts, public_copy

__all__ = ["OPERATIONS", "GraphQLError", "Request"]


# ----------------------------------------------------------------------------- user and organization
@operation("GetUserPyApi")
def get_user(req: Request) -> dict[str, Any]:
    """The API key's user."""
    return {"user": public_copy(req.state.user)}


@operation("CurrentUserPyApi")
def current_user(req: Request) -> dict[str, Any]:
    """The user's timezone (asked by export date filters)."""
    return {"user": {"timezone": req.state.timezone}}


@operation("GetOrganizationPyApi")
def get_organization(req: Request) -> dict[str, Any]:
    """The organization."""
    return {"organization": public_copy(req.state.org)}


@operation("getAllIntegrationsPyApi")
def get_iam_integrations(req: Request) -> dict[str, Any]:
    """The organization's IAM integrations (``sb.iam_integrations``)."""
    return {"iamIntegrations": copy.deepcopy(req.state.iam_integrations)}


# ----------------------------------------------------------------------------- tasks
@operation("GetUserCreatedTasksPyApi")
def user_created_tasks(req: Request) -> dict[str, Any]:
    """Tasks by id; a task started IN_PROGRESS turns final after ``pending_reads`` reads."""
    state = req.state
    task_id = req.where_id("createdTasks")
    tasks = list(state.tasks.values()) if task_id is None else [t for t in [state.tasks.get(task_id)] if t]
    for task in tasks:
        if task.pending_reads > 0:
            task.pending_reads -= 1
            if task.pending_reads == 0:
                task.fields.update(status=task.final_status, completionPercentage=1.0, updatedAt=state.now())
    skip, first = page_bounds(req.query)
    return {"user": {"createdTasks": [public_copy(t.fields) for t in tasks][skip : skip + first]}}


# ----------------------------------------------------------------------------- projects
def _project(req: Request, project_id: Any) -> Project:
    project = req.state.project_or_none(project_id)
    if project is None:
        raise not_found("Project", project_id)
    return project


@operation("GetProjectPyApi")
def get_project(req: Request) -> dict[str, Any]:
    """One project by id (``dataRowCount`` and ``lastActivityTime`` derived from its rows)."""
    project = _project(req, req.var("param_0"))
    return {"project": project_fields(project)}


def project_fields(project: Project) -> dict[str, Any]:
    """The project's public fields with live row count and last activity."""
    fields = public_copy(project.fields)
    fields["dataRowCount"] = len(project.rows)
    if project.rows:
        latest = max(row.last_activity_at for row in project.rows.values())
        fields["lastActivityTime"] = max(format_ts(latest), fields["lastActivityTime"])
    return fields


@operation("GetProjectsPyApi")
def get_projects(req: Request) -> dict[str, Any]:
    """``client.get_projects(where=Project.name == ...)``: projects filtered by name, paginated."""
    skip, first = page_bounds(req.query)
    name = req.variables.get("param_0")
    found = [project_fields(p) for p in req.state.projects.values() if name is None or p.fields.get("name") == name]
    return {"projects": found[skip : skip + first]}


@operation("CreateProjectPyApi")
def create_project(req: Request) -> dict[str, Any]:
    """A new, empty project."""
    v = req.variables
    overrides = {
        key: v[key]
        for key in (
            "description",
            "isBenchmarkEnabled",
            "isConsensusEnabled",
            "autoAuditNumberOfLabels",
            "autoAuditPercentage",
            "editorTaskType",
        )
        if key in v
    }
    project = req.state.create_project(req.var("name"), v.get("allowedMediaType"), **overrides)
    return {"createProject": project_fields(project)}


# ----------------------------------------------------------------------------- ontologies
@operation("GetOntologyPyApi")
def get_ontology(req: Request) -> dict[str, Any]:
    """One ontology by id, with its ``normalized`` JSON."""
    ontology_id = req.var("param_0")
    ontology = req.state.ontologies.get(ontology_id)
    if ontology is None:
        raise not_found("Ontology", ontology_id)
    return {"ontology": public_copy(ontology)}


@operation("GetProjectOntologyPyApi")
def get_project_ontology(req: Request) -> dict[str, Any]:
    """The ontology connected to a project (or null)."""
    project = _project(req, req.where_id("project"))
    ontology = req.state.ontologies.get(project.ontology_id or "")
    return {"project": {"ontology": public_copy(ontology) if ontology else None}}


# ----------------------------------------------------------------------------- overview
OVERVIEW_STATES = {
    "TO_LABEL": "Unlabeled",
    "IN_REVIEW": "InReview",
    "IN_REWORK": "InRework",
    "SKIPPED": "Skipped",
    "DONE": "Done",
}


@operation("ProjectGetOverviewPyApi")
def project_overview(req: Request) -> dict[str, Any]:
    """Counts per workflow state (optionally limited to some batches), derived from the rows."""
    project = _project(req, req.var("projectId"))
    batch_ids = req.variables.get("batchIds")
    rows = [row for row in project.rows.values() if batch_ids is None or row.batch_id in batch_ids]
    by_status = Counter(row.workflow_status for row in rows)
    counts = {state_name: by_status.get(status, 0) for status, state_name in OVERVIEW_STATES.items()}
    counts["Labeled"] = counts["InReview"] + counts["InRework"] + counts["Done"]
    counts["All"] = len(rows)
    counts["NotInTaskQueue"] = 0
    result: dict[str, Any] = {
        "workstreamStateCounts": [{"state": name, "count": count} for name, count in counts.items()],
        "taskQueues": [
            {
                "queueType": "INITIAL_LABELING_QUEUE",
                "name": "Initial labeling task",
                "dataRowCount": counts["Unlabeled"],
            },
            {"queueType": "MANUAL_REVIEW_QUEUE", "name": "Initial review task", "dataRowCount": counts["InReview"]},
            {"queueType": "MANUAL_REWORK_QUEUE", "name": "Rework", "dataRowCount": counts["InRework"]},
            {"queueType": "TERMINAL_DONE_QUEUE", "name": "Done", "dataRowCount": counts["Done"]},
        ],
        "completedDataRowCount": counts["Done"],
    }
    if req.variables.get("includeIssues"):
        result["issues"] = {"totalCount": 0}
    return {"project": result}


# ----------------------------------------------------------------------------- connect_ontology
@operation("LabelCountPyApi")
def label_count(req: Request) -> dict[str, Any]:
    """Number of labels in a project."""
    project = _project(req, req.var("projectId"))
    return {"project": {"labelCount": sum(len(row.labels) for row in project.rows.values())}}


@operation("GetProjectLabelingFrontendPyApi")
def project_labeling_frontend(req: Request) -> dict[str, Any]:
    """The project's editor (null until connected)."""
    project = _project(req, req.where_id("project"))
    frontend = req.state.labeling_frontends.get(project.labeling_frontend_id or "")
    return {"project": {"labelingFrontend": public_copy(frontend) if frontend else None}}


@operation("GetLabelingFrontendsPyApi")
def labeling_frontends(req: Request) -> dict[str, Any]:
    """The available editors (just "Editor")."""
    name = req.variables.get("param_0")
    frontends = [f for f in req.state.labeling_frontends.values() if name is None or f["name"] == name]
    skip, first = page_bounds(req.query)
    return {"labelingFrontends": [public_copy(f) for f in frontends][skip : skip + first]}


@operation("ConnectProjectAndLabelingFrontendPyApi")
def connect_labeling_frontend(req: Request) -> dict[str, Any]:
    """Attach an editor to a project."""
    project = _project(req, req.var("projectId"))
    frontend_id = req.var("labelingFrontendId")
    if frontend_id not in req.state.labeling_frontends:
        raise not_found("Labeling frontend", frontend_id)
    project.labeling_frontend_id = frontend_id
    return {"updateProject": {"id": project.id}}


@operation("CreateLabelingFrontendOptionsPyApi")
def create_labeling_frontend_options(req: Request) -> dict[str, Any]:
    """Store editor options (accepted and echoed)."""
    _project(req, req.var("project"))
    return {
        "createLabelingFrontendOptions": {
            "id": req.state.new_id("lfo"),
            "customizationOptions": req.var("customizationOptions"),
        }
    }


@operation("ConnectOntologyPyApi")
def connect_ontology(req: Request) -> dict[str, Any]:
    """Connect an ontology to a project."""
    project = _project(req, req.var("projectId"))
    ontology_id = req.var("ontologyId")
    if ontology_id not in req.state.ontologies:
        raise not_found("Ontology", ontology_id)
    project.ontology_id = ontology_id
    return {"project": {"connectOntology": {"id": project.id}}}


def supported_operations() -> list[str]:
    """Names of every operation the sandbox serves."""
    return sorted(OPERATIONS)


def raise_unsupported(name: str | None) -> NoReturn:
    """Raise the error for an operation the sandbox does not serve."""
    raise GraphQLError(
        f"sandbox: unsupported operation {name!r} (not emulated; see lb_assets.sandbox.operations)",
        "SANDBOX_UNSUPPORTED_OPERATION",
    )
