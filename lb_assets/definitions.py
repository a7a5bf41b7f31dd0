"""The ``lb_assets`` code location: assets, checks, sensor and resources."""

from __future__ import annotations

import os

import dagster as dg

from lb_assets.defs.assets import ALL_ASSETS, labelbox_project_export
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.resources import PRESIGNER_RESOURCES, PresignerResource, StorageResource
from lb_assets.errors import ConfigError
from lb_assets.defs.run_monitor import make_stalled_run_sensor
from lb_assets.defs.sensors import make_labeling_completion_sensor

REFRESH_SELECTION = dg.AssetSelection.assets(labelbox_project_export).downstream()


PRESIGNER_ENV = "LB_ASSETS_PRESIGNER"


def build_presigner(kind: str | None = None) -> PresignerResource:
    """The presigner resource chosen by ``$LB_ASSETS_PRESIGNER`` (default ``labelbox_bearer``).

    Secrets are ``EnvVar``s, so the UI shows variable names only: ``LABELBOX_API_KEY``, ``AZURE_SAS_TOKEN``
    (``azure_sas``), ``LB_ASSETS_HEADER_VALUE`` with the header named by ``LB_ASSETS_HEADER_NAME``
    (``static_headers``); ``s3`` uses boto3's own credentials.
    """
    kind = kind or os.environ.get(PRESIGNER_ENV) or "labelbox_bearer"
    if kind not in PRESIGNER_RESOURCES:
        raise ConfigError(f"{PRESIGNER_ENV}={kind!r} is not one of {sorted(PRESIGNER_RESOURCES)}")
    settings: dict[str, object] = {}
    if kind == "labelbox_bearer":
        settings["api_key"] = dg.EnvVar("LABELBOX_API_KEY")
    elif kind == "azure_sas":
        settings["sas_token"] = dg.EnvVar("AZURE_SAS_TOKEN")
    elif kind == "static_headers":
        settings["header_name"] = os.environ.get("LB_ASSETS_HEADER_NAME", "Authorization")
        settings["header_value"] = dg.EnvVar("LB_ASSETS_HEADER_VALUE")
    return PRESIGNER_RESOURCES[kind](**settings)


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources of the code location. Secrets come from the environment (``EnvVar``), never literals."""
    return {
        "labelbox": LabelboxResource(api_key=dg.EnvVar("LABELBOX_API_KEY")),
        "presigner": build_presigner(),
        "storage": StorageResource(),
    }


defs = dg.Definitions(
    assets=ALL_ASSETS,
    sensors=[
        make_labeling_completion_sensor(REFRESH_SELECTION),
        make_stalled_run_sensor([key for spec in ALL_ASSETS for key in spec.keys]),
    ],
    resources=build_resources(),
)
