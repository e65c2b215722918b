"""``envgen new NAME --tf X``: scaffold a project (and lock it, unless --no-lock)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from envgen.project import create_project
from envgen.spec import ProjectSpec, validate_name


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @app.command()
    def new(
        name: str = typer.Argument(..., help="Project name (also the conda environment name)."),
        tf: str = typer.Option(..., "--tf", help='TensorFlow line ("2.6") or exact release ("2.6.0"); see `envgen matrix`.'),
        python: Optional[str] = typer.Option(None, "--python", help="Python minor version (default: newest the line supports)."),
        directory: Optional[Path] = typer.Option(None, "--dir", help="Where to create the project (default: ./NAME)."),
        jupyter: bool = typer.Option(False, "--jupyter", help="Add JupyterLab and an ipykernel."),
        metal: bool = typer.Option(True, "--metal/--no-metal", help="Install tensorflow-metal (the GPU plugin)."),
        platform: Optional[list[str]] = typer.Option(None, "--platform", help="Lock platform (repeatable; default osx-arm64)."),
        no_lock: bool = typer.Option(False, "--no-lock", help="Only write the files; run `envgen lock` later."),
    ) -> None:
        """Create a new project: envgen.toml, environment.yml, bootstrap, verification and an example."""
        spec = ProjectSpec(
            name=validate_name(name, key="NAME"),
            tensorflow=tf,
            metal=metal,
            python=python,
            jupyter=jupyter,
            platforms=tuple(platform) if platform else ("osx-arm64",),
        )
        target = directory if directory is not None else Path(name)
        plan = create_project(spec, target)
        typer.echo(
            f"created {target}/ for TensorFlow {plan.tf_version}"
            + (f" + tensorflow-metal {plan.metal_version}" if plan.metal else "")
            + f" on Python {plan.python} (catalog line {plan.line.tf}, {plan.line.status})"
        )
        if no_lock:
            typer.echo(f"next: cd {target} && envgen lock")
