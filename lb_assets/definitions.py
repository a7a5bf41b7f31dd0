"""The ``lb_assets`` code location: assets, checks, sensor and resources."""

from __future__ import annotations

import dagster as dg

from lb_assets.defs.assets import ALL_ASSETS, labelbox_project_export
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.resources import PresignerResource, StorageResource
from lb_assets.defs.sensors import make_labeling_completion_sensor

REFRESH_SELECTION = dg.AssetSelection.assets(labelbox_project_export).downstream()


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources of the code location. Secrets come from the environment (``EnvVar``), never literals."""
    return {
        "labelbox": LabelboxResource(api_key=dg.EnvVar("LABELBOX_API_KEY")),
        "presigner": PresignerResource(api_key=dg.EnvVar("LABELBOX_API_KEY")),
        "storage": StorageResource(),
    }


defs = dg.Definitions(
    assets=ALL_ASSETS,
    sensors=[make_labeling_completion_sensor(REFRESH_SELECTION)],
    resources=build_resources(),
)
