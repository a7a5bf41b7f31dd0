"""Dagster definitions of lb_assets, thin over the core modules.

Modules: ``assets`` (upload, export), ``frame_assets`` (the sharded frame build), ``annotation_assets`` (both
annotation assets from one conversion), ``asset_support`` (what they share: leases, metadata), ``config``
(run config), ``resources`` (presigners, storage), ``labelbox_resource``, ``partitions``, ``exports``
(incremental export under the storage root), ``checks``, ``sensors``, ``run_monitor`` (stalled runs),
``observe`` (coverage, preview candidates, progress in the run log), ``preview`` (pictures and tables),
``failures`` (error mapping). The pipeline itself is ``lb_assets.pipeline`` and ``lb_assets.store``. The
``Definitions`` object is ``lb_assets.definitions.defs``; ``lb-assets demo`` / ``dev`` live in
``lb_assets.cli_demo``.
"""
