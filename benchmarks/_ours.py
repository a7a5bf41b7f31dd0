"""Adapters from benchmark inputs (generated files) to lb_assets' public API.

Only the contract in docs/architecture.md is used: export-v2 rows go through
``lb_assets.convert.rows.parse_row``; frames are built by ``lb_assets.store.frames.build_frame_dataset``
with a ``lb_assets.media.fetch.MediaFetcher`` restricted to the benchmark's temp dir.
If a module has not landed yet, ``Unavailable`` names it (the benchmark then prints SKIP lines).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from _harness import Unavailable

PROJECT_ID = "clbenchproject00000000001"
ONTOLOGY_ID = "clbenchontology0000000001"


def require(module: str) -> Any:
    """Import an lb_assets module or raise Unavailable naming it and the import error."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{module} not importable: {exc}") from None


def data_row_id(index: int) -> str:
    """A cuid-like, deterministic data row id."""
    return f"clbenchrow{index:015d}"


def video_row(index: int, path: Path, width: int, height: int, frames: int, fps: float = 30.0) -> dict[str, Any]:
    """An export-v2 row (no labels) for a local video file."""
    return {
        "data_row": {
            "id": data_row_id(index),
            "global_key": f"bench-video-{index}",
            "external_id": f"{path.name}#{index}",
            "row_data": str(path),
            "details": {"dataset_id": "clbenchdataset00000000001", "dataset_name": "bench"},
        },
        "media_attributes": {
            "width": width, "height": height, "mime_type": "video/mp4",
            "frame_rate": fps, "frame_count": frames, "asset_type": "video",
        },
        "projects": {PROJECT_ID: {
            "name": "bench video", "labels": [],
            "project_details": {"ontology_id": ONTOLOGY_ID, "workflow_status": "DONE"},
        }},
    }


def image_row(index: int, path: Path, width: int, height: int, mime_type: str) -> dict[str, Any]:
    """An export-v2 row (no labels) for a local image file."""
    return {
        "data_row": {
            "id": data_row_id(index),
            "global_key": f"bench-image-{index}",
            "external_id": f"{path.name}#{index}",
            "row_data": str(path),
            "details": {"dataset_id": "clbenchdataset00000000001", "dataset_name": "bench"},
        },
        "media_attributes": {"width": width, "height": height, "mime_type": mime_type, "asset_type": "image"},
        "projects": {PROJECT_ID: {
            "name": "bench image", "labels": [],
            "project_details": {"ontology_id": ONTOLOGY_ID, "workflow_status": "DONE"},
        }},
    }


def parse_rows(rows: list[dict[str, Any]]) -> list[Any]:
    """Export rows -> DataRowInfo via lb_assets.convert.rows.parse_row."""
    rows_mod = require("lb_assets.convert.rows")
    return [rows_mod.parse_row(row, PROJECT_ID, i) for i, row in enumerate(rows)]


def make_fetcher(root: Path) -> Any:
    """A MediaFetcher allowed to read local files below ``root``."""
    fetch = require("lb_assets.media.fetch")
    return fetch.MediaFetcher(allowed_roots=(root,))


def open_dataset(path: str, overwrite: bool = True) -> Any:
    """A fresh Deep Lake dataset through lb_assets.store.datasets.open_or_create."""
    datasets = require("lb_assets.store.datasets")
    return datasets.open_or_create(path, overwrite=overwrite)


def build_frames(ds_path: str, rows: list[dict[str, Any]], root: Path, storage: str, **options: Any) -> Any:
    """Build a frame dataset at ``ds_path`` from export rows with our build_frame_dataset."""
    frames = require("lb_assets.store.frames")
    infos = parse_rows(rows)
    fetcher = make_fetcher(root)
    ds = open_dataset(ds_path)
    return ds, frames.build_frame_dataset(ds, infos, fetcher, storage=storage, **options)
