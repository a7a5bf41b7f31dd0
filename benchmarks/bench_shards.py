"""The sharded frame build: speed-up of 2 shards on one-core workers, and peak memory at 10x more videos.

Sections (one run prints both):

1. ``speedup``: a project of ``--videos`` synthetic H.264 clips (360p, ``--frames`` frames each) is built with
   1 shard and with 2 shards through the real pieces, as the Dagster graph does it: ``plan_shards`` + ``Stage.open``
   + ``create_shard_branches`` (plan step), then each shard's ``build_frame_dataset(branch, ..., commit_every=25,
   meta_key=None, source_indexes=...)`` in its own process (the shard steps), then a fresh open, ``merge_shards``
   and ``Stage.publish`` with the blocking frame-count check and the media audit (publish step). Time = plan to
   published. Shard processes come from a ``forkserver`` that imported Deep Lake, PyAV and lb_assets once (like
   long-lived workers; ``--start-method spawn``: a fresh interpreter each, start-up and imports inside the
   timing). *Pinned*: each shard process pins every thread to ONE CPU first thing (``os.sched_setaffinity``;
   a spawned child is pinned from birth too) and reports the CPUs its threads may use at the end, different CPUs
   for the two shards: workers with one core each. *Unpinned*: the same with both cores for every process.
   Variants run round-robin per repeat; the median is reported, plus a load-independent estimate from the shard
   processes' CPU time. The published ``main`` of every build is compared row by row (row key, video/frame
   index, stored frame bytes) and ``labelbox_meta``.
2. ``memory``: ``build_frame_dataset`` of N and 10N videos, ``commit_every=25`` (the asset's default) vs
   ``None`` (one commit at the end), each in a fresh process: peak RSS above the process's RSS before the call
   (VmHWM reset; median of ``--mem-repeats``), and the RSS after each video, to see where memory grows. Then
   *Deep Lake alone* doing the same writes (frames encoded before the baseline; same columns, appends and
   commits, no decoding): how much of the growth is Deep Lake's own.

Usage: ``python benchmarks/bench_shards.py [--videos 20] [--frames 150] [--repeats 2] [--mem-n 4] [--quick]``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ours  # noqa: E402
import media_gen  # noqa: E402
from _harness import (  # noqa: E402
    Unavailable,
    cpu_count,
    ratio_line,
    read_status_kb,
    record_error,
    run_isolated,
    workdir_session,
)

TARGET_SPEEDUP = 1.7
TARGET_MEMORY = 1.2
COMMIT_EVERY = 25  # FramesConfig.commit_every's default
OWNER = "bench"


# ------------------------------------------------------------------------------------------- shard worker
def _thread_cpus() -> list[int]:
    """The CPUs every thread of this process may run on (union over /proc/self/task)."""
    cpus: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            cpus |= os.sched_getaffinity(int(tid))
        except OSError:  # the thread ended meanwhile
            pass
    return sorted(cpus)


def shard_worker(ds_path: str, rows: list[dict[str, Any]], root: str, branch: str, source_indexes: dict[str, int],
                 cpu: int | None, commit_every: int | None, queue: Any) -> None:
    """One shard step: build the shard's data rows on its branch (in a spawned process, maybe pinned)."""
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
            for tid in os.listdir("/proc/self/task"):  # threads a library re-created after the fork, if any
                os.sched_setaffinity(int(tid), {cpu})
        started = time.perf_counter()
        from lb_assets.store.datasets import open_or_create
        from lb_assets.store.frames import build_frame_dataset

        imported = time.perf_counter()
        cpu_before = time.process_time()
        parent = open_or_create(ds_path)
        ds = parent.branches[branch].open()
        result = build_frame_dataset(ds, _ours.parse_rows(rows), _ours.make_fetcher(Path(root)), storage="jpeg",
                                     commit_every=commit_every, meta_key=None, source_indexes=source_indexes)
        queue.put(("ok", {"rows": result.rows_added, "import_s": imported - started,
                          "build_s": time.perf_counter() - imported, "cpu_s": time.process_time() - cpu_before,
                          "cpus": _thread_cpus()}))
    except BaseException:  # noqa: BLE001 - reported to the parent
        queue.put(("error", {"reason": traceback.format_exc()}))


