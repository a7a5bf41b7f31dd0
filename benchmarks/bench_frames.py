"""Frame-dataset build speed and memory: ours vs plain decode vs Deep Lake's Labelbox integration.

All variants run in the same process run on the same generated media, so the printed RATIO lines
compare like with like on this machine. Sections:

1. video fps: (a) PyAV decode to rgb24 arrays (the limit), (b) Deep Lake 4.7.4's integration path
   (``_process_video_data`` = ``frames_batch_generator_`` + ``fill_video_data_default_`` into an
   ``Image(sample_compression="png")`` column, batches of 100), (c) our ``build_frame_dataset`` with
   JPEG (default) and (d) PNG storage; plus two references that locate a shortfall: our media layer
   alone (``ours_decode``) and plain decode + JPEG appends (``ref_jpeg``). Variants run round-robin
   (each repeat runs every variant once); the PSNR of what our datasets store is printed too.
2. image project: our streaming build vs the integration's load-all-then-append
   (``_process_image_data``, D14), each in a fresh process: peak RSS above baseline and wall time.
3. scaling: peak RSS of our build for N and 10N data rows (video and image), target <= 1.5x.

Usage: ``python benchmarks/bench_frames.py [--resolution 360p|720p] [--frames N] [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ours  # noqa: E402
import media_gen  # noqa: E402
from _harness import (  # noqa: E402
    Measurement,
    Unavailable,
    cpu_count,
    dir_size_mb,
    median_seconds,
    psnr_of_stored,
    quiet_stdout,
    ratio_line,
    record_error,
    run_isolated,
    workdir_session,
)

TARGET_JPEG_VS_DECODE = 0.7
TARGET_JPEG_VS_DEEPLAKE = 10.0
TARGET_PNG_VS_DEEPLAKE = 2.0
TARGET_SCALING = 1.5


# ----------------------------------------------------------------------------------------------- variants
def decode_only(path: Path) -> int:
    """(a) Decode every frame to an rgb24 numpy array; return the frame count."""
    count = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


def ours_decode_only(path: Path, root: Path) -> int:
    """Reference: our media layer alone (MediaFetcher.open_url + iter_video_frames), no dataset writes."""
    fetcher = _ours.make_fetcher(root)
    video = _ours.require("lb_assets.media.video")
    url, headers = fetcher.open_url(str(path))
    return sum(len(batch) for batch in video.iter_video_frames(url, headers=headers, batch_size=100))


def reference_jpeg_append(ds_path: str, path: Path) -> None:
    """Reference: PyAV decode + append into a plain Image(jpeg) column in batches of 100, one commit."""
    import deeplake

    ds = deeplake.create(ds_path)
    ds.add_column("frames", deeplake.types.Image(sample_compression="jpeg"))
    batch: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            batch.append(frame.to_ndarray(format="rgb24"))
            if len(batch) == 100:
                ds.append({"frames": batch})
                batch = []
    if batch:
        ds.append({"frames": batch})
    ds.commit("frames")


def _integration() -> tuple[Any, Any, Any]:
    """Deep Lake's Labelbox integration modules (labelbox_, labelbox_utils, dataset_wrapper)."""
    from deeplake.integrations.labelbox import labelbox_ as lb_
    from deeplake.integrations.labelbox import labelbox_utils as lu
    from deeplake.integrations.labelbox.deeplake_utils import dataset_wrapper

    return lb_, lu, dataset_wrapper


def deeplake_video_path(ds_path: str, rows: list[dict[str, Any]]) -> None:
    """(b) The integration's video path: _process_video_data into a PNG Image column, batches of 100."""
    import deeplake

    lb_, lu, dataset_wrapper = _integration()
    wrapped = dataset_wrapper(deeplake.create(ds_path))
    filler = {"create_tensors": lu.create_video_tensors_default_, "fill_data": lu.fill_video_data_default_}
    filler["create_tensors"](wrapped)
    with quiet_stdout():
        lb_._process_video_data(rows, wrapped, filler, lambda url: (url, {}), video_generator_batch_size=100)
    wrapped.commit("frames")


