"""The catalog flattened into rows for ``envgen matrix`` (table or JSON)."""

from __future__ import annotations

from envgen.catalog.abirecords import AbiRecords
from envgen.catalog.lines import Catalog


def catalog_rows(catalog: Catalog, abi: AbiRecords = AbiRecords()) -> list[dict]:
    """One plain dict per line, in catalog order, ready for JSON or a table.

    ``abi``: the recorded symbol checks; ``row["abi"]`` is the record of the line's own pair, or None.
    """

    def record(line) -> dict | None:
        found = abi.get(line.metal, line.package, line.version) if line.metal else None
        return found.as_json() if found is not None else None

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
            "abi": record(line),
        }
        for line in catalog.lines
    ]
