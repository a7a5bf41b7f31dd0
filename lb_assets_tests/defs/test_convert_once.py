"""One run converts the export once: one ontology fetch, each mask downloaded once, both annotation assets."""

from collections import Counter

import dagster as dg

from lb_assets.cli_demo import materialize_project
from lb_assets_tests.defs.helpers import checks, materializations


def test_one_ontology_fetch_and_one_download_per_mask(demo_env, instance: dg.DagsterInstance) -> None:
    pid = demo_env.demo_projects["image"]
    result = materialize_project(instance, pid)
    assert result.success and all(checks(result).values())
    meta = materializations(result)
    assert {"annotated_branch", "annotation_dataset"} <= set(meta)

    assert demo_env.operations_seen.count("GetOntologyPyApi") == 1  # the snapshot taken with the export
    masks = Counter(p for p in demo_env.files_seen if p.startswith("/masks/"))
    assert masks and set(masks.values()) == {1}, masks  # each mask fetched once for both datasets
    assert meta["annotated_branch"]["deeplake/rows_written"] == meta["annotation_dataset"]["deeplake/rows_written"]


def test_either_annotation_asset_alone(demo_env, instance: dg.DagsterInstance) -> None:
    from lb_assets.definitions import build_resources
    from lb_assets.defs.annotation_assets import labelbox_annotations

    pid = demo_env.demo_projects["image"]
    assert materialize_project(instance, pid).success
    fetched = len([p for p in demo_env.files_seen if p.startswith("/masks/")])
    alone = dg.materialize([labelbox_annotations], instance=instance, partition_key=pid, resources=build_resources(),
                           selection=["annotation_dataset"])
    assert alone.success and set(materializations(alone)) == {"annotation_dataset"}
    assert set(checks(alone)) == {"union_compatible_with_frames"}
    assert demo_env.operations_seen.count("GetOntologyPyApi") == 1  # the snapshot is reused
    assert len([p for p in demo_env.files_seen if p.startswith("/masks/")]) > fetched  # converted again
