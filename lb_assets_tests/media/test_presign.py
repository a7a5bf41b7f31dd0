"""Presigner shapes and ready presigners."""

from __future__ import annotations

import builtins
import sys

import pytest

from lb_assets.errors import ConfigError
from lb_assets.media.presign import (
    AzureSasPresigner,
    ChainPresigner,
    HostPatterns,
    LabelboxBearerPresigner,
    S3Presigner,
    StaticHeadersPresigner,
    normalize_presign_result,
)

URL = "https://storage.example.com/clip.mp4"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ((URL, {}), (URL, {})),
        ((URL, None), (URL, {})),
        (URL, (URL, {})),
        ([URL, {"Authorization": "Bearer k"}], (URL, {"Authorization": "Bearer k"})),
        ((URL, {"headers": {"Authorization": "Bearer k"}}), (URL, {"Authorization": "Bearer k"})),  # the seed's default
        ((URL, {"headers": None}), (URL, {})),
        ((URL, {"headers": "Authorization: Bearer k\r\nX-A: 1\r\n"}), (URL, {"Authorization": "Bearer k", "X-A": "1"})),
    ],
)
def test_normalize_accepts_every_seed_shape(result, expected) -> None:
    url, headers = normalize_presign_result(result)
    assert (url, headers) == expected
    assert isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        ((URL,), "must return (url, headers)"),
        ((None, {}), "URL"),
        ((URL, ["a"]), "headers of type list"),
        ((URL, {"headers": {"A": "1"}, "B": "2"}), "'headers' key and other keys"),
        ((URL, {"Authorization": 5}), "'Authorization' with a int value"),
        ((URL, {"X-Evil": "a\r\nHost: b"}), "line break"),
    ],
)
def test_normalize_rejects_bad_shapes_clearly(result, fragment) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_presign_result(result)
    assert fragment in str(info.value)


def test_header_value_never_in_shape_error() -> None:
    with pytest.raises(ConfigError) as info:
        normalize_presign_result((URL, {"Authorization": "Bearer topsecret\n"}))
    assert "topsecret" not in str(info.value)


LB_URL = "https://storage.labelbox.com/clip.mp4"


def test_bearer_presigner_adds_header_and_hides_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABELBOX_ENDPOINT", raising=False)
    monkeypatch.delenv("LB_ASSETS_CREDENTIAL_HOSTS", raising=False)
    presigner = LabelboxBearerPresigner("lb-secret-key")
    assert presigner(LB_URL) == (LB_URL, {"Authorization": "Bearer lb-secret-key"})
    assert presigner(URL) == (URL, {})  # not a Labelbox host: no key
    assert "lb-secret-key" not in repr(presigner)


def test_bearer_presigner_default_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELBOX_ENDPOINT", "http://127.0.0.1:8765/graphql")
    monkeypatch.setenv("LB_ASSETS_CREDENTIAL_HOSTS", "media.example.org, *.cdn.example.org")
    presigner = LabelboxBearerPresigner("k3y")
    for url in ("https://labelbox.com/a.mp4", "https://A.Storage.LABELBOX.com/a.mp4", "http://127.0.0.1:8765/files/a",
                "https://media.example.org/a.mp4", "https://x.cdn.example.org/a.mp4"):
        assert presigner(url)[1] == {"Authorization": "Bearer k3y"}, url
    for url in ("https://evil-labelbox.com/a.mp4", "https://labelbox.com.evil.org/a.mp4", "http://127.0.0.1:8766/a",
                "http://127.0.0.2:8765/a", "https://cdn.example.org/a.mp4", "ftp://labelbox.com/a", URL):
        assert presigner(url) == (url, {}), url


def test_bearer_presigner_host_restriction() -> None:
    presigner = LabelboxBearerPresigner("k3y", hosts=["labelbox.com", "*.labelbox.com"])
    assert presigner("https://storage.labelbox.com/a.mp4")[1] == {"Authorization": "Bearer k3y"}
    assert presigner("https://labelbox.com/a.mp4")[1] == {"Authorization": "Bearer k3y"}
    assert presigner("https://evil-labelbox.com/a.mp4") == ("https://evil-labelbox.com/a.mp4", {})
    assert presigner(URL) == (URL, {})
    only_exact = LabelboxBearerPresigner("k3y", hosts=["labelbox.com"])
    assert only_exact("https://storage.labelbox.com/a.mp4")[1] == {}