def _noop() -> None:
    """Warms up the forkserver (its preloads are imported once, before any timing)."""


def shard_context(method: str) -> Any:
    """The multiprocessing context of the shard processes, started and warmed up.

    ``forkserver`` (default): a server process that imported Deep Lake, PyAV and lb_assets once forks every shard
    process, like long-lived workers (Celery) that take steps without a fresh interpreter. ``spawn``: a fresh
    interpreter per shard (Dagster's multiprocess executor default), start-up and imports inside the timing.
    """
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["__main__", "deeplake", "av", "numpy", "lb_assets.store.frames",
                                    "lb_assets.store.datasets", "lb_assets.media.fetch", "lb_assets.convert.rows"])
    proc = ctx.Process(target=_noop)
    proc.start()
    proc.join()
    return ctx


def _start_pinned(ctx: Any, cpu: int | None, **kwargs: Any) -> Any:
    """Start a shard process; pinned to ``cpu`` when not None.

    The child pins itself first thing (a forked child has one thread then, so every thread it makes inherits the
    CPU); a spawned child is pinned from birth too (inherited from this thread while it starts).
    """
    proc = ctx.Process(target=shard_worker, kwargs={"cpu": cpu, **kwargs})
    if cpu is None or ctx.get_start_method() != "spawn":
        proc.start()
        return proc
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        proc.start()
    finally:
        os.sched_setaffinity(0, before)
    return proc


def sharded_build(ds_path: str, rows: list[dict[str, Any]], root: str, shards: int, pinned: bool, ctx: Any,
                  commit_every: int | None = COMMIT_EVERY) -> dict[str, Any]:
    """Plan, branch, build the shards in parallel processes, merge and publish; the times of each phase."""
    from lb_assets.defs.checks import check_frame_counts
    from lb_assets.store.datasets import open_or_create
    from lb_assets.store.row_keys import read_row_keys
    from lb_assets.store.publish import Stage
    from lb_assets.store.shards import create_shard_branches, merge_shards, plan_shards
    from lb_assets.store.verify import verify_media

    infos = _ours.parse_rows(rows)
    total_frames = sum(int(i.frame_count or 1) for i in infos)
    shard_frames = math.ceil(total_frames / shards)
    by_id = {r["data_row"]["id"]: r for r in rows}
    cpus = sorted(os.sched_getaffinity(0))

    t0 = time.perf_counter()
    # plan step
    published = open_or_create(ds_path)
    plan = plan_shards(published, infos, shard_frames)
    stage = Stage.open(published, ds_path, OWNER)
    with stage.writing():
        create_shard_branches(stage.ds, plan, "jpeg")
    del stage, published
    t_plan = time.perf_counter()
    # shard steps, in parallel
    queue = ctx.Queue()
    procs = []
    for n, shard in enumerate(plan.shards):
        cpu = cpus[n % len(cpus)] if pinned else None
        procs.append(_start_pinned(ctx, cpu, ds_path=ds_path, rows=[by_id[d] for d in shard.data_row_ids],
                                   root=root, branch=shard.branch, source_indexes=shard.source_indexes,
                                   commit_every=commit_every, queue=queue))
    reports = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    errors = [r[1]["reason"] for r in reports if r[0] != "ok"]
    if errors:
        raise RuntimeError(f"a shard failed:\n{errors[0]}")
    t_shards = time.perf_counter()
    # publish step (a fresh open, like the publish step of another process)
    published = open_or_create(ds_path)
    stage = Stage.open(published, ds_path, OWNER)
    with stage.writing():
        stage.ds.metadata[stage.meta_key] = plan.meta
        merge_shards(stage.ds, plan)
    t_merge = time.perf_counter()
    check, version = stage.publish(
        f"bench: publish {shards} shard(s)",
        check=lambda staged: check_frame_counts(read_row_keys(staged), infos),
        audits=(lambda staged: verify_media(staged, "frames", stage.rows_before, len(staged), stage.name),),
    )
    t_done = time.perf_counter()
    if check is None or not check.passed:
        raise RuntimeError(f"{shards}-shard build not published: the frame-count check failed ({check})")
    return {
        "seconds": t_done - t0, "plan": t_plan - t0, "shards": t_shards - t_plan, "merge": t_merge - t_shards,
        "publish": t_done - t_merge, "n_shards": len(plan.shards), "rows": total_frames,
        "workers": [r[1] for r in reports],
    }


