"""lb_assets: Labelbox annotation projects as versioned Deep Lake datasets, orchestrated by Dagster."""

__version__ = "0.1.0"
