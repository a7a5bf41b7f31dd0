"""lb_assets.convert."""
