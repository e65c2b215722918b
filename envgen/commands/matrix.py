"""``envgen matrix``: the catalog as a table, or JSON for machines."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from envgen.catalog import abirecords
from envgen.catalog.lines import load_catalog
from envgen.catalog.matrix import catalog_rows
from envgen.commands import options
from envgen.commands.conventions import Output, command

EXIT_CODES = {0: "the catalog was shown"}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "matrix", exit_codes=EXIT_CODES)
    def matrix(
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> None:
        """Show which TensorFlow, tensorflow-metal, Python and macOS go together."""
        out = Output(as_json, quiet, verbose)
        rows = catalog_rows(load_catalog(), abirecords.load_abi_records())
        out.document(rows)
        if not out.human:
            return
        table = Table(title="envgen catalog: TensorFlow on Apple Silicon")
        for column in (
            "TF",
            "package",
            "metal",
            "Python",
            "macOS ≥",
            "conda-forge pins",
            "status",
            "ABI",
        ):
            table.add_column(
                column, no_wrap=column not in ("Python", "conda-forge pins")
            )
        for row in rows:
            table.add_row(
                row["tf"],
                f"{row['package']}=={row['version']}",
                row["metal"] or "—",
                ", ".join(row["pythons"]),
                row["min_macos"],
                "\n".join(f"{k} {v}" for k, v in row["conda"].items()),
                row["status"],
                _abi_cell(row["abi"]),
            )
        # A pipe or a file gets the whole table, not one cut to 80 columns.
        Console(width=None if sys.stdout.isatty() else 160).print(table)
        for row in rows:
            if row["inferred"]:
                out.detail(
                    f"{row['tf']}: no source confirms {', '.join(row['inferred'])}"
                )
            if row["notes"]:
                out.detail(f"{row['tf']}: {row['notes']}")


def _abi_cell(record: dict | None) -> str:
    """ "checked" (the plugin binds every TensorFlow symbol it imports), "✗ N missing", or "—" (not checked)."""
    if record is None:
        return "—"
    if record["result"] == "compatible":
        return "checked"
    return f"✗ {len(record['missing']) + len(record['library_problems'])} missing"
