"""lb_assets.media."""
