"""GraphQL handlers for datasets, uploads, data rows, global keys and batches.

``create_data_rows`` uploads spec chunks and a manifest through ``UploadFile`` (multipart), then sends
``UpsertDataRowsPyApi`` with the manifest URL; the sandbox reads both back from its own file store.
Global keys are unique per organization: an AUTO-id spec whose key is taken fails that row only.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any
from urllib.parse import urlsplit

from lb_assets.sandbox.operations_common import GraphQLError, Request, not_found, operation, page_bounds
from lb_assets.sandbox.state import DataRowRecord, ProjectRow, SandboxState, public_copy


# ----------------------------------------------------------------------------- datasets
@operation("CreateDatasetPyApi")
def create_dataset(req: Request) -> dict[str, Any]:
    """A new, empty dataset."""
    dataset = req.state.ensure_dataset(None, req.var("name"))
    if req.variables.get("description") is not None:
        dataset["description"] = req.variables["description"]
    return {"createDataset": public_copy(dataset)}


def _dataset(req: Request, dataset_id: Any) -> dict[str, Any]:
    dataset = req.state.datasets.get(dataset_id)
    if dataset is None:
        raise not_found("Dataset", dataset_id)
    return dataset


@operation("GetDatasetsPyApi")
def get_datasets(req: Request) -> dict[str, Any]:
    """``client.get_datasets(where=Dataset.name == ...)``: datasets filtered by name, paginated."""
    skip, first = page_bounds(req.query)
    name = req.variables.get("param_0")
    found = [public_copy(d) for d in req.state.datasets.values() if name is None or d.get("name") == name]
    for item in found:
        item["rowCount"] = len(req.state.dataset_rows.get(item["id"], []))
    return {"datasets": found[skip : skip + first]}


@operation("setSignerForDatasetPyApi")
def set_signer_for_dataset(req: Request) -> dict[str, Any]:
    """Attach an IAM integration (delegated access) to a dataset."""
    dataset = _dataset(req, req.var("datasetId"))
    signer = req.var("signerId")
    if not any(item.get("id") == signer for item in req.state.iam_integrations):
        raise not_found("IAM integration", signer)
    dataset["_signer"] = signer
    return {"setSignerForDataset": {"id": dataset["id"]}}


@operation("validateDatasetPyApi")
def validate_dataset(req: Request) -> dict[str, Any]:
    """Validate a dataset's signer: valid when its integration is marked ``valid``."""
    dataset = _dataset(req, req.var("id"))
    signer = next((i for i in req.state.iam_integrations if i.get("id") == dataset.get("_signer")), None)
    valid = bool(signer and signer.get("valid"))
    return {"validateDataset": {"valid": valid, "checks": [{"name": "signer", "success": valid}]}}


@operation("deleteDatasetPyApi")
def delete_dataset(req: Request) -> dict[str, Any]:
    """Delete a dataset (its data rows stay in projects already holding them)."""
    dataset_id = req.var("DatasetId")
    req.state.datasets.pop(dataset_id, None)
    for drid in req.state.dataset_rows.pop(dataset_id, []):
        record = req.state.data_rows.get(drid)
        if record is not None and not any(drid in p.rows for p in req.state.projects.values()):
            del req.state.data_rows[drid]
    return {"updateDataset": {"id": dataset_id}}


@operation("deleteProjectPyApi")
def delete_project(req: Request) -> dict[str, Any]:
    """Delete a project."""
    project_id = req.var("ProjectId")
    req.state.projects.pop(project_id, None)
    return {"updateProject": {"id": project_id}}


# ----------------------------------------------------------------------------- uploads
@operation("UploadFile")
def upload_file(req: Request) -> dict[str, Any]:
    """Store the multipart part ``1``; its bytes are then served at /files/upload-..."""
    if "1" not in req.files:
        raise GraphQLError("UploadFile: multipart part '1' (the file) is missing")
    data, part_type, filename = req.files["1"]
    guessed = mimetypes.guess_type(filename or "")[0]
    # the SDK swaps filename and content type for JSON chunks: never trust either alone
    content_type = guessed or (part_type if part_type and "/" in part_type else None) or "application/octet-stream"
    name = req.state.new_id("upload")
    url = req.state.put_file(name, data, content_type, private=req.state.uploads_private)
    return {"uploadFile": {"url": url, "filename": filename or name}}


def _read_own_json(state: SandboxState, url: str, what: str) -> Any:
    served = state.file_for_url(url)
    if served is None:
        raise GraphQLError(f"UpsertDataRowsPyApi: {what} {url!r} was not uploaded to this sandbox")
    try:
        return json.loads(served.data)
    except ValueError as exc:
        raise GraphQLError(f"UpsertDataRowsPyApi: {what} {url!r} is not JSON") from exc


