"""``envgen remove NAME…``: remove extra packages from envgen.toml, then re-render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.commands.generate import apply_spec_edit
from envgen.generate.edit import read_spec_text, remove_packages

EXIT_CODES = {
    0: "removed and re-rendered",
    2: (
        "a name envgen.toml does not list (envgen's own pins cannot be removed);"
        " envgen.toml is unchanged"
    ),
}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "remove", exit_codes=EXIT_CODES)
    def remove(
        names: Annotated[
            list[str],
            typer.Argument(
                metavar="NAME",
                help="Package names to remove from packages.conda and packages.pip.",
            ),
        ],
        directory: options.ProjectDir = Path("."),
        force: options.Force = False,
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> None:
        """Remove packages from envgen.toml (comments and layout kept) and re-render."""
        out = Output(as_json, quiet, verbose)
        old = read_spec_text(directory)
        edit = remove_packages(old, tuple(names))
        document = apply_spec_edit(
            out, directory, old, edit.text, edit.changes, force=force
        )
        out.document(document)
