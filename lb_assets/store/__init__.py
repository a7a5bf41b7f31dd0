"""lb_assets.store."""
