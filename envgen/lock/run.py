"""``envgen lock``: conda-lock on the project's environment.yml, checked, written atomically.

The lock contract (bootstrap.sh relies on it):
- ``conda-lock.yml`` carries ``metadata.custom_metadata`` with ``envgen_toml_sha256`` and
  ``environment_yml_sha256`` (sha256 of those files' bytes when the lock was made);
- per platform, ``conda-<platform>.lock``: conda-lock's explicit render (pip lines as
  ``# pip name @ url#sha256=...``) under envgen's header lines ``# envgen-lock-sha256: <sha256 of
  conda-lock.yml>`` and ``# envgen-input-sha256: <file> <hex>`` for both inputs.

conda-lock runs in this process through its Python API (one seam: :func:`_conda_lock`) in a temporary
directory; the project's files are replaced only after the result passed :mod:`envgen.lock.checks`,
explicit files first and conda-lock.yml last, so an interrupted lock leaves the previous
conda-lock.yml byte-for-byte intact. A lock on the project directory (flock) serialises concurrent runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from envgen.atomic import commit_files, pending
from envgen.errors import (
    CheckFailed,
    EnvgenError,
    EnvironmentProblem,
    GenerateError,
    SpecError,
)
from envgen.generate.spec import SPEC_FILE
from envgen.lock.integrity import (
    LockIntegrityError,
    explicit_problems,
    header_lines,
    read_lock,
    render_explicit,
)

LOCK_FILE = "conda-lock.yml"
ENV_FILE = "environment.yml"
DEFAULT_PYPI_INDEX = "https://pypi.org/simple"
SOLVERS = ("auto", "micromamba", "mamba", "conda", "rattler")
MAX_FIX_ROUNDS = 3
OFFLINE_HINT = (
    "offline or behind a firewall? lock against local copies: envgen lock --channel file:///path/to/conda-forge-copy "
    "--pypi-index http://127.0.0.1:PORT/simple (any PEP 503 simple index)"
)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Progress = Callable[[str], None]


def explicit_name(platform: str) -> str:
    return f"conda-{platform}.lock"


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class LockRequest:
    """What ``envgen lock`` was asked to do."""

    project_dir: Path
    platforms: tuple[str, ...] = ()
    solver: str = "auto"
    channel: str | None = None
    pypi_index: str | None = None
    force: bool = False


@dataclass(frozen=True)
class LockResult:
    status: str  # "locked" | "unchanged"
    platforms: tuple[str, ...]
    solver: str = ""
    fixes: tuple[str, ...] = ()
    counts: tuple[
        tuple[str, int, int], ...
    ] = ()  # (platform, conda packages, pip packages)
    files: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class Freshness:
    fresh: bool
    reasons: tuple[str, ...] = ()
    recorded: dict = field(default_factory=dict)
    platforms: tuple[str, ...] = ()


# ---- freshness (no solver, no conda-lock import: `envgen lock --check` must stay fast) ---------


def freshness(project_dir: Path) -> Freshness:
    """Whether conda-lock.yml still matches envgen.toml and environment.yml, and its explicit files match it.

    A conda-lock.yml that cannot be read as a lock (not UTF-8, not YAML, not a mapping) is not fresh,
    with the reason; an explicit file that installs anything else than conda-lock.yml locks is not fresh,
    naming the file and the package (:mod:`envgen.lock.integrity`).
    """
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        raise SpecError(
            f"{project_dir} is not a directory",
            "pass the project's directory with --dir, or run this inside it",
        )
    lock_path = project_dir / LOCK_FILE
    if not lock_path.is_file():
        if not (project_dir / SPEC_FILE).is_file():
            raise SpecError(
                f"{project_dir.resolve()} is not an envgen project (no {SPEC_FILE}, no {LOCK_FILE})",
                "pass the project's directory with --dir, or create one with `envgen new NAME --tf 2.6`",
            )
        return Freshness(
            False, (f"{LOCK_FILE} is missing: the project has not been locked",)
        )
    lock = read_lock(lock_path)
    if lock.problem:
        return Freshness(False, (lock.problem,))
    metadata = lock.document["metadata"]
    recorded = dict(metadata.get("custom_metadata") or {})
    platforms = tuple(metadata.get("platforms") or ())
    reasons = []
    for key, name in (
        ("envgen_toml_sha256", SPEC_FILE),
        ("environment_yml_sha256", ENV_FILE),
    ):
        path = project_dir / name
        if not path.is_file():
            reasons.append(f"{name} is missing")
        elif recorded.get(key) != _sha256(path):
            reasons.append(f"{name} changed since the lock was made")
    reasons += explicit_problems(project_dir, lock, platforms, (SPEC_FILE, ENV_FILE))
    return Freshness(not reasons, tuple(reasons), recorded, platforms)


# ---- the project lock ---------------------------------------------------------------------------


@contextlib.contextmanager
def project_lock(project_dir: Path, progress: Progress) -> Iterator[None]:
    """Hold an exclusive flock on the project directory (released when the process dies, too)."""
    fd = os.open(project_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(
                "another envgen lock is running in this project; waiting for it to finish"
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A kill (SIGTERM) unwinds like Ctrl-C (whatever Ctrl-C raises here), so temporary files are removed."""
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


