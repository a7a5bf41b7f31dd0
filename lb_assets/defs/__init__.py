"""Dagster definitions of lb_assets, thin over the core modules.

Modules: ``projects`` (declared projects file), ``config`` (run config), ``resources`` (presigner, storage),
``partitions``, ``exports`` (incremental export), ``pipeline`` (helpers the assets compose), ``assets``,
``checks``, ``sensors``, ``preview`` (pictures and tables), ``failures`` (error mapping). The
``Definitions`` object is ``lb_assets.definitions.defs``; ``lb-assets demo`` / ``dev`` live in
``lb_assets.cli_demo``.
"""
