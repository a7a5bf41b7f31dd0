"""The seed-compatible API: Deep Lake's ``deeplake.integrations`` Labelbox functions, working for real.

Same names, parameters and defaults as deeplake 4.7.4's ``deeplake/integrations/labelbox/labelbox_.py``, so the
documented flow runs with only the import changed::

    from lb_assets.integrations import (create_dataset_from_video_annotation_project,
                                        converter_for_video_project_with_id)
    ds, project_json = create_dataset_from_video_annotation_project(ds_path, project_id, api_key)
    ds.commit("create dataset")
    converter = converter_for_video_project_with_id(project_id, ds_provider, api_key, project_json=project_json)
    ds = converter.dataset_with_applied_annotations()
    ds.commit("add labelbox annotations")

Underneath are ``lb_assets.labelbox`` (clients honour ``LABELBOX_ENDPOINT``; streamed export),
``lb_assets.media`` (presigners normalised, PyAV batches, frame counts checked), ``lb_assets.convert`` and
``lb_assets.store``. Extra keyword-only arguments (ours): ``label_policy`` ("latest"|"first"|"merge"),
``strict``, ``frame_storage`` ("jpeg"|"png"), ``allowed_roots`` (directories local media may be read from),
``frame_count_policy`` ("fail"|"pad"|"truncate"), ``progress`` (progress bars: None = on in a terminal or
notebook, True/False, or a text stream to draw on; ``LB_ASSETS_PROGRESS=0|1`` sets the default; see
`lb_assets.progress`). docs/deeplake-differences.md lists every difference.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lb_assets.convert.convert import ConvertedRow
from lb_assets.convert.ontology import OntologyPlan
from lb_assets.convert.rows import DataRowInfo, row_key
from lb_assets.errors import ConfigError, IncompatibleDatasetsError, MediaError
from lb_assets.labelbox.client import make_client
from lb_assets.labelbox.export import export_project, iter_export_rows
from lb_assets.labelbox.ontology import fetch_ontology, ontology_id_from_export
from lb_assets.labelbox.upload import UploadResult, create_annotation_project, default_global_key
from lb_assets.media.fetch import MediaFetcher
from lb_assets.media.image import load_image
from lb_assets.media.presign import LabelboxBearerPresigner, normalize_presign_result
from lb_assets.media.video import FrameCountPolicy, iter_video_frames
from lb_assets.pipeline import FetcherMaskSource, column_plan, iter_converted, read_infos
from lb_assets.progress import Bars, ConversionBars, ExportBar, FrameBuildBars, ProgressSetting
from lb_assets.store import schema
from lb_assets.store.annotations import ApplyResult, apply_annotations
from lb_assets.store.atomic import META_KEY, atomic, commit, read_meta
from lb_assets.store.branches import branch_names, current_branch, sync_branch
from lb_assets.store.datasets import open_or_create
from lb_assets.store.frames import build_frame_dataset, source_of
from lb_assets.store.row_keys import present_data_rows

logger = logging.getLogger(__name__)

__all__ = [
    "LabelboxConverter",
    "converter_for_image_project_with_id",
    "converter_for_video_project_with_id",
    "create_dataset_from_image_annotation_project",
    "create_dataset_from_image_annotation_project_with_custom_data_filler",
    "create_dataset_from_video_annotation_project",
    "create_dataset_from_video_annotation_project_with_custom_data_filler",
    "create_labelbox_annotation_project",
]


# ------------------------------------------------------------------------------------------------- upload
def create_labelbox_annotation_project(
    video_paths: Sequence[str],
    lb_dataset_name: str,
    lb_project_name: str,
    lb_api_key: str,
    lb_ontology: Any = None,
    lb_batch_priority: int = 5,
    data_upload_strategy: str = "fail",
    lb_batches_name: str | None = None,
    lb_iam_integration_id: str | None = "DEFAULT",
    lb_global_key_generator: Callable[[str], str] = default_global_key,
    media_type: str = "VIDEO",
) -> UploadResult:
    """Upload media to a Labelbox dataset and queue it in a new (or reused) project.

    The seed returns None; this returns `UploadResult(project_id, dataset_id, data_row_ids, global_keys)`
    and is idempotent (stable global keys; D17). See `lb_assets.labelbox.upload.create_annotation_project`.
    """
    client = make_client(lb_api_key)
    return create_annotation_project(
        client,
        list(video_paths),
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


# ------------------------------------------------------------------------------------------- shared helpers
def _project_json(
    client: Any, project_id: str, project_json: Any, fail_on_export_error: bool, bars: Bars | None = None
) -> list[dict]:
    """The export rows: ``project_json`` when given (reused, D3), else a fresh streamed export.

    Lines on the export's ERRORS stream raise `LabelboxOperationError` when ``fail_on_export_error``
    (the seed's ``fail_on_labelbox_project_export_error``) is True; when False (the seed's default) they are
    logged as a warning (redacted, with the project and the number of error lines) and the rows that
    exported are used, as the seed documents (D15). A failed or timed-out export always raises.
    """
    if project_json is not None:
        if not isinstance(project_json, list):
            raise ConfigError(f"project {project_id}: project_json must be the list returned by create_dataset_*")
        logger.info("project %s: reusing the given project_json (%d rows); no export", project_id, len(project_json))
        return project_json
    with tempfile.TemporaryDirectory(prefix="lb_assets_export_") as tmp:
        dest = Path(tmp) / f"{project_id}.ndjson"
        report = ExportBar(bars) if bars is not None and bars.enabled else None
        summary = export_project(client, project_id, dest, fail_on_errors=bool(fail_on_export_error), progress=report)
        if summary.error_lines:
            logger.warning(
                "project %s: converting the %d data row(s) that exported; %d export error line(s) "
                "ignored (fail_on_labelbox_project_export_error=False)",
                project_id,
                summary.data_rows,
                summary.error_lines,
            )
        return list(iter_export_rows(dest))


def _infos(project_json: list[dict], project_id: str, media_type: str, fail_on_error: bool) -> list[DataRowInfo]:
    """Parse and validate every row BEFORE any dataset is touched (D17)."""
    infos = read_infos(project_json, project_id, media_type)
    wrong = [i for i in infos if i.media_type != media_type]
    if wrong:
        message = (
            f"project {project_id}: {len(wrong)} data row(s) are not {media_type} "
            f"(e.g. {wrong[0].data_row_id}, {wrong[0].media_type})"
        )
        if fail_on_error:
            raise ConfigError(message)
        logger.warning("%s; they are skipped", message)
        infos = [i for i in infos if i.media_type == media_type]
    return infos


class _SeedPresigner:
    """A seed-style ``url_presigner`` (any documented return shape) as an lb_assets presigner."""

    def __init__(self, presigner: Callable[[str], Any]) -> None:
        self._presigner = presigner

    def __call__(self, url: str) -> tuple[str, dict[str, str]]:
        return normalize_presign_result(self._presigner(url))

    def __repr__(self) -> str:
        return f"_SeedPresigner({getattr(self._presigner, '__name__', type(self._presigner).__name__)})"


def _fetcher(
    url_presigner: Callable[[str], Any] | None, lb_api_key: str | None, allowed_roots: Iterable[str] | None
) -> MediaFetcher:
    if url_presigner is not None:
        presigner: Any = _SeedPresigner(url_presigner)
    elif lb_api_key:
        # the seed's default, with headers that work (D2), sent only to Labelbox's hosts and the API host in use
        presigner = LabelboxBearerPresigner(lb_api_key)
    else:
        presigner = None
    return MediaFetcher(presigner=presigner, allowed_roots=tuple(allowed_roots or ()))


# ------------------------------------------------------------------------------------------ frame datasets
def _create_dataset(
    media_type: str,
    deeplake_ds_path: str,
    project_id: str,
    lb_api_key: str,
    data_filler: dict[str, Callable[..., Any]] | None,
    deeplake_creds: dict | None,
    deeplake_org_id: str | None,
    deeplake_token: str | None,
    overwrite: bool,
    fail_on_error: bool,
    url_presigner: Callable[[str], Any] | None,
    video_generator_batch_size: int,
    fail_on_labelbox_project_export_error: bool,
    project_json: Any,
    frame_storage: str,
    allowed_roots: Iterable[str] | None,
    frame_count_policy: FrameCountPolicy,
    progress: ProgressSetting = None,
) -> tuple[Any, list[dict]]:
    schema.compression_of(frame_storage)  # validate settings before any work
    client = make_client(lb_api_key)
    with Bars(progress) as bars:
        rows = _project_json(client, project_id, project_json, fail_on_labelbox_project_export_error, bars)
        infos = _infos(rows, project_id, media_type, fail_on_error)
        fetcher = _fetcher(url_presigner, lb_api_key, allowed_roots)
        ds = open_or_create(
            deeplake_ds_path, creds=deeplake_creds, token=deeplake_token, org_id=deeplake_org_id, overwrite=overwrite
        )
        if not infos:
            logger.info("project %s: no data rows", project_id)
        report = _frame_bars(bars, ds, infos, media_type)
        if data_filler is None:
            build_frame_dataset(
                ds,
                infos,
                fetcher,
                storage=frame_storage,
                batch_size=video_generator_batch_size,
                frame_count_policy=frame_count_policy,
                progress=report,
            )
        else:
            _fill_custom(
                ds,
                infos,
                fetcher,
                data_filler,
                media_type,
                video_generator_batch_size,
                frame_count_policy,
                project_id,
                report,
            )
    return ds, rows


def _frame_bars(bars: Bars, ds: Any, infos: list[DataRowInfo], media_type: str) -> FrameBuildBars | None:
    """Bars for the frame build (None when off); totals count the data rows not in ``ds`` yet."""
    if not bars.enabled or not infos:
        return None
    present = present_data_rows(ds)
    return FrameBuildBars(bars, media_type, [i for i in infos if i.data_row_id not in present])


@contextlib.contextmanager
def _naming(info: DataRowInfo) -> Iterator[None]:
    """Re-raise a media error with the project and data row it concerns (as the default filler does)."""
    try:
        yield
    except MediaError as exc:
        raise type(exc)(f"project {info.project_id}, data row {info.data_row_id}: {exc}") from exc


def _fill_custom(
    ds: Any,
    infos: list[DataRowInfo],
    fetcher: MediaFetcher,
    data_filler: dict[str, Callable[..., Any]],
    media_type: str,
    batch_size: int,
    frame_count_policy: FrameCountPolicy,
    project_id: str,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """The seed's custom data filler protocol, on decoded batches whose frame counts are checked.

    ``create_tensors(ds)`` and ``fill_data(ds, group_ids, frame_indexes, frames)`` (video) or
    ``fill_data(ds, images, indexes)`` (image) receive deeplake's own ``dataset_wrapper`` as the seed does.
    When the filler wrote one row per frame/image, lb_assets adds ``row_key`` (one bulk write). ``report``
    gets the frame builder's progress events (``frames_written``, ``video_done``, ``images_written``).
    """
    report = report or (lambda event: None)
    from deeplake.integrations.labelbox.deeplake_utils import dataset_wrapper

    if not callable(data_filler.get("create_tensors")) or not callable(data_filler.get("fill_data")):
        raise ConfigError("data_filler must have callable 'create_tensors' and 'fill_data' entries")
    if len(ds) > 0:  # the filler's appends know nothing of row_key or of rows already present
        raise ConfigError(
            f"project {project_id}: a custom data filler fills a new dataset, but this one already "
            f"has {len(ds)} rows; pass overwrite=True (or use the default filler, which refreshes)"
        )
    wrapped = dataset_wrapper(ds)
    with atomic(ds, f"filling the dataset of project {project_id} with a custom data filler"):
        start = len(ds)
        data_filler["create_tensors"](wrapped)
        keys: list[str] = []
        if media_type == "video":
            for idx, info in enumerate(infos):
                done = 0
                with _naming(info):
                    url, headers = fetcher.open_url(info.row_data)
                    for batch in iter_video_frames(
                        url,
                        headers=headers,
                        batch_size=batch_size,
                        expected_frames=info.frame_count,
                        frame_count_policy=frame_count_policy,
                    ):
                        n = len(batch)
                        data_filler["fill_data"](wrapped, [idx] * n, list(range(done, done + n)), list(batch))
                        done += n
                        report({"event": "frames_written", "frames_written": len(keys) + done})
                keys += [row_key(info.data_row_id, f) for f in range(1, done + 1)]
                report(
                    {
                        "event": "video_done",
                        "videos_decoded": idx + 1,
                        "videos_total": len(infos),
                        "frames_written": len(keys),
                    }
                )
        else:
            for start_idx in range(0, len(infos), 32):
                chunk = infos[start_idx : start_idx + 32]
                images = []
                for i in chunk:
                    with _naming(i):
                        images.append(load_image(fetcher.fetch_bytes(i.row_data)))
                data_filler["fill_data"](wrapped, images, list(range(start_idx, start_idx + len(chunk))))
                keys += [row_key(i.data_row_id, 0) for i in chunk]
                report({"event": "images_written", "images_written": len(keys), "images_total": len(infos)})
        written = len(ds) - start
        if written == len(keys) and keys:
            created = schema.ensure_column(
                ds, schema.ROW_KEY, schema.frame_columns(media_type)[schema.ROW_KEY], "row key"
            )
            if created or start == 0:
                ds[schema.ROW_KEY][start : start + len(keys)] = keys
        elif keys:
            logger.warning(
                "project %s: the custom data filler wrote %d rows for %d frames/images; no row_key "
                "written, so annotations cannot be matched by key",
                project_id,
                written,
                len(keys),
            )
        ds.metadata[META_KEY] = {
            "project_id": project_id,
            "type": media_type,
            "sources": [source_of(i) for i in infos],
            "project_name": next((i.project_name for i in infos if i.project_name), None),
        }
        commit(
            ds,
            f"lb_assets: {written} rows of {len(infos)} {media_type}(s) from Labelbox project {project_id} "
            "(custom data filler)",
        )


def create_dataset_from_video_annotation_project(
    deeplake_ds_path: str,
    project_id: str,
    lb_api_key: str,
    deeplake_creds: dict | None = None,
    deeplake_org_id: str | None = None,
    deeplake_token: str | None = None,
    overwrite: bool = False,
    fail_on_error: bool = False,
    url_presigner: Callable[[str], Any] | None = None,
    video_generator_batch_size: int = 100,
    fail_on_labelbox_project_export_error: bool = False,
    project_json: Any = None,
    *,
    frame_storage: str = "jpeg",
    allowed_roots: Iterable[str] | None = None,
    frame_count_policy: FrameCountPolicy = "fail",
    progress: ProgressSetting = None,
) -> tuple[Any, list[dict]]:
    """Create a frame dataset from a Labelbox video project (frames, frame_idx, video_idx, row_key).

    The export is validated before the dataset is created or overwritten (D17); frames are committed once
    (the seed leaves them uncommitted; the documented ``ds.commit("create dataset")`` is then a no-op).
    Progress bars (export rows, videos, frames) follow ``progress`` (`lb_assets.progress`).

    Returns:
        ``(dataset, project_json)``; pass ``project_json`` to the converter to skip a second export.
    """
    return _create_dataset(
        "video",
        deeplake_ds_path,
        project_id,
        lb_api_key,
        None,
        deeplake_creds,
        deeplake_org_id,
        deeplake_token,
        overwrite,
        fail_on_error,
        url_presigner,
        video_generator_batch_size,
        fail_on_labelbox_project_export_error,
        project_json,
        frame_storage,
        allowed_roots,
        frame_count_policy,
        progress,
    )


def create_dataset_from_video_annotation_project_with_custom_data_filler(
    deeplake_ds_path: str,
    project_id: str,
    lb_api_key: str,
    data_filler: dict[str, Callable[..., Any]],
    deeplake_creds: dict | None = None,
    deeplake_org_id: str | None = None,
    deeplake_token: str | None = None,
    overwrite: bool = False,
    fail_on_error: bool = False,
    url_presigner: Callable[[str], Any] | None = None,
    video_generator_batch_size: int = 100,
    fail_on_labelbox_project_export_error: bool = False,
    project_json: Any = None,
    *,
    allowed_roots: Iterable[str] | None = None,
    frame_count_policy: FrameCountPolicy = "fail",
    progress: ProgressSetting = None,
) -> tuple[Any, list[dict]]:
    """Like `create_dataset_from_video_annotation_project` with the seed's ``data_filler`` protocol:
    ``{"create_tensors": f(ds), "fill_data": f(ds, group_ids, frame_indexes, frames)}``."""
    return _create_dataset(
        "video",
        deeplake_ds_path,
        project_id,
        lb_api_key,
        data_filler,
        deeplake_creds,
        deeplake_org_id,
        deeplake_token,
        overwrite,
        fail_on_error,
        url_presigner,
        video_generator_batch_size,
        fail_on_labelbox_project_export_error,
        project_json,
        "jpeg",
        allowed_roots,
        frame_count_policy,
        progress,
    )


def create_dataset_from_image_annotation_project(
    deeplake_ds_path: str,
    project_id: str,
    lb_api_key: str,
    deeplake_creds: dict | None = None,
    deeplake_org_id: str | None = None,
    deeplake_token: str | None = None,
    overwrite: bool = False,
    fail_on_error: bool = False,
    url_presigner: Callable[[str], Any] | None = None,
    fail_on_labelbox_project_export_error: bool = False,
    project_json: Any = None,
    *,
    frame_storage: str = "jpeg",
    allowed_roots: Iterable[str] | None = None,
    progress: ProgressSetting = None,
) -> tuple[Any, list[dict]]:
    """Create an image dataset (image, image_idx, row_key) from a Labelbox image project (streamed, D14)."""
    return _create_dataset(
        "image",
        deeplake_ds_path,
        project_id,
        lb_api_key,
        None,
        deeplake_creds,
        deeplake_org_id,
        deeplake_token,
        overwrite,
        fail_on_error,
        url_presigner,
        32,
        fail_on_labelbox_project_export_error,
        project_json,
        frame_storage,
        allowed_roots,
        "fail",
        progress,
    )


def create_dataset_from_image_annotation_project_with_custom_data_filler(
    deeplake_ds_path: str,
    project_id: str,
    lb_api_key: str,
    data_filler: dict[str, Callable[..., Any]],
    deeplake_creds: dict | None = None,
    deeplake_org_id: str | None = None,
    deeplake_token: str | None = None,
    overwrite: bool = False,
    fail_on_error: bool = False,
    url_presigner: Callable[[str], Any] | None = None,
    fail_on_labelbox_project_export_error: bool = False,
    project_json: Any = None,
    *,
    allowed_roots: Iterable[str] | None = None,
    progress: ProgressSetting = None,
) -> tuple[Any, list[dict]]:
    """Like `create_dataset_from_image_annotation_project` with the seed's ``data_filler`` protocol:
    ``{"create_tensors": f(ds), "fill_data": f(ds, images, indexes)}`` (called in batches of 32 images)."""
    return _create_dataset(
        "image",
        deeplake_ds_path,
        project_id,
        lb_api_key,
        data_filler,
        deeplake_creds,
        deeplake_org_id,
        deeplake_token,
        overwrite,
        fail_on_error,
        url_presigner,
        32,
        fail_on_labelbox_project_export_error,
        project_json,
        "jpeg",
        allowed_roots,
        "fail",
        progress,
    )


# ---------------------------------------------------------------------------------------------- converters
class LabelboxConverter:
    """Applies a project's current labels to the dataset given by ``deeplake_ds_loader`` (the seed's converter).

    Attributes:
        dataset: The dataset the loader returned.
        plan: The ontology column plan.
        project_id: The Labelbox project.
        last_result: The `ApplyResult` of the last `dataset_with_applied_annotations` call.
        progress: Progress bars of `dataset_with_applied_annotations` (None: auto; `lb_assets.progress`).
        data_rows: Data rows to convert (the total of the ``convert`` bar; None: unknown).
    """

    def __init__(
        self,
        dataset: Any,
        rows: list[dict],
        plan: OntologyPlan,
        project_id: str,
        media_type: str,
        masks: FetcherMaskSource,
        label_policy: str,
        strict: bool,
        generate_metadata: bool,
        metadata_prefix: str,
    ) -> None:
        self.dataset = dataset
        self.plan = plan
        self.project_id = project_id
        self.media_type = media_type
        self._rows = rows
        self._masks = masks
        self._policy = label_policy
        self._strict = strict
        self._generate_metadata = generate_metadata
        self._prefix = metadata_prefix
        self.last_result: ApplyResult | None = None
        self.progress: ProgressSetting = None
        self.data_rows: int | None = None

    def converted_rows(self, masks: Any = None) -> Iterator[ConvertedRow]:
        """Each data row converted once (one at a time; a duplicated data row id: its later row).

        ``masks`` replaces the converter's mask source (e.g. one counting fetches for a progress bar).
        """
        yield from iter_converted(
            self._rows,
            self.project_id,
            self.plan,
            policy=self._policy,
            strict=self._strict,
            masks=masks or self._masks,
            media_type=self.media_type,
        )

    def dataset_with_applied_annotations(
        self, commit_message: str | None = None, *, progress: ProgressSetting = None
    ) -> Any:
        """Rewrite every annotation column from the current labels and return the dataset.

        Changes are left uncommitted (the documented flow commits) unless ``commit_message`` is given.
        Deleted labels disappear (full rewrite, D21); rows are matched by ``row_key`` (D18). Progress bars
        (data rows converted, masks fetched, rows written) follow ``progress``, else the converter's.
        """
        ds = self.dataset
        if current_branch(ds) != "main" and "main" in branch_names(ds):
            sync_branch(ds, "main")  # the branch holds every frame of main before labels are written
        with Bars(self.progress if progress is None else progress) as bars:
            tracked = ConversionBars(bars, self.data_rows, len(ds))
            rows = tracked.wrap(self.converted_rows(tracked.masks(self._masks)))
            self.last_result = apply_annotations(
                ds, rows, self.plan, self._prefix, self._generate_metadata, commit_message
            )
            tracked.done()
        return ds


def _check_dataset(ds: Any, project_id: str, media_type: str, fail_on_error: bool) -> None:
    meta = read_meta(ds) or {}
    problems = []
    if meta.get("project_id") != project_id:
        problems.append(f"labelbox_meta.project_id is {meta.get('project_id')!r}")
    if meta.get("type") != media_type:
        problems.append(f"labelbox_meta.type is {meta.get('type')!r}, not {media_type!r}")
    if schema.column_type(ds, schema.ROW_KEY) is None:
        problems.append("it has no row_key column")
    if problems:
        message = f"project {project_id}: the dataset does not match the project: " + "; ".join(problems)
        other_project = bool(meta.get("project_id")) and meta.get("project_id") != project_id
        if fail_on_error or other_project or schema.column_type(ds, schema.ROW_KEY) is None:
            raise IncompatibleDatasetsError(message)  # a full rewrite would empty another project's labels
        logger.warning(message)


def _converter(
    media_type: str,
    project_id: str,
    deeplake_ds_loader: Callable[[str], Any],
    lb_api_key: str,
    group_mapping: dict[str, str] | None,
    fail_on_error: bool,
    fail_on_labelbox_project_export_error: bool,
    generate_metadata: bool,
    metadata_prefix: str,
    project_json: Any,
    label_policy: str,
    strict: bool,
    allowed_roots: Iterable[str] | None,
    progress: ProgressSetting = None,
) -> LabelboxConverter | None:
    client = make_client(lb_api_key)
    with Bars(progress) as bars:
        rows = _project_json(client, project_id, project_json, fail_on_labelbox_project_export_error, bars)
    if not rows:
        logger.info("project %s: no data rows; no converter", project_id)
        return None
    infos = _infos(rows, project_id, media_type, fail_on_error)
    ontology = ontology_id_from_export(rows, project_id)
    if not ontology:
        raise ConfigError(f"project {project_id}: the export names no ontology (project_details.ontology_id)")
    plan = column_plan(fetch_ontology(client, ontology), media_type, group_mapping, meta_prefix=metadata_prefix)
    project_name = next((i.project_name for i in infos if i.project_name), project_id)
    ds = deeplake_ds_loader(project_name)
    _check_dataset(ds, project_id, media_type, fail_on_error)
    masks = FetcherMaskSource(_fetcher(None, lb_api_key, allowed_roots))
    converter = LabelboxConverter(
        ds, rows, plan, project_id, media_type, masks, label_policy, strict, generate_metadata, metadata_prefix
    )
    converter.progress, converter.data_rows = progress, len(infos)
    return converter


def converter_for_video_project_with_id(
    project_id: str,
    deeplake_ds_loader: Callable[[str], Any],
    lb_api_key: str,
    group_mapping: dict[str, str] | None = None,
    fail_on_error: bool = False,
    fail_on_labelbox_project_export_error: bool = False,
    generate_metadata: bool = True,
    metadata_prefix: str = "lb_meta",
    project_json: Any = None,
    *,
    label_policy: str = "latest",
    strict: bool = False,
    allowed_roots: Iterable[str] | None = None,
    progress: ProgressSetting = None,
) -> LabelboxConverter | None:
    """A converter applying a video project's labels to ``deeplake_ds_loader(project_name)``; None when the
    project has no data rows (as the seed). ``progress`` (bars for the export and for
    ``dataset_with_applied_annotations``): None = auto, True/False, or a text stream."""
    return _converter(
        "video",
        project_id,
        deeplake_ds_loader,
        lb_api_key,
        group_mapping,
        fail_on_error,
        fail_on_labelbox_project_export_error,
        generate_metadata,
        metadata_prefix,
        project_json,
        label_policy,
        strict,
        allowed_roots,
        progress,
    )


def converter_for_image_project_with_id(
    project_id: str,
    deeplake_ds_loader: Callable[[str], Any],
    lb_api_key: str,
    group_mapping: dict[str, str] | None = None,
    fail_on_error: bool = False,
    fail_on_labelbox_project_export_error: bool = False,
    generate_metadata: bool = True,
    metadata_prefix: str = "lb_meta",
    project_json: Any = None,
    *,
    label_policy: str = "latest",
    strict: bool = False,
    allowed_roots: Iterable[str] | None = None,
    progress: ProgressSetting = None,
) -> LabelboxConverter | None:
    """A converter applying an image project's labels (objects and global classifications, D10)."""
    return _converter(
        "image",
        project_id,
        deeplake_ds_loader,
        lb_api_key,
        group_mapping,
        fail_on_error,
        fail_on_labelbox_project_export_error,
        generate_metadata,
        metadata_prefix,
        project_json,
        label_policy,
        strict,
        allowed_roots,
        progress,
    )
