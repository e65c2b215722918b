"""``envgen catalog check-pair``: would this tensorflow-metal load into this TensorFlow? From the wheels."""

from __future__ import annotations

import json

import typer

from envgen.abi.checkpair import PairReport, check_pair
from envgen.abi.wheels import WheelStore
from envgen.errors import EXIT_CHECK_FAILED
from envgen.pypi.client import PyPIClient


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @catalog_app.command("check-pair")
    def check_pair_command(
        metal: str = typer.Option(
            ..., "--metal", help="tensorflow-metal release, e.g. 1.1.0."
        ),
        tf: str = typer.Option(
            ...,
            "--tf",
            help="TensorFlow release, e.g. 2.14.1 (tensorflow-macos before 2.13).",
        ),
        python: str | None = typer.Option(
            None,
            "--python",
            help="Python of the wheels to compare (default: the newest both have).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="No progress lines on stderr."
        ),
    ) -> int:
        """Bind every symbol the plugin imports from TensorFlow as dyld would; exit 1 when one is missing."""
        progress = None if quiet else (lambda line: typer.echo(f"  {line}", err=True))
        report = check_pair(
            metal,
            tf,
            python=python,
            repository=PyPIClient(),
            store=WheelStore(progress=progress),
        )
        if as_json:
            typer.echo(json.dumps(report.as_json(), indent=2))
        else:
            typer.echo(describe(report))
        return 0 if report.compatible else EXIT_CHECK_FAILED


def describe(report: PairReport) -> str:
    """The human report: verdict, then each missing symbol the way dyld would print it."""
    res = report.resolution
    tf_name = f"{report.tf_package} {report.tf}" + (
        f" (via {report.alias})" if report.alias else ""
    )
    verdict = "compatible" if report.compatible else "INCOMPATIBLE"
    lines = [
        f"tensorflow-metal {report.metal} + {tf_name}, Python {report.python}: {verdict}"
    ]
    checked, missing = len(res.checked), res.missing
    if report.compatible:
        lines.append(
            f"  all {checked} symbols the plugin binds from TensorFlow resolve as dyld would bind them"
        )
    else:
        lines.append(
            f"  {len(missing)} of the {checked} symbols the plugin binds from TensorFlow are missing; "
            "importing tensorflow with this plugin installed fails with:"
        )
    for finding in missing:
        readable = report.readable.get(finding.symbol, finding.symbol)
        lines.append(f"  Symbol not found: {finding.symbol}")
        if readable != finding.symbol:
            lines.append(f"      {readable}")
        lines.append(f"    Referenced from: {report.plugin}")
        when = (
            "the dlopen fails" if finding.fails_at_load else "aborts when first called"
        )
        lines.append(
            f"    Expected in: {finding.expected_in} ({finding.binding}{', lazy' if finding.lazy else ''}; {when})"
        )
    for problem in res.library_problems:
        lines.append(
            f"  Library not loaded: {problem.load_path} ({problem.kind}; {problem.detail})"
        )
    weak = [f.symbol for f in res.findings if f.status == "weak-missing"]
    if weak:
        lines.append(f"  weak imports absent (allowed, bound to NULL): {len(weak)}")
    outside = sum(count for _, count in res.not_checked)
    if outside:
        lines.append(
            f"  not checked: {outside} imports from system libraries, Python or outside TensorFlow's names"
        )
    lines.append(f"  TensorFlow images loaded: {', '.join(res.loaded)}")
    got = sum(size for _, size, _ in report.stats.downloads)
    fetched = f"downloaded {got / 1e6:.0f} MB" if got else "from the cache"
    lines.append(
        f"  wheels: {report.metal_wheel.filename}, {report.tf_wheel.filename} ({fetched}); {report.seconds:.1f} s"
    )
    return "\n".join(lines)
