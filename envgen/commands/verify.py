"""``envgen verify``: run the GPU verification script with the project's (or a given)
interpreter."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from envgen.catalog.lines import load_catalog
from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.doctor.verify import checked_report_path, plan_run, run_verification

EXIT_CODES = {
    0: "the GPU is present and ran the ops (or --allow-cpu)",
    1: "no GPU, or the ops ran on the CPU",
    2: "TensorFlow failed to import, another error, or a bad interpreter",
}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "verify", exit_codes=EXIT_CODES)
    def verify(
        python: Annotated[
            str | None,
            typer.Option(
                "--python",
                metavar="PYTHON",
                help=(
                    "The interpreter to check (default: the project's environment, else"
                    " python3 on PATH)."
                ),
            ),
        ] = None,
        directory: options.FoundProjectDir = None,
        tf: Annotated[
            str | None,
            typer.Option(
                "--tf",
                metavar="VERSION",
                help=(
                    "Outside a project: the catalog line whose pair to expect (default:"
                    " the newest)."
                ),
            ),
        ] = None,
        report_path: Annotated[
            Path | None,
            typer.Option(
                "--report", metavar="FILE", help="Also write the JSON report to FILE."
            ),
        ] = None,
        allow_cpu: Annotated[
            bool,
            typer.Option(
                "--allow-cpu", help="Exit 0 without a GPU (CI runners without Metal)."
            ),
        ] = False,
        plot: Annotated[
            Path | None,
            typer.Option(
                "--plot",
                metavar="PNG",
                help="Plot CPU vs GPU epoch times to this PNG (needs matplotlib).",
            ),
        ] = None,
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> int:
        """Prove TensorFlow uses the GPU: devices, matmul placement, timed training.

        The training run is timed on the CPU and on the GPU.
        """
        out = Output(as_json, quiet, verbose)
        # refused before anything runs
        if report_path is not None:
            report_path = checked_report_path(report_path)
        if plot is not None:
            plot = checked_report_path(plot, "--plot")
        run = plan_run(python, directory, tf, load_catalog())
        out.progress(
            f"envgen verify: {run.python} ({run.python_reason}); script:"
            f" {run.script_reason}"
        )
        args: list[str] = []
        if plot is not None:
            args += ["--plot", str(plot)]
        if allow_cpu:
            args.append("--allow-cpu")
        with tempfile.TemporaryDirectory(prefix="envgen-verify-") as scratch:
            # the verdict comes from the script's report, never from its exit status
            report_file = (
                report_path
                if report_path is not None
                else Path(scratch) / "report.json"
            )
            if out.human:
                code = run_verification(run, args, report_path=report_file)
            else:
                # --json and -q: the script's own lines are kept aside, shown only if it
                # fails
                with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
                    try:
                        code = run_verification(
                            run, args, output=log, report_path=report_file
                        )
                    finally:
                        log.seek(0)
                        lines = log.read()
                if code != 0 and lines and not (as_json and quiet):
                    sys.stderr.write(lines)
            if as_json:
                out.document(json.loads(report_file.read_text(encoding="utf-8")))
        return code
