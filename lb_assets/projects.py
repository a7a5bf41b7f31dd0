"""Declared Labelbox projects: ``projects.yaml`` (path overridable by ``LB_ASSETS_PROJECTS_FILE``).

The file maps project ids to their settings::

    projects:
      cldemovideoproject0000001:
        name: Demo video project
        media_type: video            # video | image (default: read from the export)
        trigger: complete            # complete | progress (sensor)
        label_policy: latest         # latest | first | merge
        group_mapping: {}            # e.g. {rectangle: boxes}
        frame_storage: jpeg          # jpeg | png
        frame_count_policy: fail     # fail | pad | truncate
        allowed_roots: []            # local directories media may be read from
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

import yaml

from lb_assets import choices
from lb_assets.errors import ConfigError

logger = logging.getLogger(__name__)

PROJECTS_FILE_ENV = "LB_ASSETS_PROJECTS_FILE"

_CHOICES: dict[str, tuple[str, ...]] = {
    "media_type": get_args(choices.MediaType),
    "trigger": get_args(choices.Trigger),
    "label_policy": get_args(choices.LabelPolicy),
    "frame_storage": get_args(choices.FrameStorage),
    "frame_count_policy": get_args(choices.FrameCountPolicy),
}


@dataclass(frozen=True)
class ProjectSettings:
    """Settings of one Labelbox project (from projects.yaml, overridable by run config)."""

    project_id: str
    name: str = ""
    media_type: str | None = None
    trigger: str = "complete"
    label_policy: str = "latest"
    group_mapping: dict[str, str] = field(default_factory=dict)
    frame_storage: str = "jpeg"
    frame_count_policy: choices.FrameCountPolicy = "fail"
    allowed_roots: tuple[str, ...] = ()
    strict: bool = False

    def with_overrides(self, **overrides: Any) -> ProjectSettings:
        """A copy with every override that is not None applied (and validated)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "allowed_roots" in given:
            given["allowed_roots"] = tuple(given["allowed_roots"])
        if "group_mapping" in given:
            given["group_mapping"] = dict(given["group_mapping"])
        updated = replace(self, **given)
        _validate(updated, where="run config")
        return updated


def projects_file() -> Path | None:
    """The declared-projects file: ``$LB_ASSETS_PROJECTS_FILE``, else ./projects.yaml; None when neither is set."""
    env = os.environ.get(PROJECTS_FILE_ENV)
    if env:
        return Path(env)
    local = Path.cwd() / "projects.yaml"
    return local if local.exists() else None


def demo_projects_file() -> Path:
    """The demo's declared projects, shipped with the package."""
    return Path(__file__).resolve().parent / "sandbox" / "demo_projects.yaml"


def load_projects(path: Path | None = None) -> dict[str, ProjectSettings]:
    """Read the declared projects, in file order.

    A missing file means no declared project (logged). A malformed file raises ConfigError naming it.
    """
    path = path or projects_file()
    if path is None or not path.exists():
        logger.info(
            "No declared-projects file (%s, or ./projects.yaml); no project declared", path or f"${PROJECTS_FILE_ENV}"
        )
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Declared-projects file {path} is not valid YAML: {exc}") from exc
    entries = data.get("projects") if isinstance(data, Mapping) else None
    if entries is None:
        return {}
    if not isinstance(entries, Mapping):
        raise ConfigError(f"Declared-projects file {path}: 'projects' must map project ids to settings")
    return {str(pid): _parse_entry(str(pid), raw or {}, path) for pid, raw in entries.items()}


def settings_for(project_id: str, path: Path | None = None) -> ProjectSettings:
    """Settings of one project: its declaration, or the defaults when it is not declared."""
    return load_projects(path).get(project_id) or ProjectSettings(project_id=project_id)


def _parse_entry(project_id: str, raw: Any, path: Path) -> ProjectSettings:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"Declared-projects file {path}: settings of project {project_id} must be a mapping")
    known = set(ProjectSettings.__dataclass_fields__) - {"project_id"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"Declared-projects file {path}: project {project_id} has unknown settings {unknown}")
    values = dict(raw)
    if "allowed_roots" in values:
        values["allowed_roots"] = tuple(str(p) for p in values["allowed_roots"] or ())
    if "group_mapping" in values:
        values["group_mapping"] = {str(k): str(v) for k, v in (values["group_mapping"] or {}).items()}
    if "media_type" in values and values["media_type"] is not None:
        values["media_type"] = str(values["media_type"]).lower()
    settings = ProjectSettings(project_id=project_id, **values)
    _validate(settings, where=f"declared-projects file {path}")
    return settings


def _validate(settings: ProjectSettings, where: str) -> None:
    for name, allowed in _CHOICES.items():
        value = getattr(settings, name)
        if value is not None and value not in allowed:
            raise ConfigError(
                f"{where}: project {settings.project_id} setting {name}={value!r} is not one of {list(allowed)}"
            )