def published_digest(ds_path: str) -> tuple[list[tuple[str, int, int, str]], Any]:
    """(row key, video_idx, frame_idx, sha1 of the stored frame bytes) of every row of main, and labelbox_meta."""
    from lb_assets.store.atomic import read_meta
    from lb_assets.store.datasets import open_read_only

    ds = open_read_only(ds_path)
    n = len(ds)
    out: list[tuple[str, int, int, str]] = []
    for first in range(0, n, 512):
        last = min(first + 512, n)
        keys = [str(k) for k in ds["row_key"][first:last]]
        vids = [int(v) for v in ds["video_idx"][first:last]]
        fids = [int(v) for v in ds["frame_idx"][first:last]]
        blobs = ds["frames"].get_bytes(slice(first, last))
        out.extend((k, v, f, hashlib.sha1(bytes(b)).hexdigest())
                   for k, v, f, b in zip(keys, vids, fids, blobs, strict=True))
    return out, read_meta(ds)


def _clips(work: Path, res: str, frames: int, count: int) -> list[media_gen.VideoSpec]:
    width, height = media_gen.resolution(res)
    return [media_gen.write_video(work / "media" / f"clip_{res}_{frames}_{i}.mp4", width, height, frames, seed=i)
            for i in range(count)]


def _video_rows(clips: list[media_gen.VideoSpec], n: int) -> list[dict[str, Any]]:
    return [_ours.video_row(i, clips[i % len(clips)].path, clips[i % len(clips)].width,
                            clips[i % len(clips)].height, clips[i % len(clips)].frames) for i in range(n)]


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def bench_speedup(work: Path, videos: int, frames: int, res: str, distinct: int, repeats: int,
                  start_method: str = "forkserver") -> None:
    """Section 1: 1 vs 2 shards, pinned (one CPU per shard process) and unpinned; identical results."""
    clips = _clips(work, res, frames, min(distinct, videos))
    rows = _video_rows(clips, videos)
    ctx = shard_context(start_method)
    print(f"\n== sharded build: {videos} videos x {frames} frames ({res}, {len(clips)} distinct clips), "
          f"{start_method} shard processes, median of {repeats}; load before: {_load()} ==")
    variants = {(pinned, shards): f"{'pinned' if pinned else 'unpinned'} {shards} shard(s)"
                for pinned in (True, False) for shards in (1, 2)}
    runs: dict[tuple[bool, int], list[dict[str, Any]]] = {v: [] for v in variants}
    failed: dict[tuple[bool, int], str] = {}
    digests: dict[tuple[bool, int], Any] = {}
    for rep in range(repeats):
        for variant, label in variants.items():
            if variant in failed:
                continue
            path = work / f"ds_shards_{'p' if variant[0] else 'u'}{variant[1]}"
            shutil.rmtree(path, ignore_errors=True)
            try:
                r = sharded_build(str(path), rows, str(work / "media"), variant[1], variant[0], ctx)
                r["load"] = _load()
                runs[variant].append(r)
                if rep == 0:
                    digests[variant] = published_digest(str(path))
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                failed[variant] = record_error(label, exc)
            shutil.rmtree(path, ignore_errors=True)

    med: dict[tuple[bool, int], float] = {}
    for variant, label in variants.items():
        if variant in failed:
            print(f"{label:20s} {failed[variant]}")
            continue
        rs = runs[variant]
        med[variant] = statistics.median(r["seconds"] for r in rs)
        best = min(rs, key=lambda r: abs(r["seconds"] - med[variant]))
        workers = "; ".join(f"import {w['import_s']:.1f} s + build {w['build_s']:.1f} s (CPU {w['cpu_s']:.1f} s) "
                            f"on CPUs {w['cpus']}"
                            for w in best["workers"])
        times = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        loads = ", ".join(r["load"] for r in rs)
        print(f"{label:20s} {med[variant]:6.2f} s ({best['rows'] / med[variant]:6.1f} fps; runs {times}; "
              f"load after {loads})")
        print(f"{'':20s} plan+branches {best['plan']:.2f} s, shards {best['shards']:.2f} s, merge "
              f"{best['merge']:.2f} s, check+publish {best['publish']:.2f} s; {workers}")

    for pinned, name, target in ((True, "pinned one CPU per shard", TARGET_SPEEDUP), (False, "unpinned", None)):
        a, b = med.get((pinned, 1)), med.get((pinned, 2))
        why = failed.get((pinned, 1)) or failed.get((pinned, 2)) or ""
        ratio_line(f"shards speedup 1/2 shards ({name})", a / b if a and b else None, target, why=why)
    # Load-independent view of the pinned runs: with a core to itself a pinned shard's wall time is its CPU time,
    # so (serial parts + CPU of the 1 shard) / (serial parts + CPU of the slower of 2 shards) is what dedicated
    # one-core workers would get; contention from other processes only enters the measured ratio above.
    est = []
    for shards in (1, 2):
        rs = runs.get((True, shards)) or []
        if rs:
            est.append(statistics.median(r["plan"] + r["merge"] + r["publish"] + max(w["cpu_s"] for w in r["workers"])
                                         for r in rs))
    ratio_line("shards speedup 1/2 shards (pinned, CPU-time estimate for uncontended cores)",
               est[0] / est[1] if len(est) == 2 else None, why="a pinned variant failed")

    if len(digests) >= 2:
        (ref_variant, (ref_rows, ref_meta)), *others = digests.items()
        same = all(rows_ == ref_rows and meta == ref_meta for _, (rows_, meta) in others)
        mismatch = [variants[v] for v, (rows_, meta) in others if rows_ != ref_rows or meta != ref_meta]
        print(f"IDENTICAL {'yes' if same else 'NO'}: published main of {', '.join(variants[v] for v in digests)}: "
              f"{len(ref_rows)} rows, row keys, video/frame index, frame bytes (sha1) and labelbox_meta"
              + ("" if same else f"; differ: {mismatch}"))
        if not same:
            record_error("shards identical", RuntimeError(f"published rows differ: {mismatch}"))


