"""Build (or refresh) a frame dataset: decoded video frames or images, one row each, keyed by ``row_key``.

Videos are decoded frame by frame (`lb_assets.media.video.iter_decoded`, one decoder thread) on the calling
thread while a small thread pool encodes the previous frames: JPEG straight from the decoder's YUV 4:2:0
planes (`lb_assets.media.encode.encode_jpeg_frame`, libjpeg-turbo, no RGB round trip), PNG with our
`encode_png` (~3-4x less CPU than Deep Lake's). The encoded frames are appended as bytes (Deep Lake stores
them as given) in lists of at most `MAX_FRAME_BATCH` frames, one columnar ``ds.append({column: values})``
each, on one background thread. Images are fetched and appended in bounded batches, original JPEG/PNG bytes
passed through when they match the column's compression. Only data rows whose row keys are not in the dataset
yet are added (refresh). Decoded frames must equal Labelbox's ``frame_count`` (policy ``"fail"``; D5), checked
before anything is committed. ``labelbox_meta`` = ``{project_id, type, sources, project_name}`` is written
last and everything is committed once; on any failure the dataset is rolled back to its previous commit
(`lb_assets.store.atomic`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lb_assets.convert.rows import DataRowInfo, row_key
from lb_assets.errors import ConfigError, ExportRowError, IncompatibleDatasetsError, MediaError
from lb_assets.media.encode import default_workers, encode_in_pool, encode_jpeg_frame, encode_png
from lb_assets.media.image import encoded_passthrough, iter_image_batches, load_image
from lb_assets.media.video import FrameCountPolicy, frame_to_rgb, iter_decoded
from lb_assets.redact import redact_url
from lb_assets.store import schema
from lb_assets.store.atomic import META_KEY, atomic, commit, read_meta
from lb_assets.store.row_keys import present_data_rows
from lb_assets.store.verify import verify_rows

logger = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]
MAX_IMAGE_BATCH = 32  # the baseline: batches of 8-32 images keep memory at ~100-220 MB
BACKGROUND_APPEND = True  # append on a background thread while the next frames decode (+10-15% fps)
#: ffmpeg decoder threads per storage (None: ffmpeg's default). JPEG: two, measured on real footage on 2 cores
#: (1080p 0.58x -> 0.63x of plain decoding, 720p unchanged at 0.82x, CPU per frame a little lower); PNG: one,
#: so that its heavier encoders get the other core.
DECODER_THREADS: dict[str, int | None] = {"jpeg": 2, "png": 1}
#: JPEG frames: encoded by us straight from the decoder's YUV planes (`encode_jpeg_frame`, ~30% less CPU)
#: on the encoder threads, appended as bytes; False: RGB arrays encoded by Deep Lake inside ``append``.
JPEG_BY_US = True
#: Frames per encoder task: 4 (fewer thread hand-offs than one frame per task, which measured slower at 720p than
#: Deep Lake encoding in ``append``), and for frames smaller than 720p as many as make `ENCODE_TASK_PIXELS`, up to
#: `MAX_ENCODE_CHUNK`: synthetic 360p 16 frames per task built 15% faster with 14% less CPU than 4 (12 interleaved
#: runs); at 720p 8 frames per task and at 1080p 2 or 8 were within the noise of 4.
MIN_ENCODE_CHUNK = 4
MAX_ENCODE_CHUNK = 16
ENCODE_TASK_PIXELS = 4 * 1280 * 720
MAX_FRAME_BATCH = 32  # frames per append: 16-32 are as fast as 100 (and 64 slower), with a third of the memory
MAX_FRAME_BATCH_BYTES = 96 * 2**20  # decoded frames per append at most this size (1080p: 15 frames)


def _frame_batches(values: Iterable[Any], batch_size: int) -> Iterator[list[Any]]:
    """Lists of consecutive frames (arrays, no copy) or encoded frames (bytes) for one append each.

    At most ``min(batch_size, MAX_FRAME_BATCH)`` values and about ``MAX_FRAME_BATCH_BYTES`` of them (at
    least one). Encoded JPEG frames append as fast in lists of 32 as of 100 or 330 (~0.45 ms of CPU per
    720p frame, measured), so they use the same bound.
    """
    limit = max(1, min(batch_size, MAX_FRAME_BATCH))
    batch: list[Any] = []
    size = 0
    for value in values:
        batch.append(value)
        size += value.nbytes if isinstance(value, np.ndarray) else len(value)
        if len(batch) >= limit or size >= MAX_FRAME_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _chunks(frames: Iterable[Any]) -> Iterator[list[Any]]:
    """Consecutive lists of decoded frames, one per encoder task, sized by the first frame (`ENCODE_TASK_PIXELS`)."""
    chunk: list[Any] = []
    size = 0
    for frame in frames:
        if not size:
            fits = ENCODE_TASK_PIXELS // max(1, frame.width * frame.height)
            size = max(MIN_ENCODE_CHUNK, min(MAX_ENCODE_CHUNK, fits))
        chunk.append(frame)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _jpeg_of_frame(frame: Any, url: str) -> bytes:
    """JPEG bytes of a decoded frame, from its YUV planes (encoder threads)."""
    return encode_jpeg_frame(frame, source=url)


def _png_of_frame(frame: Any, url: str) -> bytes:
    """PNG bytes of a decoded frame (encoder threads; RGB conversion releases the GIL)."""
    return encode_png(frame_to_rgb(frame, url))


@dataclass
class FrameBuildResult:
    """What `build_frame_dataset` did.

    Attributes:
        rows_added: Dataset rows appended (frames or images).
        data_rows_added: Data rows (videos/images) appended.
        data_rows_skipped: Data rows already in the dataset (or repeated in ``infos``).
        commit_id: The dataset version after the build (unchanged when nothing was added).
        sources: ``labelbox_meta.sources`` after the build, in row order.
    """

    rows_added: int
    data_rows_added: int
    data_rows_skipped: int
    commit_id: str | None
    sources: list[str] = field(default_factory=list)


def source_of(info: DataRowInfo) -> str:
    """The seed's ``sources`` entry of a data row (external id, else row data), redacted."""
    return redact_url(info.external_id or info.row_data)