# ---- solver choice ------------------------------------------------------------------------------


def choose_solver(name: str, workdir: Path) -> tuple[str, Path]:
    """The conda front end conda-lock will run: an installed one, or envgen's rattler shim."""
    from envgen.lock.conda_shim import write_wrapper

    if name not in SOLVERS:
        raise SpecError(f"unknown solver {name!r}", f"use one of {', '.join(SOLVERS)}")
    if name == "rattler":
        return "rattler", write_wrapper(workdir / "bin")
    candidates = ("micromamba", "mamba", "conda") if name == "auto" else (name,)
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return candidate, Path(found)
    if name == "auto":
        return "rattler", write_wrapper(workdir / "bin")
    raise EnvironmentProblem(
        f"--solver {name}: {name} is not on PATH",
        "install it, or use --solver rattler (built in) or --solver auto",
    )


# ---- the derived inputs conda-lock sees ---------------------------------------------------------


def _spec_name(entry: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)", entry)
    return match.group(1).lower() if match else entry


def derived_environment(
    text: str,
    *,
    pypi_index: str,
    pins: dict[str, str],
    pip_pins: dict[str, str] | None = None,
) -> str:
    """environment.yml as conda-lock sees it: envgen's pip index, and any pins a check asked for.

    The pip side uses the simple index only (``allow-pypi-requests: false``): PyPI's per-version
    JSON, conda-lock's default, is not reachable everywhere PyPI is. ``pins`` are conda version specs
    by conda name; ``pip_pins`` PEP 440 specifiers by PyPI name.
    """
    document = yaml.safe_load(text) or {}
    dependencies = list(document.get("dependencies") or [])
    remaining = dict(pins)
    for index, entry in enumerate(dependencies):
        if isinstance(entry, str) and _spec_name(entry) in remaining:
            name = _spec_name(entry)
            version = remaining.pop(name)
            rest = entry.strip()[len(name) :].strip()
            dependencies[index] = (
                f"{name} {rest},{version}"
                if rest and rest != "*"
                else f"{name} {version}"
            )
    extra = [f"{name} {version}" for name, version in sorted(remaining.items())]
    split = next(
        (i for i, e in enumerate(dependencies) if isinstance(e, dict)),
        len(dependencies),
    )
    dependencies = dependencies[:split] + extra + dependencies[split:]
    if pip_pins:
        section = next(
            (e for e in dependencies if isinstance(e, dict) and "pip" in e), None
        )
        if section is None:
            section = {"pip": []}
            dependencies.append(section)
        requirements = list(section["pip"])
        left = dict(pip_pins)
        for index, requirement in enumerate(requirements):
            name = _spec_name(requirement)
            if name in left:
                requirements[index] = (
                    f"{requirement.split(';')[0].strip()},{left.pop(name)}"
                )
        requirements += [f"{name}{version}" for name, version in sorted(left.items())]
        section["pip"] = requirements
    document["dependencies"] = dependencies
    document["pip-repositories"] = [pypi_index]
    document["allow-pypi-requests"] = False
    return yaml.safe_dump(document, sort_keys=False)


def virtual_packages_yaml(plan, platforms: tuple[str, ...]) -> str:
    """conda-lock's --virtual-package-spec for the real target of each platform (plan.virtual_packages)."""
    subdirs = {}
    for platform in platforms:
        packages = {
            name: value.replace("=", " ", 1)
            for name, value in plan.virtual_packages(platform).items()
        }
        subdirs[platform] = {"packages": packages}
    return yaml.safe_dump({"subdirs": subdirs}, sort_keys=True)


