"""lb_assets.defs."""