def _media_type(infos: Sequence[DataRowInfo], existing: dict | None) -> str:
    kinds = {str(i.media_type) for i in infos}
    if existing and existing.get("type"):
        kinds.add(str(existing["type"]))
    if len(kinds) > 1:
        raise ConfigError(f"cannot mix media types {sorted(kinds)} in one frame dataset")
    return kinds.pop() if kinds else "video"


def _project(infos: Sequence[DataRowInfo], existing: dict | None) -> tuple[str, str | None]:
    ids = {i.project_id for i in infos if i.project_id}
    if len(ids) > 1:
        raise ConfigError(f"data rows of several projects {sorted(ids)} given to one frame dataset")
    project_id = ids.pop() if ids else (existing or {}).get("project_id", "")
    if existing and existing.get("project_id") and project_id and existing["project_id"] != project_id:
        raise IncompatibleDatasetsError(
            f"the frame dataset holds project {existing['project_id']}, not project {project_id}"
        )
    name = next((i.project_name for i in infos if i.project_name), None) or (existing or {}).get("project_name")
    return str(project_id), name


def frame_meta(infos: Sequence[DataRowInfo], existing: dict | None) -> dict[str, Any]:
    """``labelbox_meta`` of a frame dataset holding ``existing``'s data rows (its sources so far, copied).

    Raises:
        ConfigError: Mixed media types or projects.
        IncompatibleDatasetsError: ``existing`` belongs to another project.
    """
    project_id, project_name = _project(infos, existing)
    return {
        "project_id": project_id,
        "type": _media_type(infos, existing),
        "sources": list((existing or {}).get("sources") or []),
        "project_name": project_name,
    }