# ---- running conda-lock -------------------------------------------------------------------------


@dataclass(frozen=True)
class CondaLockCall:
    """The one call into conda-lock (tests read it to assert what envgen asked for)."""

    conda: Path
    workdir: Path
    platforms: tuple[str, ...]
    channel: str | None
    mapping: Path


def _conda_lock(call: CondaLockCall) -> str:
    """Run conda-lock's lock in ``call.workdir``; returns what it printed (stderr and logs)."""
    import logging

    from conda_lock.conda_lock import make_lock_files

    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            make_lock_files(
                conda=str(call.conda),
                src_files=[call.workdir / ENV_FILE],
                kinds=["lock"],
                lockfile_path=call.workdir / LOCK_FILE,
                platform_overrides=list(call.platforms),
                channel_overrides=[call.channel] if call.channel else None,
                virtual_package_spec=call.workdir / "virtual-packages.yml",
                metadata_yamls=[call.workdir / "envgen-metadata.yml"],
                mapping_url=str(call.mapping),
            )
    except BaseException as error:
        error.envgen_output = captured.getvalue()  # type: ignore[attr-defined]
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    return captured.getvalue()


def _chain(error: BaseException) -> list[BaseException]:
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


_NETWORK = re.compile(
    r"connect|resolv|dns|network|unreachable|timed? ?out|no route|name or service|ssl|certificate",
    re.I,
)
_CONFLICT = re.compile(
    r"cannot solve|unsatisf|conflict|nothing provides|no candidates|packagesnotfound|not ?found",
    re.I,
)


def _conflict_names(lines: list[str]) -> list[str]:
    """The package names a solver's conflict explanation mentions, in order."""
    names: list[str] = []
    for line in lines:
        for match in re.finditer(
            r"(?:^|,\s|\bfor\s|require\s)([A-Za-z0-9_.\-]+)\s(?:[<>=!~*\d]|cannot|would)",
            line,
        ):
            if match.group(1) not in names and not match.group(1)[0].isdigit():
                names.append(match.group(1))
    return names


def _conflict_lines(message: str) -> list[str]:
    return [line.strip(" │├└─") for line in message.splitlines() if line.strip(" │├└─")]


def conflicting_requests(message: str, requested: list[str]) -> list[str]:
    """The requested specs a solver's conflict explanation names."""
    names = _conflict_names(_conflict_lines(message))
    return [spec for spec in requested if _spec_name(spec) in names]


def summarize_conflict(message: str, requested: list[str]) -> str:
    """A solver's conflict explanation as one line naming the packages involved."""
    lines = _conflict_lines(message)
    first = lines[0] if lines else message.strip()
    first = re.sub(r"^Cannot solve the request because of:\s*", "", first)
    names = _conflict_names(lines)
    asked = [spec for spec in requested if _spec_name(spec) in names]
    detail = "; ".join(
        dict.fromkeys(
            line
            for line in lines[1:]
            if "no candidates" in line or "would require" not in line
        )
    )
    summary = first.rstrip(".: ")
    if detail and detail != first:
        summary += f" ({detail.rstrip('.')})"
    if asked:
        summary += f"; conflicting requests: {', '.join(asked)}"
    elif names:
        summary += f"; packages involved: {', '.join(names)}"
    return re.sub(r"\s+", " ", summary)


