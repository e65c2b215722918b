"""``envgen verify``: run the GPU verification script with the project's (or a given) interpreter."""

from __future__ import annotations

from pathlib import Path

import typer

from envgen.catalog.lines import load_catalog
from envgen.doctor.verify import plan_run, run_verification


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @app.command()
    def verify(
        python: str | None = typer.Option(
            None,
            "--python",
            help="The interpreter to check (default: the project's environment, else python3 on PATH).",
        ),
        directory: Path | None = typer.Option(
            None,
            "--dir",
            help="An envgen project (default: the working directory, if it is one).",
        ),
        tf: str | None = typer.Option(
            None,
            "--tf",
            help="Outside a project: the catalog line whose pair to expect (default: the newest).",
        ),
        json_path: Path | None = typer.Option(
            None, "--json", help="Write the JSON report here."
        ),
        allow_cpu: bool = typer.Option(
            False,
            "--allow-cpu",
            help="Exit 0 without a GPU (CI runners without Metal).",
        ),
        plot: Path | None = typer.Option(
            None,
            "--plot",
            help="Plot CPU vs GPU epoch times to this PNG (needs matplotlib).",
        ),
    ) -> int:
        """Prove TensorFlow uses the GPU: devices, matmul placement, and a timed CPU-vs-GPU training run.

        Exit 0 GPU present and used; 1 no GPU or ops ran on the CPU (0 with --allow-cpu);
        2 TensorFlow failed to import, another error, or a bad interpreter.
        """
        run = plan_run(python, directory, tf, load_catalog())
        typer.echo(
            f"envgen verify: {run.python} ({run.python_reason}); script: {run.script_reason}",
            err=True,
        )
        args: list[str] = []
        if json_path is not None:
            args += ["--json", str(json_path.resolve())]
        if plot is not None:
            args += ["--plot", str(plot.resolve())]
        if allow_cpu:
            args.append("--allow-cpu")
        return run_verification(run, args)
