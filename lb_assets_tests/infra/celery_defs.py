"""Definitions for the distributed-executor test: the project assets in a job run by the Celery executor.

The Celery workers import this module (``PYTHONPATH`` = the repo root) to rebuild the job for each step; the
broker and backend come from run config (``execution: {config: {broker, backend}}``).
Load it like any code location: ``dagster job execute -m lb_assets_tests.infra.celery_defs -j celery_project_job``.
"""

import dagster as dg
from dagster_celery import celery_executor

from lb_assets.definitions import build_resources
from lb_assets.defs.assets import ALL_ASSETS, PROJECT_ASSETS
from lb_assets.defs.partitions import labelbox_projects

JOB_NAME = "celery_project_job"

celery_project_job_def = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(*PROJECT_ASSETS),
    partitions_def=labelbox_projects,
    executor_def=celery_executor,
)

defs = dg.Definitions(assets=ALL_ASSETS, jobs=[celery_project_job_def], resources=build_resources())


def celery_project_job() -> dg.JobDefinition:
    """The resolved job (``dg.reconstructable`` target)."""
    return defs.resolve_job_def(JOB_NAME)
