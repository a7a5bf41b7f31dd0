"""make_client, endpoint resolution and the SDK error mapping, against the real sandbox."""

from __future__ import annotations

import pytest

from lb_assets.errors import (
    ConfigError,
    LabelboxAuthError,
    LabelboxNotFoundError,
    LabelboxOperationError,
    LabelboxRateLimitError,
)
from lb_assets.labelbox.client import (
    DEFAULT_ENDPOINT,
    derived_urls,
    labelbox_errors,
    make_client,
    resolve_endpoint,
)
from lb_assets.labelbox.overview import fetch_overview
from lb_assets_tests.labelbox.helpers import seed_project


def test_resolve_endpoint_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABELBOX_ENDPOINT", raising=False)
    assert resolve_endpoint() == DEFAULT_ENDPOINT
    monkeypatch.setenv("LABELBOX_ENDPOINT", "http://127.0.0.1:9/graphql")
    assert resolve_endpoint() == "http://127.0.0.1:9/graphql"
    assert resolve_endpoint("http://other:1/graphql") == "http://other:1/graphql"
    with pytest.raises(ConfigError, match="LABELBOX_ENDPOINT"):
        monkeypatch.setenv("LABELBOX_ENDPOINT", "127.0.0.1:9")
        resolve_endpoint()


def test_derived_urls() -> None:
    assert derived_urls(DEFAULT_ENDPOINT) == ("https://api.labelbox.com/api/v1", "https://app.labelbox.com")
    assert derived_urls("http://127.0.0.1:5/graphql") == ("http://127.0.0.1:5/api/v1", "http://127.0.0.1:5")


def test_make_client_uses_env_endpoint(lb_sandbox_env) -> None:  # noqa: ANN001 - fixture
    client = make_client("sandbox-key")
    assert client.endpoint == lb_sandbox_env.endpoint
    assert client.rest_endpoint == f"{lb_sandbox_env.base_url}/api/v1"


def test_make_client_rejects_empty_key() -> None:
    with pytest.raises(ConfigError, match="LABELBOX_API_KEY"):
        make_client("  ")


def test_wrong_key_is_an_auth_error_without_the_key(sb) -> None:  # noqa: ANN001 - fixture
    pid, _ = seed_project(sb, 1)
    wrong = "wrong-key-0123456789"
    with pytest.raises(LabelboxAuthError) as info:
        fetch_overview(make_client(wrong, sb.endpoint), pid)
    message = str(info.value)
    assert "get_overview" in message and pid in message
    assert wrong not in message


def test_unknown_project_is_not_found(client) -> None:  # noqa: ANN001 - fixture
    with pytest.raises(LabelboxNotFoundError, match="get_overview for project nope"):
        fetch_overview(client, "nope")


def test_failing_operation_names_operation_and_project(sb, client) -> None:  # noqa: ANN001 - fixtures
    pid, _ = seed_project(sb, 1)
    sb.fail_operation("ProjectGetOverviewPyApi", mode="graphql", status=500, message="boom")
    with pytest.raises(LabelboxOperationError) as info:
        fetch_overview(client, pid)
    assert type(info.value) is LabelboxOperationError
    assert info.value.operation == "get_overview" and info.value.project_id == pid
    assert "boom" in str(info.value) and "sandbox-key" not in str(info.value)


def test_rate_limited_operation(sb, client) -> None:  # noqa: ANN001 - fixtures
    pid, _ = seed_project(sb, 1)
    sb.fail_operation("ProjectGetOverviewPyApi", mode="http429", times=1)
    with pytest.raises(LabelboxRateLimitError, match=pid):
        fetch_overview(client, pid)


def test_retried_5xx_then_success(sb, client, fast_labelbox_retries) -> None:  # noqa: ANN001 - fixtures
    pid, _ = seed_project(sb, 4)
    sb.fail_operation("ProjectGetOverviewPyApi", mode="http500", times=2)
    assert fetch_overview(client, pid).total == 4


def test_labelbox_errors_redacts_secrets() -> None:
    from lbox.exceptions import LabelboxError

    with pytest.raises(LabelboxOperationError) as info:
        with labelbox_errors("op", "p1", secrets=["s3cr3t"]):
            raise LabelboxError("failed with s3cr3t at https://h/x?sig=abc and Bearer tok123")
    text = str(info.value)
    assert "s3cr3t" not in text and "sig=abc" not in text and "tok123" not in text
    assert text.startswith("Labelbox op for project p1 failed")
