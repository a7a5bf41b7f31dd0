"""The code location loads, has the documented graph, and passes ``dagster definitions validate``."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from lb_assets.definitions import defs

REPO = Path(__file__).resolve().parents[2]


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name)


def test_graph_lineage_and_attributes() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert parents == {
        "labelbox_annotation_project": set(),
        "labelbox_project_export": set(),
        "frame_dataset": {"labelbox_project_export"},
        "annotated_branch": {"frame_dataset"},
        "annotation_dataset": {"labelbox_project_export", "frame_dataset"},
    }
    for name in parents:
        spec = defs.get_assets_def(name).specs_by_key[_key(name)]
        assert spec.owners and spec.code_version and spec.group_name
        assert ("deeplake" in spec.kinds) == (name not in {"labelbox_annotation_project", "labelbox_project_export"})
    export = defs.get_assets_def("labelbox_project_export")
    assert export.partitions_def.name == "labelbox_projects"
    assert export.op.pool == "labelbox_api" and export.op.retry_policy.max_retries == 3
    # one step converts the export once for both annotation assets, which can be materialized alone too
    annotations = defs.get_assets_def("annotated_branch")
    assert annotations is defs.get_assets_def("annotation_dataset") and annotations.can_subset


def test_checks_and_sensor() -> None:
    graph = defs.resolve_asset_graph()
    blocking = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k).blocking for k in graph.asset_check_keys}
    assert blocking == {
        ("frame_dataset", "frames_match_labelbox_frame_counts"): True,
        ("annotated_branch", "labelbox_branch_contains_main"): True,
        ("annotated_branch", "annotation_coverage"): False,
        ("annotated_branch", "no_unknown_tools"): False,
        ("annotation_dataset", "union_compatible_with_frames"): True,
    }
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("labeling_completion_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    selected = repo.get_job(sensor.job_name).asset_layer.selected_asset_keys
    assert {k.to_user_string() for k in selected} == {
        "labelbox_project_export", "frame_dataset", "annotated_branch", "annotation_dataset"
    }


def test_secrets_come_from_env_vars() -> None:
    resources = defs.resources
    assert resources["labelbox"].api_key == dg.EnvVar("LABELBOX_API_KEY")
    assert resources["presigner"].api_key == dg.EnvVar("LABELBOX_API_KEY")


def test_dagster_definitions_validate_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"LABELBOX_API_KEY", "DAGSTER_HOME"}}
    env["DAGSTER_HOME"] = str(tmp_path)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lb_assets" in proc.stdout + proc.stderr


def test_presigner_kind_from_environment_keeps_secrets_in_env_vars() -> None:
    from lb_assets.definitions import build_presigner
    from lb_assets.defs.resources import PRESIGNER_RESOURCES, AzureSasPresignerResource
    from lb_assets.errors import ConfigError
    from lb_assets.media.presign import AzureSasPresigner, StaticHeadersPresigner

    azure = build_presigner("azure_sas")
    assert isinstance(azure, AzureSasPresignerResource) and azure.sas_token == dg.EnvVar("AZURE_SAS_TOKEN")
    headers = build_presigner("static_headers")
    assert headers.header_value == dg.EnvVar("LB_ASSETS_HEADER_VALUE") and headers.header_name == "Authorization"
    kind = os.environ.get("LB_ASSETS_PRESIGNER", "labelbox_bearer")
    assert type(build_presigner()) is PRESIGNER_RESOURCES[kind]
    assert build_presigner("none").get_presigner() is None
    with pytest.raises(ConfigError, match="LB_ASSETS_PRESIGNER='sas' is not one of"):
        build_presigner("sas")
    # resolved at run time from the environment, as Dagster does for EnvVar fields
    resolved = build_presigner("azure_sas").model_copy(update={"sas_token": "sv=1&sig=SECRET"})
    assert isinstance(resolved.get_presigner(), AzureSasPresigner)
    assert "SECRET" not in repr(resolved.get_presigner())
    resolved = headers.model_copy(update={"header_value": "Token abc", "credential_hosts": ["media.example.com"]})
    assert isinstance(resolved.get_presigner(), StaticHeadersPresigner)


def test_dg_sees_the_same_code_location() -> None:
    """`dg check defs` loads the project from pyproject.toml's [tool.dg] section (beside workspace.yaml)."""
    repo = Path(__file__).resolve().parents[2]
    dg_cli = Path(sys.executable).with_name("dg")
    env = dict(os.environ, VIRTUAL_ENV=str(Path(sys.executable).parents[1]))
    done = subprocess.run([str(dg_cli), "check", "defs"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and "All definitions loaded successfully" in done.stdout + done.stderr, done.stderr
