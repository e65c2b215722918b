"""``envgen generate``: re-render the managed files from an edited envgen.toml."""

from __future__ import annotations

from pathlib import Path

import typer

from envgen.generate.project import generate_project


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @app.command()
    def generate(
        directory: Path = typer.Option(
            Path("."), "--dir", help="The project directory."
        ),
        force: bool = typer.Option(
            False, "--force", help="Overwrite managed files even if edited by hand."
        ),
    ) -> None:
        """Re-render environment.yml and the scripts from envgen.toml (no-op when nothing changed)."""
        _, result = generate_project(directory, force=force)
        if result.written:
            typer.echo("wrote " + ", ".join(result.written))
        else:
            typer.echo("up to date: nothing to write")
