"""Whether a project's lock still matches its inputs: content hashes only, no solver.

``envgen lock --check`` (and a plain ``envgen lock`` deciding there is nothing to do)
reads conda-lock.yml's metadata and the explicit files' header lines; conda-lock is
never imported here.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from envgen.atomic import recover_project
from envgen.errors import SpecError
from envgen.lock.integrity import explicit_problems, read_lock
from envgen.names import ENV_FILE, LOCK_FILE, SPEC_FILE
from envgen.reading import read_regular

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(read_regular(path)).hexdigest()


def _input_sha256(path: Path) -> str | None:
    """The sha256 of a lock input (envgen.toml, environment.yml), None when there is no
    such file; one that exists but cannot be read (a directory, a FIFO, a device, a
    dangling link or a loop) is refused naming it, never taken for a missing one."""
    if not os.path.lexists(path):
        return None
    try:
        return sha256_of(path)
    except OSError as error:
        what = (
            "a symbolic link to nothing"
            if os.path.islink(path) and not os.path.exists(path)
            else error.strerror or type(error).__name__
        )
        raise SpecError(
            f"{path} cannot be read: {what}",
            f"put the project's {path.name} there (`envgen generate` writes"
            " environment.yml), then run again",
        ) from None


@dataclass(frozen=True)
class Freshness:
    fresh: bool
    reasons: tuple[str, ...] = ()
    recorded: dict = field(default_factory=dict)
    platforms: tuple[str, ...] = ()


def freshness(project_dir: Path) -> Freshness:
    """Whether conda-lock.yml still matches envgen.toml and environment.yml, and its
    explicit files match it.

    A conda-lock.yml that cannot be read as a lock (not UTF-8, not YAML, not a mapping)
    is not fresh, with the reason; an explicit file that installs anything else than
    conda-lock.yml locks is not fresh, naming the file and the package
    (:mod:`envgen.lock.integrity`).
    """
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        raise SpecError(
            f"{project_dir} is not a directory",
            "pass the project's directory with --dir, or run this inside it",
        )
    recover_project(project_dir)  # a commit a killed run left half done, first
    lock_path = project_dir / LOCK_FILE
    if lock_path.exists() and not lock_path.is_file():
        raise SpecError(
            f"{lock_path} is not a regular file",
            f"remove it, then run `envgen lock` to write {LOCK_FILE}",
        )
    if not lock_path.is_file():
        if not (project_dir / SPEC_FILE).is_file():
            raise SpecError(
                f"{project_dir.resolve()} is not an envgen project (no {SPEC_FILE}, no"
                f" {LOCK_FILE})",
                "pass the project's directory with --dir, or create one with `envgen"
                " new NAME --tf 2.6`",
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
        digest = _input_sha256(project_dir / name)
        if digest is None:
            reasons.append(f"{name} is missing")
        elif recorded.get(key) != digest:
            reasons.append(f"{name} changed since the lock was made")
    reasons += explicit_problems(project_dir, lock, platforms, (SPEC_FILE, ENV_FILE))
    return Freshness(not reasons, tuple(reasons), recorded, platforms)
