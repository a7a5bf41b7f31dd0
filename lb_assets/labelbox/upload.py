"""Upload media to Labelbox and set up an annotation project (the seed's ``create_labelbox_annotation_project``).

Differences from the seed (D17), on purpose:

* it returns ``UploadResult(project_id, dataset_id, data_row_ids, global_keys)``;
* global keys are stable (default: ``lbasset-`` + sha1 of the normalized path/URL, independent of content),
  so a re-run does not create duplicate data rows;
* **re-runs reuse** the dataset and the project found by name (a name matching several of them is a
  ``ConfigError``); only files whose global key is not yet in the dataset are uploaded, batches are only
  created for rows not yet in the project, and the ontology is connected only if not already connected;
* it waits for the upload task to really finish (the SDK's ``wait_till_done`` returns silently on
  timeout) and fails on task errors, naming the files at fault (URLs redacted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from lb_assets.choices import UploadMediaType, UploadStrategy
from lb_assets.errors import ConfigError, LabelboxOperationError
from lb_assets.labelbox.client import labelbox_errors
from lb_assets.redact import redact_url

logger = logging.getLogger(__name__)

UPLOAD_STRATEGIES: tuple[str, ...] = get_args(UploadStrategy)
MEDIA_TYPES: tuple[str, ...] = get_args(UploadMediaType)
DEFAULT_UPLOAD_TIMEOUT = 1800.0
ERRORS_SHOWN = 5


def normalize_source(path_or_url: str) -> str:
    """The canonical form of a file path (absolute, normalized) or URL (unchanged apart from whitespace)."""
    text = str(path_or_url).strip()
    if "://" in text:
        return text
    return os.path.normpath(os.path.abspath(os.path.expanduser(text)))


def default_global_key(path_or_url: str) -> str:
    """A stable global key for a file: ``lbasset-`` + sha1 of its normalized path or URL."""
    return "lbasset-" + hashlib.sha1(normalize_source(path_or_url).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UploadResult:
    """Where the uploaded media ended up.

    Attributes:
        project_id: the annotation project.
        dataset_id: the Labelbox dataset holding the data rows.
        data_row_ids: one per (deduplicated) file, in file order.
        global_keys: aligned with ``data_row_ids``.
    """

    project_id: str
    dataset_id: str
    data_row_ids: list[str]
    global_keys: list[str]


def select_files(files: Sequence[str], strategy: str) -> list[str]:
    """Apply the upload strategy to the file list (deterministic order, unlike the seed's ``set``).

    ``"fail"``: duplicates raise; ``"skip"``: duplicates are dropped (first kept); ``"all"``: every entry
    is uploaded, duplicates included.

    Raises:
        ConfigError: unknown strategy, no files, or duplicates with ``"fail"``.
    """
    if strategy not in UPLOAD_STRATEGIES:
        raise ConfigError(f"data_upload_strategy must be one of {UPLOAD_STRATEGIES}, got {strategy!r}")
    files = [str(f) for f in files]
    if not files:
        raise ConfigError("No files to upload to Labelbox")
    counts = Counter(files)
    duplicates = [redact_url(f) for f, n in counts.items() if n > 1]
    if strategy == "fail" and duplicates:
        raise ConfigError(f"Duplicate files with data_upload_strategy='fail': {', '.join(duplicates)}")
    if strategy == "skip":
        if duplicates:
            logger.info("Skipping duplicate files: %s", ", ".join(duplicates))
        return list(dict.fromkeys(files))
    return files


def _is_local(files: Sequence[str]) -> bool:
    """True when all files are local, False when all are remote.

    Raises:
        ConfigError: a mix of local and remote files, or a local-looking path that does not exist.
    """
    remote = ["://" in f for f in files]
    if any(remote) and not all(remote):
        raise ConfigError("Files must be all local or all remote (URLs), not a mix")
    if all(remote):
        return False
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise ConfigError(f"Local files not found: {', '.join(missing[:ERRORS_SHOWN])}")
    return True


def _global_keys(files: Sequence[str], generator: Callable[[str], str]) -> list[str]:
    """One key per file; the n-th repeat of a file (strategy "all") gets ``<key>#n`` so keys stay unique."""
    seen: Counter[str] = Counter()
    keys = []
    for f in files:
        key = str(generator(f))
        keys.append(key if seen[key] == 0 else f"{key}#{seen[key]}")
        seen[key] += 1
    return keys


def _iam_integration(client: Any, integration_id: str | None) -> Any:
    if not integration_id or integration_id == "DEFAULT":
        return integration_id
    with labelbox_errors("get_iam_integrations"):
        integrations = client.get_organization().get_iam_integrations()
    for integration in integrations:
        if integration.uid == integration_id:
            return integration
    raise ConfigError(f"Labelbox IAM integration {integration_id!r} not found in the organization")


def _find_one(items: list[Any], kind: str, name: str) -> Any | None:
    if len(items) > 1:
        ids = ", ".join(item.uid for item in items)
        raise ConfigError(f"Several Labelbox {kind}s are named {name!r} ({ids}); use a unique name")
    return items[0] if items else None


def _dataset(client: Any, name: str, iam: Any) -> tuple[Any, bool]:
    """The dataset named ``name`` (reused) or a new one; returns ``(dataset, created)``."""
    import labelbox

    with labelbox_errors("find_dataset"):
        existing = _find_one(list(client.get_datasets(where=labelbox.Dataset.name == name)), "dataset", name)
    if existing is not None:
        logger.info("Reusing Labelbox dataset %s (%s)", existing.uid, name)
        return existing, False
    with labelbox_errors("create_dataset"):
        dataset = client.create_dataset(name=name, iam_integration=iam)
    logger.info("Created Labelbox dataset %s (%s)", dataset.uid, name)
    return dataset, True


def _existing_keys(dataset: Any) -> dict[str, str]:
    with labelbox_errors("list_data_rows"):
        return {dr.global_key: dr.uid for dr in dataset.data_rows() if getattr(dr, "global_key", None)}


def _failure_text(failure: Any) -> str:
    if not isinstance(failure, dict):
        return str(failure)[:200]
    spec = failure.get("spec") or {}
    source = spec.get("rowData") or spec.get("externalId") or ""
    return f"{spec.get('globalKey')} ({redact_url(str(source))}): {failure.get('message')}"


def _upload_rows(dataset: Any, specs: list[dict[str, Any]], media: str, timeout: float) -> dict[str, str]:
    """Create the data rows; returns ``{global_key: data_row_id}`` of the created rows."""
    op = f"upload {len(specs)} {media.lower()} files to dataset {dataset.uid}"
    with labelbox_errors(op):
        task = dataset.create_data_rows(specs)
        task.wait_till_done(timeout_seconds=timeout)
        status = task.status
        if status == "IN_PROGRESS":
            raise LabelboxOperationError(op, None, f"task {task.uid} still IN_PROGRESS after {timeout:g}s")
        errors = task.errors
        if errors:
            shown = "; ".join(_failure_text(f) for f in errors[:ERRORS_SHOWN])
            more = f" (and {len(errors) - ERRORS_SHOWN} more)" if len(errors) > ERRORS_SHOWN else ""
            raise LabelboxOperationError(op, None, f"{len(errors)} files failed: {shown}{more}")
        if status != "COMPLETE":
            raise LabelboxOperationError(op, None, f"task {task.uid} ended with status {status}")
        created = task.result or []
    return {row["global_key"]: row["id"] for row in created if row.get("global_key")}


def _project(client: Any, name: str, media_type: str) -> tuple[Any, bool]:
    import labelbox

    with labelbox_errors("find_project"):
        existing = _find_one(list(client.get_projects(where=labelbox.Project.name == name)), "project", name)
    if existing is not None:
        kind = getattr(existing.media_type, "value", str(existing.media_type))
        if str(kind).upper() != media_type:
            raise ConfigError(f"Labelbox project {existing.uid} ({name!r}) holds {kind} media, not {media_type}")
        logger.info("Reusing Labelbox project %s (%s)", existing.uid, name)
        return existing, False
    sdk_type = labelbox.MediaType.Video if media_type == "VIDEO" else labelbox.MediaType.Image
    with labelbox_errors("create_project"):
        project = client.create_project(name=name, media_type=sdk_type)
    logger.info("Created Labelbox project %s (%s)", project.uid, name)
    return project, True


def _add_batches(project: Any, dataset: Any, prefix: str, priority: int, already: set[str]) -> None:
    """Queue the dataset's rows in the project; rows in ``already`` may be rejected as already queued."""
    with labelbox_errors("create_batches", project.uid):
        task = project.create_batches_from_dataset(name_prefix=prefix, dataset_id=dataset.uid, priority=priority)
        task.wait_till_done()
        pending = [t.uid for t in task.tasks if t.status == "IN_PROGRESS"]
        if pending:
            raise LabelboxOperationError("create_batches", project.uid, f"tasks {pending} still IN_PROGRESS")
        errors = task.errors() or {}
    for task_id, result in errors.items():
        failed = set((result or {}).get("failedDataRowIds") or []) if isinstance(result, dict) else set()
        if not failed or not failed <= already:
            text = json.dumps(result)[:300] if not isinstance(result, str) else result[:300]
            raise LabelboxOperationError("create_batches", project.uid, f"batch task {task_id} failed: {text}")
        logger.info("Project %s: %d data rows were already queued", project.uid, len(failed))


def _connect_ontology(client: Any, project: Any, ontology: Any, created: bool) -> None:
    with labelbox_errors("connect_ontology", project.uid):
        if isinstance(ontology, str):
            ontology = client.get_ontology(ontology)
        if not created:
            current = project.ontology()
            if current is not None and current.uid == ontology.uid:
                return
        project.connect_ontology(ontology)
    logger.info("Project %s: connected ontology %s", project.uid, ontology.uid)


def create_annotation_project(
    client: Any,
    files: Sequence[str],
    lb_dataset_name: str,
    lb_project_name: str,
    lb_ontology: Any = None,
    lb_batch_priority: int = 5,
    data_upload_strategy: str = "fail",
    lb_batches_name: str | None = None,
    lb_iam_integration_id: str | None = "DEFAULT",
    lb_global_key_generator: Callable[[str], str] = default_global_key,
    media_type: str = "VIDEO",
    *,
    upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
) -> UploadResult:
    """Upload files to a Labelbox dataset and queue them in an annotation project (idempotent).

    Args:
        client: a ``labelbox.Client``.
        files: local paths (uploaded) or URLs (referenced); all local or all remote.
        lb_dataset_name: dataset name (reused when one dataset has it).
        lb_project_name: project name (reused when one project has it).
        lb_ontology: an ontology id or ``labelbox.Ontology`` to connect (None: none).
        lb_batch_priority: priority of the created batches (1-5).
        data_upload_strategy: ``"fail"`` on duplicate files, ``"skip"`` them, or upload ``"all"``.
        lb_batches_name: batch name prefix (default ``<dataset name>_batch-``).
        lb_iam_integration_id: ``"DEFAULT"`` (the org's default signer), None (no delegated access) or an
            IAM integration id.
        lb_global_key_generator: file -> global key; must be stable for re-runs to be idempotent.
        media_type: ``"VIDEO"`` or ``"IMAGE"``.
        upload_timeout: seconds to wait for the upload task.

    Returns:
        The project, the dataset and the data rows (in file order).

    Raises:
        ConfigError: invalid arguments, mixed local/remote files, ambiguous names, unknown IAM integration.
        LabelboxOperationError: (or a subclass) a Labelbox call or the upload failed.
    """
    media_type = str(media_type).upper()
    if media_type not in MEDIA_TYPES:
        raise ConfigError(f"media_type must be one of {MEDIA_TYPES}, got {media_type!r}")
    if not lb_dataset_name or not lb_project_name:
        raise ConfigError("lb_dataset_name and lb_project_name are required")
    files = select_files(files, data_upload_strategy)
    local = _is_local(files)
    keys = _global_keys(files, lb_global_key_generator)
    iam = _iam_integration(client, lb_iam_integration_id)

    dataset, _ = _dataset(client, lb_dataset_name, iam)
    ids = _existing_keys(dataset)
    specs = [
        {
            "row_data": normalize_source(f) if local else f,
            "global_key": key,
            "external_id": redact_url(f),
            "media_type": media_type,
        }
        for f, key in zip(files, keys, strict=True)
        if key not in ids
    ]
    logger.info(
        "Dataset %s: %d of %d files to upload (%d already there)",
        dataset.uid,
        len(specs),
        len(files),
        len(files) - len(specs),
    )
    if specs:
        ids.update(_upload_rows(dataset, specs, media_type, upload_timeout))
    missing = [k for k in keys if k not in ids]
    if missing:
        raise LabelboxOperationError(
            f"upload to dataset {dataset.uid}", None, f"no data row came back for global keys {missing[:ERRORS_SHOWN]}"
        )

    project, created = _project(client, lb_project_name, media_type)
    already = set(ids.values()) - {ids[k] for k in (s["global_key"] for s in specs)}
    if created or specs or int(project.data_row_count or 0) < len(ids):
        _add_batches(
            project,
            dataset,
            lb_batches_name or f"{lb_dataset_name}_batch-",
            lb_batch_priority,
            already if not created else set(),
        )
    if lb_ontology:
        _connect_ontology(client, project, lb_ontology, created)
    result = UploadResult(project.uid, dataset.uid, [ids[k] for k in keys], keys)
    logger.info("Labelbox project %s holds %d data rows of dataset %s", result.project_id, len(keys), result.dataset_id)
    return result
