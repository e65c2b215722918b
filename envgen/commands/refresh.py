"""``envgen catalog refresh``: what PyPI has that the catalog does not, and the ``locks/`` pin sets."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from envgen.catalog import load_catalog
from envgen.errors import EXIT_CHECK_FAILED
from envgen.pypi import PyPIClient
from envgen.refresh import check_catalog, write_locks


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @catalog_app.command("refresh")
    def refresh(
        write_locks_: bool = typer.Option(False, "--write-locks", help="Regenerate locks/ (one hash-pinned pip set per catalog line) with uv against PyPI."),
        offline: bool = typer.Option(False, "--offline", help="Compare against the cached PyPI answers only (not with --write-locks)."),
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    ) -> int:
        """For maintainers: new and yanked releases on PyPI against the catalog; exit 1 if the catalog names a yanked or missing release."""
        client = PyPIClient(offline=offline, refresh=not offline)
        catalog = load_catalog()
        report = check_catalog(catalog, client)
        locks = write_locks(catalog, repository=client) if write_locks_ else ()
        if as_json:
            document = {**asdict(report), "needs_attention": report.needs_attention, "locks": [asdict(r) for r in locks]}
            typer.echo(json.dumps(document, indent=2, default=str))
        else:
            for warning in report.warnings:
                typer.echo(f"warning: {warning}")
            if not report.findings:
                typer.echo("catalog and PyPI agree: no new or yanked releases")
            for finding in report.findings:
                typer.echo(f"{finding.kind:13} {finding.package} {finding.version}: {finding.detail}")
            for pair in report.inferred:
                typer.echo(f"inferred pair: {pair.label}")
                for item in pair.evidence:
                    typer.echo(f"    {item}")
            for result in locks:
                state = "rewritten" if result.changed else "unchanged"
                conda = ", ".join(f"{name} {version}" for name, version in result.conda_versions)
                source = f"; from source: {', '.join(result.from_source)}" if result.from_source else ""
                typer.echo(f"locks/{result.file}: {result.pins} pins, {state} (conda-provided: {conda or 'none'}{source})")
        return EXIT_CHECK_FAILED if report.needs_attention else 0
