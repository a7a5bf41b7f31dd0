"""Secrets audit: the API key, SAS tokens and signed query strings never reach a log record (at DEBUG), an
exception message or returned metadata, on real flows against a sandbox that requires a secret-looking key."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from lb_assets.errors import LabelboxOperationError, LbAssetsError, MediaError
from lb_assets.labelbox.client import make_client
from lb_assets.labelbox.export import export_project, iter_export_rows
from lb_assets.media.fetch import MediaFetcher
from lb_assets.sandbox.pytest_plugin import loopback_no_proxy
from lb_assets.sandbox.server import LabelboxSandbox
from lb_assets.store import schema

KEY = "eyJhbGciOiJIUzI1NiJ9.TOPSECRETPAYLOAD0123456789.sig-Zx_9"  # JWT-shaped, like Labelbox keys
WRONG_KEY = "eyJhbGciOiJIUzI1NiJ9.WRONGKEYPAYLOAD987654321.sig-Qq_1"
SAS = "sv=2024-08-04&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&sig=SECRETSIG"
SECRETS = (KEY, "TOPSECRETPAYLOAD", WRONG_KEY, "WRONGKEYPAYLOAD", "SECRETSIG", SAS)
EXPORT_OP = "exportDataRowsInProjectPyApi"


@pytest.fixture
def secret_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[LabelboxSandbox]:
    """A demo sandbox that requires ``KEY``; LABELBOX_* and NO_PROXY point at it."""
    with LabelboxSandbox(api_key=KEY) as sb:
        sb.demo_projects = sb.load_demo(seed=0)
        monkeypatch.setenv("LABELBOX_ENDPOINT", sb.endpoint)
        monkeypatch.setenv("LABELBOX_API_KEY", KEY)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, loopback_no_proxy(None))
        yield sb


OUR_LOGGERS = ("lb_assets", "dagster")


def _log_texts(caplog: pytest.LogCaptureFixture, loggers: tuple[str, ...] | None = OUR_LOGGERS) -> list[str]:
    """Message, args and exception of every record of ``loggers`` (None: every logger), except the sandbox's
    own request log (the fake Labelbox/file server logging what it received, like a remote access log)."""
    out = []
    for record in caplog.records:
        if record.name.startswith("lb_assets.sandbox"):
            continue
        if loggers is not None and not record.name.startswith(loggers):
            continue
        out.append(f"[log {record.name}] {record.getMessage()}")
        out.append(f"[log {record.name} args] {record.args!r}")
        if record.exc_info and record.exc_info[1] is not None:
            out.extend(traceback.format_exception(record.exc_info[1]))
        if record.exc_text:
            out.append(record.exc_text)
    return out


def _exception_texts(exc: BaseException) -> list[str]:
    """The exception and every exception shown with it (``__cause__``, unsuppressed ``__context__``): what a
    traceback, ``logger.exception`` or Dagster's error info (which serialises the same chain) displays."""
    out = list(traceback.format_exception(exc))
    seen: BaseException | None = exc
    while seen is not None:
        out += [str(seen), repr(seen), repr(getattr(seen, "args", ()))]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return out