def test_host_patterns_ports_case_and_errors() -> None:
    hosts = HostPatterns(["Media.Example.com:8443", "*.blob.core.windows.net", "plain.org"])
    assert hosts.matches("https://media.example.COM:8443/x")
    assert not hosts.matches("https://media.example.com/x")  # port 443 != 8443
    assert hosts.matches("https://acct.blob.core.windows.net/c/x") and not hosts.matches("https://core.windows.net/")
    assert not hosts.matches("https://blob.core.windows.net/x")  # '*.' means subdomains only
    assert hosts.matches("http://plain.org:81/x") and hosts.matches("https://plain.org./x")
    assert HostPatterns(["*.x.org:443"]).matches("https://a.x.org/") and not HostPatterns(["*.x.org:443"]).matches(
        "http://a.x.org/")
    for bad in ("https://labelbox.com", "labelbox.com/path", "*", "a.*.com", "host:99999", ""):
        with pytest.raises(ConfigError, match="hosts"):
            HostPatterns([bad], setting="credential_hosts")


def test_static_headers_and_azure_need_or_default_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LB_ASSETS_CREDENTIAL_HOSTS", raising=False)
    with pytest.raises(ConfigError, match="credential_hosts") as info:
        StaticHeadersPresigner({"X-Api-Key": "hidden-value"})
    assert "hidden-value" not in str(info.value)
    monkeypatch.setenv("LB_ASSETS_CREDENTIAL_HOSTS", "storage.example.com")
    assert StaticHeadersPresigner({"X-K": "v"})(URL)[1] == {"X-K": "v"}
    azure = AzureSasPresigner("sig=S")
    assert azure("https://a.blob.core.windows.net/c/x?z=1") == ("https://a.blob.core.windows.net/c/x?sig=S", {})
    assert azure("https://other.example.net/x?z=1") == ("https://other.example.net/x?z=1", {})
    assert azure(URL) == (URL + "?sig=S", {})  # $LB_ASSETS_CREDENTIAL_HOSTS extends the defaults


def test_bearer_presigner_needs_key() -> None:
    with pytest.raises(ConfigError, match="api_key"):
        LabelboxBearerPresigner("")


def test_azure_sas_replaces_query_and_hides_token() -> None:
    presigner = AzureSasPresigner("?sv=2022&sig=SECRETSIG")
    url, headers = presigner("https://acct.blob.core.windows.net/c/clip.mp4?old=1#frag")
    assert url == "https://acct.blob.core.windows.net/c/clip.mp4?sv=2022&sig=SECRETSIG"
    assert headers == {}
    assert "SECRETSIG" not in repr(presigner)


def test_static_headers_presigner_copies_and_hides_values() -> None:
    presigner = StaticHeadersPresigner({"X-Api-Key": "hidden-value"}, hosts=["storage.example.com"])
    assert presigner("https://elsewhere.example.com/x") == ("https://elsewhere.example.com/x", {})
    _, headers = presigner(URL)
    headers["X-Api-Key"] = "mutated"
    assert presigner(URL)[1] == {"X-Api-Key": "hidden-value"}
    assert "hidden-value" not in repr(presigner) and "X-Api-Key" in repr(presigner)


def test_chain_presigner_merges_in_order_and_accepts_seed_shapes() -> None:
    seed_style = lambda url: (url, {"headers": {"Authorization": "Bearer a"}})  # noqa: E731
    chain = ChainPresigner(AzureSasPresigner("sig=S", hosts=["h"]), seed_style,
                           StaticHeadersPresigner({"X-B": "b"}, hosts=["h"]))
    assert chain("https://h/x.png?z=1") == ("https://h/x.png?sig=S", {"Authorization": "Bearer a", "X-B": "b"})
    assert "sig=S" not in repr(chain)


def test_s3_presigner_without_boto3_names_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_boto3(name, *args, **kwargs):
        if name == "boto3" or name.startswith("boto3."):
            raise ImportError("No module named 'boto3'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "boto3", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_boto3)
    with pytest.raises(ConfigError, match="boto3"):
        S3Presigner()


class _RecordingS3Client:
    """Stands in for a boto3 S3 client (boto3 is an optional dependency, not installed here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, int]] = []

    def generate_presigned_url(self, op: str, Params: dict, ExpiresIn: int) -> str:  # noqa: N803 - boto3's names
        self.calls.append((op, Params, ExpiresIn))
        return f"https://{Params['Bucket']}.s3.amazonaws.com/{Params['Key']}?X-Amz-Signature=abc"


def test_s3_presigner_signs_s3_urls_only() -> None:
    client = _RecordingS3Client()
    presigner = S3Presigner(expires_in=600, client=client)
    url, headers = presigner("s3://bucket/dir/clip.mp4")
    assert url.startswith("https://bucket.s3.amazonaws.com/dir/clip.mp4?") and headers == {}
    assert client.calls == [("get_object", {"Bucket": "bucket", "Key": "dir/clip.mp4"}, 600)]
    assert presigner(URL) == (URL, {})
    with pytest.raises(ConfigError, match="s3://bucket/key"):
        presigner("s3://bucket-only")
