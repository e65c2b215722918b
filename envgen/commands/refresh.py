"""``envgen catalog refresh``: what PyPI has that the catalog does not, the ``locks/``
pin sets, and the recorded Mach-O symbol checks (``envgen/data/abi_checks.toml``)."""

from __future__ import annotations

from dataclasses import asdict

import typer

from envgen.abi.recording import refresh_abi_records
from envgen.catalog import abirecords, lines
from envgen.catalog.lines import load_catalog
from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.errors import EXIT_CHECK_FAILED, SpecError
from envgen.pypi.client import PyPIClient, fetch_all
from envgen.releases.draft import draft_new_lines, draft_pairs, write_drafts
from envgen.releases.pinlock import write_locks
from envgen.releases.pypifacts import TRACKED_PACKAGES
from envgen.releases.refresh import compare_catalog
from envgen.releases.wheelmeta import wheel_requires

EXIT_CODES = {
    0: "catalog, locks/ and the symbol checks agree with PyPI",
    1: (
        "the catalog names a yanked or missing release, or a catalog pair fails the"
        " symbol check"
    ),
    3: "PyPI cannot be reached and there is no cached answer",
}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(catalog_app, "refresh", exit_codes=EXIT_CODES)
    def refresh(
        write_locks_: bool = typer.Option(
            False,
            "--write-locks",
            help=(
                "Regenerate locks/ (one hash-pinned pip set per catalog line) with uv"
                " against PyPI."
            ),
        ),
        abi_check: bool = typer.Option(
            False,
            "--abi-check",
            help=(
                "Run the Mach-O symbol check (check-pair) on every catalog and inferred"
                " pair and rewrite envgen/data/abi_checks.toml (downloads the wheels)."
            ),
        ),
        write: bool = typer.Option(
            False,
            "--write",
            help=(
                "Append the draft entry of each TF line PyPI has and the catalog lacks"
                " to envgen/data/catalog.toml, marked inferred."
            ),
        ),
        offline: bool = typer.Option(
            False,
            "--offline",
            help=(
                "Compare against the cached PyPI answers only (not with --write-locks"
                " or --abi-check)."
            ),
        ),
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> int:
        """For maintainers: new and yanked releases on PyPI against the catalog, locks/
        and the recorded symbol checks."""
        out = Output(as_json, quiet, verbose)
        if offline and (abi_check or write):
            raise SpecError(
                f"{'--abi-check' if abi_check else '--write'} cannot be combined with"
                " --offline",
                "the check and the drafts read the wheels on PyPI",
            )
        client = PyPIClient(offline=offline, refresh=not offline)
        catalog = load_catalog()
        with out.step("envgen catalog refresh: asking PyPI for every release"):
            releases = fetch_all(client, TRACKED_PACKAGES)
        report = compare_catalog(catalog, releases)
        locks = write_locks(catalog, repository=client) if write_locks_ else ()
        abi = None
        if abi_check:
            progress = out.progress_callback()
            abi = refresh_abi_records(
                catalog,
                releases,
                [*report.inferred, *draft_pairs(catalog, releases)],
                repository=client,
                progress=progress,
            )
        failing = abi.failing_catalog_pairs() if abi else ()
        drafts = (
            ()
            if offline
            else draft_new_lines(
                catalog,
                releases,
                abi=abirecords.load_abi_records(),
                read_requires=lambda dist, package: wheel_requires(
                    dist, client.url_for(package)
                ),
            )
        )
        if write and drafts:
            write_drafts(drafts, lines.CATALOG_PATH)
        if as_json:
            document = {
                **asdict(report),
                "needs_attention": report.needs_attention or bool(failing),
                "locks": [asdict(r) for r in locks],
                "drafts": [
                    {
                        "tf": d.tf,
                        "toml": d.toml,
                        "error": d.error,
                        "written": write and not d.error,
                    }
                    for d in drafts
                ],
                "abi_checks": (
                    None
                    if abi is None
                    else {
                        "file": abi.path,
                        "changed": abi.changed,
                        "records": [
                            {**r.as_json(), "why": p.why}
                            for p, r in zip(abi.pairs, abi.records, strict=False)
                        ],
                    }
                ),
            }
            out.document(document)
        else:
            for warning in report.warnings:
                out.say(f"warning: {warning}")
            if not report.findings:
                out.say("catalog and PyPI agree: no new or yanked releases")
            for finding in report.findings:
                out.say(
                    f"{finding.kind:13} {finding.package} {finding.version}:"
                    f" {finding.detail}"
                )
            for pair in report.inferred:
                out.say(f"inferred pair: {pair.label}")
                for item in pair.evidence:
                    out.say(f"    {item}")
            for draft in drafts:
                if draft.error:
                    out.say(f"draft for TensorFlow {draft.tf}: not made: {draft.error}")
                    continue
                done = (
                    f"added to {lines.CATALOG_PATH} (marked inferred): review it, then"
                    " run `envgen catalog refresh --abi-check --write-locks`"
                    if write
                    else (
                        "review it, then `envgen catalog refresh --write` adds it"
                        " marked inferred"
                    )
                )
                out.say(f"draft for TensorFlow {draft.tf} ({done}):")
                out.say(draft.toml.rstrip("\n"))
            for result in locks:
                state = "rewritten" if result.changed else "unchanged"
                conda = ", ".join(
                    f"{name} {version}" for name, version in result.conda_versions
                )
                source = (
                    f"; from source: {', '.join(result.from_source)}"
                    if result.from_source
                    else ""
                )
                out.say(
                    f"locks/{result.file}: {result.pins} pins, {state} (conda-provided:"
                    f" {conda or 'none'}{source})"
                )
            if abi is not None:
                for checked, record in zip(abi.pairs, abi.records, strict=False):
                    verdict = (
                        "compatible"
                        if record.compatible
                        else f"INCOMPATIBLE: {record.why_incompatible()}"
                    )
                    out.say(
                        f"abi-check {record.label} (Python {record.python},"
                        f" {checked.why}): {record.symbols_checked} symbols, {verdict}"
                    )
                state = "rewritten" if abi.changed else "unchanged"
                out.say(f"{abi.path}: {len(abi.records)} records, {state}")
        return EXIT_CHECK_FAILED if report.needs_attention or failing else 0
