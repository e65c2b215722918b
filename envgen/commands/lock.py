"""``envgen lock``: resolve environment.yml into conda-lock.yml (+
conda-<platform>.lock), checked."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.errors import CheckFailed


class StepDisplay:
    """Progress on stderr: each step of the lock with its elapsed time.

    On a terminal the current step counts its seconds in place; in a log each step is a
    line and its end another (``took 1.2s``). A step running longer than ``SLOW``
    seconds says what it waits for.
    """

    SLOW = 5.0

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.current = ""
        self.waits_for = ""
        self.step_started = time.monotonic()
        self.said_waiting = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self._finish_line()
            self.current = str(message)
            self.waits_for = getattr(message, "waits_for", "")
            self.step_started = time.monotonic()
            self.said_waiting = False
            end = " …" if self.tty else "\n"
            sys.stderr.write(f"envgen lock: {self.current}{end}")
            sys.stderr.flush()
        if self._thread is None:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                if not self.current:
                    continue
                elapsed = time.monotonic() - self.step_started
                slow = elapsed >= self.SLOW and self.waits_for
                if self.tty:
                    waiting = f" (waiting for {self.waits_for})" if slow else ""
                    sys.stderr.write(
                        f"\r\033[Kenvgen lock: {self.current} … {elapsed:.0f}s{waiting}"
                    )
                elif slow and not self.said_waiting:
                    sys.stderr.write(
                        f"envgen lock:   still running after {elapsed:.0f}s: waiting"
                        f" for {self.waits_for}\n"
                    )
                    self.said_waiting = True
                sys.stderr.flush()

    def _finish_line(self) -> None:
        if self.current:
            elapsed = time.monotonic() - self.step_started
            if self.tty:
                sys.stderr.write(
                    f"\r\033[Kenvgen lock: {self.current} ({elapsed:.1f}s)\n"
                )
            else:
                sys.stderr.write(f"envgen lock:   took {elapsed:.1f}s\n")
        self.current = ""

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        if not self.quiet:
            with self._lock:
                self._finish_line()
        sys.stderr.flush()


def run_lock(
    project_dir: Path,
    *,
    platforms=(),
    solver="auto",
    channel=None,
    pypi_index=None,
    force=False,
    quiet=False,
    keep_mirror_urls=None,
):
    """Lock a project with a progress display; returns the LockResult."""
    from envgen.lock.run import LockRequest, lock_project

    display = StepDisplay(quiet)
    try:
        return lock_project(
            LockRequest(
                Path(project_dir),
                tuple(platforms or ()),
                solver,
                channel,
                pypi_index,
                force,
                keep_mirror_urls,
            ),
            progress=display,
        )
    finally:
        display.close()


def describe(result) -> list[str]:
    """The summary lines printed after a lock."""
    if result.status == "unchanged":
        return [
            "conda-lock.yml is up to date with envgen.toml and environment.yml: nothing"
            " to do (--force solves again)"
        ]
    lines = [f"fixed: {fix}" for fix in result.fixes]
    if result.from_source:
        lines.append(
            "built from source on the Mac (pure Python, no wheel for the platform): "
            + ", ".join(result.from_source)
        )
    for platform, conda, pip in result.counts:
        lines.append(
            f"locked {platform}: {conda} conda + {pip} pip packages, every artifact"
            " sha256-pinned"
        )
    lines.append(
        f"wrote {', '.join(result.files)} in {result.seconds:.1f}s (solver:"
        f" {result.solver}); commit them"
    )
    mirrors = [result.sources.get("envgen_channel"), None]
    index = result.sources.get("envgen_pypi_index", "")
    if index and index != "https://pypi.org/simple":
        mirrors[1] = index
    made_against = " and ".join(m for m in mirrors if m)
    if made_against:
        urls = result.sources.get("envgen_urls")
        lines.append(
            f"made against {made_against}: the lock names "
            + (
                "the mirror's URLs (--keep-mirror-urls)"
                if urls == "mirror"
                else "conda-forge's and PyPI's URLs"
            )
        )
    return lines


def locked_packages(project_dir: Path) -> list[str]:
    """Every package in conda-lock.yml, one line each (for -v)."""
    from envgen.doctor.context import parse_lock
    from envgen.names import LOCK_FILE
    from envgen.reading import read_regular

    path = Path(project_dir) / LOCK_FILE
    if not path.is_file():
        return []
    packages = parse_lock(read_regular(path).decode("utf-8"))
    return [
        f"  {p.platform}  {p.manager:<5}  {p.name} {p.version}"
        for p in sorted(packages, key=lambda p: (p.platform, p.manager, p.name))
    ]


def lock_document(result) -> dict:
    """A LockResult as the --json document of `envgen lock` and `envgen new`."""
    return {
        "status": result.status,
        "platforms": list(result.platforms),
        "solver": result.solver,
        "fixes": list(result.fixes),
        "counts": [
            {"platform": platform, "conda": conda, "pip": pip}
            for platform, conda, pip in result.counts
        ],
        "files": list(result.files),
        "seconds": round(result.seconds, 2),
        "from_source": list(result.from_source),
        "sources": dict(result.sources),
    }


EXIT_CODES = {
    0: "locked, or the lock is already up to date",
    1: "--check: the lock is stale; or the solved lock failed one of envgen's checks",
    2: "bad input, or no solution for the pins",
    3: "the channel or the index cannot be reached, or no solver",
}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "lock", exit_codes=EXIT_CODES)
    def lock(
        directory: options.ProjectDir = Path("."),
        platform: Annotated[
            list[str] | None,
            typer.Option(
                "--platform",
                metavar="PLATFORM",
                help=(
                    "Lock only this platform (repeatable; default: all in envgen.toml)."
                ),
            ),
        ] = None,
        solver: options.Solver = "auto",
        channel: options.Channel = None,
        pypi_index: options.PypiIndex = None,
        keep_mirror_urls: options.KeepMirrorUrls = None,
        check: Annotated[
            bool,
            typer.Option(
                "--check",
                help="Only check the lock is fresh (exit 1 if not); never solves.",
            ),
        ] = False,
        force: Annotated[
            bool,
            typer.Option(
                "--force", help="Solve again even when the inputs did not change."
            ),
        ] = False,
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> None:
        """Resolve environment.yml into a hash-pinned conda-lock.yml and explicit files."""
        from envgen.lock.run import LockRequest, check_request

        out = Output(as_json, quiet, verbose)
        # the options are checked first, with --check too: a bad one is never "up to date"
        check_request(
            LockRequest(
                Path(directory), tuple(platform or ()), solver, channel, pypi_index
            )
        )
        if check:
            from envgen.catalog.lines import load_catalog
            from envgen.generate.plan import make_plan
            from envgen.generate.spec import load_spec
            from envgen.lock.run import freshness

            if Path(directory).is_dir():
                # an envgen.toml that is unreadable or invalid is that problem (exit 2,
                # as `envgen generate` says it), not a stale lock
                make_plan(load_spec(directory), load_catalog())
            state = freshness(directory)
            out.document({"fresh": state.fresh, "reasons": list(state.reasons)})
            if not state.fresh:
                raise CheckFailed(
                    f"the lock is stale or altered: {'; '.join(state.reasons)}",
                    "run: envgen lock (then commit conda-lock.yml and conda-*.lock)",
                )
            out.say("conda-lock.yml is up to date with envgen.toml and environment.yml")
            return
        result = run_lock(
            directory,
            platforms=platform,
            solver=solver,
            channel=channel,
            pypi_index=pypi_index,
            force=force,
            quiet=quiet,
            keep_mirror_urls=keep_mirror_urls,
        )
        out.document(lock_document(result))
        for line in describe(result):
            out.say(line)
        if out.verbose and out.human:
            for line in locked_packages(directory):
                out.detail(line)