def _media_attributes(state: SandboxState, row_data: Any, media_type: str | None) -> dict[str, Any]:
    """``media_attributes`` for an uploaded row (kind and mime type; sizes are unknown)."""
    mime = None
    if isinstance(row_data, str):
        served = state.file_for_url(row_data)
        mime = served.content_type if served else mimetypes.guess_type(urlsplit(row_data).path)[0]
    kind = (media_type or "").lower() or (mime.split("/")[0] if mime else None)
    attributes: dict[str, Any] = {"asset_type": kind, "mime_type": mime}
    return {k: v for k, v in attributes.items() if v is not None}


def _failure(spec: dict[str, Any], message: str) -> dict[str, Any]:
    return {
        "message": message,
        "spec": {
            "externalId": spec.get("external_id"),
            "globalKey": spec.get("global_key"),
            "rowData": spec.get("row_data"),
            "metadata": [],
            "attachments": [],
        },
    }


def _upsert_one(state: SandboxState, item: dict[str, Any]) -> str:
    """Create or update one data row from a manifest item; returns its id.

    Raises:
        ValueError: the row fails (message as Labelbox words it).
    """
    spec = item.get("payload") or {}
    key = item.get("id") or {"type": "AUTO", "value": ""}
    dataset_id = spec.get("dataset_id")
    if dataset_id not in state.datasets:
        raise ValueError(f"Dataset {dataset_id!r} not found")
    if not spec.get("row_data"):
        raise ValueError("row_data is required")
    global_key = spec.get("global_key")
    existing: str | None = None
    if key.get("type") == "ID":
        existing = key.get("value") if key.get("value") in state.data_rows else None
        if existing is None:
            raise ValueError(f"Data row {key.get('value')!r} not found")
    elif key.get("type") == "GKEY":
        existing = state.global_key_owner(key.get("value"))
        global_key = global_key or key.get("value")
    owner = state.global_key_owner(global_key)
    if owner is not None and owner != existing:
        raise ValueError(f"Duplicate global key: '{global_key}'")
    drid = existing or state.new_id("dr")
    data_row: dict[str, Any] = {"id": drid, "row_data": spec["row_data"]}
    if global_key:
        data_row["global_key"] = global_key
    if spec.get("external_id"):
        data_row["external_id"] = spec["external_id"]
    row = {
        "data_row": data_row,
        "media_attributes": _media_attributes(state, spec["row_data"], spec.get("media_type")),
        "attachments": list(spec.get("attachments") or []),
        "metadata_fields": [],
    }
    if existing is not None:
        record = state.data_rows[existing]
        record.row = row
        record.updated_at = state.now()
    else:
        state.add_catalog_row(row, dataset_id)
    return drid


@operation("UpsertDataRowsPyApi")
def upsert_data_rows(req: Request) -> dict[str, Any]:
    """Create data rows from an uploaded manifest; failing rows are reported on the task."""
    state = req.state
    manifest = _read_own_json(state, req.var("manifestUri"), "manifest")
    created: list[str] = []
    failed: list[dict[str, Any]] = []
    for chunk_uri in manifest.get("chunk_uris") or []:
        for item in _read_own_json(state, chunk_uri, "chunk"):
            try:
                created.append(_upsert_one(state, item))
            except ValueError as exc:
                failed.append(_failure(item.get("payload") or {}, str(exc)))
    task = state.add_task("adv-upsert-data-rows", "Upsert data rows")
    task.created, task.failed = created, failed
    return {"upsertDataRows": public_copy(task.fields)}


def _page(items: list[Any], after: Any, first: Any) -> tuple[list[Any], str | None]:
    start = int(after) if after not in (None, "") else 0
    size = int(first) if first else 5000
    page = items[start : start + size]
    return page, (str(start + size) if start + size < len(items) else None)


@operation("FailedDataRowImportsPyApi")
def failed_data_row_imports(req: Request) -> dict[str, Any]:
    """The rows an upsert task could not create."""
    task = req.state.tasks.get(req.var("taskId"))
    if task is None:
        raise not_found("Task", req.variables.get("taskId"))
    page, after = _page(task.failed, req.variables.get("from"), req.variables.get("first"))
    return {"failedDataRowImports": {"after": after, "total": len(task.failed), "results": page}}


@operation("SuccessesfulDataRowImportsPyApi")
def successful_data_row_imports(req: Request) -> dict[str, Any]:
    """The rows an upsert task created (the SDK's spelling)."""
    task = req.state.tasks.get(req.var("taskId"))
    if task is None:
        raise not_found("Task", req.variables.get("taskId"))
    nodes = [_node_short(req.state.data_rows[d]) for d in task.created if d in req.state.data_rows]
    page, after = _page(nodes, req.variables.get("from"), req.variables.get("first"))
    return {"successesfulDataRowImports": {"nodes": page, "after": after, "total": len(nodes)}}


