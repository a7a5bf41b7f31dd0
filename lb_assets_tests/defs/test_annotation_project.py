"""``labelbox_annotation_project`` via run config: uploads media, creates the project, adds its partition."""

import io
from pathlib import Path

import dagster as dg
from PIL import Image

from lb_assets.definitions import build_resources
from lb_assets.defs.assets import labelbox_annotation_project
from lb_assets.defs.partitions import LABELBOX_PROJECTS


def _png(path: Path, color: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return str(path)


def test_upload_creates_project_and_partition(lb_sandbox_env, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    files = [_png(tmp_path / "a.png", (255, 0, 0)), _png(tmp_path / "b.png", (0, 255, 0))]
    config = {"files": files, "lb_dataset_name": "uploads", "lb_project_name": "from files", "media_type": "IMAGE",
              "lb_iam_integration_id": None}
    result = dg.materialize(
        [labelbox_annotation_project], instance=instance, resources=build_resources(),
        run_config={"ops": {"labelbox_annotation_project": {"config": config}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("labelbox_annotation_project")[0].metadata
    pid = meta["labelbox/project_id"].value
    assert meta["labelbox/data_rows"].value == 2 and meta["labelbox/dataset_id"].value
    assert pid in instance.get_dynamic_partitions(LABELBOX_PROJECTS)
    assert len(lb_sandbox_env.data_row_ids(pid)) == 2  # batched into the project: exportable

    again = dg.materialize(  # re-running does not duplicate data rows
        [labelbox_annotation_project], instance=instance, resources=build_resources(),
        run_config={"ops": {"labelbox_annotation_project": {"config": {**config, "data_upload_strategy": "skip"}}}},
    )
    assert again.success
    assert len(lb_sandbox_env.data_row_ids(again.asset_materializations_for_node(
        "labelbox_annotation_project")[0].metadata["labelbox/project_id"].value)) == 2
