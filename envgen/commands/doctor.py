"""``envgen doctor``: examine a TensorFlow-on-Mac environment and say what is wrong and
how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from envgen.catalog.lines import load_catalog
from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.doctor.findings import Finding, Report
from envgen.doctor.rules import diagnose
from envgen.doctor.target import (
    DEFAULT_TIMEOUT,
    choose_target,
    find_project,
    load_probe_result,
    run_probe,
)

_STYLE = {"error": "bold red", "warning": "yellow", "fact": "cyan", "ok": "green"}
_MARK = {"error": "✗ error", "warning": "! warning", "fact": "· machine", "ok": "✓ ok"}

EXIT_CODES = {
    0: "nothing to fix here (facts about the machine are not errors)",
    1: "errors to fix in the environment",
    2: "a missing or broken interpreter, or bad input",
    3: "the probe timed out",
}


def _finding(console: Console, finding: Finding, fix_label: str) -> None:
    """One finding as whole lines: a command or a URL is never broken across lines."""
    head = Text(f"{_MARK[finding.severity]:<10}", style=_STYLE[finding.severity])
    head.append(f" {finding.check}: ", style="bold")
    head.append(finding.title)
    console.print(head)
    console.print(Text(f"    saw: {finding.evidence}", style="dim"))
    if finding.fix:
        console.print(Text(f"    {fix_label}: {finding.fix}"))


def print_report(report: Report, console: Console, *, verbose: bool = False) -> None:
    """What to fix here, then facts about the machine, then what is fine (named; -v
    shows each)."""
    console.print(
        Text(f"envgen doctor: {report.target}  ({report.target_reason})"),
    )
    facts = report.facts()
    seen = [
        f"{facts['os'] or '?'} on {facts['machine'] or '?'}",
        f"Python {facts['python'] or '?'}",
        facts["environment"] or "",
        facts["tensorflow_distributions"] or "no TensorFlow installed",
    ]
    console.print(Text("  " + " · ".join(x for x in seen if x)))
    to_fix = [*report.errors, *report.warnings]
    machine = report.machine_facts
    fine = [f for f in report.findings if f.severity == "ok"]
    if to_fix:
        console.print(Text("\nto fix in this environment:", style="bold"))
        for finding in to_fix:
            _finding(console, finding, "fix")
    if machine:
        console.print(Text("\nabout this machine (nothing to fix here):", style="bold"))
        for finding in machine:
            _finding(console, finding, "means")
    if fine and verbose:
        console.print(Text("\nfine:", style="bold"))
        for finding in fine:
            _finding(console, finding, "fix")
    elif fine:
        console.print(
            Text(f"\nfine: {', '.join(f.check for f in fine)} (-v shows the evidence)")
        )
    errors, warnings = len(report.errors), len(report.warnings)
    counts = (
        f"{errors} error(s), {warnings} warning(s), {len(machine)} machine fact(s),"
        f" {len(fine)} ok"
    )
    if errors:
        verdict = "fix the errors above, then rerun `envgen doctor`"
    elif machine:
        verdict = (
            "nothing to fix in the environment; this machine cannot run TensorFlow on a"
            " Metal GPU"
        )
    else:
        verdict = "environment OK"
    console.print(Text(f"\n{counts}: {verdict}"))


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "doctor", exit_codes=EXIT_CODES)
    def doctor(
        python: Annotated[
            str | None,
            typer.Option(
                "--python",
                metavar="PYTHON",
                help="The interpreter to examine (path, or a name on PATH).",
            ),
        ] = None,
        prefix: Annotated[
            Path | None,
            typer.Option(
                "--prefix",
                metavar="ENV",
                help="The environment to examine (a conda env or venv directory).",
            ),
        ] = None,
        directory: Annotated[
            Path | None,
            typer.Option(
                "--dir",
                metavar="DIR",
                help=(
                    "An envgen project: compare the environment with its"
                    " conda-lock.yml."
                ),
            ),
        ] = None,
        timeout: Annotated[
            float,
            typer.Option(
                "--timeout",
                metavar="SECONDS",
                min=5,
                max=3600,  # inf or 1e10 would overflow the wait (an internal error)
                help=(
                    "Seconds the probe (import tensorflow, one op) may take (5 to"
                    " 3600)."
                ),
            ),
        ] = DEFAULT_TIMEOUT,
        probe_result: Annotated[
            Path | None,
            typer.Option(
                "--probe-result",
                metavar="FILE",
                help=(
                    "Report on a recorded probe result (JSON from"
                    " envgen/doctor/probe.py) instead of running one."
                ),
            ),
        ] = None,
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> int:
        """Diagnose a TensorFlow-on-Apple-Silicon environment: findings and fixes.

        Each finding comes with its evidence and its fix. Default target: the project's
        environment inside an envgen project (when it exists), else the python3 first on
        PATH.
        """
        out = Output(as_json, quiet, verbose)
        catalog = load_catalog()
        if probe_result is not None:
            project, _ = find_project(directory, catalog)
            probe = load_probe_result(probe_result)
            name, reason = (
                str((probe.get("python") or {}).get("executable") or probe_result),
                f"recorded in {probe_result}",
            )
        else:
            target = choose_target(
                python, str(prefix) if prefix else None, directory, catalog
            )
            with out.step(
                f"envgen doctor: probing {target.python}: import tensorflow and one op"
                f" (up to {timeout:.0f} s)"
            ):
                probe = run_probe(target.python, timeout)
            project, name, reason = target.project, str(target.python), target.reason
        report = diagnose(probe, catalog, project, target=name, target_reason=reason)
        out.document(report.as_dict())
        if out.human or (quiet and not as_json and report.exit_code):
            # soft_wrap: a pipe or a CI log gets whole lines, never a command cut at
            # 80 columns
            print_report(report, Console(soft_wrap=True), verbose=verbose)
        return report.exit_code
