"""lb_assets.sandbox."""
