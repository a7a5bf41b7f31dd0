"""Progress bars a person can see: tqdm bars fed by lb_assets' progress events (nothing here knows Dagster).

One bar per phase (export rows, videos, frames, images, converted data rows, masks, rows written), with
totals where the export knows them. Bars are shown when the output is a terminal or a notebook and are off
otherwise; ``progress=True|False`` (or a text stream to draw on) overrides that, and so does the environment
variable ``LB_ASSETS_PROGRESS`` (``1``/``0``; an explicit ``progress=`` wins). Bars redraw at most every
`MIN_INTERVAL` seconds and show only counts and phase names (text passes through `lb_assets.redact`).

The adapters turn the existing progress callbacks into bar updates:

* `ExportBar` — ``lb_assets.labelbox.export.export_project(progress=...)`` events (``export_rows``).
* `FrameBuildBars` — ``lb_assets.store.frames.build_frame_dataset(progress=...)`` events (``frames_written``,
  ``video_done``, ``images_written``, ``build_done``).
* `ConversionBars` — converted rows streaming into ``apply_annotations`` and the masks they fetch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Union

from lb_assets.redact import redact_text

logger = logging.getLogger(__name__)

ENV_VAR = "LB_ASSETS_PROGRESS"
MIN_INTERVAL = 0.5  # seconds between redraws of a bar: a few per second at most
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

#: ``progress=`` of the public functions: None (auto), True/False, or a text stream to draw the bars on
ProgressSetting = Union[bool, None, IO[str]]
Event = dict[str, Any]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython is only looked at when it is already imported)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _env_setting() -> bool | None:
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value not in ("", "auto"):
        logger.warning("%s=%r is not one of 0, 1, auto; using auto", ENV_VAR, value)
    return None


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def resolve(progress: ProgressSetting = None, stream: Any = None) -> tuple[bool, Any]:
    """Whether to show bars and the stream to draw them on (None: stderr, or the notebook's widgets).

    Order: an explicit ``progress`` (a stream counts as True), then ``$LB_ASSETS_PROGRESS``, then auto
    (on when ``stream`` — default ``sys.stderr`` — is a terminal or we run in a notebook).
    """
    if progress is not None and not isinstance(progress, bool):
        return True, progress
    if isinstance(progress, bool):
        return progress, stream
    env = _env_setting()
    if env is not None:
        return env, stream
    return _isatty(stream if stream is not None else sys.stderr) or in_notebook(), stream


class _NullBar:
    """A bar that draws nothing (progress off)."""

    n = 0
    total = None

    def update(self, n: float = 1) -> None:
        """Nothing."""

    def refresh(self) -> None:
        """Nothing."""

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


def _tqdm_class(stream: Any) -> Any:
    """tqdm's notebook widgets in a notebook with ipywidgets (and no explicit stream), else text bars."""
    if stream is None and in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm
    from tqdm import tqdm

    return tqdm


class Bars:
    """The bars of one operation: one per phase, created on first use, all closed by `close`.

    Args:
        progress: ``None`` (auto), True/False, or a text stream (see `resolve`).
        stream: Where text bars go when ``progress`` is not a stream (default ``sys.stderr``).
        mininterval: Seconds between redraws.
    """

    def __init__(self, progress: ProgressSetting = None, stream: Any = None, mininterval: float = MIN_INTERVAL) -> None:
        self.enabled, self.stream = resolve(progress, stream)
        self.mininterval = mininterval
        self._bars: dict[str, Any] = {}

    def bar(self, phase: str, total: float | None = None, unit: str = "it", **options: Any) -> Any:
        """The bar of ``phase`` (created with ``total`` and ``unit`` on first call; a no-op bar when off)."""
        if phase in self._bars:
            return self._bars[phase]
        if not self.enabled:
            self._bars[phase] = bar = _NullBar()
            return bar
        kwargs = dict(
            desc=redact_text(phase),
            total=total,
            unit=unit,
            mininterval=self.mininterval,
            dynamic_ncols=True,
            leave=True,
        )
        if self.stream is not None:
            kwargs["file"] = self.stream
        self._bars[phase] = bar = _tqdm_class(self.stream)(**(kwargs | options))
        return bar

    def get(self, phase: str) -> Any:
        """The open bar of ``phase``, or None."""
        return self._bars.get(phase)

    def advance_to(self, phase: str, n: float) -> None:
        """Set a bar to an absolute count (events carry running totals)."""
        bar = self._bars.get(phase)
        if bar is not None and n > bar.n:
            bar.update(n - bar.n)

    def set_total(self, phase: str, total: float) -> None:
        """Change a bar's total (e.g. once the number of items left to do is known)."""
        bar = self._bars.get(phase)
        if bar is not None and bar.total != total:
            bar.total = total
            bar.refresh()

    def finish(self, phase: str, total: float | None = None) -> None:
        """Close one phase's bar (at ``total``, when given), leaving its last line on screen."""
        bar = self._bars.pop(phase, None)
        if bar is None:
            return
        if total is not None:
            if bar.total is None or bar.total < total:
                bar.total = total
            if total > bar.n:
                bar.update(total - bar.n)
        bar.close()

    def close(self) -> None:
        """Close every open bar (in creation order)."""
        for phase in list(self._bars):
            self.finish(phase)

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def logs_above_bars(bars: Bars) -> Iterator[None]:
    """While bars are drawn, print the root logger's console lines above them (not through them).

    For command-line programs that own the root logger; library code leaves logging alone.
    """
    if not bars.enabled:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logging.getLogger()]):
        yield


