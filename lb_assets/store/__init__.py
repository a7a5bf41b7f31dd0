"""lb_assets.store: Deep Lake datasets of Labelbox projects.

Modules: `schema` (column types and stored values), `datasets` (open/create with real creds, token, org id),
`atomic` (rollback on failure, commits), `frames` (frame dataset build/refresh), `annotations` (bulk, keyed,
full-rewrite annotation columns), `branches` (the annotated branch kept in step with main),
`annotation_dataset` (a separate, row-aligned annotation dataset), `combine` (compatibility, view, TQL JOIN).
"""
