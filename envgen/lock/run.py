"""``envgen lock``: solve the conda side and the pip side, check, write conda-lock.yml
atomically.

The conda side is conda-lock's (:mod:`envgen.lock.condalock`), the pip side uv's
(:mod:`envgen.lock.pipside`), both chosen through :mod:`envgen.lock.engines`; the lock
is assembled and written in conda-lock's format by :mod:`envgen.lock.write` after it
passed :mod:`envgen.lock.checks`. Locks made against mirrors name conda-forge's and
PyPI's URLs (:mod:`envgen.lock.canonical`). A lock on the project directory (flock)
serialises concurrent runs.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from envgen.atomic import directory_lock
from envgen.errors import EnvironmentProblem, GenerateError, SpecError
from envgen.lock.canonical import Sources, choose_sources, is_pypi
from envgen.lock.freshness import Freshness, freshness, sha256_of
from envgen.lock.progress import Progress, Step
from envgen.names import ENV_FILE, LOCK_FILE, SPEC_FILE, explicit_lock_name
from envgen.reading import read_regular

__all__ = ["ENV_FILE", "LOCK_FILE", "Freshness", "explicit_lock_name", "freshness"]

MAX_FIX_ROUNDS = 3


@dataclass(frozen=True)
class LockRequest:
    """What ``envgen lock`` was asked to do (None: what the existing lock was made
    against)."""

    project_dir: Path
    platforms: tuple[str, ...] = ()
    solver: str = "auto"
    channel: str | None = None
    pypi_index: str | None = None
    force: bool = False
    keep_mirror_urls: bool | None = None


@dataclass(frozen=True)
class LockResult:
    status: str  # "locked" | "unchanged"
    platforms: tuple[str, ...]
    solver: str = ""
    fixes: tuple[str, ...] = ()
    counts: tuple[tuple[str, int, int], ...] = ()  # (platform, conda, pip packages)
    files: tuple[str, ...] = ()
    seconds: float = 0.0
    from_source: tuple[str, ...] = ()  # pure-Python sdists pip builds on the Mac
    sources: dict[str, str] = field(default_factory=dict)


# ---- the project lock ----------------------------------------------------------------


@contextlib.contextmanager
def project_lock(project_dir: Path, progress: Progress) -> Iterator[None]:
    """Hold an exclusive flock on the project directory (released when the process dies,
    too)."""
    with directory_lock(
        project_dir,
        on_wait=lambda: progress(
            Step(
                "another envgen lock is running in this project; waiting for it to"
                " finish",
                "the other envgen lock in this project to finish",
            )
        ),
    ):
        yield


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A kill (SIGTERM) unwinds like Ctrl-C (whatever Ctrl-C raises here), so temporary
    files are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        on_interrupt = signal.getsignal(signal.SIGINT)
        if callable(on_interrupt):
            on_interrupt(signal.SIGINT, frame)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_environment_current(project_dir: Path, plan) -> None:
    from envgen.generate.render import render_files

    expected = next(f.content for f in render_files(plan) if f.path == ENV_FILE)
    path = project_dir / ENV_FILE
    if not path.is_file():
        raise GenerateError(
            f"{ENV_FILE} is missing in {project_dir}",
            "run: envgen generate (then envgen lock)",
        )
    if read_regular(path).decode("utf-8", errors="replace") != expected:
        raise GenerateError(
            f"{ENV_FILE} does not match {SPEC_FILE} (edited by hand, or {SPEC_FILE}"
            " changed since `envgen generate`)",
            "run: envgen generate (or --force to discard a hand edit), then envgen"
            " lock",
        )


def check_request(request: LockRequest) -> None:
    """Refuse an option that cannot name anything (an unknown platform or solver, a
    channel or index that is no URL), before any file is read or anything runs."""
    from envgen.lock.canonical import url_problem
    from envgen.lock.condalock import SOLVERS
    from envgen.names import PLATFORMS

    for platform in request.platforms:
        if platform not in PLATFORMS:
            raise SpecError(
                f"--platform {platform}: envgen knows no such platform",
                f"use one of {', '.join(PLATFORMS)}",
            )
    if request.solver not in SOLVERS:
        raise SpecError(
            f"--solver {request.solver}: unknown solver",
            f"use one of {', '.join(SOLVERS)}",
        )
    for option, value in (
        ("--channel", request.channel),
        ("--pypi-index", request.pypi_index),
    ):
        if value is None or (
            option == "--channel" and value.rstrip("/") in ("", "conda-forge")
        ):
            continue
        problem = url_problem(value)
        if problem:
            example = (
                "--channel file:///path/to/conda-forge-copy, an https:// mirror, or"
                " conda-forge"
                if option == "--channel"
                else "--pypi-index https://pypi.org/simple"
            )
            raise SpecError(f"{option} {value} {problem}", f"pass e.g. {example}")


def _platforms(request: LockRequest, plan) -> tuple[str, ...]:
    platforms = tuple(request.platforms) or plan.platforms
    unknown = [p for p in platforms if p not in plan.platforms]
    if unknown:
        raise SpecError(
            f"--platform {', '.join(unknown)} is not among environment.platforms"
            f" {list(plan.platforms)}",
            f"add it to environment.platforms in {SPEC_FILE} (then envgen generate), or"
            " lock one of those",
        )
    return platforms


def lock_project(
    request: LockRequest, progress: Progress = lambda step: None
) -> LockResult:
    """Lock a project: solve, check (fixing what is mechanical), then write the lock
    files atomically."""
    from envgen.catalog.lines import load_catalog
    from envgen.generate.plan import make_plan
    from envgen.generate.spec import load_spec

    started = time.monotonic()
    check_request(request)
    project_dir = Path(request.project_dir)
    plan = make_plan(load_spec(project_dir), load_catalog())
    platforms = _platforms(request, plan)
    _check_environment_current(project_dir, plan)

    with _sigterm_as_interrupt(), project_lock(project_dir, progress):
        state = freshness(project_dir)
        sources = choose_sources(
            request.channel,
            request.pypi_index,
            request.keep_mirror_urls,
            state.recorded,
        )
        recorded = {k: state.recorded.get(k, "") for k in sources.metadata()}
        if (
            state.fresh
            and recorded == sources.metadata()
            and set(platforms) <= set(state.platforms)
            and not request.force
        ):
            return LockResult(
                "unchanged",
                state.platforms,
                seconds=time.monotonic() - started,
                sources=recorded,
            )
        if request.channel is None and sources.channel:
            progress(
                Step(
                    "locking against the mirror this lock was made against:"
                    f" {sources.channel} (--channel conda-forge to change)"
                )
            )
        workdir = Path(tempfile.mkdtemp(prefix="envgen-lock-"))
        try:
            try:
                solved = _solve(
                    project_dir, plan, platforms, sources, request, workdir, progress
                )
            except EnvironmentProblem as error:
                raise _recorded_source_unreachable(error, request, sources) from None
            progress(Step("writing the lock"))
            files = _write(project_dir, solved.lockfile_bytes)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return LockResult(
        "locked",
        solved.platforms,
        solved.solver,
        solved.fixes,
        solved.counts,
        files,
        time.monotonic() - started,
        solved.from_source,
        sources.metadata(),
    )


def _recorded_source_unreachable(
    error: EnvironmentProblem, request: LockRequest, sources: Sources
) -> EnvironmentProblem:
    """An unreachable channel or index the last lock recorded (not asked for now) says
    how to switch."""
    recorded = (
        request.channel is None and sources.channel and "conda channel" in error.message
    ) or (
        request.pypi_index is None
        and not is_pypi(sources.index)
        and "pip index" in error.message
    )
    if not recorded or "could not reach" not in error.message:
        return error
    return EnvironmentProblem(
        f"{error.message}; this project was last locked against it",
        "lock against conda-forge and PyPI with --channel conda-forge --pypi-index"
        " https://pypi.org/simple, or against another mirror with --channel URL /"
        " --pypi-index URL",
    )


def _write(project_dir: Path, data: bytes) -> tuple[str, ...]:
    from envgen.lock.write import write_lock

    inputs = {
        SPEC_FILE: sha256_of(project_dir / SPEC_FILE),
        ENV_FILE: sha256_of(project_dir / ENV_FILE),
    }
    return write_lock(project_dir, data, inputs)


def _solve(project_dir, plan, platforms, sources: Sources, request, workdir, progress):
    """Solve both sides, fixing what is mechanical, until the lock passes envgen's
    checks."""
    from envgen.lock.solve import LockSolver

    solver = LockSolver(
        project_dir, plan, platforms, sources, request.solver, workdir, progress
    )
    return solver.run(MAX_FIX_ROUNDS)
