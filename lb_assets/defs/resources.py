"""Dagster resources besides ``LabelboxResource``: media presigning and storage locations.

``LabelboxResource`` lives in ``lb_assets.defs.labelbox_resource``. Secrets (API keys, SAS tokens, header values)
are meant to be wired with ``dg.EnvVar`` so the UI shows the variable name, never the value.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional

import dagster as dg
from pydantic import Field

from lb_assets.errors import ConfigError
from lb_assets.redact import redact_url

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from lb_assets.media.fetch import MediaFetcher

HOME_ENV = "LB_ASSETS_HOME"
DEFAULT_HOME = ".lb_assets_data"

PresignerKind = Literal["labelbox_bearer", "azure_sas", "static_headers", "s3", "none"]


class PresignerResource(dg.ConfigurableResource):
    """How media URLs are signed before they are fetched (built on ``lb_assets.media.presign``).

    ``labelbox_bearer`` (default) sends ``Authorization: Bearer <api_key>`` (Labelbox-hosted media);
    ``azure_sas`` replaces the query string with ``sas_token``; ``static_headers`` sends
    ``header_name: header_value``; ``s3`` presigns ``s3://`` URLs with boto3; ``none`` fetches URLs as they are.
    Mask URLs are always fetched with the Labelbox bearer key, whatever this setting.

    Credentials go only to the presigner's hosts, never across a redirect to another host: for
    ``labelbox_bearer`` (and masks) ``labelbox.com``, ``*.labelbox.com`` and the host of the GraphQL
    endpoint in use (``$LABELBOX_ENDPOINT``); for ``azure_sas`` ``*.blob.core.windows.net``; for
    ``static_headers`` none, so a list is required. ``credential_hosts`` and
    ``$LB_ASSETS_CREDENTIAL_HOSTS`` (comma-separated) add patterns (``host``, ``host:port``,
    ``*.domain``). Media elsewhere is fetched without credentials.
    """

    kind: PresignerKind = "labelbox_bearer"
    api_key: Optional[str] = Field(default=None, description="Labelbox API key (use EnvVar).")
    sas_token: Optional[str] = Field(default=None, description="Azure SAS token (use EnvVar).")
    header_name: Optional[str] = None
    header_value: Optional[str] = Field(default=None, description="Static header value (use EnvVar).")
    credential_hosts: list[str] = Field(
        default_factory=list,
        description="Host patterns ('host', 'host:port', '*.domain') added to the presigner's default list of "
        "hosts that get credentials (required for static_headers, or set $LB_ASSETS_CREDENTIAL_HOSTS).",
    )
    s3_expires_in: int = 3600
    timeout_seconds: float = 30.0
    retries: int = 3

    def get_presigner(self) -> object | None:
        """The presigner object for ``MediaFetcher`` (None for ``kind='none'``)."""
        from lb_assets.media import presign

        extra = tuple(self.credential_hosts)
        if self.kind == "none":
            return None
        if self.kind == "labelbox_bearer":
            return presign.LabelboxBearerPresigner(self._require("api_key", self.api_key), extra_hosts=extra)
        if self.kind == "azure_sas":
            return presign.AzureSasPresigner(self._require("sas_token", self.sas_token), extra_hosts=extra)
        if self.kind == "static_headers":
            name = self._require("header_name", self.header_name)
            return presign.StaticHeadersPresigner(
                {name: self._require("header_value", self.header_value)}, extra_hosts=extra
            )
        return presign.S3Presigner(expires_in=self.s3_expires_in)

    def media_fetcher(self, allowed_roots: tuple[str, ...] | list[str] = ()) -> MediaFetcher:
        """A fetcher for media (videos, images) that signs URLs with the configured presigner."""
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
                gets the key. ``credential_hosts`` are added when ``kind`` is ``labelbox_bearer``.
        """
        from lb_assets.media.fetch import MediaFetcher
        from lb_assets.media.presign import LabelboxBearerPresigner

        extra = tuple(self.credential_hosts) if self.kind == "labelbox_bearer" else ()
        return MediaFetcher(
            presigner=LabelboxBearerPresigner(labelbox_api_key, extra_hosts=extra, endpoint=endpoint),
            timeout=self.timeout_seconds,
            retries=self.retries,
        )

    def _require(self, name: str, value: str | None) -> str:
        if not value:
            raise ConfigError(f"Presigner resource setting '{name}' is required for kind '{self.kind}'")
        return value


class StorageResource(dg.ConfigurableResource):
    """Where exports and Deep Lake datasets are kept.

    ``root`` is any Deep Lake path (a local directory, ``s3://...``, ``al://org/...``); by default
    ``$LB_ASSETS_HOME`` or ``./.lb_assets_data``. Exports are NDJSON files and always stay in the local
    directory ``exports_dir`` (default ``<local home>/exports``).
    """

    root: Optional[str] = Field(default=None, description="Deep Lake root (default $LB_ASSETS_HOME).")
    exports_dir: Optional[str] = Field(default=None, description="Local directory for export files.")
    deeplake_token: Optional[str] = Field(default=None, description="Deep Lake token (use EnvVar).")
    deeplake_org_id: Optional[str] = None
    lease_wait_seconds: float = Field(
        default=600.0,
        description="How long a run waits for another run writing the same dataset or export before failing.",
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
        """Local directory of one project's export files (created)."""
        if self.exports_dir:
            base = Path(self.exports_dir).expanduser()
        else:
            home = self.root or os.environ.get(HOME_ENV) or DEFAULT_HOME
            base = Path(home if "://" not in home else DEFAULT_HOME).expanduser() / "exports"
        path = base.resolve() / _safe(project_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def lease_dir(self, project_id: str) -> Path:
        """Where the one-writer leases of a project live: in the project's storage directory when it is local.

        For a remote root (``s3://``, ``al://``) they are kept in the local exports directory, which guards
        against two writers on this machine only (logged once per step).
        """
        from lb_assets.store.lease import lease_dir

        if self.is_local():
            home = self.home()
            local = home[len("file://") :] if home.startswith("file://") else home
            return lease_dir(Path(local) / _safe(project_id))
        logger.warning(
            "Storage root %s is not local: one-writer leases are kept on this machine only (%s)",
            redact_url(self.home()), self.export_dir(project_id),
        )
        return lease_dir(self.export_dir(project_id))

    def open_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``lb_assets.store.datasets.open_or_create`` (token, org id)."""
        kwargs: dict[str, str] = {}
        if self.deeplake_token:
            kwargs["token"] = self.deeplake_token
        if self.deeplake_org_id:
            kwargs["org_id"] = self.deeplake_org_id
        return kwargs


def _safe(project_id: str) -> str:
    if not project_id or any(c in project_id for c in "/\\") or project_id in {".", ".."}:
        raise ConfigError(f"Project id {project_id!r} cannot name a storage directory")
    return project_id
