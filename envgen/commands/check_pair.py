"""``envgen catalog check-pair``: from the wheels alone, would tensorflow-metal X load
into TensorFlow Y?"""

from __future__ import annotations

import typer

from envgen.abi.checkpair import PairReport, check_pair
from envgen.abi.wheels import WheelStore
from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.errors import EXIT_CHECK_FAILED
from envgen.pypi.client import PyPIClient

EXIT_CODES = {
    0: "compatible: every symbol the plugin binds from TensorFlow resolves",
    1: "incompatible: a symbol is missing",
    2: "bad input (no such release, no macOS arm64 wheel)",
    3: "PyPI cannot be reached",
}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(catalog_app, "check-pair", exit_codes=EXIT_CODES)
    def check_pair_command(
        metal: str = typer.Option(
            ...,
            "--metal",
            metavar="VERSION",
            help="tensorflow-metal release, e.g. 1.1.0.",
        ),
        tf: str = typer.Option(
            ...,
            "--tf",
            metavar="VERSION",
            help="TensorFlow release, e.g. 2.14.1 (tensorflow-macos before 2.13).",
        ),
        python: str | None = typer.Option(
            None,
            "--python",
            metavar="VERSION",
            help="Python of the wheels to compare (default: the newest both have).",
        ),
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> int:
        """Bind the plugin's TensorFlow imports as dyld does; exit 1 if one is absent."""
        out = Output(as_json, quiet, verbose)
        progress = out.progress_callback()
        report = check_pair(
            metal,
            tf,
            python=python,
            repository=PyPIClient(),
            store=WheelStore(progress=progress),
        )
        out.document(report.as_json())
        if out.human or (quiet and not as_json and not report.compatible):
            typer.echo(describe(report, verbose=verbose))
        return 0 if report.compatible else EXIT_CHECK_FAILED


# Missing symbols shown without -v: the first few say what broke; the count says how
# much.
SHOWN_MISSING = 5


def describe(report: PairReport, *, verbose: bool = False) -> str:
    """The human report: verdict, then the first missing symbols the way dyld would
    print them (-v: all)."""
    res = report.resolution
    tf_name = f"{report.tf_package} {report.tf}" + (
        f" (via {report.alias})" if report.alias else ""
    )
    verdict = "compatible" if report.compatible else "INCOMPATIBLE"
    lines = [
        f"tensorflow-metal {report.metal} + {tf_name}, Python {report.python}:"
        f" {verdict}"
    ]
    checked, missing = len(res.checked), res.missing
    if report.compatible:
        lines.append(
            f"  all {checked} symbols the plugin binds from TensorFlow resolve as dyld"
            " would bind them"
        )
    else:
        lines.append(
            f"  {len(missing)} of the {checked} symbols the plugin binds from"
            " TensorFlow are missing; importing tensorflow with this plugin installed"
            " fails with:"
        )
    shown = missing if verbose else missing[:SHOWN_MISSING]
    for finding in shown:
        readable = report.readable.get(finding.symbol, finding.symbol)
        lines.append(f"  Symbol not found: {finding.symbol}")
        if readable != finding.symbol:
            lines.append(f"      {readable}")
        lines.append(f"    Referenced from: {report.plugin}")
        when = (
            "the dlopen fails" if finding.fails_at_load else "aborts when first called"
        )
        lines.append(
            f"    Expected in: {finding.expected_in}"
            f" ({finding.binding}{', lazy' if finding.lazy else ''}; {when})"
        )
    if len(shown) < len(missing):
        lines.append(
            f"  … and {len(missing) - len(shown)} more missing symbols (-v lists them"
            " all)"
        )
    for problem in res.library_problems:
        lines.append(
            f"  Library not loaded: {problem.load_path} ({problem.kind};"
            f" {problem.detail})"
        )
    weak = [f.symbol for f in res.findings if f.status == "weak-missing"]
    if weak:
        lines.append(f"  weak imports absent (allowed, bound to NULL): {len(weak)}")
    outside = sum(count for _, count in res.not_checked)
    if outside:
        lines.append(
            f"  not checked: {outside} imports from system libraries, Python or outside"
            " TensorFlow's names"
        )
    if report.plugin_min_macos or report.tf_min_macos:
        lines.append(
            "  macOS the binaries declare (LC_BUILD_VERSION minos): plugin"
            f" {report.plugin_min_macos or '?'}, TensorFlow"
            f" {report.tf_min_macos or '?'}"
        )
    lines.append(f"  TensorFlow images loaded: {', '.join(res.loaded)}")
    got = sum(size for _, size, _ in report.stats.downloads)
    fetched = f"downloaded {got / 1e6:.0f} MB" if got else "from the cache"
    lines.append(
        f"  wheels: {report.metal_wheel.filename}, {report.tf_wheel.filename}"
        f" ({fetched}); {report.seconds:.1f} s"
    )
    return "\n".join(lines)
