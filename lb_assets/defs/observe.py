"""What the assets observe while a run streams by: coverage and preview (`ConversionTap`), progress in the run
log (`ProgressLogger`), the size of a dataset on disk.

Plain Python (loggers are passed in); the pipeline itself is `lb_assets.pipeline`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lb_assets.defs.preview import PreviewPicker, annotation_summary

logger = logging.getLogger(__name__)

TABLE_ROWS = 10
#: data rows with dropped geometry named one by one in the run log (then only the final summary)
INVALID_ROWS_LOGGED = 20


class ConversionTap:
    """Counts coverage and collects a preview candidate and table rows while converted rows stream by.

    Attributes:
        skipped: Annotations skipped (unknown tools/kinds, ...), by feature name.
        invalid: Geometries dropped as undrawable, by reason (``ConvertedRow.invalid`` summed).
        invalid_by_data_row: Data row id -> its drops by reason (data rows without drops are absent).
        clipped: Boxes clipped to the frame.
    """

    def __init__(self, plan: Any, log: Any = logger, project_id: str = "") -> None:
        self.kinds = {name: spec.kind for name, spec in plan.columns.items()}
        self.picker = PreviewPicker(self.kinds)
        self.log = log
        self.project_id = project_id
        self.data_rows = 0
        self.labeled_data_rows = 0
        self.frames = 0
        self.labeled_frames = 0
        self.skipped: Counter[str] = Counter()
        self.invalid: Counter[str] = Counter()
        self.invalid_by_data_row: dict[str, Counter[str]] = {}
        self.clipped = 0
        self.table: list[dict[str, Any]] = []
        self._started = self._last_log = time.monotonic()

    def wrap(self, rows: Iterable[Any]) -> Iterator[Any]:
        """Yield the rows unchanged, observing each."""
        for converted in rows:
            self._observe(converted)
            yield converted
        if self.invalid:
            self.log.warning(
                f"Project {self.project_id}: dropped {sum(self.invalid.values())} undrawable geometries "
                f"{dict(self.invalid)} in {len(self.invalid_by_data_row)} data rows"
            )
        if self.clipped:
            self.log.info(f"Project {self.project_id}: clipped {self.clipped} boxes to their frame")

    def _observe_geometry(self, converted: Any) -> None:
        invalid = Counter(getattr(converted, "invalid", None) or {})
        self.clipped += int(getattr(converted, "clipped", 0) or 0)
        if not invalid:
            return
        drid = converted.info.data_row_id
        self.invalid.update(invalid)
        self.invalid_by_data_row.setdefault(drid, Counter()).update(invalid)
        if len(self.invalid_by_data_row) <= INVALID_ROWS_LOGGED:
            self.log.warning(f"Project {self.project_id}, data row {drid}: dropped undrawable geometry {dict(invalid)}")

    def _observe(self, converted: Any) -> None:
        from lb_assets.convert.rows import row_key

        info = converted.info
        video = str(info.media_type).lower() == "video"
        keys = [row_key(info.data_row_id, i + 1 if video else 0) for i in range(converted.n_rows)]
        labeled = [any(vals[i] is not None for vals in converted.values.values()) for i in range(converted.n_rows)]
        self.data_rows += 1
        self.frames += converted.n_rows
        self.labeled_frames += sum(labeled)
        self.labeled_data_rows += int(any(labeled))
        self.skipped.update(getattr(converted, "skipped", None) or {})
        self._observe_geometry(converted)
        self.picker.offer(keys, converted.values)
        for i, key in enumerate(keys):
            if len(self.table) >= TABLE_ROWS:
                break
            if labeled[i] or i == 0:
                row_values = {col: vals[i] for col, vals in converted.values.items()}
                self.table.append(
                    {
                        "row_key": key,
                        "global_key": info.global_key or "",
                        "workflow_status": info.workflow_status or "",
                        "annotations": annotation_summary(row_values) or "(none)",
                    }
                )
                if len(self.table) % 3 == 0:
                    break  # a few rows per data row, so the table shows several data rows
        if time.monotonic() - self._last_log > 5:
            self._last_log = time.monotonic()
            self.log.info(f"Project {self.project_id}: converted {self.data_rows} data rows ({self.frames} rows)")

    def finish(self) -> str:
        """Log (and return) the step's summary line: ``<n> rows (<m> data rows) converted in <s> s``."""
        seconds = time.monotonic() - self._started
        line = (
            f"Project {self.project_id}: {self.frames} rows ({self.data_rows} data rows) converted in {seconds:.1f} s"
        )
        self.log.info(line)
        return line


def dataset_size(path: str) -> int | None:
    """Bytes on disk of a local dataset (None for remote paths)."""
    local = path[len("file://") :] if path.startswith("file://") else path
    if "://" in local or not Path(local).exists():
        return None
    return sum(p.stat().st_size for p in Path(local).rglob("*") if p.is_file())


#: event counters that count items done (running totals), in order of preference
ITEM_COUNTERS = ("rows_added", "frames_written", "images_written", "rows")


class ProgressLogger:
    """A ``progress(event)`` callback that logs at most every ``interval`` seconds (and every finished item).

    Attributes:
        items: Items done so far (the largest running total seen: rows added, frames or images written).
    """

    def __init__(self, log: Any, project_id: str, interval: float = 5.0) -> None:
        self.log = log
        self.project_id = project_id
        self.interval = interval
        self.items = 0
        self._last = 0.0
        self._started = time.monotonic()

    def finish(self, what: str = "items") -> str:
        """Log (and return) the step's summary line: ``<n> <what> in <s> s``."""
        line = f"Project {self.project_id}: {self.items} {what} in {time.monotonic() - self._started:.1f} s"
        self.log.info(line)
        return line

    def __call__(self, event: dict[str, Any]) -> None:
        counts = [int(event[k]) for k in ITEM_COUNTERS if isinstance(event.get(k), (int, float))]
        self.items = max([self.items, *counts])
        now = time.monotonic()
        finished = str(event.get("event", event.get("kind", ""))).endswith(("done", "finished", "complete"))
        if finished or now - self._last >= self.interval:
            self._last = now
            text = ", ".join(f"{k}={v}" for k, v in event.items())
            self.log.info(f"Project {self.project_id}: {text}")
