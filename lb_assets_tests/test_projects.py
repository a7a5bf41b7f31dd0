"""The declared-projects file and run-config overrides."""

from pathlib import Path

import pytest

from lb_assets.defs.config import AnnotationsConfig, FramesConfig
from lb_assets.projects import ProjectSettings, load_projects, projects_file, settings_for
from lb_assets.errors import ConfigError


def test_packaged_demo_file_declares_the_sandbox_demo_projects() -> None:
    from lb_assets.projects import demo_projects_file
    from lb_assets.sandbox.demo import DEMO_IMAGE_PROJECT_ID, DEMO_VIDEO_PROJECT_ID

    projects = load_projects(demo_projects_file())
    assert {pid: s.media_type for pid, s in projects.items()} == {
        DEMO_VIDEO_PROJECT_ID: "video", DEMO_IMAGE_PROJECT_ID: "image"}


def test_lookup_order_env_then_working_directory_then_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LB_ASSETS_PROJECTS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert projects_file() is None and load_projects() == {}
    (tmp_path / "projects.yaml").write_text("projects:\n  here: {}\n")
    assert projects_file() == tmp_path / "projects.yaml" and list(load_projects()) == ["here"]


def test_env_var_overrides_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("projects:\n  p1:\n    trigger: progress\n    allowed_roots: [/data]\n    group_mapping: {rectangle: boxes}\n")
    monkeypatch.setenv("LB_ASSETS_PROJECTS_FILE", str(path))
    assert projects_file() == path
    s = settings_for("p1")
    assert (s.trigger, s.allowed_roots, s.group_mapping) == ("progress", ("/data",), {"rectangle": "boxes"})
    assert settings_for("undeclared") == ProjectSettings(project_id="undeclared")


def test_missing_file_declares_nothing(tmp_path: Path) -> None:
    assert load_projects(tmp_path / "absent.yaml") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("projects:\n  p1:\n    trigger: sometimes\n", "trigger='sometimes'"),
        ("projects:\n  p1:\n    colour: red\n", "unknown settings ['colour']"),
        ("projects: [a, b]\n", "'projects' must map"),
        ("projects:\n  p1: [\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_setting(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_projects(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_run_config_overrides_only_given_fields() -> None:
    base = ProjectSettings(project_id="p1", media_type="video", label_policy="first", frame_storage="png")
    frames = FramesConfig(frame_count_policy="pad", allowed_roots=["/m"]).apply(base)
    assert (frames.frame_storage, frames.frame_count_policy, frames.allowed_roots) == ("png", "pad", ("/m",))
    ann = AnnotationsConfig(label_policy="merge", strict=True).apply(base)
    assert (ann.label_policy, ann.strict, ann.media_type) == ("merge", True, "video")
    with pytest.raises(ValueError, match="Input should be 'latest', 'first' or 'merge'"):  # refused with the config
        AnnotationsConfig(label_policy="best")


@pytest.mark.parametrize(
    "name", ["MediaType", "FrameStorage", "FrameCountPolicy", "LabelPolicy", "UploadStrategy", "UploadMediaType"]
)
def test_launchpad_enums_offer_exactly_the_core_choices(name: str) -> None:
    """The run-config enums (Dagster needs classes) list the values of `lb_assets.choices`, in order."""
    from typing import get_args

    from lb_assets import choices
    from lb_assets.defs import config

    assert tuple(e.value for e in getattr(config, name)) == get_args(getattr(choices, name))