def ensure_frame_columns(ds: Any, media_type: str, storage: str) -> str:
    """Create missing frame columns; return the storage actually used by the media column."""
    media_col = schema.media_column(media_type)
    existing = schema.column_type(ds, media_col)
    if existing is not None:
        used = schema.storage_of(getattr(existing, "sample_compression", None))
        if used != schema.storage_of(schema.compression_of(storage)):
            logger.warning("column %r is stored as %s; keeping it (requested storage %r)", media_col, used, storage)
        storage = used
    for name, dtype in schema.frame_columns(media_type, storage).items():
        schema.ensure_column(ds, name, dtype, f"{media_type} frame dataset column")
    extra = [c for c in schema.column_names(ds) if c not in schema.frame_columns(media_type, storage)]
    if extra:
        raise IncompatibleDatasetsError(
            f"the frame dataset has columns {extra} besides the frame columns; append frames on a branch without "
            "annotation columns (main) and bring them to the annotated branch with lb_assets.store.branches"
        )
    return storage


class _Appender:
    """``ds.append`` on one background thread, in order, at most one in flight.

    The caller decodes the next batch while Deep Lake encodes and writes the previous one (its
    ``append`` releases the GIL). `wait` re-raises an append's error in the caller's thread.
    """

    def __init__(self, ds: Any, report: Callable[[dict[str, Any]], None]) -> None:
        self.ds = ds
        self.report = report
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: tuple[Future[None], dict[str, Any]] | None = None

    def submit(self, values: dict[str, Any], event: dict[str, Any]) -> None:
        """Wait for the previous append, then start this one; ``event`` is reported once it is written."""
        self.wait()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lb_assets-append")
        self._inflight = (self._executor.submit(self.ds.append, values), event)

    def wait(self) -> None:
        """Wait for the append in flight (if any); raise its error."""
        if self._inflight is not None:
            future, event = self._inflight
            self._inflight = None
            future.result()
            self.report(event)

    def close(self) -> None:
        """Wait for the append in flight without raising (an error is already propagating), stop the thread."""
        if self._inflight is not None:
            future, _ = self._inflight
            self._inflight = None
            error = future.exception()
            if error is not None:
                logger.warning("a frame append failed while another error was handled: %s", error)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class _Builder:
    def __init__(
        self,
        ds: Any,
        fetcher: Any,
        storage: str,
        batch_size: int,
        policy: FrameCountPolicy,
        progress: Progress | None,
        media_type: str,
    ) -> None:
        self.ds = ds
        self.fetcher = fetcher
        self.storage = storage
        self.batch_size = batch_size
        self.policy = policy
        self.progress = progress
        self.media_type = media_type
        self.rows_added = 0
        self.items_done = 0
        # JPEG: ours from the decoder's YUV planes (no RGB round trip), or Deep Lake's own encoder inside
        # ds.append (JPEG_BY_US = False). PNG: ours (3-4x less CPU than Deep Lake's). Ours run on a
        # thread pool overlapped with decoding and are appended as bytes.
        png = schema.compression_of(storage) == "png"
        self.encode_frame: Callable[[Any, str], bytes] | None = (
            _png_of_frame if png else _jpeg_of_frame if JPEG_BY_US else None
        )
        self.storage_png = png
        self.decoder_threads = DECODER_THREADS["png" if png else "jpeg"]
        self.workers = default_workers()
        self.max_pending = self.workers + 1  # encoder tasks in flight (`_chunks` each)
        self._pool: ThreadPoolExecutor | None = None
        self.appender = _Appender(ds, self.report)

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The encoder threads (started on first use)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lb_assets-encode")
        return self._pool

    def close(self) -> None:
        """Stop the encoder and append threads (waiting for work in flight)."""
        self.appender.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def report(self, event: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress(event)

    def video(self, info: DataRowInfo, index: int, total: int) -> None:
        if info.frame_count is None:  # whatever the policy: its labels could not be placed on frames
            raise ExportRowError(
                f"project {info.project_id}: video has no media_attributes.frame_count to check decoded frames "
                "against (D5)",
                row_index=info.row_index,
                data_row_id=info.data_row_id,
            )
        decoded = 0
        try:
            url, headers = self.fetcher.open_url(info.row_data)
            frames = iter_decoded(
                url,
                headers=headers,
                expected_frames=info.frame_count,
                frame_count_policy=self.policy,
                decoder_threads=self.decoder_threads,
            )
            values: Iterator[Any]
            if self.encode_frame is None:
                values = (frame_to_rgb(frame, url) for frame in frames)  # Deep Lake encodes in ds.append
            else:
                encode_frame = self.encode_frame

                def encode(chunk: list[Any]) -> list[bytes]:  # runs on the encoder threads
                    return [encode_frame(frame, url) for frame in chunk]

                # this thread decodes while the pool converts and encodes the previous frames, a few per task
                chunks = encode_in_pool(_chunks(frames), encode, self.pool, self.max_pending)
                values = (data for chunk in chunks for data in chunk)
            for batch in _frame_batches(values, self.batch_size):
                n = len(batch)
                values_of_batch = {
                    "frames": batch,
                    "frame_idx": np.arange(decoded, decoded + n, dtype=np.int32),
                    "video_idx": np.full(n, index, dtype=np.int32),
                    schema.ROW_KEY: [row_key(info.data_row_id, f) for f in range(decoded + 1, decoded + n + 1)],
                }
                decoded += n
                self.rows_added += n
                event = {
                    "event": "frames_written",
                    "data_row_id": info.data_row_id,
                    "frames": decoded,
                    "frames_written": self.rows_added,
                }
                if BACKGROUND_APPEND:
                    self.appender.submit(values_of_batch, event)
                else:
                    self.ds.append(values_of_batch)
                    self.report(event)
                del batch, values_of_batch  # the appender holds the batch until it is written
            self.appender.wait()
        except MediaError as exc:
            raise type(exc)(f"project {info.project_id}, data row {info.data_row_id}: {exc}") from exc
        self.items_done += 1
        self.report(
            {
                "event": "video_done",
                "data_row_id": info.data_row_id,
                "frames": decoded,
                "videos_decoded": self.items_done,
                "videos_total": total,
                "frames_written": self.rows_added,
            }
        )

    def load_image(self, info: DataRowInfo) -> Any:
        try:
            data = self.fetcher.fetch_bytes(info.row_data)
            passthrough = encoded_passthrough(data, self.storage)
            if passthrough is not None:
                return passthrough
            pixels = load_image(data, source=redact_url(info.row_data))
            return encode_png(pixels) if self.storage_png else pixels  # PNG: our encoder, as bytes
        except MediaError as exc:
            raise type(exc)(f"project {info.project_id}, data row {info.data_row_id}: {exc}") from exc

    def images(self, items: list[tuple[DataRowInfo, int]], total: int) -> None:
        size = max(1, min(self.batch_size, MAX_IMAGE_BATCH))
        for batch, values in iter_image_batches(items, lambda item: self.load_image(item[0]), size):
            # deeplake 4.7.4 refuses bytes after an array in one append: one append per run of the same form
            start = 0
            while start < len(batch):
                stop = start + 1
                while stop < len(batch) and isinstance(values[stop], bytes) == isinstance(values[start], bytes):
                    stop += 1
                self.ds.append(
                    {
                        "image": values[start:stop],
                        "image_idx": np.asarray([idx for _, idx in batch[start:stop]], dtype=np.int32),
                        schema.ROW_KEY: [row_key(info.data_row_id, 0) for info, _ in batch[start:stop]],
                    }
                )
                start = stop
            self.rows_added += len(batch)
            self.items_done += len(batch)
            self.report({"event": "images_written", "images_written": self.items_done, "images_total": total})


def build_frame_dataset(
    ds: Any,
    infos: Iterable[DataRowInfo],
    fetcher: Any,
    storage: str = "jpeg",
    batch_size: int = 100,
    frame_count_policy: FrameCountPolicy = "fail",
    progress: Progress | None = None,
    before_commit: Callable[[], None] | None = None,
    commit_every: int | None = None,
    meta_key: str | None = META_KEY,
    source_indexes: dict[str, int] | None = None,
) -> FrameBuildResult:
    """Append the frames (video) or images of every data row not yet in ``ds``, and commit.

    Args:
        ds: A writable dataset (main of the frame dataset, or a staging branch); empty or built by this
            function before.
        infos: Parsed data rows of one project, in export order.
        fetcher: A `lb_assets.media.fetch.MediaFetcher` (presigner, allowed roots, retries).
        storage: ``"jpeg"`` (default) or ``"png"`` for a new dataset; an existing dataset keeps its own.
        batch_size: Frames per decoded batch and append (images: at most 32 per batch).
        frame_count_policy: ``"fail"``, ``"pad"`` or ``"truncate"`` (`lb_assets.media.video`).
        progress: Called with event dicts (``frames_written``, ``video_done``, ``images_written``,
            ``build_done``).
        before_commit: Called right before each commit (e.g. a free-space check); raising aborts the build.
        commit_every: Commit after every N data rows (videos or images), or sooner once `COMMIT_FRAMES` rows
            were appended since the last commit (after a whole data row), as well as at the end: memory stays
            bounded, and a build that dies resumes after the last commit (data rows already in ``ds`` are
            skipped). None: one commit at the end.
        meta_key: The metadata key to read and write ``labelbox_meta`` under (a staging branch uses its own
            key, so the published ``labelbox_meta``, shared by every branch, is not changed before publishing);
            when it is absent, ``labelbox_meta`` is read. None: write no metadata (a shard of a build; the
            step that publishes the shards writes it).
        source_indexes: The ``video_idx`` / ``image_idx`` of each data row, when a caller planned them (shards
            of one build share one ``sources`` list); default: after the existing sources, in order.

    Returns:
        The `FrameBuildResult`.

    Raises:
        FrameCountMismatchError: A video decoded to another number of frames than its ``frame_count``.
        MediaError: A video or image could not be fetched or decoded (names the data row).
        IncompatibleDatasetsError: ``ds`` holds another project or non-frame columns.
        ConfigError: Invalid settings or mixed media types.
    """
    if batch_size < 1 or (commit_every is not None and commit_every < 1):
        raise ConfigError(f"batch_size and commit_every must be >= 1, got {batch_size} and {commit_every}")
    infos = list(infos)
    existing_meta = read_meta(ds, meta_key) if meta_key is not None and meta_key != META_KEY else None
    existing_meta = existing_meta if existing_meta is not None else read_meta(ds)
    if not infos and existing_meta is None:  # a project with no data rows yet: nothing to decide or write
        logger.info("No data rows yet; the frame dataset is left as it is")
        return FrameBuildResult(0, 0, 0, str(ds.version) if len(ds) else None, [])
    media_type = _media_type(infos, existing_meta)
    project_id, project_name = _project(infos, existing_meta)
    with atomic(ds, f"building the frame dataset of project {project_id}", meta_key or META_KEY):
        rows_before = len(ds)
        storage = ensure_frame_columns(ds, media_type, storage)
        todo, sources, skipped = plan_build(ds, infos, existing_meta, source_indexes)
        builder = _Builder(ds, fetcher, storage, batch_size, frame_count_policy, progress, media_type)
        what = "frames" if media_type == "video" else "images"

        def checkpoint(done: int) -> str:
            builder.appender.wait()
            written = len(sources) - len(todo) + done
            if meta_key is not None:
                ds.metadata[meta_key] = {
                    "project_id": project_id,
                    "type": media_type,
                    "sources": sources[:written],
                    "project_name": project_name,
                }
            verify_rows(ds, rows_before + builder.rows_added, f"frame dataset of project {project_id}")
            if before_commit is not None:
                before_commit()
            return commit(
                ds,
                f"lb_assets: {builder.rows_added} {what} of {done} {media_type}(s) from Labelbox "
                f"project {project_id} ({storage}); {written} data rows in total",
            )

        try:
            commit_id = _build_in_steps(builder, todo, media_type, commit_every, checkpoint)
        finally:
            builder.close()
        if commit_id is None:
            commit_id = str(ds.version) if not todo and existing_meta is not None else checkpoint(len(todo))
    builder.report(
        {
            "event": "build_done",
            "rows_added": builder.rows_added,
            "data_rows_added": len(todo),
            "data_rows_skipped": skipped,
        }
    )
    logger.info(
        "Project %s: frame dataset +%d rows from %d data rows (%d already present)",
        project_id,
        builder.rows_added,
        len(todo),
        skipped,
    )
    return FrameBuildResult(builder.rows_added, len(todo), skipped, commit_id, sources)


def plan_build(
    ds: Any, infos: list[DataRowInfo], existing_meta: dict | None, source_indexes: dict[str, int] | None = None
) -> tuple[list[tuple[DataRowInfo, int]], list[str], int]:
    """The data rows to append with their source index, every source after the build, and how many are present."""
    present = present_data_rows(ds)
    sources = list((existing_meta or {}).get("sources") or [])
    todo: list[tuple[DataRowInfo, int]] = []
    skipped = 0
    for info in infos:
        if info.data_row_id in present:
            skipped += 1
            continue
        present.add(info.data_row_id)
        index = source_indexes[info.data_row_id] if source_indexes is not None else len(sources)
        todo.append((info, index))
        sources.append(source_of(info))
    return todo, sources, skipped


#: With intermediate commits (``commit_every``), also commit after the data row that brings the rows appended since
#: the last commit to at least this many: Deep Lake 4.7.4 holds uncommitted appends in RAM (~2x their stored size)
#: until the commit, so a window of data rows alone does not bound memory (25 long or large videos).
COMMIT_FRAMES = 128


def _release_freed_memory() -> None:
    """Give the allocator's freed pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    After a commit Deep Lake frees the appended chunks, but glibc keeps the freed pages of its arenas (fragmented
    by the encoder, decoder and append threads), so RSS kept growing across commits (bench_shards.py).
    """
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes
            import ctypes.util

            _MALLOC_TRIM = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "malloc_trim", False)
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any = None


