"""Shared test helpers: fixture builders, local servers, recorded PyPI answers."""
