"""Small synthetic inputs for the store tests: videos encoded with PyAV, images, DataRowInfo, ConvertedRow."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from lb_assets.convert.convert import ConvertedRow
from lb_assets.convert.ontology import ColumnSpec, OntologyPlan
from lb_assets.convert.rows import DataRowInfo
from lb_assets.media.fetch import MediaFetcher

PID = "clstoreproject00000000001"
W, H = 32, 24


def frame_rgb(n: int) -> np.ndarray:
    """A recognisable frame: its brightness encodes the 1-based frame number ``n``."""
    return np.full((H, W, 3), min(250, 10 * n), dtype=np.uint8)


def write_video(path: Path, frames: int, rate: int = 10) -> Path:
    """An H.264 MP4 of ``frames`` frames (frame n has brightness 10*n)."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10", "threads": "1"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_rgb(i + 1), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_image(path: Path, value: int, fmt: str = "JPEG") -> Path:
    """A small image file of one grey level."""
    buf = io.BytesIO()
    Image.fromarray(np.full((H, W, 3), value, dtype=np.uint8)).save(buf, format=fmt)
    path.write_bytes(buf.getvalue())
    return path


def info(drid: str, path: Path | str, media_type: str = "video", frame_count: int | None = None,
         external_id: str | None = None, index: int = 0) -> DataRowInfo:
    """A DataRowInfo of one synthetic data row."""
    return DataRowInfo(
        data_row_id=drid, global_key=f"gk-{drid}", external_id=external_id if external_id is not None else Path(str(path)).name,
        row_data=str(path), media_type=media_type, width=W, height=H,
        frame_rate=29.97 if media_type == "video" else None, frame_count=frame_count,
        dataset_id="ds1", dataset_name="dataset one", project_name="store project", ontology_id="onto1",
        workflow_status="DONE", labels=[], raw={}, project_id=PID, row_index=index,
    )


def fetcher(root: Path) -> MediaFetcher:
    """A fetcher allowed to read ``root``."""
    return MediaFetcher(allowed_roots=(root,))


def plan(media_type: str = "video", **kinds: str) -> OntologyPlan:
    """A plan with the given columns (name -> kind); radio/checklist get class names a, b, c."""
    columns = {name: ColumnSpec(name, kind, ("a", "b", "c") if kind in ("radio", "checklist") else (), f"tool {name}")
               for name, kind in kinds.items()}
    return OntologyPlan(columns=columns, media_type=media_type)


def converted(row_info: DataRowInfo, values: dict[str, dict[int, Any]], n_rows: int | None = None) -> ConvertedRow:
    """A ConvertedRow with ``values[column][row offset] = value`` and None elsewhere."""
    n = n_rows if n_rows is not None else (row_info.frame_count if row_info.media_type == "video" else 1)
    full = {col: [per_row.get(i) for i in range(n)] for col, per_row in values.items()}
    return ConvertedRow(info=row_info, n_rows=n, values=full, skipped=Counter())


def box(*ltwh: float) -> np.ndarray:
    """A (1, 4) float32 LTWH box."""
    return np.asarray([ltwh], dtype=np.float32)
