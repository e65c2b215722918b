"""``envgen lock``: resolve environment.yml into conda-lock.yml (+ conda-<platform>.lock), checked."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import typer

from envgen.errors import CheckFailed

SOLVER_HELP = "Conda solver: auto (micromamba, mamba or conda if installed, else the built-in rattler one), or one of them."


class StepDisplay:
    """Progress on stderr: one line per step; on a terminal the current step shows its elapsed time."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.current = ""
        self.step_started = self.started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        self._finish_line()
        self.current = message
        self.step_started = time.monotonic()
        if self.tty:
            sys.stderr.write(f"envgen lock: {message} …")
            sys.stderr.flush()
            if self._thread is None:
                self._thread = threading.Thread(target=self._tick, daemon=True)
                self._thread.start()
        else:
            sys.stderr.write(f"envgen lock: {message}\n")

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            if self.current:
                elapsed = time.monotonic() - self.step_started
                sys.stderr.write(
                    f"\r\033[Kenvgen lock: {self.current} … {elapsed:.0f}s"
                )
                sys.stderr.flush()

    def _finish_line(self) -> None:
        if self.tty and self.current:
            elapsed = time.monotonic() - self.step_started
            sys.stderr.write(f"\r\033[Kenvgen lock: {self.current} ({elapsed:.1f}s)\n")
        self.current = ""

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        if not self.quiet:
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
            ),
            progress=display,
        )
    finally:
        display.close()


def describe(result) -> list[str]:
    """The summary lines printed after a lock."""
    if result.status == "unchanged":
        return [
            "conda-lock.yml is up to date with envgen.toml and environment.yml: nothing to do (--force solves again)"
        ]
    lines = [f"fixed: {fix}" for fix in result.fixes]
    for platform, conda, pip in result.counts:
        lines.append(
            f"locked {platform}: {conda} conda + {pip} pip packages, every artifact sha256-pinned"
        )
    lines.append(
        f"wrote {', '.join(result.files)} in {result.seconds:.1f}s (solver: {result.solver}); commit them"
    )
    return lines


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @app.command()
    def lock(
        directory: Path = typer.Option(
            Path("."), "--dir", help="The project directory (default: here)."
        ),
        platform: list[str] | None = typer.Option(
            None,
            "--platform",
            help="Lock only this platform (repeatable; default: all in envgen.toml).",
        ),
        solver: str = typer.Option("auto", "--solver", help=SOLVER_HELP),
        channel: str | None = typer.Option(
            None,
            "--channel",
            help="Lock against this conda-forge mirror or file:// copy instead of conda-forge.",
        ),
        pypi_index: str | None = typer.Option(
            None,
            "--pypi-index",
            help="Simple index for the pip side (default https://pypi.org/simple).",
        ),
        check: bool = typer.Option(
            False,
            "--check",
            help="Only check the lock is fresh (exit 1 if not); never solves.",
        ),
        force: bool = typer.Option(
            False, "--force", help="Solve again even when the inputs did not change."
        ),
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="No progress or summary; errors only."
        ),
    ) -> None:
        """Resolve environment.yml into a hash-pinned conda-lock.yml and conda-<platform>.lock."""
        if check:
            from envgen.lock.run import freshness

            state = freshness(directory)
            if not state.fresh:
                raise CheckFailed(
                    f"the lock is stale: {'; '.join(state.reasons)}",
                    "run: envgen lock (then commit conda-lock.yml and conda-*.lock)",
                )
            if not quiet:
                typer.echo(
                    "conda-lock.yml is up to date with envgen.toml and environment.yml"
                )
            return
        result = run_lock(
            directory,
            platforms=platform,
            solver=solver,
            channel=channel,
            pypi_index=pypi_index,
            force=force,
            quiet=quiet,
        )
        if not quiet:
            for line in describe(result):
                typer.echo(line)