class _LocalResponse:
    """Just enough of requests.Response for download_image_from_url_ on a local file."""

    def __init__(self, path: str) -> None:
        self.content = Path(path).read_bytes()

    def raise_for_status(self) -> None:
        """Local reads either worked or raised already."""


class _LocalRequests:
    """Stand-in for the ``requests`` module that labelbox_utils forgets to import (D1)."""

    @staticmethod
    def get(url: str, headers: dict[str, str] | None = None) -> _LocalResponse:
        return _LocalResponse(url)


def seed_images_load_all(ds_path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The integration's image path (_process_image_data): decode every image into one list, append once."""
    import deeplake

    lb_, lu, dataset_wrapper = _integration()
    lu.requests = _LocalRequests  # D1: the wheel's labelbox_utils never imports requests
    wrapped = dataset_wrapper(deeplake.create(ds_path))
    filler = {"create_tensors": lu.create_image_tensors_default_, "fill_data": lu.fill_image_data_default_}
    filler["create_tensors"](wrapped)
    with quiet_stdout():
        lb_._process_image_data(rows, wrapped, filler, lambda url: (url, {}))
    wrapped.commit("images")
    return {"rows": len(wrapped)}


def ours_build(ds_path: str, rows: list[dict[str, Any]], root: str, storage: str) -> dict[str, Any]:
    """(c)/(d) and the image/scaling runs: our build_frame_dataset."""
    ds, result = _ours.build_frames(ds_path, rows, Path(root), storage)
    return {"rows": len(ds), "result": repr(result)[:200]}


def _prepare_imports(**kwargs: Any) -> dict[str, Any]:
    """Untimed imports done in an isolated child before its memory baseline is taken; returns kwargs."""
    import deeplake  # noqa: F401

    _integration()
    for module in ("lb_assets.convert.rows", "lb_assets.media.fetch", "lb_assets.store.frames",
                   "lb_assets.store.datasets"):
        try:
            _ours.require(module)
        except Unavailable:
            pass
    return kwargs


# ----------------------------------------------------------------------------------------------- sections
def bench_video(work: Path, res: str, frames: int, repeats: int, noise: int = 8) -> None:
    """Section 1: fps of decode, integration path, ours JPEG and ours PNG."""
    width, height = media_gen.resolution(res)
    video = media_gen.write_video(work / "media" / f"clip_{res}.mp4", width, height, frames, noise=noise)
    rows = [_ours.video_row(0, video.path, width, height, frames)]
    print(f"\n== video frame dataset, {res} ({width}x{height}), {frames} frames, median of {repeats} ==")

    media = work / "media"
    paths = {name: work / f"ds_{name}" for name in ("ref_jpeg", "deeplake_png", "ours_jpeg", "ours_png")}
    variants: dict[str, Callable[[], Any]] = {
        "decode": lambda: decode_only(video.path),
        "ours_decode": lambda: ours_decode_only(video.path, media),
        "ref_jpeg": lambda: reference_jpeg_append(str(paths["ref_jpeg"]), video.path),
        "ours_jpeg": lambda: ours_build(str(paths["ours_jpeg"]), rows, str(media), "jpeg"),
        "deeplake_png": lambda: deeplake_video_path(str(paths["deeplake_png"]), rows),
        "ours_png": lambda: ours_build(str(paths["ours_png"]), rows, str(media), "png"),
    }
    # Round-robin: every repeat runs each variant once, so a burst of load from other processes on this
    # shared machine hits all variants alike instead of all repeats of one of them.
    runs: dict[str, list[float]] = {name: [] for name in variants}
    failed: dict[str, str] = {}
    for _ in range(repeats):
        for name, fn in variants.items():
            if name in failed:
                continue
            if name in paths:
                shutil.rmtree(paths[name], ignore_errors=True)
            gc.collect()
            try:
                runs[name].append(median_seconds(fn, 1).seconds)
            except Unavailable as exc:
                failed[name] = str(exc)
            except Exception as exc:  # noqa: BLE001 - a failure of our code is reported, the run goes on
                failed[name] = record_error(name, exc)
    results: dict[str, Measurement | str] = {
        name: failed.get(name) or Measurement(seconds=statistics.median(runs[name]), runs=runs[name])
        for name in variants
    }
    sizes = {name: dir_size_mb(path) for name, path in paths.items() if name not in failed}

    for name, m in results.items():
        if isinstance(m, Measurement):
            runs = ", ".join(f"{s:.2f}" for s in m.runs)
            size = f", {sizes[name]:.1f} MB on disk" if name in sizes else ""
            print(f"{name:14s} {frames / m.seconds:9.1f} fps  ({m.seconds:.3f} s; runs {runs}{size})")
        else:
            print(f"{name:14s} unavailable: {m}")

    for name in ("ours_jpeg", "ours_png"):
        if name not in failed:
            try:
                print(f"{name:14s} quality: PSNR {psnr_of_stored(str(paths[name]), video.path, samples=8):.1f} dB vs decoded frames")
            except Exception as exc:  # noqa: BLE001 - a failure of our code is reported, the run goes on
                record_error(f"{name} read-back", exc)

    def fps(name: str) -> float | None:
        m = results.get(name)
        return frames / m.seconds if isinstance(m, Measurement) else None

    def ratio(a: str, b: str) -> float | None:
        fa, fb = fps(a), fps(b)
        return fa / fb if fa is not None and fb is not None else None

    why = next((m for k, m in results.items() if k.startswith("ours_") and isinstance(m, str)), "")
    ratio_line(f"frames/{res} deeplake_png/decode", ratio("deeplake_png", "decode"))
    ratio_line(f"frames/{res} ref_jpeg/decode", ratio("ref_jpeg", "decode"))
    ratio_line(f"frames/{res} ours_jpeg/decode", ratio("ours_jpeg", "decode"), TARGET_JPEG_VS_DECODE, why=why)
    ratio_line(f"frames/{res} ours_png/decode", ratio("ours_png", "decode"), why=why)
    ratio_line(f"frames/{res} ours_jpeg/deeplake_png", ratio("ours_jpeg", "deeplake_png"), TARGET_JPEG_VS_DEEPLAKE,
               why=why)
    ratio_line(f"frames/{res} ours_png/deeplake_png", ratio("ours_png", "deeplake_png"), TARGET_PNG_VS_DEEPLAKE,
               why=why)


def _image_rows(specs: list[media_gen.ImageSpec], count: int) -> list[dict[str, Any]]:
    """``count`` image rows cycling over the generated files (distinct data row ids)."""
    return [_ours.image_row(i, specs[i % len(specs)].path, specs[i % len(specs)].width,
                            specs[i % len(specs)].height, specs[i % len(specs)].mime_type) for i in range(count)]


def _isolated(label: str, target: Any, **kwargs: Any) -> Measurement | str:
    """run_isolated with a printed result line; the reason (``"error: ..."`` if it raised) if it did not run."""
    try:
        m = run_isolated(target, _prepare=_prepare_imports, **kwargs)
    except Unavailable as exc:
        print(f"{label:34s} unavailable: {exc}")
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a failure of our code is reported, the run goes on
        return record_error(label, exc)
    print(f"{label:34s} peak {m.peak_mb:8.1f} MB above baseline, {m.seconds:7.2f} s")
    return m


def bench_images(work: Path, count: int) -> None:
    """Section 2: image project, ours streaming vs the integration's load-all (fresh process each)."""
    half = max(count // 2, 1)
    specs = media_gen.write_images(work / "media" / "images", half * 2)
    rows = _image_rows(specs, len(specs))
    decoded_mb = sum(s.width * s.height * 3 for s in specs) / 1e6
    print(f"\n== image project: {len(specs)} images ({half} JPEG 1280x720, {half} PNG 640x480; "
          f"{decoded_mb:.0f} MB decoded) ==")
    seed = _isolated("integration load-all (PNG column)", seed_images_load_all,
                     ds_path=str(work / "ds_img_seed"), rows=rows)
    for storage in ("jpeg", "png"):
        ours = _isolated(f"ours streaming ({storage})", ours_build, ds_path=str(work / f"ds_img_ours_{storage}"),
                         rows=rows, root=str(work / "media"), storage=storage)
        ok = isinstance(seed, Measurement) and isinstance(ours, Measurement)
        why = "" if ok else next(m for m in (ours, seed) if isinstance(m, str))
        ratio_line(f"images peak_mem integration/ours_{storage}", seed.peak_mb / max(ours.peak_mb, 1.0) if ok else None,
                   why=why)
        ratio_line(f"images speed ours_{storage}/integration", seed.seconds / ours.seconds if ok else None, why=why)


def bench_scaling(work: Path, res: str, n_videos: int, frames: int, n_images: int, quick: bool = False) -> None:
    """Section 3: our peak memory for N and 10N data rows (video and image), target <= 1.5x.

    N must span more than one append batch (100 frames, 32 images) for the ratio to mean anything;
    quick mode is below that, so it prints the ratio without a target.
    """
    width, height = media_gen.resolution(res)
    video = media_gen.write_video(work / "media" / f"scale_{res}.mp4", width, height, frames, seed=1)
    specs = media_gen.write_images(work / "media" / "scale_images", 8, seed=1)
    print("\n== memory scaling of our build (N vs 10N data rows; each run in a fresh process) ==")
    cases = {
        "video": lambda n: [_ours.video_row(i, video.path, width, height, frames) for i in range(n)],
        "image": lambda n: _image_rows(specs, n),
    }
    sizes = {"video": n_videos, "image": n_images}
    for kind, make_rows in cases.items():
        peaks: list[float] = []
        why = ""
        for n in (sizes[kind], 10 * sizes[kind]):
            unit = f"x {frames} frames" if kind == "video" else "images"
            m = _isolated(f"ours {kind}: {n} rows ({unit})", ours_build, ds_path=str(work / f"ds_scale_{kind}_{n}"),
                          rows=make_rows(n), root=str(work / "media"), storage="jpeg")
            shutil.rmtree(work / f"ds_scale_{kind}_{n}", ignore_errors=True)
            if isinstance(m, Measurement):
                peaks.append(m.peak_mb or 0.0)
            else:
                why = m
        value = peaks[1] / max(peaks[0], 1.0) if len(peaks) == 2 else None
        name = f"scaling {kind} peak_mem 10N/N" + (" (quick: below one batch, no target)" if quick else "")
        ratio_line(name, value, None if quick else TARGET_SCALING, "<=", why=why)


def main(argv: list[str] | None = None) -> None:
    """Parse options and run the sections."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", default="360p", choices=["360p", "720p"])
    parser.add_argument("--frames", type=int, default=300, help="frames of the video (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant; the median is reported")
    parser.add_argument("--noise", type=int, default=8, help="video noise amplitude (more = higher bitrate)")
    parser.add_argument("--images", type=int, default=200, help="images of the image-project section")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each (smoke test)")
    parser.add_argument("--sections", default="video,images,scaling")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here instead of a temp dir")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.repeats, args.images = min(args.frames, 40), 1, min(args.images, 8)
    sections = set(args.sections.split(","))
    print(f"bench_frames: {cpu_count()} CPUs, numpy {np.__version__}, av {av.__version__}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lb_bench_frames_"))
    with workdir_session(work, keep=args.workdir is not None):
        if "video" in sections:
            bench_video(work, args.resolution, args.frames, args.repeats, args.noise)
        if "images" in sections:
            bench_images(work, args.images)
        if "scaling" in sections:
            if args.quick:
                bench_scaling(work, "240p", n_videos=1, frames=20, n_images=2, quick=True)
            else:
                bench_scaling(work, args.resolution, n_videos=2, frames=150, n_images=40)


if __name__ == "__main__":
    main()