def _build_in_steps(
    builder: _Builder,
    todo: list[tuple[DataRowInfo, int]],
    media_type: str,
    commit_every: int | None,
    checkpoint: Callable[[int], str],
) -> str | None:
    """Append every planned data row and commit; the last commit id.

    One commit at the end without ``commit_every``; with it, a commit after every ``commit_every`` data rows or,
    sooner, after the data row that brings the rows appended since the last commit to `COMMIT_FRAMES` (commits
    are at data row boundaries only: a resumed build skips the data rows already committed).
    """
    if commit_every is None:
        step, window = max(1, len(todo)), None
    else:
        step, window = commit_every, COMMIT_FRAMES
    if media_type != "video" and window is not None:
        step = min(step, window)  # an image is one row
    commit_id = None
    start = 0
    while start < len(todo):
        rows_at_commit = builder.rows_added
        stop = min(start + step, len(todo))
        if media_type == "video":
            done = start
            while done < stop:
                info, index = todo[done]
                builder.video(info, index, len(todo))
                done += 1
                if window is not None and builder.rows_added - rows_at_commit >= window:
                    break
            stop = done
        else:
            builder.images(todo[start:stop], len(todo))
        commit_id = checkpoint(stop)
        if commit_every is not None:
            _release_freed_memory()
        start = stop
    return commit_id
