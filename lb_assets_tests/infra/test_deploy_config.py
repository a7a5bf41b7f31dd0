"""deploy/: the VM instance config loads as a real Dagster instance against PostgreSQL; the Helm values parse and
carry what the code location needs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from lb_assets_tests.infra.helpers import PG_PASSWORD_ENV, REPO, Postgres

pytestmark = pytest.mark.infra

DEPLOY = REPO / "deploy"
PARTITION_LIMIT = {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}


def test_vm_dagster_yaml_is_a_working_instance(postgres_server: Postgres, pg_database: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    for name, value in {"DAGSTER_PG_USERNAME": postgres_server.username, "DAGSTER_PG_HOST": postgres_server.host,
                        "DAGSTER_PG_DB": pg_database, "DAGSTER_PG_PORT": str(postgres_server.port),
                        "DAGSTER_PG_PASSWORD": postgres_server.password}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(PG_PASSWORD_ENV, raising=False)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_monitoring_enabled
        run_queue = instance.get_concurrency_config().run_queue_config
        assert [limit for limit in run_queue.tag_concurrency_limits] == [PARTITION_LIMIT]
        assert instance.global_op_concurrency_default_limit == 2
        # it works: a run written through it is a row in Postgres
        run = instance.add_run(dg.DagsterRun(job_name="deploy_check", tags={"dagster/partition": "p"}))
    assert postgres_server.query(pg_database, "SELECT status FROM runs WHERE run_id = %s", (run.run_id,)) == [
        ("NOT_STARTED",)]

    monkeypatch.delenv("DAGSTER_PG_PASSWORD")  # the password is read from the environment, nowhere else
    with pytest.raises(Exception, match="DAGSTER_PG_PASSWORD"):
        dg.DagsterInstance.from_config(str(home))


def test_helm_values() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "lb_assets.definitions"] and deployment["port"] == 4000
    env = {e["name"]: e.get("value") for e in deployment["env"]}
    assert env["LB_ASSETS_HOME"].startswith("s3://")
    assert {s["name"] for s in deployment["envSecrets"]} == {"lb-assets-secrets"}
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"] == [{"name": "lb-assets-secrets"}]
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is True
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["concurrency"]["runs"]["tagConcurrencyLimits"] == [PARTITION_LIMIT]
    assert values["concurrency"]["pools"]["defaultLimit"] >= 1

    # every variable the code reads is set or explained there
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    names = set()
    for path in (REPO / "lb_assets").rglob("*.py"):
        if "sandbox" not in path.parts:
            names |= set(re.findall(r'"((?:LB_ASSETS|LABELBOX|AZURE|ACTIVELOOP)_[A-Z_]+)"', path.read_text()))
    assert names >= {"LB_ASSETS_HOME", "LABELBOX_API_KEY"}
    assert sorted(n for n in names if n not in text) == []


def test_dockerfile_serves_the_code_location() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "[postgres,k8s,aws" in text
    assert '"dagster", "api", "grpc", "-m", "lb_assets.definitions", "-h", "0.0.0.0", "-p", "4000"' in text


def test_production_extras_import() -> None:
    """`make test` installs the postgres, celery, k8s and aws extras; they import with the pinned dagster."""
    import dagster_aws
    import dagster_celery
    import dagster_k8s
    import dagster_postgres

    assert dg.__version__ == dagster_postgres.__version__.replace("0.29.", "1.13.", 1)
    for module in (dagster_aws, dagster_celery, dagster_k8s):
        assert module.__version__ == dagster_postgres.__version__