# ------------------------------------------------------------------------------------------------ memory
def mem_build(ds_path: str, rows: list[dict[str, Any]], root: str, commit_every: int | None) -> dict[str, Any]:
    """build_frame_dataset of ``rows`` on a fresh dataset; RSS after every video (in the isolated child)."""
    from lb_assets.store.frames import build_frame_dataset

    rss: list[float] = []

    def progress(event: dict[str, Any]) -> None:
        if event.get("event") == "video_done":
            rss.append(read_status_kb("VmRSS") / 1024.0)

    ds = _ours.open_dataset(ds_path)
    build_frame_dataset(ds, _ours.parse_rows(rows), _ours.make_fetcher(Path(root)), storage="jpeg",
                        commit_every=commit_every, progress=progress)
    # VmHWM (reset by the harness at the baseline), not ru_maxrss: a spawned child's ru_maxrss starts at the
    # parent's RSS (Linux keeps the pre-exec high-water mark)
    return {"rows": len(ds), "rss_after_video": rss, "hwm_mb": read_status_kb("VmHWM") / 1024.0}


def _prepare_imports(**kwargs: Any) -> dict[str, Any]:
    """Untimed imports before the child's memory baseline."""
    import deeplake  # noqa: F401

    for module in ("lb_assets.convert.rows", "lb_assets.media.fetch", "lb_assets.store.frames",
                   "lb_assets.store.datasets"):
        _ours.require(module)
    return kwargs


