"""The conda side of a lock, solved by conda-lock (its solver driver and its lockfile
models).

conda-lock sees environment.yml without its pip section (the pip side is envgen's: see
:mod:`envgen.lock.pipside`), the target's virtual packages, and the conda front end
chosen here: micromamba, mamba or conda from PATH, or envgen's rattler front end
(:mod:`envgen.lock.conda_shim`). It runs in this process through its Python API, in a
temporary directory, and returns conda-lock's ``Lockfile`` model; nothing is written to
the project.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from envgen.errors import EnvgenError, EnvironmentProblem, SpecError
from envgen.names import ENV_FILE, cache_dir

SOLVERS = ("auto", "micromamba", "mamba", "conda", "rattler")
OFFLINE_HINT = (
    "offline or behind a firewall? lock against local copies: envgen lock --channel"
    " file:///path/to/conda-forge-copy --pypi-index http://127.0.0.1:PORT/simple (any"
    " PEP 503 simple index)"
)


# ---- solver choice -------------------------------------------------------------------


def choose_solver(name: str, workdir: Path) -> tuple[str, Path]:
    """The conda front end conda-lock will run: an installed one, or envgen's rattler
    shim."""
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


# ---- the input conda-lock sees -------------------------------------------------------


def spec_name(entry: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)", entry)
    return match.group(1).lower() if match else entry


def split_environment(text: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """environment.yml as (the document without its pip section, the pip
    requirements)."""
    document = yaml.safe_load(text) or {}
    conda, pip = [], []
    for entry in document.get("dependencies") or []:
        if isinstance(entry, dict):
            pip += [str(r) for r in entry.get("pip") or []]
        else:
            conda.append(entry)
    return {**document, "dependencies": conda}, tuple(pip)


def conda_environment(document: dict[str, Any], pins: dict[str, str]) -> str:
    """The conda-only environment.yml conda-lock solves, with the pins a check asked
    for.

    ``pins`` are conda version specs by conda name, joined to the package's own spec.
    """
    dependencies = list(document.get("dependencies") or [])
    remaining = dict(pins)
    for index, entry in enumerate(dependencies):
        name = spec_name(entry)
        if name in remaining:
            version = remaining.pop(name)
            rest = entry.strip()[len(name) :].strip()
            keep = rest and rest != "*"
            dependencies[index] = (
                f"{name} {rest},{version}" if keep else f"{name} {version}"
            )
    dependencies += [f"{name} {version}" for name, version in sorted(remaining.items())]
    return yaml.safe_dump({**document, "dependencies": dependencies}, sort_keys=False)


def virtual_packages_yaml(plan, platforms: tuple[str, ...]) -> str:
    """conda-lock's --virtual-package-spec for the real target of each platform."""
    subdirs = {}
    for platform in platforms:
        packages = {
            name: value.replace("=", " ", 1)
            for name, value in plan.virtual_packages(platform).items()
        }
        subdirs[platform] = {"packages": packages}
    return yaml.safe_dump({"subdirs": subdirs}, sort_keys=True)


# ---- running conda-lock --------------------------------------------------------------


@dataclass(frozen=True)
class CondaLockCall:
    """The one call into conda-lock (tests read it to assert what envgen asked for)."""

    conda: Path
    workdir: Path  # holds environment.yml and virtual-packages.yml
    platforms: tuple[str, ...]
    channel: str | None
    mapping: Path


def _conda_lock(call: CondaLockCall):
    """conda-lock's solve of ``call.workdir/environment.yml``: its Lockfile model
    (nothing written)."""
    import logging

    from conda_lock.conda_lock import create_lockfile_from_spec, make_lock_spec
    from conda_lock.virtual_package import virtual_package_repo_from_specification

    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            spec = make_lock_spec(
                src_files=[call.workdir / ENV_FILE],
                channel_overrides=[call.channel] if call.channel else None,
                platform_overrides=list(call.platforms),
                mapping_url=str(call.mapping),
            )
            repo = virtual_package_repo_from_specification(
                call.workdir / "virtual-packages.yml"
            )
            with repo:
                return create_lockfile_from_spec(
                    conda=str(call.conda),
                    spec=spec,
                    platforms=list(call.platforms),
                    lockfile_path=call.workdir / "conda-lock.yml",
                    virtual_package_repo=repo,
                    mapping_url=str(call.mapping),
                )
    except BaseException as error:
        error.envgen_output = captured.getvalue()  # type: ignore[attr-defined]
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


# ---- conda-lock's failures as envgen errors ------------------------------------------

