"""``envgen add [--conda|--pip] SPEC…``: add extra packages to envgen.toml, then
re-render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.commands.generate import apply_spec_edit
from envgen.generate.edit import add_packages, read_spec_text

EXIT_CODES = {
    0: "added (or already there) and re-rendered",
    2: (
        "a bad spec, a package envgen pins itself, or one listed under the other"
        " manager; envgen.toml is unchanged"
    ),
}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "add", exit_codes=EXIT_CODES)
    def add(
        specs: Annotated[
            list[str],
            typer.Argument(
                metavar="SPEC",
                help=(
                    'Packages to add: conda MatchSpecs ("pandas", "pandas >=2") or,'
                    ' with --pip, PEP 508 requirements ("tqdm>=4.60").'
                ),
            ),
        ],
        conda: Annotated[
            bool,
            typer.Option(
                "--conda/--pip",
                help=(
                    "From conda-forge (packages.conda, the default) or from PyPI"
                    " (packages.pip)."
                ),
                show_default=False,
            ),
        ] = True,
        directory: options.ProjectDir = Path("."),
        force: options.Force = False,
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> None:
        """Add packages to envgen.toml (comments and layout kept), then re-render."""
        out = Output(as_json, quiet, verbose)
        old = read_spec_text(directory)
        edit = add_packages(old, tuple(specs), "conda" if conda else "pip")
        document = apply_spec_edit(
            out, directory, old, edit.text, edit.changes, force=force
        )
        out.document(document)
