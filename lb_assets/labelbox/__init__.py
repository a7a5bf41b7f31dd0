"""lb_assets.labelbox."""
