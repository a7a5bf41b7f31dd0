"""lb_assets: Labelbox annotation projects as versioned Deep Lake datasets, orchestrated by Dagster."""

__version__ = "0.1.0"

from lb_assets.redact import install_log_redaction as _install_log_redaction

_install_log_redaction()
