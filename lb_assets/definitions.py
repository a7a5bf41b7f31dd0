"""The ``lb_assets`` code location: assets, checks, sensor and resources."""

from __future__ import annotations

import os
from collections.abc import Callable

import dagster as dg

from lb_assets.defs.assets import ALL_ASSETS, labelbox_project_export
from lb_assets.defs.labelbox_resource import LabelboxResource
from lb_assets.defs.resources import (
    PRESIGNER_RESOURCES,
    AzureSasPresignerResource,
    LabelboxBearerPresignerResource,
    PresignerResource,
    StaticHeadersPresignerResource,
    StorageResource,
)
from lb_assets.defs.run_monitor import make_stalled_run_sensor
from lb_assets.defs.sensors import make_labeling_completion_sensor
from lb_assets.errors import ConfigError

REFRESH_SELECTION = dg.AssetSelection.assets(labelbox_project_export).downstream()


PRESIGNER_ENV = "LB_ASSETS_PRESIGNER"


def _labelbox_bearer() -> PresignerResource:
    return LabelboxBearerPresignerResource(api_key=dg.EnvVar("LABELBOX_API_KEY"))


def _azure_sas() -> PresignerResource:
    return AzureSasPresignerResource(sas_token=dg.EnvVar("AZURE_SAS_TOKEN"))


def _static_headers() -> PresignerResource:
    return StaticHeadersPresignerResource(
        header_name=os.environ.get("LB_ASSETS_HEADER_NAME", "Authorization"),
        header_value=dg.EnvVar("LB_ASSETS_HEADER_VALUE"),
    )


#: The kinds whose resource needs settings (secrets as ``EnvVar``s); the others are built without any.
_PRESIGNER_BUILDERS: dict[str, Callable[[], PresignerResource]] = {
    "labelbox_bearer": _labelbox_bearer,
    "azure_sas": _azure_sas,
    "static_headers": _static_headers,
}


def build_presigner(kind: str | None = None) -> PresignerResource:
    """The presigner resource chosen by ``$LB_ASSETS_PRESIGNER`` (default ``labelbox_bearer``).

    Secrets are ``EnvVar``s, so the UI shows variable names only: ``LABELBOX_API_KEY``, ``AZURE_SAS_TOKEN``
    (``azure_sas``), ``LB_ASSETS_HEADER_VALUE`` with the header named by ``LB_ASSETS_HEADER_NAME``
    (``static_headers``); ``s3`` uses boto3's own credentials.
    """
    kind = kind or os.environ.get(PRESIGNER_ENV) or "labelbox_bearer"
    if kind not in PRESIGNER_RESOURCES:
        raise ConfigError(f"{PRESIGNER_ENV}={kind!r} is not one of {sorted(PRESIGNER_RESOURCES)}")
    builder = _PRESIGNER_BUILDERS.get(kind)
    return builder() if builder is not None else PRESIGNER_RESOURCES[kind]()


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources of the code location. Secrets come from the environment (``EnvVar``), never literals."""
    return {
        "labelbox": LabelboxResource(api_key=dg.EnvVar("LABELBOX_API_KEY")),
        "presigner": build_presigner(),
        "storage": StorageResource(),
    }


defs = dg.Definitions(
    assets=ALL_ASSETS,
    executor=dg.multi_or_in_process_executor,  # run config chooses: see lb_assets.defs.execution
    sensors=[
        make_labeling_completion_sensor(REFRESH_SELECTION),
        make_stalled_run_sensor([key for spec in ALL_ASSETS for key in spec.keys]),
    ],
    resources=build_resources(),
)
