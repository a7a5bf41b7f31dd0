"""Run configuration (Dagster ``Config`` classes) of the assets.

Every field left at ``None`` keeps the project's setting from projects.yaml (see ``lb_assets.projects``).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

import dagster as dg
from pydantic import Field

from lb_assets.projects import ProjectSettings


# The closed choices of `lb_assets.choices` as enums (Dagster's config types for a fixed set): the launchpad offers
# and validates them. Dagster and the type checker need classes; a test keeps their values equal to the choices.
class MediaType(str, Enum):
    """video | image"""

    video = "video"
    image = "image"


class FrameStorage(str, Enum):
    """jpeg | png"""

    jpeg = "jpeg"
    png = "png"


class FrameCountPolicy(str, Enum):
    """fail | pad | truncate"""

    fail = "fail"
    pad = "pad"
    truncate = "truncate"


class LabelPolicy(str, Enum):
    """latest | first | merge"""

    latest = "latest"
    first = "first"
    merge = "merge"


class UploadMediaType(str, Enum):
    """VIDEO | IMAGE"""

    VIDEO = "VIDEO"
    IMAGE = "IMAGE"


class UploadStrategy(str, Enum):
    """fail | skip | all"""

    fail = "fail"
    skip = "skip"
    all = "all"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class ExportConfig(dg.Config):
    """Run config of ``labelbox_project_export``."""

    full_refresh: bool = Field(
        default=False, description="Export every data row instead of only those with new activity."
    )
    interpolated_frames: bool = Field(
        default=False, description="Ask Labelbox for interpolated video frames (default: keyframes only)."
    )


class FramesConfig(dg.Config):
    """Run config of ``frame_dataset``."""

    media_type: Optional[MediaType] = Field(
        default=None, description="video | image (default: projects.yaml or export)"
    )
    frame_storage: Optional[FrameStorage] = Field(default=None, description="jpeg | png")
    frame_count_policy: Optional[FrameCountPolicy] = Field(default=None, description="fail | pad | truncate")
    allowed_roots: Optional[list[str]] = Field(default=None, description="Local directories media may come from.")
    batch_size: int = Field(default=100, description="Frames (or images) per Deep Lake append.")
    shard_frames: int = Field(
        default=20000,
        ge=1,
        description="Frames (an image counts 1) per shard: the new data rows are split into shards of about this "
        "size, built by parallel steps (on separate workers with a distributed executor) and merged in order.",
    )
    commit_every: int = Field(
        default=25,
        ge=1,
        description="Commit the run's staging branch after every N videos or images: memory stays bounded and a "
        "run that dies resumes after the last commit.",
    )
    repair: bool = Field(
        default=False,
        description="Rebuild the frame dataset from the export into a fresh dataset and swap it in, keeping the "
        "damaged one aside as <name>.damaged-<time> (local storage root only).",
    )

    def apply(self, settings: ProjectSettings) -> ProjectSettings:
        """The project's settings with this run's overrides."""
        return settings.with_overrides(
            media_type=_plain(self.media_type),
            frame_storage=_plain(self.frame_storage),
            frame_count_policy=_plain(self.frame_count_policy),
            allowed_roots=self.allowed_roots,
        )


class AnnotationsConfig(dg.Config):
    """Run config of ``annotated_branch`` and ``annotation_dataset``."""

    media_type: Optional[MediaType] = Field(
        default=None, description="video | image (default: projects.yaml or export)"
    )
    label_policy: Optional[LabelPolicy] = Field(default=None, description="latest | first | merge")
    group_mapping: Optional[dict[str, str]] = Field(default=None, description="Tool kind -> grouped column name.")
    strict: Optional[bool] = Field(default=None, description="Fail on annotations the ontology does not know.")
    repair: bool = Field(
        default=False,
        description="annotation_dataset only: rebuild it into a fresh dataset and swap it in, keeping the damaged "
        "one aside (local storage root only). The labelbox branch is repaired with frame_dataset's repair.",
    )

    def apply(self, settings: ProjectSettings) -> ProjectSettings:
        """The project's settings with this run's overrides."""
        return settings.with_overrides(
            media_type=_plain(self.media_type),
            label_policy=_plain(self.label_policy),
            group_mapping=self.group_mapping,
            strict=self.strict,
        )


class AnnotationProjectConfig(dg.Config):
    """Run config of ``labelbox_annotation_project``: which media to upload and how to name things."""

    files: list[str] = Field(description="Local paths or URLs of the media (all local or all remote).")
    lb_dataset_name: str = Field(description="Labelbox dataset to create (or reuse).")
    lb_project_name: str = Field(description="Labelbox project to create (or reuse).")
    media_type: UploadMediaType = Field(default=UploadMediaType.VIDEO, description="VIDEO | IMAGE")
    lb_ontology_id: Optional[str] = Field(default=None, description="Ontology to connect to the project.")
    lb_batch_priority: int = 5
    data_upload_strategy: UploadStrategy = Field(default=UploadStrategy.fail, description="fail | skip | all")
    lb_batches_name: Optional[str] = None
    lb_iam_integration_id: Optional[str] = "DEFAULT"