def _prepare_encoded(**kwargs: Any) -> dict[str, Any]:
    """Untimed: the imports, and every frame of each distinct clip encoded as the build encodes it."""
    import av

    from lb_assets.media.encode import encode_jpeg_frame

    _prepare_imports()
    encoded = []
    for path in kwargs.pop("clip_paths"):
        with av.open(path) as container:
            encoded.append([encode_jpeg_frame(frame) for frame in container.decode(video=0)])
    return kwargs | {"encoded": encoded}


def mem_deeplake_alone(ds_path: str, count: int, encoded: list[list[bytes]], commit_every: int) -> dict[str, Any]:
    """Deep Lake alone doing the build's writes for ``count`` videos, frames encoded beforehand (no decoding, no
    threads of ours): the same columns, appends of 100 frames, a commit after ``commit_every`` videos or sooner
    after the video that brings the frames since the last commit to ``COMMIT_FRAMES``, then ``malloc_trim``."""
    import numpy as np

    from lb_assets.store.frames import COMMIT_FRAMES, _release_freed_memory, ensure_frame_columns

    ds = _ours.open_dataset(ds_path)
    ensure_frame_columns(ds, "video", "jpeg")
    rss: list[float] = []
    frames_since = videos_since = 0
    for video in range(count):
        frames = encoded[video % len(encoded)]
        for start in range(0, len(frames), 100):
            batch = frames[start : start + 100]
            n = len(batch)
            ds.append({"frames": batch, "frame_idx": np.arange(start, start + n, dtype=np.int32),
                       "video_idx": np.full(n, video, dtype=np.int32),
                       "row_key": [f"dr-{video}:{f}" for f in range(start + 1, start + n + 1)]})
            frames_since += n
        videos_since += 1
        if videos_since >= commit_every or frames_since >= COMMIT_FRAMES or video == count - 1:
            ds.commit(f"{video + 1} videos")
            _release_freed_memory()
            frames_since = videos_since = 0
        rss.append(read_status_kb("VmRSS") / 1024.0)
    return {"rows": len(ds), "rss_after_video": rss, "hwm_mb": read_status_kb("VmHWM") / 1024.0}


