"""The catalog flattened into rows for ``envgen matrix`` (table or JSON)."""

from __future__ import annotations

from envgen.catalog import pairs
from envgen.catalog.abirecords import AbiRecords
from envgen.catalog.lines import Catalog, Line


def line_caveats(line: Line, abi: AbiRecords) -> list[dict]:
    """Every caveat of a line: with its own plugin, with each alternative plugin,
    without one."""
    found: dict[str, dict] = {}
    options = [o.metal for o in pairs.metal_options(line)] or [""]
    for metal in options:
        for caveat in pairs.caveats(line, metal, line.version, abi):
            found.setdefault(caveat.text, caveat.as_json())
    return list(found.values())


def catalog_rows(catalog: Catalog, abi: AbiRecords = AbiRecords()) -> list[dict]:
    """One plain dict per line, in catalog order, ready for JSON or a table.

    ``abi``: the recorded symbol checks; ``row["abi"]`` is the record of the line's own
    pair (for a line without a plugin: the failed check that says why), or None.
    """

    def record(line: Line) -> dict | None:
        if line.metal:
            found = abi.get(
                line.metal, pairs.tf_package(line, line.version), line.version
            )
        else:
            found = pairs.newest_failed_check(line, abi)
        return found.as_json() if found is not None else None

    return [
        {
            "tf": line.tf,
            "package": line.package,
            "version": line.version,
            "versions": list(line.versions),
            "release_packages": dict(line.release_packages),
            "keras": line.keras,
            "metal": line.metal,
            "metal_range": line.metal_range,
            "pythons": list(line.pythons),
            "metal_pythons": list(line.metal_pythons),
            "alternatives": [
                {
                    "metal": a.metal,
                    "pythons": list(a.pythons),
                    "status": "inferred",
                    "source": a.source,
                }
                for a in line.alternatives
            ],
            "default_python": pairs.default_python(line, True),
            "no_metal_reason": "" if line.metal else pairs.no_metal_reason(line, abi),
            "min_macos": line.min_macos,
            "platforms": list(line.platforms),
            "conda": dict(line.conda),
            "pip_caps": dict(line.pip_caps),
            "dropped": list(line.dropped),
            "status": line.status,
            "inferred": list(line.inferred),
            "sources": dict(line.sources),
            "notes": line.notes,
            "caveats": line_caveats(line, abi),
            "abi": record(line),
        }
        for line in catalog.lines
    ]
