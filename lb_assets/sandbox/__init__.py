"""Loopback Labelbox API sandbox for tests, demos and local development.

``LabelboxSandbox`` serves the GraphQL operations the labelbox SDK 7.17.0 sends for exports,
overviews, ontologies, datasets, uploads and batches, plus media files, masks and export chunks.
"""

from lb_assets.sandbox.server import LabelboxSandbox, serve

__all__ = ["LabelboxSandbox", "serve"]