def _assert_clean(texts: list[str], where: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{where}: secret {secret[:12]}... found in: {text[:600]}"


def _dataset_texts(ds: Any) -> list[str]:
    """Dataset metadata, commit messages and every text column value."""
    out = [json.dumps(dict(ds.metadata[k]) if hasattr(ds.metadata[k], "keys") else ds.metadata[k], default=str)
           for k in ds.metadata.keys()]
    out += [str(v.message) for v in ds.history]
    for column in schema.column_names(ds):
        if str(ds.schema[column].dtype).startswith("text"):
            out += [str(v) for v in ds[column][0:len(ds)]]
    return out


def _sas_presigner(with_bearer: bool):
    """A seed-style ``url_presigner`` adding a SAS query string (and optionally the bearer key)."""
    def url_presigner(url: str) -> tuple[str, dict]:
        headers = {"headers": {"Authorization": f"Bearer {KEY}"}} if with_bearer else {}
        return f"{url.split('?')[0]}?{SAS}", headers
    return url_presigner


# ------------------------------------------------------------------------------------------------- export
def test_export_with_key_keeps_the_key_out_of_logs_errors_and_summary(secret_sandbox, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    pid = secret_sandbox.demo_projects["video"]
    client = make_client(KEY, secret_sandbox.endpoint)
    summary = export_project(client, pid, tmp_path / "e.ndjson")
    assert summary.data_rows > 0
    texts = _log_texts(caplog) + [repr(summary), json.dumps(asdict(summary), default=str)]
    texts += [json.dumps(r) for r in iter_export_rows(tmp_path / "e.ndjson")]

    # the server echoes secrets in its error message: our error must not repeat them
    secret_sandbox.fail_operation(EXPORT_OP, times=1, mode="graphql", status=500,
                                  message=f"boom: Authorization: Bearer {KEY} fetching https://h.example/v.mp4?{SAS}")
    with pytest.raises(LabelboxOperationError) as failed:
        export_project(client, pid, tmp_path / "f.ndjson")
    texts += _exception_texts(failed.value)
    with pytest.raises(LbAssetsError) as wrong:
        export_project(make_client(WRONG_KEY, secret_sandbox.endpoint), pid, tmp_path / "g.ndjson")
    texts += _exception_texts(wrong.value) + _log_texts(caplog)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG really captured
    _assert_clean(texts, "export")


# --------------------------------------------------------------------------------- seed-compatible video flow
def test_seed_video_flow_with_sas_presigner_leaks_nothing(secret_sandbox, tmp_path, caplog) -> None:
    from lb_assets.integrations import converter_for_video_project_with_id, create_dataset_from_video_annotation_project

    caplog.set_level(logging.DEBUG)
    pid = secret_sandbox.demo_projects["video"]
    ds, project_json = create_dataset_from_video_annotation_project(
        str(tmp_path / "frames"), pid, KEY, url_presigner=_sas_presigner(with_bearer=True))
    assert len(ds) > 0

    def provider(_name: str) -> Any:
        if "labelbox" not in list(ds.branches.names()):
            ds.branch("labelbox")
        return ds.branches["labelbox"].open()

    converter = converter_for_video_project_with_id(pid, provider, KEY, project_json=project_json,
                                                    group_mapping={"raster-segmentation": "mask"})
    branch = converter.dataset_with_applied_annotations(commit_message="labels")
    assert converter.last_result.labeled_rows > 0
    texts = _log_texts(caplog) + _dataset_texts(ds) + _dataset_texts(branch)
    texts += [repr(converter.last_result), json.dumps(project_json), repr(converter.__dict__)]
    _assert_clean(texts, "seed video flow")


# ---------------------------------------------------------------------------------------- failing fetches
def test_failing_media_fetches_leak_nothing(secret_sandbox, tmp_path, caplog) -> None:
    from lb_assets.integrations import create_dataset_from_video_annotation_project

    caplog.set_level(logging.DEBUG)
    pid = secret_sandbox.demo_projects["video"]
    texts: list[str] = []
    # a private video with a SAS query string but no bearer key: 401 from the file server
    with pytest.raises(MediaError) as refused:
        create_dataset_from_video_annotation_project(str(tmp_path / "a"), pid, KEY,
                                                     url_presigner=_sas_presigner(with_bearer=False))
    texts += _exception_texts(refused.value)
    # every file download fails with 500 (retried, then given up)
    url = secret_sandbox.add_file("clip.jpg", b"not used", "image/jpeg", private=True)
    secret_sandbox.fail_path("/files/", times=1000, status=500)
    with MediaFetcher(presigner=lambda u: (f"{u}?{SAS}", {"Authorization": f"Bearer {KEY}"}),
                      retries=2, backoff=0.01) as fetcher:
        with pytest.raises(MediaError) as failed:
            fetcher.fetch_bytes(url)
        texts += _exception_texts(failed.value) + [repr(fetcher)]
    texts += _log_texts(caplog)
    _assert_clean(texts, "failing fetch")


def test_third_party_debug_logs_keep_the_sas_token_out(secret_sandbox, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    url = secret_sandbox.add_file("pic.jpg", b"jpeg bytes", "image/jpeg", private=False)
    with MediaFetcher(presigner=lambda u: (f"{u}?{SAS}", {})) as fetcher:
        assert fetcher.fetch_bytes(url) == b"jpeg bytes"
    _assert_clean(_log_texts(caplog, loggers=None), "third-party loggers")


# --------------------------------------------------------------------------------------------- Dagster run
def _event_texts(result: dg.ExecuteInProcessResult) -> list[str]:
    out = []
    for event in result.all_events:
        out.append(str(event.message))
        data = event.event_specific_data
        out.append(repr(data))
        error = getattr(data, "error", None)
        if error is not None:
            out.append(error.to_string())
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        out += [f"{k}={v.value!r}" for k, v in mat.metadata.items()]
    return out


def test_dagster_runs_keep_key_and_sas_out_of_events_metadata_and_logs(secret_sandbox, tmp_path, monkeypatch,
                                                                       caplog) -> None:
    from lb_assets.cli_demo import materialize_project

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("LB_ASSETS_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LB_ASSETS_PROJECTS_FILE", str(repo / "projects.yaml"))
    caplog.set_level(logging.DEBUG)
    pid = secret_sandbox.demo_projects["image"]
    texts: list[str] = []
    with dg.instance_for_test() as instance:
        ok = materialize_project(instance, pid)  # default presigner: Labelbox bearer key
        assert ok.success
        texts += _event_texts(ok)
        # the SAS presigner cannot read the private demo image: frame_dataset fails with a 401
        monkeypatch.setenv("LB_ASSETS_PRESIGNER", "azure_sas")
        monkeypatch.setenv("AZURE_SAS_TOKEN", SAS)
        monkeypatch.setenv("LB_ASSETS_HOME", str(tmp_path / "data2"))
        failed = materialize_project(instance, pid)
        assert not failed.success
        texts += _event_texts(failed)
        assert any("frame_dataset" in str(e.step_key) for e in failed.all_events if e.is_step_failure)
        for record in instance.get_event_records(dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_FAILURE)):
            texts.append(repr(record.event_log_entry))
    texts += _log_texts(caplog)
    _assert_clean(texts, "dagster")
