"""The closed sets of values a setting takes, defined once.

projects.yaml (`lb_assets.projects`), run config (`lb_assets.defs.config`: enums the launchpad offers), the core
that acts on them and the seed API all read these. Plain typing only: it is imported at start-up.
"""

from __future__ import annotations

from typing import Literal

MediaType = Literal["video", "image"]
FrameStorage = Literal["jpeg", "png"]
FrameCountPolicy = Literal["fail", "pad", "truncate"]
LabelPolicy = Literal["latest", "first", "merge"]
Trigger = Literal["complete", "progress"]
UploadStrategy = Literal["fail", "skip", "all"]
UploadMediaType = Literal["VIDEO", "IMAGE"]