_NETWORK = re.compile(
    r"connect|resolv|dns|network|unreachable|timed? ?out|no route|name or"
    r" service|ssl|certificate",
    re.I,
)
_CONFLICT = re.compile(
    r"cannot solve|unsatisf|conflict|nothing provides|no"
    r" candidates|packagesnotfound|not ?found",
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
    return [spec for spec in requested if spec_name(spec) in names]


def summarize_conflict(message: str, requested: list[str]) -> str:
    """A solver's conflict explanation as one line naming the packages involved."""
    lines = _conflict_lines(message)
    first = lines[0] if lines else message.strip()
    first = re.sub(r"^Cannot solve the request because of:\s*", "", first)
    names = _conflict_names(lines)
    asked = [spec for spec in requested if spec_name(spec) in names]
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


def log_failure(output: str, error: BaseException) -> Path:
    """Write a failure's full output and traceback to envgen's cache; returns the log's
    path."""
    base = cache_dir()
    base.mkdir(parents=True, exist_ok=True)
    path = base / "lock-failure.log"
    path.write_text(
        output + "\n" + "".join(traceback.format_exception(error)), encoding="utf-8"
    )
    return path


def conda_error(
    error: subprocess.CalledProcessError,
    requested: list[str],
    channel: str,
    platform_hint: str,
    user_names: frozenset[str] = frozenset(),
) -> EnvgenError:
    """The conda front end's failure (its dry-run JSON on stdout) as one envgen error.

    ``user_names``: the conda packages envgen.toml lists (and python, which it chooses).
    """
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
            f"could not reach the conda channel {channel}"
            f" ({last.removeprefix('Caused by: ')})",
            OFFLINE_HINT,
        )
    if kind == "UnsatisfiableError" or _CONFLICT.search(message):
        asked = conflicting_requests(message, requested)
        if asked and not any(spec_name(spec) in user_names for spec in asked):
            # Only envgen's own pins are involved: envgen.toml cannot relax them, so do
            # not say it can.
            return EnvironmentProblem(
                f"the conda packages for {platform_hint} cannot be solved:"
                f" {summarize_conflict(message, requested)}; these are envgen's own"
                " pins for this TensorFlow line, not envgen.toml's",
                f"check that {channel} is a complete copy of conda-forge (a partial"
                " mirror lacks packages envgen pins); if it is, report it to envgen's"
                " maintainers with this message: envgen.toml cannot change these pins",
            )
        return SpecError(
            f"the conda packages for {platform_hint} cannot be solved:"
            f" {summarize_conflict(message, requested)}",
            "relax or remove the conflicting pins in envgen.toml ([packages],"
            " environment.python), then envgen generate && envgen lock",
        )
    first = (
        message.strip().splitlines()[0]
        if message.strip()
        else f"exit code {error.returncode}"
    )
    log = log_failure(f"{output}\n{error.stderr or ''}", error)
    return EnvironmentProblem(
        f"the conda solver failed: {first}",
        f"the full output is in {log}; try --solver rattler or another solver",
    )


# ---- the engine ----------------------------------------------------------------------


def _require_local_subdirs(channel: str | None, platforms) -> None:
    """A file:// copy of conda-forge must carry each platform's subdir: without one, the
    solver finds no python at all and the failure reads like a pin conflict."""
    from envgen.lock.conda_shim import local_path

    root = local_path(channel) if channel else None
    if root is None or not root.is_dir():
        return  # not a local copy, or one that is gone (reported as unreachable)
    missing = [p for p in platforms if not (root / p / "repodata.json").is_file()]
    if missing:
        raise EnvironmentProblem(
            f"the channel {channel} has no packages for {', '.join(missing)}"
            f" (no {missing[0]}/repodata.json there)",
            "lock against a copy of conda-forge that carries every platform in"
            " envgen.toml (environment.platforms), or lock those platforms elsewhere",
        )


class CondaLockEngine:
    """The conda side through conda-lock; see
    :class:`envgen.lock.engines.CondaEngine`."""

    name = "conda-lock"

    def solve(self, job):
        """Solve ``job`` (an :class:`envgen.lock.engines.CondaJob`); conda-lock's
        Lockfile model."""
        _require_local_subdirs(job.channel, job.platforms)
        solver, conda = choose_solver(job.solver, job.workdir)
        (job.workdir / ENV_FILE).write_text(job.environment, encoding="utf-8")
        (job.workdir / "virtual-packages.yml").write_text(
            job.virtual_packages, encoding="utf-8"
        )
        call = CondaLockCall(
            conda, job.workdir, job.platforms, job.channel, job.mapping
        )
        requested = [
            d
            for d in (yaml.safe_load(job.environment) or {}).get("dependencies") or []
            if isinstance(d, str)
        ]
        try:
            lockfile = _conda_lock(call)
        except subprocess.CalledProcessError as error:
            raise conda_error(
                error,
                requested,
                job.channel or "conda-forge",
                ", ".join(job.platforms),
                job.user_names,
            ) from None
        except (KeyboardInterrupt, EnvgenError):
            raise
        except Exception as error:
            log = log_failure(getattr(error, "envgen_output", ""), error)
            message = " ".join(str(error).split())[:300]
            raise EnvironmentProblem(
                f"conda-lock failed: {type(error).__name__}: {message}",
                f"the full output is in {log}",
            ) from None
        return solver, lockfile