class ExportBar:
    """``export_project(progress=...)``: rows streamed, with the bytes written after the count."""

    def __init__(self, bars: Bars, phase: str = "export") -> None:
        self.bars = bars
        self.phase = phase

    def __call__(self, event: Event) -> None:
        """Take an ``export_rows``/``export_done`` event (``rows``, ``bytes``)."""
        bar = self.bars.bar(self.phase, unit=" rows")
        self.bars.advance_to(self.phase, int(event.get("rows", 0)))
        size = event.get("bytes")
        if size is not None:
            bar.set_postfix_str(_size(int(size)), refresh=False)
        if event.get("event") == "export_done":
            self.bars.finish(self.phase)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


class FrameBuildBars:
    """``build_frame_dataset(progress=...)`` events as bars: videos + frames (frames/s), or images.

    Args:
        bars: The operation's bars.
        media_type: ``"video"`` or ``"image"``.
        items: Data rows that will be appended (the export's frame counts give the frames total).
    """

    def __init__(self, bars: Bars, media_type: str, items: Iterable[Any]) -> None:
        self.bars = bars
        self.media_type = media_type
        items = list(items)
        if media_type == "video":
            known = [int(i.frame_count) for i in items if getattr(i, "frame_count", None)]
            bars.bar("videos", total=len(items), unit=" videos")
            bars.bar("frames", total=sum(known) if len(known) == len(items) else None, unit=" frames")
        else:
            bars.bar("images", total=len(items), unit=" images")

    def __call__(self, event: Event) -> None:
        """Take one event of the frame builder."""
        kind = event.get("event")
        if kind == "frames_written":
            self.bars.advance_to("frames", int(event.get("frames_written", 0)))
        elif kind == "video_done":
            self.bars.set_total("videos", int(event.get("videos_total", 0)))
            self.bars.advance_to("videos", int(event.get("videos_decoded", 0)))
            self.bars.advance_to("frames", int(event.get("frames_written", 0)))
        elif kind == "images_written":
            self.bars.set_total("images", int(event.get("images_total", 0)))
            self.bars.advance_to("images", int(event.get("images_written", 0)))
        elif kind == "build_done":
            self.done()

    def done(self) -> None:
        """Close the bars at their final counts."""
        for phase in ("videos", "frames", "images"):
            bar = self.bars.get(phase)
            if bar is not None:
                self.bars.finish(phase, bar.n)


class _CountingMasks:
    """A ``MaskSource`` that counts fetched masks on a bar."""

    def __init__(self, source: Any, on_fetch: Callable[[], None]) -> None:
        self._source = source
        self._on_fetch = on_fetch

    def fetch(self, url: str) -> bytes:
        """Fetch through the wrapped source, then count."""
        data = self._source.fetch(url)
        self._on_fetch()
        return data


class ConversionBars:
    """Converted data rows, masks fetched and dataset rows written while annotations are applied.

    Args:
        bars: The operation's bars.
        data_rows: Data rows to convert (None: unknown).
        dataset_rows: Rows of the dataset being rewritten (every row is rewritten).
    """

    def __init__(self, bars: Bars, data_rows: int | None, dataset_rows: int) -> None:
        self.bars = bars
        self.dataset_rows = dataset_rows
        bars.bar("convert", total=data_rows, unit=" data rows")
        bars.bar("write", total=dataset_rows, unit=" rows")

    def masks(self, source: Any) -> Any:
        """``source`` (a ``MaskSource``) counting each fetch on the ``masks`` bar; None stays None."""
        if source is None or not self.bars.enabled:
            return source
        return _CountingMasks(source, lambda: self.bars.bar("masks", unit=" masks").update(1))

    def wrap(self, rows: Iterable[Any]) -> Iterator[Any]:
        """Yield converted rows unchanged; a row counts as written when the writer asks for the next one."""
        convert = self.bars.bar("convert")
        write = self.bars.bar("write")
        for row in rows:
            convert.update(1)
            yield row
            write.update(int(getattr(row, "n_rows", 0) or 0))

    def done(self) -> None:
        """Close the bars (every dataset row has been rewritten)."""
        convert = self.bars.get("convert")
        self.bars.finish("convert", convert.n if convert is not None else None)
        self.bars.finish("masks")
        self.bars.finish("write", self.dataset_rows)
