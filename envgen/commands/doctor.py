"""``envgen doctor``: examine a TensorFlow-on-Mac environment and say what is wrong and how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from envgen.catalog.lines import load_catalog
from envgen.doctor.rules import Report, diagnose
from envgen.doctor.target import (
    DEFAULT_TIMEOUT,
    choose_target,
    find_project,
    load_probe_result,
    run_probe,
)

_STYLE = {"error": "bold red", "warning": "yellow", "ok": "green"}
_MARK = {"error": "✗ error", "warning": "! warning", "ok": "✓ ok"}


def print_report(report: Report, console: Console) -> None:
    """The report as a table, errors first, and a one-line summary."""
    console.print(
        f"envgen doctor: {report.target}  [dim]({report.target_reason})[/dim]",
        highlight=False,
    )
    facts = report.facts()
    seen = [
        f"{facts['os'] or '?'} on {facts['machine'] or '?'}",
        f"Python {facts['python'] or '?'}",
        facts["environment"] or "",
        facts["tensorflow_distributions"] or "no TensorFlow installed",
    ]
    console.print(
        "  " + " · ".join(x for x in seen if x), highlight=False, markup=False
    )
    table = Table(show_lines=True)
    table.add_column("check", no_wrap=True)
    table.add_column("finding (evidence)", overflow="fold", ratio=3)
    table.add_column("fix", overflow="fold", ratio=2)
    for finding in report.findings:
        check = Text(_MARK[finding.severity], style=_STYLE[finding.severity])
        check.append(f"\n{finding.check}")
        cell = Text(finding.title)
        cell.append(f"\nsaw: {finding.evidence}", style="dim")
        table.add_row(check, cell, Text(finding.fix))
    console.print(table)
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = (
        "environment OK"
        if not errors
        else "fix the errors above, then rerun `envgen doctor`"
    )
    console.print(
        f"{errors} error(s), {warnings} warning(s), {len(report.findings) - errors - warnings} ok: {verdict}",
        highlight=False,
    )


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @app.command()
    def doctor(
        python: str | None = typer.Option(
            None,
            "--python",
            help="The interpreter to examine (path, or a name on PATH).",
        ),
        prefix: Path | None = typer.Option(
            None,
            "--prefix",
            help="The environment to examine (a conda env or venv directory).",
        ),
        directory: Path | None = typer.Option(
            None,
            "--dir",
            help="An envgen project: compare the environment with its conda-lock.yml.",
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print the findings as JSON."
        ),
        timeout: float = typer.Option(
            DEFAULT_TIMEOUT,
            "--timeout",
            min=5,
            help="Seconds the probe (import tensorflow, one op) may take.",
        ),
        probe_result: Path | None = typer.Option(
            None,
            "--probe-result",
            help="Report on a recorded probe result (JSON from envgen/doctor/probe.py) instead of running one.",
        ),
    ) -> int:
        """Diagnose a TensorFlow-on-Apple-Silicon environment: each finding with its evidence and fix.

        Default target: the project's environment inside an envgen project (when it exists), else the
        python3 first on PATH. Exit 0 without errors, 1 with errors, 2 for a missing or broken
        interpreter, 3 when the probe times out.
        """
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
            project, probe = target.project, run_probe(target.python, timeout)
            name, reason = str(target.python), target.reason
        report = diagnose(probe, catalog, project, target=name, target_reason=reason)
        if as_json:
            typer.echo(json.dumps(report.as_dict(), indent=2))
        else:
            print_report(report, Console())
        return report.exit_code
