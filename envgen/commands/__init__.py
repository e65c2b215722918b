"""Thin typer wrappers, one module per command; each exposes ``register(app, catalog_app)``."""
