"""The catalog flattened into rows for ``envgen matrix`` (table or JSON)."""

from __future__ import annotations

from envgen.catalog import Catalog


def catalog_rows(catalog: Catalog) -> list[dict]:
    """One plain dict per line, in catalog order, ready for JSON or a table."""
    return [
        {
            "tf": line.tf,
            "package": line.package,
            "version": line.version,
            "versions": list(line.versions),
            "metal": line.metal,
            "metal_range": line.metal_range,
            "pythons": list(line.pythons),
            "default_python": line.default_python,
            "min_macos": line.min_macos,
            "platforms": list(line.platforms),
            "conda": dict(line.conda),
            "pip_caps": dict(line.pip_caps),
            "status": line.status,
            "inferred": list(line.inferred),
            "sources": dict(line.sources),
            "notes": line.notes,
        }
        for line in catalog.lines
    ]
