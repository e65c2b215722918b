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
            "Keras",
            "metal",
            "Python",
            "macOS ≥",
            "conda-forge pins",
            "status",
            "ABI",
            "!",
        ):
            table.add_column(
                column, no_wrap=column not in ("Python", "conda-forge pins")
            )
        for row in rows:
            table.add_row(
                row["tf"],
                f"{row['package']}=={row['version']}",
                row["keras"],
                row["metal"] or "none",
                _python_cell(row),
                row["min_macos"],
                "\n".join(f"{k} {v}" for k, v in row["conda"].items()),
                row["status"],
                _abi_cell(row["abi"]),
                f"!{len(row['caveats'])}" if row["caveats"] else "",
            )
        # A pipe or a file gets the whole table, not one cut to 80 columns.
        console = Console(width=None if sys.stdout.isatty() else 160)
        console.print(table)
        console.print(LEGEND, highlight=False, markup=False)
        for row in rows:
            for caveat in row["caveats"]:
                console.print(
                    f"! {row['tf']}: {caveat['text']}", highlight=False, markup=False
                )

        for row in rows:
            if row["inferred"]:
                out.detail(
                    f"{row['tf']}: no source confirms {', '.join(row['inferred'])}"
                )
            if row["notes"]:
                out.detail(f"{row['tf']}: {row['notes']}")


LEGEND = (
    "Keras: the Keras major version the line installs (2 -> 3 at TF 2.16 breaks Keras 2"
    " code).\n"
    "metal: the tensorflow-metal release paired with the line; none: no release loads"
    " into it (CPU only, --no-metal).\n"
    'Python: with the plugin; "+3.12 (1.2.0*)": a Python the line\'s own plugin lacks,'
    " served by a newer plugin\n"
    '  (an inferred alternative); "+3.12 no metal": TensorFlow\'s own wheels, without'
    " the plugin.\n"
    "status: verified = every fact has a source; inferred = some fact is envgen's"
    " assumption (`envgen matrix --json`\n"
    "  lists which, and each fact's source).\n"
    "ABI: checked = envgen's symbol check binds every TensorFlow symbol the plugin"
    " imports (from the wheels, as dyld\n"
    '  would); "✗ N missing" = the plugin cannot load; — = not checked. It rules out'
    ' "Symbol not found", not bugs.\n'
    "!N: the line has N caveats, listed below."
)


def _python_cell(row: dict) -> str:
    """The Pythons with the plugin, then the alternatives and the CPU-only extras."""
    if not row["metal"]:
        return ", ".join(row["pythons"])
    served = set(row["metal_pythons"])
    parts = [", ".join(row["metal_pythons"])]
    for alternative in row["alternatives"]:
        parts.append(f"+{', '.join(alternative['pythons'])} ({alternative['metal']}*)")
        served.update(alternative["pythons"])
    extra = [p for p in row["pythons"] if p not in served]
    if extra:
        parts.append(f"+{', '.join(extra)} no metal")
    return "\n".join(parts)


def _abi_cell(record: dict | None) -> str:
    """ "checked" (the plugin binds every TensorFlow symbol it imports), "✗ N missing",
    or "—" (not checked)."""
    if record is None:
        return "—"
    if record["result"] == "compatible":
        return "checked"
    return f"✗ {len(record['missing']) + len(record['library_problems'])} missing"
