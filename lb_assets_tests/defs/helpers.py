"""Small helpers shared by the Dagster-layer tests."""

from typing import Any

import dagster as dg
import deeplake
import numpy as np

from lb_assets.defs.resources import StorageResource


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Metadata values of each asset materialized in a run, by asset name."""
    out: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Asset check outcomes of a run, by check name."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def open_datasets(project_id: str) -> tuple[Any, Any, Any]:
    """(frames main, labelbox branch, annotation dataset) of a project, read-only."""
    storage = StorageResource()
    frames = deeplake.open_read_only(storage.frames_path(project_id))
    branch = frames.branches["labelbox"].open()
    ann = deeplake.open_read_only(storage.annotations_path(project_id))
    return frames, branch, ann


def columns(ds: Any) -> set[str]:
    """Column names of a dataset."""
    return {c.name for c in ds.schema.columns}


def compare_truth(branch, keys, truth, video: bool) -> int:
    """Compare bbox values in the branch with the demo's ground truth; returns how many were compared."""
    compared = 0
    index = {k: i for i, k in enumerate(keys)}
    cols = columns(branch)
    for drid, per_frame in _truth_rows(truth, video):
        for frame, values in per_frame.items():
            row = index.get(f"{drid}:{frame if video else 0}")
            if row is None:
                continue
            for name, expected in values.items():
                if name not in cols or not _is_box(expected):
                    continue
                got = np.asarray(branch[name][row], dtype=np.float32).reshape(-1, 4)
                want = np.asarray(expected, dtype=np.float32).reshape(-1, 4)
                np.testing.assert_allclose(got, want, atol=0.51, err_msg=f"{drid} frame {frame} {name}")
                compared += 1
    return compared


def _truth_rows(truth, video: bool):
    section = truth.get("video" if video else "image", truth) if isinstance(truth, dict) else truth
    for drid, value in section.items():
        if not isinstance(value, dict):
            continue
        per_frame = value if video else {0: value}
        yield drid, {int(f): v for f, v in per_frame.items() if str(f).isdigit() and isinstance(v, dict)}


def _is_box(value) -> bool:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return False
    return arr.size > 0 and arr.size % 4 == 0 and arr.ndim >= 1 and arr.shape[-1] == 4


def dataset_rows(path: str) -> tuple[list[str], list[int], list[int], list[bytes]]:
    """(row keys, video_idx, frame_idx, stored frame bytes) of a video frame dataset, in row order."""
    ds = deeplake.open_read_only(path)
    frames = [bytes(b) for b in ds["frames"].get_bytes(slice(0, len(ds)))]
    return ([str(k) for k in ds["row_key"][:]], np.asarray(ds["video_idx"][:]).ravel().tolist(),
            np.asarray(ds["frame_idx"][:]).ravel().tolist(), frames)
