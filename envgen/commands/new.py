"""``envgen new NAME --tf X``: scaffold a project (and lock it, unless --no-lock)."""

from __future__ import annotations

from pathlib import Path

import typer

from envgen.commands.lock import describe, run_lock
from envgen.errors import EnvgenError
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec, validate_name


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @app.command()
    def new(
        name: str = typer.Argument(
            ..., help="Project name (also the conda environment name)."
        ),
        tf: str = typer.Option(
            ...,
            "--tf",
            help='TensorFlow line ("2.6") or exact release ("2.6.0"); see `envgen matrix`.',
        ),
        python: str | None = typer.Option(
            None,
            "--python",
            help="Python minor version (default: newest the line supports).",
        ),
        directory: Path | None = typer.Option(
            None, "--dir", help="Where to create the project (default: ./NAME)."
        ),
        jupyter: bool = typer.Option(
            False, "--jupyter", help="Add JupyterLab and an ipykernel."
        ),
        metal: bool = typer.Option(
            True,
            "--metal/--no-metal",
            help="Install tensorflow-metal (the GPU plugin).",
        ),
        platform: list[str] | None = typer.Option(
            None, "--platform", help="Lock platform (repeatable; default osx-arm64)."
        ),
        no_lock: bool = typer.Option(
            False, "--no-lock", help="Only write the files; run `envgen lock` later."
        ),
        channel: str | None = typer.Option(
            None,
            "--channel",
            help="Lock against this conda-forge mirror or file:// copy (see envgen lock).",
        ),
        pypi_index: str | None = typer.Option(
            None,
            "--pypi-index",
            help="Simple index for the lock's pip side (see envgen lock).",
        ),
        solver: str = typer.Option(
            "auto", "--solver", help="Conda solver for the lock (see envgen lock)."
        ),
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
            return
        lock_later = " ".join(
            [
                "envgen lock",
                *([f"--channel {channel}"] if channel else []),
                *([f"--pypi-index {pypi_index}"] if pypi_index else []),
            ]
        )
        try:
            result = run_lock(
                target, solver=solver, channel=channel, pypi_index=pypi_index
            )
        except EnvgenError as error:
            raise type(error)(
                f"created {target}/, but locking it failed: {error.message}",
                f"{error.hint + '; then ' if error.hint else ''}lock later with: cd {target} && {lock_later}",
                exit_code=error.exit_code,
            ) from None
        for line in describe(result):
            typer.echo(line)
