"""``envgen update``: is there a newer TensorFlow / tensorflow-metal pair this project
can use?"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import typer

from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.commands.generate import caps_note
from envgen.errors import EXIT_CHECK_FAILED, SpecError
from envgen.pypi.client import PyPIClient
from envgen.pypi.models import Releases, describe_age
from envgen.releases.apply import apply_update, preview_changes
from envgen.releases.model import Pair, UpdateReport
from envgen.releases.update import check_for_updates


def _pair_lines(pair: Pair, heading: str) -> list[str]:
    abi = ", ABI-checked" if pair.abi == "checked" else ""
    lines = [f"{heading}: {pair.label}  [{pair.status}{abi}]"]
    lines += [f"    {item}" for item in pair.evidence]
    lines += [
        f"    wheel: {wheel}" for wheel in pair.wheels if pair.status != "inferred"
    ]
    if pair.breaks[1:]:
        lines.append(
            f"    crosses lines: {pair.breaks[0]}; what changes under your code:"
        )
        lines += [f"      - {item}" for item in pair.breaks[1:]]
    elif pair.breaks:
        lines.append(
            f"    crosses lines: {pair.breaks[0]}: no Keras, Python or package change,"
            " nothing dropped"
        )
    lines += [f"    caveat: {caveat.text}" for caveat in pair.caveats]
    return lines


def _freshness(releases: dict[str, Releases]) -> str:
    parts = []
    for name, answer in releases.items():
        when = (
            "just now"
            if answer.source in ("network", "revalidated")
            else f"cached {describe_age(answer.age_seconds)} ago"
        )
        parts.append(f"{name} ({when})")
    return "PyPI: " + ", ".join(parts)


def _human(
    report: UpdateReport,
    releases: dict[str, Releases],
    diffs: tuple[tuple[str, str], ...],
    verbose: bool,
) -> str:
    current = report.current
    metal = f" + tensorflow-metal {current.metal}" if current.metal else " (no Metal)"
    out = [
        (
            f"project: {current.tf_package} {current.tf_version}{metal}, Python"
            f" {current.python}, {', '.join(current.platforms)}"
        ),
        _freshness(releases),
    ]
    out += [f"warning: {warning}" for warning in report.warnings]
    if report.proposal is not None:
        out += _pair_lines(report.proposal, "update available")
    elif report.latest:
        out.append(
            "up to date: no newer catalog pair for this project's Python and platforms"
        )
    else:
        out.append(f"up to date within TensorFlow {current.line}")
    if not report.latest and report.newer_lines:
        out.append(
            f"    newer lines: {', '.join(report.newer_lines)} "
            "(`envgen update --latest` proposes one and lists what it breaks)"
        )
    if report.python_change is not None:
        out += _pair_lines(
            report.python_change, f"newer with Python {report.python_change.python}"
        )
        out.append("    (rerun with --allow-python-change to move there)")
    shown = report.inferred if verbose else report.inferred[-1:]
    for pair in shown:
        out += _pair_lines(pair, "not in envgen's catalog (inferred, never applied)")
    if report.inferred:
        older = len(report.inferred) - len(shown)
        more = (
            f"; {older} older inferred pair(s): --verbose lists them" if older else ""
        )
        out.append(
            "    inferred pairs are upload-date guesses: wait for an envgen release"
            f" that verifies them{more}"
        )
    if report.skipped and verbose:
        out.append("passed over:")
        out += [f"    {item}" for item in report.skipped]
    elif report.skipped:
        out.append(
            f"passed over {len(report.skipped)} newer release(s) (other lines,"
            " pre-releases, yanked, no wheel, failed symbol check): -v lists each"
            " and why"
        )
    for _, diff in diffs:
        out.append(diff.rstrip("\n"))
    return "\n".join(out)


EXIT_CODES = {
    0: "up to date, or the update was applied (or shown, without --check)",
    1: "--check: an update is available",
    3: "PyPI cannot be reached and there is no cached answer",
}


def _report_applied(out: Output, directory: Path, applied) -> None:
    """What --apply wrote, why the pins are now caps (when they are), and what to run
    next."""
    from envgen.catalog.lines import load_catalog
    from envgen.generate.plan import make_plan
    from envgen.generate.spec import load_spec

    if applied.locked:
        out.say(f"applied: wrote {', '.join(applied.written)}; {applied.lock_note}")
    else:
        out.say(f"applied: wrote {', '.join(applied.written)}")
    plan = make_plan(load_spec(directory), load_catalog())
    if plan.caps_reason and "environment.yml" in applied.written:
        out.say(caps_note(plan.caps_reason))
    if not applied.locked:
        where = "" if Path(directory) == Path(".") else f" --dir {directory}"
        out.next_step(f"envgen lock{where}", "--no-lock left the lock stale")


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "update", exit_codes=EXIT_CODES)
    def update(
        directory: options.ProjectDir = Path("."),
        check: bool = typer.Option(
            False,
            "--check",
            help=(
                "Exit 1 when this mode has an update to apply, 0 otherwise (for a"
                " scheduled CI job)."
            ),
        ),
        apply: bool = typer.Option(
            False,
            "--apply",
            help="Write the update into envgen.toml, re-render and re-lock.",
        ),
        latest: bool = typer.Option(
            False,
            "--latest",
            help=(
                "Cross TensorFlow lines (default: patch and plugin updates of the"
                " project's line) and list what the move breaks."
            ),
        ),
        within_line: bool = typer.Option(
            False,
            "--within-line",
            hidden=True,
            help="The default now: only the project's line.",
        ),
        allow_python_change: bool = typer.Option(
            False,
            "--allow-python-change",
            help="Move to a newer pair even if it needs another Python.",
        ),
        pre: bool = typer.Option(False, "--pre", help="Consider pre-releases."),
        include_yanked: bool = typer.Option(
            False, "--include-yanked", help="Consider yanked releases."
        ),
        offline: options.Offline = False,
        refresh: bool = typer.Option(
            False, "--refresh", help="Ask PyPI even if the cached answer is recent."
        ),
        no_lock: bool = typer.Option(
            False, "--no-lock", help="With --apply: re-render but do not re-lock."
        ),
        channel: str | None = typer.Option(
            None,
            "--channel",
            metavar="URL",
            help=(
                "With --apply: re-lock against this conda channel (a mirror or file://"
                " copy of conda-forge)."
            ),
        ),
        pypi_index: str | None = typer.Option(
            None,
            "--pypi-index",
            metavar="URL",
            help="With --apply: re-lock the pip side against this simple index.",
        ),
        abi_check: bool = typer.Option(
            False,
            "--abi-check",
            help=(
                "Run the Mach-O symbol check on inferred pairs envgen has no record for"
                " (downloads the wheels, ~200 MB each)."
            ),
        ),
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> int:
        """Find the newest tensorflow-metal + TensorFlow pair this project can use (in
        its line, or across lines with --latest), show the diff, optionally apply it."""
        if check and apply:
            raise SpecError(
                "--check and --apply cannot be combined",
                "run --check in CI, --apply to move the project",
            )
        if abi_check and offline:
            raise SpecError(
                "--abi-check cannot be combined with --offline",
                "the check downloads the wheels from PyPI",
            )
        if apply and not no_lock:  # a re-lock option that names nothing: before PyPI
            from envgen.lock.run import LockRequest, check_request

            check_request(
                LockRequest(directory, channel=channel, pypi_index=pypi_index)
            )
        out = Output(as_json, quiet, verbose)
        client = PyPIClient(offline=offline, refresh=refresh)
        progress = out.progress_callback() if abi_check else None
        with (
            nullcontext()
            if abi_check
            else out.step(
                "envgen update: asking PyPI for new TensorFlow and plugin releases"
            )
        ):
            report, releases = check_for_updates(
                directory,
                client,
                latest=latest and not within_line,
                pre=pre,
                include_yanked=include_yanked,
                allow_python_change=allow_python_change,
                abi_check=abi_check,
                progress=progress,
            )
        diffs = (
            preview_changes(directory, report).diffs
            if report.proposal is not None
            else ()
        )
        applied = None
        if apply and report.proposal is not None:
            applied = apply_update(
                directory,
                report,
                lock=not no_lock,
                channel=channel,
                pypi_index=pypi_index,
            )
        if as_json:
            document: dict = {
                "update_available": report.update_available,
                **asdict(report),
                "pypi": {
                    name: {"source": r.source, "age_seconds": round(r.age_seconds, 1)}
                    for name, r in releases.items()
                },
                "diffs": dict(diffs),
                "applied": asdict(applied) if applied else None,
            }
            out.document(document)
        else:
            out.say(_human(report, releases, diffs, verbose))
            if applied is not None:
                _report_applied(out, directory, applied)
            elif report.proposal is not None and not check:
                out.next_step(
                    "envgen update --apply", "writes this, re-renders and re-locks"
                )
        if check and report.update_available:
            return EXIT_CHECK_FAILED
        return 0
