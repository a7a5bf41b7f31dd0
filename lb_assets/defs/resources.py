"""Dagster resources besides ``LabelboxResource``: media presigning and storage locations.

``LabelboxResource`` lives in ``lb_assets.defs.labelbox_resource``. Secrets (API keys, SAS tokens, header values)
are meant to be wired with ``dg.EnvVar`` so the UI shows the variable name, never the value.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import dagster as dg
from pydantic import Field

from lb_assets.errors import ConfigError
from lb_assets.redact import redact_url

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from lb_assets.defs.exports import ExportPlace
    from lb_assets.media.fetch import MediaFetcher
    from lb_assets.media.presign import Presigner
    from lb_assets.store.lease import LeaseLocation
    from lb_assets.store.objects import S3Creds

HOME_ENV = "LB_ASSETS_HOME"
CACHE_ENV = "LB_ASSETS_CACHE"
DEFAULT_HOME = ".lb_assets_data"


class PresignerResource(dg.ConfigurableResource):
    """How media URLs are signed before they are fetched (built on ``lb_assets.media.presign``).

    A base class with one subclass per kind, as ``build_presigner`` chooses by ``$LB_ASSETS_PRESIGNER``:
    `LabelboxBearerPresignerResource` (``labelbox_bearer``, the default: ``Authorization: Bearer <api_key>``
    for Labelbox-hosted media), `AzureSasPresignerResource` (``azure_sas``: the query string becomes the SAS
    token), `StaticHeadersPresignerResource` (``static_headers``: ``header_name: header_value``),
    `S3PresignerResource` (``s3``: presigned ``s3://`` URLs with boto3's credentials) and
    `NoPresignerResource` (``none``: URLs fetched as they are). Mask URLs are always fetched with the Labelbox
    bearer key, whatever the kind.

    Credentials go only to the presigner's hosts, never across a redirect to another host: for
    ``labelbox_bearer`` (and masks) ``labelbox.com``, ``*.labelbox.com`` and the host of the GraphQL
    endpoint in use (``$LABELBOX_ENDPOINT``); for ``azure_sas`` ``*.blob.core.windows.net``; for
    ``static_headers`` none, so a list is required. ``credential_hosts`` and
    ``$LB_ASSETS_CREDENTIAL_HOSTS`` (comma-separated) add patterns (``host``, ``host:port``,
    ``*.domain``). Media elsewhere is fetched without credentials.
    """

    credential_hosts: list[str] = Field(
        default_factory=list,
        description="Host patterns ('host', 'host:port', '*.domain') added to the presigner's default list of "
        "hosts that get credentials (required for static_headers, or set $LB_ASSETS_CREDENTIAL_HOSTS).",
    )
    timeout_seconds: float = 30.0
    retries: int = 3

    def get_presigner(self) -> Presigner | None:
        """The presigner object for ``MediaFetcher`` (None: URLs are fetched as they are)."""
        raise NotImplementedError(f"{type(self).__name__} must say how it signs URLs")

    def secrets(self) -> tuple[str, ...]:
        """What errors, logs and metadata must never show."""
        return ()

    def mask_extra_hosts(self) -> tuple[str, ...]:
        """Host patterns added to the Labelbox list for mask URLs (this kind's ``credential_hosts`` if bearer)."""
        return ()

    def media_fetcher(self, allowed_roots: tuple[str, ...] | list[str] = ()) -> MediaFetcher:
        """A fetcher for media (videos, images) that signs URLs with this presigner."""
        from lb_assets.media.fetch import MediaFetcher

        return MediaFetcher(
            presigner=self.get_presigner(),
            allowed_roots=tuple(allowed_roots),
            timeout=self.timeout_seconds,
            retries=self.retries,
        )

    def mask_fetcher(self, labelbox_api_key: str, endpoint: str | None = None) -> MediaFetcher:
        """A fetcher for Labelbox mask URLs: the Labelbox bearer key, on Labelbox's hosts only.

        Args:
            labelbox_api_key: The Labelbox API key.
            endpoint: The GraphQL endpoint in use (default ``$LABELBOX_ENDPOINT`` or Labelbox's); its host
                gets the key.
        """
        from lb_assets.media.fetch import MediaFetcher
        from lb_assets.media.presign import LabelboxBearerPresigner

        return MediaFetcher(
            presigner=LabelboxBearerPresigner(labelbox_api_key, extra_hosts=self.mask_extra_hosts(), endpoint=endpoint),
            timeout=self.timeout_seconds,
            retries=self.retries,
        )


class LabelboxBearerPresignerResource(PresignerResource):
    """``Authorization: Bearer <api_key>`` on Labelbox's hosts (Labelbox-hosted media)."""

    api_key: str = Field(description="Labelbox API key (use EnvVar).")

    def get_presigner(self) -> Presigner | None:
        """A `LabelboxBearerPresigner`."""
        from lb_assets.media.presign import LabelboxBearerPresigner

        return LabelboxBearerPresigner(self.api_key, extra_hosts=tuple(self.credential_hosts))

    def secrets(self) -> tuple[str, ...]:
        """The API key."""
        return (self.api_key,)

    def mask_extra_hosts(self) -> tuple[str, ...]:
        """The same extra hosts as media."""
        return tuple(self.credential_hosts)


class AzureSasPresignerResource(PresignerResource):
    """An Azure SAS token as the query string, on ``*.blob.core.windows.net`` (and ``credential_hosts``)."""

    sas_token: str = Field(description="Azure SAS token (use EnvVar).")

    def get_presigner(self) -> Presigner | None:
        """An `AzureSasPresigner`."""
        from lb_assets.media.presign import AzureSasPresigner

        return AzureSasPresigner(self.sas_token, extra_hosts=tuple(self.credential_hosts))

    def secrets(self) -> tuple[str, ...]:
        """The SAS token."""
        return (self.sas_token,)


class StaticHeadersPresignerResource(PresignerResource):
    """One static header (e.g. an API key) on the hosts of ``credential_hosts`` (required)."""

    header_name: str = "Authorization"
    header_value: str = Field(description="Static header value (use EnvVar).")

    def get_presigner(self) -> Presigner | None:
        """A `StaticHeadersPresigner` (ConfigError without a host list)."""
        from lb_assets.media.presign import StaticHeadersPresigner

        return StaticHeadersPresigner({self.header_name: self.header_value}, extra_hosts=tuple(self.credential_hosts))

    def secrets(self) -> tuple[str, ...]:
        """The header value."""
        return (self.header_value,)


class S3PresignerResource(PresignerResource):
    """Presigned URLs for ``s3://bucket/key`` row data (boto3's credentials)."""

    expires_in: int = 3600

    def get_presigner(self) -> Presigner | None:
        """An `S3Presigner`."""
        from lb_assets.media.presign import S3Presigner

        return S3Presigner(expires_in=self.expires_in)


class NoPresignerResource(PresignerResource):
    """URLs fetched as they are (public media, or local files under ``allowed_roots``)."""

    def get_presigner(self) -> Presigner | None:
        """None."""
        return None


PRESIGNER_RESOURCES: dict[str, type[PresignerResource]] = {
    "labelbox_bearer": LabelboxBearerPresignerResource,
    "azure_sas": AzureSasPresignerResource,
    "static_headers": StaticHeadersPresignerResource,
    "s3": S3PresignerResource,
    "none": NoPresignerResource,
}


class StorageResource(dg.ConfigurableResource):
    """Where exports, leases and Deep Lake datasets are kept.

    ``root`` is any Deep Lake path (a local directory, ``s3://...``, ``al://org/...``); by default
    ``$LB_ASSETS_HOME`` or ``./.lb_assets_data``. With a local root, exports are NDJSON files in
    ``exports_dir`` (default ``<root>/exports/<project id>``) and leases ``fcntl`` locks under the root.
    With an ``s3://`` root, exports are objects under ``<root>/<project id>/export/`` (readers keep checked
    copies in ``cache_dir``) and leases objects under ``<root>/<project id>/_leases/``, so every pod or worker
    finds them. S3 credentials: the ``aws_*`` fields, else the standard ``AWS_*`` variables (or a role).
    """

    root: Optional[str] = Field(default=None, description="Deep Lake root (default $LB_ASSETS_HOME).")
    exports_dir: Optional[str] = Field(default=None, description="Local directory for export files (local roots).")
    cache_dir: Optional[str] = Field(
        default=None,
        description="Local cache of exports kept on object storage "
        "(default $LB_ASSETS_CACHE or <tmp>/lb_assets_cache).",
    )
    deeplake_token: Optional[str] = Field(default=None, description="Deep Lake token (use EnvVar).")
    deeplake_org_id: Optional[str] = None
    aws_access_key_id: Optional[str] = Field(default=None, description="S3 access key id (default $AWS_ACCESS_KEY_ID).")
    aws_secret_access_key: Optional[str] = Field(
        default=None, description="S3 secret access key (use EnvVar; default $AWS_SECRET_ACCESS_KEY)."
    )
    aws_endpoint_url: Optional[str] = Field(
        default=None, description="S3-compatible endpoint, e.g. MinIO (default $AWS_ENDPOINT_URL or AWS)."
    )
    aws_region: Optional[str] = Field(default=None, description="S3 region (default $AWS_REGION).")
    lease_wait_seconds: float = Field(
        default=600.0,
        description="How long a run waits for another run writing the same dataset or export before failing.",
    )
    lease_ttl_seconds: Optional[float] = Field(
        default=None,
        description="Lifetime of an object-storage lease without renewal (default 120 s; renewed every third).",
    )

    def home(self) -> str:
        """The Deep Lake root, without a trailing slash."""
        root = self.root or os.environ.get(HOME_ENV) or DEFAULT_HOME
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        return root.rstrip("/")

    def is_local(self) -> bool:
        """True when datasets are kept on the local file system."""
        return "://" not in self.home() or self.home().startswith("file://")

    def is_s3(self) -> bool:
        """True when the root is on S3-compatible object storage (exports and leases live there too)."""
        return self.home().startswith("s3://")

    def project_dir(self, project_id: str) -> str:
        """Root of one project's datasets."""
        return f"{self.home()}/{_safe(project_id)}"

    def frames_path(self, project_id: str) -> str:
        """The frame dataset (main: frames; branch ``labelbox``: frames + annotations)."""
        return f"{self.project_dir(project_id)}/frames"

    def annotations_path(self, project_id: str) -> str:
        """The separate annotation dataset (row_key + annotations + lb_meta)."""
        return f"{self.project_dir(project_id)}/annotations"

    def export_dir(self, project_id: str) -> Path:
        """Local directory of one project's export files (created); used for local (and non-s3 remote) roots."""
        if self.exports_dir:
            base = Path(self.exports_dir).expanduser()
        else:
            home = self.root or os.environ.get(HOME_ENV) or DEFAULT_HOME
            base = Path(home if "://" not in home else DEFAULT_HOME).expanduser() / "exports"
        path = base.resolve() / _safe(project_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def export_location(self, project_id: str) -> ExportPlace:
        """Where one project's export files are: `export_dir`, or ``<root>/<project id>/export/`` on s3."""
        from lb_assets.defs.exports import RemoteExport
        from lb_assets.store.objects import S3Objects

        if not self.is_s3():
            return self.export_dir(project_id)
        objects = S3Objects.at(f"{self.project_dir(project_id)}/export", self.s3_creds())
        return RemoteExport(objects, self.export_cache_dir(project_id))

    def export_cache_dir(self, project_id: str) -> Path:
        """Local cache of one project's remote export (``cache_dir``, ``$LB_ASSETS_CACHE`` or a temp dir)."""
        base = self.cache_dir or os.environ.get(CACHE_ENV) or str(Path(tempfile.gettempdir()) / "lb_assets_cache")
        path = Path(base).expanduser().resolve() / _safe(project_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def lease_dir(self, project_id: str) -> LeaseLocation:
        """Where the one-writer leases of a project live: ``<root>/<project id>/_leases`` (local dir or s3).

        For another remote root (``al://``) they are kept in the local exports directory, which guards
        against two writers on this machine only (logged once per step).
        """
        from lb_assets.store.lease import lease_dir
        from lb_assets.store.objects import S3Objects

        if self.is_local():
            home = self.home()
            local = home[len("file://") :] if home.startswith("file://") else home
            return lease_dir(Path(local) / _safe(project_id))
        if self.is_s3():
            return S3Objects.at(f"{self.project_dir(project_id)}/_leases", self.s3_creds())
        logger.warning(
            "Storage root %s is not local: one-writer leases are kept on this machine only (%s)",
            redact_url(self.home()),
            self.export_dir(project_id),
        )
        return lease_dir(self.export_dir(project_id))

    def s3_creds(self) -> S3Creds:
        """The S3 settings given as fields (unset ones come from the standard ``AWS_*`` variables)."""
        from lb_assets.store.objects import S3Creds

        return S3Creds(self.aws_access_key_id, self.aws_secret_access_key, self.aws_endpoint_url, self.aws_region)

    def secrets(self) -> tuple[str, ...]:
        """Secret values that must not appear in errors, logs or metadata (with s3, ``AWS_*`` secrets too)."""
        s3 = self.s3_creds().secrets() if self.is_s3() else ()
        return tuple(s for s in (self.deeplake_token, self.aws_secret_access_key, *s3) if s)

    def open_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``lb_assets.store.datasets.open_or_create`` (token, org id, s3 creds)."""
        kwargs: dict[str, Any] = {}
        if self.deeplake_token:
            kwargs["token"] = self.deeplake_token
        if self.deeplake_org_id:
            kwargs["org_id"] = self.deeplake_org_id
        creds = self.s3_creds().deeplake_creds() if self.is_s3() else None
        if creds:
            kwargs["creds"] = creds
        return kwargs


def _safe(project_id: str) -> str:
    if not project_id or any(c in project_id for c in "/\\") or project_id in {".", ".."}:
        raise ConfigError(f"Project id {project_id!r} cannot name a storage directory")
    return project_id