def _measure_peaks(label: str, n: int, repeats: int, path: Path, run: Any) -> tuple[list[float], str]:
    """Peak RSS of ``run(count)`` (one fresh process each) for N and 10N videos, median of ``repeats``, printed
    with the RSS trace; returns the two peaks (fewer on failure) and why one failed."""
    peaks: list[float] = []
    for count in (n, 10 * n):
        name = f"{label}, {count} videos"
        measured = []
        for _ in range(max(1, repeats)):
            try:
                measured.append(run(count))
            except (Unavailable, Exception) as exc:  # noqa: BLE001 - reported, the run goes on
                return peaks, str(exc) if isinstance(exc, Unavailable) else record_error(name, exc)
            finally:
                shutil.rmtree(path, ignore_errors=True)
        measured.sort(key=lambda x: x.peak_mb or 0.0)
        m = measured[len(measured) // 2]
        peaks.append(m.peak_mb or 0.0)
        if len(measured) > 1:
            name += f" (median of {', '.join(f'{x.peak_mb:.0f}' for x in measured)})"
        rss = m.extra["rss_after_video"]
        picks = sorted({min(len(rss), k) for k in (1, n, 10, 24, 25, 26, 30, 40, len(rss)) if k <= len(rss)})
        trace = ", ".join(f"{k}: {rss[k - 1]:.0f}" for k in picks)
        print(f"{name:32s}\n{'':4s}peak {m.peak_mb:6.1f} MB above baseline (VmHWM {m.extra['hwm_mb']:.0f} MB), "
              f"{m.seconds:5.1f} s; RSS MB after video {trace}")
    return peaks, ""


def bench_memory(work: Path, n: int, frames: int, res: str, distinct: int, quick: bool = False,
                 repeats: int = 1) -> None:
    """Section 2: peak RSS of N vs 10N videos: our build with commit_every=25 and None, and Deep Lake alone doing
    the same writes (fresh process each; median of repeats)."""
    from lb_assets.store import frames as frames_mod

    clips = _clips(work, res, frames, distinct)
    window = getattr(frames_mod, "COMMIT_FRAMES", None)
    media = str(work / "media")
    print(f"\n== memory: {n} vs {10 * n} videos x {frames} frames ({res}); fresh process each; commit window "
          f"{window} frames; load {_load()} ==")
    suffix = " (quick: no target)" if quick else ""
    for commit_every in (COMMIT_EVERY, None):
        path = work / f"ds_mem_{commit_every}"
        def build(count: int, path: Path = path, commit_every: int | None = commit_every) -> Any:
            return run_isolated(mem_build, _prepare=_prepare_imports, ds_path=str(path),
                                rows=_video_rows(clips, count), root=media, commit_every=commit_every)

        peaks, why = _measure_peaks(f"commit_every={commit_every}", n, repeats, path, build)
        value = peaks[1] / max(peaks[0], 1.0) if len(peaks) == 2 else None
        target = TARGET_MEMORY if commit_every is not None and not quick else None
        ratio_line(f"shards memory peak 10N/N commit_every={commit_every}{suffix}", value, target, "<=", why=why)
    path = work / "ds_mem_deeplake"
    peaks, why = _measure_peaks(f"Deep Lake alone, commit_every={COMMIT_EVERY}", n, repeats, path,
                                lambda count: run_isolated(
                                    mem_deeplake_alone, _prepare=_prepare_encoded, ds_path=str(path), count=count,
                                    clip_paths=[str(c.path) for c in clips], commit_every=COMMIT_EVERY))
    value = peaks[1] / max(peaks[0], 1.0) if len(peaks) == 2 else None
    ratio_line(f"shards memory peak 10N/N deeplake_alone commit_every={COMMIT_EVERY}", value, why=why)


def main(argv: list[str] | None = None) -> None:
    """Parse options and run the sections."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=20, help="videos of the speed-up project (default 20)")
    parser.add_argument("--frames", type=int, default=150, help="frames per video (default 150)")
    parser.add_argument("--resolution", default="360p", choices=sorted(media_gen.RESOLUTIONS))
    parser.add_argument("--distinct", type=int, default=4, help="distinct clips cycled over the data rows")
    parser.add_argument("--repeats", type=int, default=2, help="runs per speed-up variant (median)")
    parser.add_argument("--mem-n", type=int, default=4, help="N of the memory section (N vs 10N videos)")
    parser.add_argument("--mem-frames", type=int, default=150,
                        help="frames per video of the memory section (N videos must span more than one commit "
                             "window, lb_assets.store.frames.COMMIT_FRAMES, for the ratio to mean anything)")
    parser.add_argument("--start-method", default="forkserver", choices=["forkserver", "spawn"],
                        help="how shard processes start (spawn: a fresh interpreter each, inside the timing)")
    parser.add_argument("--mem-repeats", type=int, default=1, help="fresh-process runs per memory case (median)")
    parser.add_argument("--sections", default="speedup,memory")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each (smoke test)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here instead of a temp dir")
    args = parser.parse_args(argv)
    if args.quick:
        args.videos, args.frames, args.resolution, args.repeats = 4, 10, "240p", 1
        args.mem_n, args.mem_frames, args.distinct = 1, 10, 2
    sections = set(args.sections.split(","))
    print(f"bench_shards: {cpu_count()} CPUs, load {_load()}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lb_bench_shards_"))
    with workdir_session(work, keep=args.workdir is not None):
        if "speedup" in sections:
            bench_speedup(work, args.videos, args.frames, args.resolution, args.distinct, args.repeats,
                          args.start_method)
        if "memory" in sections:
            bench_memory(work, args.mem_n, args.mem_frames, args.resolution, args.distinct, args.quick,
                         args.mem_repeats)


if __name__ == "__main__":
    main()