def _conda_error(
    error: subprocess.CalledProcessError,
    requested: list[str],
    channel: str,
    platform_hint: str,
    user_names: frozenset[str] = frozenset(),
) -> EnvgenError:
    """The solver's failure as one error; ``user_names``: the conda packages envgen.toml lists."""
    import json

    output = error.stdout or error.output or ""
    try:
        answer = json.loads(output[output.index("{") : output.rindex("}") + 1])
    except ValueError:
        answer = {"message": output or (error.stderr or "")}
    message = str(answer.get("message") or answer.get("error") or "")
    kind = str(answer.get("exception_name") or "")
    if kind == "ChannelUnreachable" or (
        kind != "UnsatisfiableError" and _NETWORK.search(message)
    ):
        last = message.strip().splitlines()[-1] if message.strip() else "no answer"
        return EnvironmentProblem(
            f"could not reach the conda channel {channel} ({last.removeprefix('Caused by: ')})",
            OFFLINE_HINT,
        )
    if kind == "UnsatisfiableError" or _CONFLICT.search(message):
        asked = conflicting_requests(message, requested)
        if asked and not any(_spec_name(spec) in user_names for spec in asked):
            # Only envgen's own pins are involved: envgen.toml cannot relax them, so do not say it can.
            return EnvironmentProblem(
                f"the conda packages for {platform_hint} cannot be solved: {summarize_conflict(message, requested)}; "
                "these are envgen's own pins for this TensorFlow line, not envgen.toml's",
                f"check that {channel} is a complete copy of conda-forge (a partial mirror lacks packages envgen pins); "
                "if it is, report it to envgen's maintainers with this message: envgen.toml cannot change these pins",
            )
        return SpecError(
            f"the conda packages for {platform_hint} cannot be solved: {summarize_conflict(message, requested)}",
            "relax or remove the conflicting pins in envgen.toml ([packages], environment.python), then envgen generate && envgen lock",
        )
    first = (
        message.strip().splitlines()[0]
        if message.strip()
        else f"exit code {error.returncode}"
    )
    log = _log_failure(f"{output}\n{error.stderr or ''}", error)
    return EnvironmentProblem(
        f"the conda solver failed: {first}",
        f"the full output is in {log}; try --solver rattler or another solver",
    )


def _pip_error(error: BaseException, index: str) -> EnvgenError | None:
    for item in _chain(error):
        kind = type(item).__name__
        text = " ".join(str(item).split())
        if kind in (
            "ConnectionError",
            "ConnectTimeout",
            "ReadTimeout",
            "NewConnectionError",
            "MaxRetryError",
            "SSLError",
        ) or (kind in ("RepositoryError", "OSError") and _NETWORK.search(text)):
            return EnvironmentProblem(
                f"could not reach the pip index {index} ({kind})", OFFLINE_HINT
            )
        if kind == "SolverProblemError":
            text = text.replace("_dummy_package_", "the environment").replace(
                "-dummy-package-", "the environment"
            )
            return SpecError(
                f"the pip packages cannot be solved: {text}",
                "relax the conflicting pins in envgen.toml [packages] pip (or pick another TensorFlow line), then envgen generate && envgen lock",
            )
        if kind == "PackageNotFoundError":
            return EnvironmentProblem(
                f"the pip index {index} lacks a package the lock needs: {text}",
                "use an index that mirrors PyPI completely (--pypi-index URL), or the default https://pypi.org/simple",
            )
    return None


def _log_failure(output: str, error: BaseException) -> Path:
    import traceback

    base = Path(os.environ.get("ENVGEN_CACHE_DIR") or Path.home() / ".cache" / "envgen")
    base.mkdir(parents=True, exist_ok=True)
    path = base / "lock-failure.log"
    path.write_text(
        output + "\n" + "".join(traceback.format_exception(error)), encoding="utf-8"
    )
    return path


# ---- the lock step ------------------------------------------------------------------------------


def _check_environment_current(project_dir: Path, plan) -> None:
    from envgen.generate.render import render_files

    expected = next(f.content for f in render_files(plan) if f.path == ENV_FILE)
    path = project_dir / ENV_FILE
    if not path.is_file():
        raise GenerateError(
            f"{ENV_FILE} is missing in {project_dir}",
            "run: envgen generate (then envgen lock)",
        )
    if path.read_text(encoding="utf-8", errors="replace") != expected:
        raise GenerateError(
            f"{ENV_FILE} does not match {SPEC_FILE} (edited by hand, or {SPEC_FILE} changed since `envgen generate`)",
            "run: envgen generate (or --force to discard a hand edit), then envgen lock",
        )