def _node_short(record: DataRowRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "externalId": record.external_id,
        "globalKey": record.global_key,
        "rowData": record.row_data,
    }


def _node_full(record: DataRowRecord) -> dict[str, Any]:
    node = _node_short(record)
    node.update(
        createdAt=record.created_at,
        updatedAt=record.updated_at,
        mediaAttributes=dict(record.row.get("media_attributes") or {}),
        customMetadata=[],
        metadataFields=[],
    )
    return node


@operation("DatasetDataRowsPyApi")
def dataset_data_rows(req: Request) -> dict[str, Any]:
    """A dataset's data rows, newest first, filtered by ``where`` (externalId, globalKey)."""
    state = req.state
    dataset_id = req.var("id")
    _dataset(req, dataset_id)
    records = [state.data_rows[d] for d in reversed(state.dataset_rows.get(dataset_id, [])) if d in state.data_rows]
    where = req.variables.get("where") or {}
    if "externalId" in where:
        records = [r for r in records if r.external_id == where["externalId"]]
    if "globalKey" in where:
        records = [r for r in records if r.global_key == where["globalKey"]]
    ids = [r.id for r in records]
    start = ids.index(req.variables["from"]) if req.variables.get("from") in ids else 0
    first = int(req.variables.get("first") or 500)
    page, rest = records[start : start + first], records[start + first :]
    return {
        "datasetDataRows": {
            "nodes": [_node_full(r) for r in page],
            "pageInfo": {"hasNextPage": bool(rest), "startCursor": rest[0].id if rest else None},
        }
    }


@operation("GetMetadataOntologyBetaPyApi")
def metadata_ontology(req: Request) -> dict[str, Any]:
    """Custom metadata schemas (none)."""
    return {"customMetadataOntology": []}


# ----------------------------------------------------------------------------- global keys
@operation("assignGlobalKeysToDataRowsPyApi")
def assign_global_keys(req: Request) -> dict[str, Any]:
    """Assign global keys; taken keys and unknown rows are invalid assignments."""
    state = req.state
    done, invalid = [], []
    for link in req.var("globalKeyDataRowLinks") or []:
        record = state.data_rows.get(link.get("dataRowId"))
        owner = state.global_key_owner(link.get("globalKey"))
        if record is None or not link.get("globalKey") or (owner is not None and owner != record.id):
            invalid.append(link)
            continue
        record.row["data_row"]["global_key"] = link["globalKey"]
        record.updated_at = state.now()
        done.append(link)
    job_id = state.new_id("job")
    state.jobs[job_id] = {
        "sanitizedAssignments": [],
        "invalidGlobalKeyAssignments": invalid,
        "unmodifiedAssignments": done,
        "accessDeniedAssignments": [],
    }
    return {"assignGlobalKeysToDataRows": {"jobId": job_id}}


@operation("assignGlobalKeysToDataRowsResultPyApi")
def assign_global_keys_result(req: Request) -> dict[str, Any]:
    """The job's result, always COMPLETE (the SDK polls this without sleeping)."""
    job_id = req.var("jobId")
    if job_id not in req.state.jobs:
        raise not_found("Job", job_id)
    return {"assignGlobalKeysToDataRowsResult": {"jobStatus": "COMPLETE", "data": public_copy(req.state.jobs[job_id])}}


# ----------------------------------------------------------------------------- batches
@operation("createBatchesFromDatasetPyApi")
def create_batches_from_dataset(req: Request) -> dict[str, Any]:
    """Queue a dataset's rows in a project (TO_LABEL, no labels); rows already queued fail the task."""
    state = req.state
    project_id = req.var("projectId")
    project = state.project_or_none(project_id)
    if project is None:
        raise not_found("Project", project_id)
    payload = req.var("input")
    _dataset(req, payload.get("datasetId"))
    batch_id = state.new_id("batch")
    state.batches[batch_id] = {
        "id": batch_id,
        "name": f"{payload.get('batchNamePrefix') or 'batch-'}0000",
        "priority": payload.get("priority", 5),
        "project_id": project.id,
    }
    moment = state.clock.now()
    rejected = []
    for drid in state.dataset_rows.get(payload["datasetId"], []):
        if drid in project.rows:
            rejected.append(drid)
            continue
        project.rows[drid] = ProjectRow(drid, [], "TO_LABEL", batch_id, moment)
    state.touch_project(project, moment)
    if rejected:
        result = json.dumps({"failedDataRowIds": rejected, "message": "Data rows already in a batch of the project"})
        task = state.add_task("add-data-rows-to-batch", "Create batches", status="FAILED", result=result)
    else:
        task = state.add_task("add-data-rows-to-batch", "Create batches")
    return {"project": {"createBatchesFromDataset": {"tasks": [{"batchUuid": batch_id, "taskId": task.id}]}}}
