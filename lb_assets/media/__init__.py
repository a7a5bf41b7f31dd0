"""Media fetching and decoding: presigners, a fetcher with path/URL rules, PyAV video and Pillow images."""

from lb_assets.media.encode import encode_in_pool, encode_jpeg, encode_png
from lb_assets.media.fetch import MediaFetcher, ffmpeg_options
from lb_assets.media.image import encoded_passthrough, image_format, iter_image_batches, load_image
from lb_assets.media.presign import (
    AzureSasPresigner,
    ChainPresigner,
    LabelboxBearerPresigner,
    Presigner,
    S3Presigner,
    StaticHeadersPresigner,
    normalize_presign_result,
)
from lb_assets.media.video import (
    FrameCountPolicy,
    VideoInfo,
    frame_to_rgb,
    iter_decoded,
    iter_frames,
    iter_video_frames,
    probe_video,
)

__all__ = [
    "AzureSasPresigner",
    "ChainPresigner",
    "FrameCountPolicy",
    "LabelboxBearerPresigner",
    "MediaFetcher",
    "Presigner",
    "S3Presigner",
    "StaticHeadersPresigner",
    "VideoInfo",
    "encode_in_pool",
    "encode_jpeg",
    "encode_png",
    "encoded_passthrough",
    "ffmpeg_options",
    "frame_to_rgb",
    "image_format",
    "iter_decoded",
    "iter_frames",
    "iter_image_batches",
    "iter_video_frames",
    "load_image",
    "normalize_presign_result",
    "probe_video",
]