def lock_project(
    request: LockRequest, progress: Progress = lambda message: None
) -> LockResult:
    """Lock a project: solve, check (fixing what is mechanical), then write the lock files atomically."""
    from envgen.catalog.lines import load_catalog
    from envgen.generate.plan import make_plan
    from envgen.generate.spec import load_spec
    from envgen.lock.checks import (
        CONDA_FORGE,
        check_lock,
        join_version_specs,
        load_name_map,
    )
    from envgen.lock.name_mapping import MAPPING_PATH

    started = time.monotonic()
    project_dir = Path(request.project_dir)
    plan = make_plan(load_spec(project_dir), load_catalog())
    platforms = tuple(request.platforms) or plan.platforms
    unknown = [p for p in platforms if p not in plan.platforms]
    if unknown:
        raise SpecError(
            f"--platform {', '.join(unknown)} is not among environment.platforms {list(plan.platforms)}",
            f"add it to environment.platforms in {SPEC_FILE} (then envgen generate), or lock one of those",
        )
    _check_environment_current(project_dir, plan)
    index = request.pypi_index or DEFAULT_PYPI_INDEX
    channel = request.channel.rstrip("/") if request.channel else None

    with _sigterm_as_interrupt(), project_lock(project_dir, progress):
        state = freshness(project_dir)
        same_sources = (
            state.recorded.get("envgen_channel", "") == (channel or "")
            and state.recorded.get("envgen_pypi_index", "") == index
        )
        if (
            state.fresh
            and same_sources
            and set(platforms) <= set(state.platforms)
            and not request.force
        ):
            return LockResult(
                "unchanged", state.platforms, seconds=time.monotonic() - started
            )

        names = load_name_map(MAPPING_PATH)
        allowed = (CONDA_FORGE, channel) if channel else (CONDA_FORGE,)
        workdir = Path(tempfile.mkdtemp(prefix="envgen-lock-"))
        try:
            solver, conda = choose_solver(request.solver, workdir)
            env_text = (project_dir / ENV_FILE).read_text(encoding="utf-8")
            inputs = {
                SPEC_FILE: _sha256(project_dir / SPEC_FILE),
                ENV_FILE: _sha256(project_dir / ENV_FILE),
            }
            (workdir / "virtual-packages.yml").write_text(
                virtual_packages_yaml(plan, platforms)
            )
            # conda-lock keeps the platforms it is not asked to solve from an existing lock, but also
            # prefers that lock's versions: start each solve from the project's lock only when locking
            # a subset of the platforms, and from nothing otherwise.
            previous = (
                (project_dir / LOCK_FILE).read_bytes()
                if (
                    set(platforms) != set(plan.platforms)
                    and (project_dir / LOCK_FILE).is_file()
                    and not read_lock(project_dir / LOCK_FILE).problem
                )
                else None
            )  # an unreadable old lock is not a starting point: `lock --force` replaces it
            pins: dict[str, dict[str, str]] = {"conda": {}, "pip": {}}
            fixes: list[str] = []
            for round_ in range(MAX_FIX_ROUNDS + 1):
                if previous is not None:
                    (workdir / LOCK_FILE).write_bytes(previous)
                else:
                    (workdir / LOCK_FILE).unlink(missing_ok=True)
                (workdir / ENV_FILE).write_text(
                    derived_environment(
                        env_text,
                        pypi_index=index,
                        pins=pins["conda"],
                        pip_pins=pins["pip"],
                    )
                )
                metadata = {
                    "envgen_toml_sha256": inputs[SPEC_FILE],
                    "environment_yml_sha256": inputs[ENV_FILE],
                    "envgen_channel": channel or "",
                    "envgen_pypi_index": index,
                    "envgen_conda_pins": "; ".join(
                        f"{n} {v}" for n, v in sorted(pins["conda"].items())
                    ),
                    "envgen_pip_pins": "; ".join(
                        f"{n}{v}" for n, v in sorted(pins["pip"].items())
                    ),
                }
                (workdir / "envgen-metadata.yml").write_text(
                    yaml.safe_dump(metadata, sort_keys=True)
                )
                where = f"conda: {channel or 'conda-forge'} via {solver}; pip: {index}"
                progress(
                    f"solving {', '.join(platforms)} ({where})"
                    + (" again" if round_ else "")
                )
                requested = [
                    d
                    for d in (
                        yaml.safe_load((workdir / ENV_FILE).read_text()).get(
                            "dependencies"
                        )
                        or []
                    )
                    if isinstance(d, str)
                ]
                call = CondaLockCall(conda, workdir, platforms, channel, MAPPING_PATH)
                try:
                    _conda_lock(call)
                except subprocess.CalledProcessError as error:
                    problem = _conda_error(
                        error,
                        requested,
                        channel or "conda-forge",
                        ", ".join(platforms),
                        # environment.python is the user's to change; the catalog's pins are not
                        frozenset(
                            [
                                *(_spec_name(s) for s in plan.spec.conda_packages),
                                "python",
                            ]
                        ),
                    )
                    if fixes and isinstance(problem, SpecError):
                        problem = SpecError(
                            f"{problem.message}; this came after: {'; '.join(fixes)}",
                            problem.hint,
                        )
                    raise problem from None
                except (KeyboardInterrupt, EnvgenError):
                    raise
                except Exception as error:
                    problem = _pip_error(error, index)
                    if problem is not None:
                        if fixes and isinstance(problem, SpecError):
                            problem = SpecError(
                                f"{problem.message}; this came after: {'; '.join(fixes)}",
                                problem.hint,
                            )
                        raise problem from None
                    log = _log_failure(getattr(error, "envgen_output", ""), error)
                    raise EnvironmentProblem(
                        f"conda-lock failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}",
                        f"the full output is in {log}",
                    ) from None
                progress("checking the lock")
                document = yaml.load(
                    (workdir / LOCK_FILE).read_text(encoding="utf-8"),
                    Loader=_YAML_LOADER,
                )
                derived = yaml.safe_load((workdir / ENV_FILE).read_text()) or {}
                root = tuple(
                    r
                    for d in derived.get("dependencies") or []
                    if isinstance(d, dict)
                    for r in d.get("pip") or []
                )
                findings = check_lock(
                    document, names, allowed, root, min_macos=plan.min_macos
                )
                fixable = [f for f in findings if f.fix is not None]
                changed = False
                for finding in fixable:
                    fix = finding.fix
                    merged = join_version_specs(
                        [pins[fix.manager].get(fix.name, ""), fix.version]
                    )
                    if merged != pins[fix.manager].get(fix.name):
                        pins[fix.manager][fix.name] = merged
                        changed = True
                if not changed or round_ == MAX_FIX_ROUNDS:
                    break
                for finding in fixable:
                    fix = finding.fix
                    why = "" if fix.reason in finding.message else f" ({fix.reason})"
                    fixes.append(
                        f"{finding.message}{why}: pinned {fix.manager} {fix.spec()} and solved again"
                    )
                    progress(fixes[-1])
            if findings:
                detail = "; ".join(f.message for f in findings)
                raise CheckFailed(
                    f"the lock failed envgen's checks: {detail}",
                    "fix envgen.toml ([packages], or the catalog line) so conda and pip agree, then envgen generate && envgen lock",
                )

            progress("writing the lock")
            lock_bytes = (workdir / LOCK_FILE).read_bytes()
            lock_sha = hashlib.sha256(lock_bytes).hexdigest()
            header = header_lines(
                lock_sha, [(SPEC_FILE, inputs[SPEC_FILE]), (ENV_FILE, inputs[ENV_FILE])]
            )
            locked_platforms = tuple(
                document.get("metadata", {}).get("platforms") or platforms
            )
            try:
                rendered = {
                    explicit_name(p): render_explicit(document, p, header)
                    for p in locked_platforms
                }
            except LockIntegrityError as error:
                raise CheckFailed(
                    f"the lock cannot be rendered for bootstrap.sh: {error}",
                    "run envgen lock --force; if it persists, report it with the conda-lock.yml",
                ) from None
            stale = [
                old.name
                for old in project_dir.glob("conda-*.lock")
                if old.name not in rendered
                and "envgen-lock-sha256"
                in old.read_text(encoding="utf-8", errors="replace")[:2000]
            ]
            # One commit: the explicit files, conda-lock.yml and the removal of stale explicit files
            # land together, or (on any failure or interrupt) none of them does.
            commit_files(
                project_dir,
                pending(
                    project_dir,
                    {**rendered, LOCK_FILE: lock_bytes, **dict.fromkeys(stale)},
                ),
            )
            counts = tuple(
                (
                    p,
                    sum(
                        1
                        for x in document["package"]
                        if x["platform"] == p and x["manager"] == "conda"
                    ),
                    sum(
                        1
                        for x in document["package"]
                        if x["platform"] == p and x["manager"] == "pip"
                    ),
                )
                for p in locked_platforms
            )
            return LockResult(
                "locked",
                locked_platforms,
                solver,
                tuple(fixes),
                counts,
                (LOCK_FILE, *rendered),
                time.monotonic() - started,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
