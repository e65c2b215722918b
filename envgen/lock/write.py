"""The lock files: conda-lock.yml in conda-lock's own format, and one explicit file per
platform.

This is the one place that assembles and writes them (bootstrap.sh relies on the
contract):
- ``conda-lock.yml``: conda-lock's ``Lockfile`` model written by conda-lock's writer.
  The conda packages are conda-lock's solve; the pip packages are envgen's (``manager:
  pip``, the file's url, its sha256, the names it requires, category main).
  ``metadata.custom_metadata`` records the inputs' sha256s and what the lock was made
  against (see :data:`SOURCE_KEYS`).
- ``conda-<platform>.lock``: the explicit file bootstrap.sh installs, a pure function of
  conda-lock.yml (:mod:`envgen.lock.integrity` renders and checks it).
All files land in one commit (:func:`envgen.atomic.commit_files`), so an interrupted lock leaves
the previous lock byte-for-byte intact.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envgen.atomic import commit_files, pending
from envgen.names import LOCK_FILE, explicit_lock_name, is_project_file
from envgen.reading import read_regular

# custom_metadata keys naming what the lock was made against (a later `envgen lock`
# reuses them)
SOURCE_KEYS = ("envgen_channel", "envgen_pypi_index", "envgen_urls")


@dataclass(frozen=True)
class PipEntry:
    """One pip package of the lock, for one platform."""

    platform: str
    name: str
    version: str
    url: str
    sha256: str
    dependencies: tuple[str, ...]


def pip_dependency(entry: PipEntry):
    """conda-lock's model of a pip package (categories: main)."""
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency

    return LockedDependency(
        name=entry.name,
        version=entry.version,
        manager="pip",
        platform=entry.platform,
        dependencies={name: "*" for name in entry.dependencies},
        url=entry.url,
        hash=HashModel(sha256=entry.sha256),
        categories={"main"},
    )


def assemble(conda_lockfile, pip: list[PipEntry], metadata: dict[str, str], kept=()):
    """conda-lock's solve plus the pip packages and envgen's metadata, as one Lockfile
    model.

    ``kept``: packages (models) of platforms this lock does not solve, carried over
    unchanged.
    """
    lockfile = conda_lockfile.model_copy(deep=True)
    for package in lockfile.package:
        package.categories = {"main"}
    lockfile.package = [*kept, *lockfile.package, *(pip_dependency(e) for e in pip)]
    platforms = sorted({*lockfile.metadata.platforms, *(p.platform for p in kept)})
    lockfile.metadata.platforms = platforms
    lockfile.metadata.custom_metadata = dict(sorted(metadata.items()))
    return lockfile


def lockfile_model(document: dict[str, Any]):
    """conda-lock's Lockfile model from a parsed conda-lock.yml."""
    from conda_lock.lockfile import LockfileV1, lockfile_v1_to_v2
    from conda_lock.lockfile.v2prelim.models import Lockfile

    content = copy.deepcopy(document)
    version = content.pop("version", None)
    lockfile = (
        lockfile_v1_to_v2(LockfileV1.model_validate(content))
        if version == 1
        else Lockfile.model_validate(content)
    )
    lockfile.toposort_inplace()
    return lockfile


def lock_bytes(lockfile) -> bytes:
    """conda-lock.yml's bytes as conda-lock's writer makes them."""
    from conda_lock.lockfile import write_conda_lock_file

    with tempfile.TemporaryDirectory(prefix="envgen-write-") as tmp:
        path = Path(tmp) / LOCK_FILE
        write_conda_lock_file(lockfile, path, metadata_choices=None)
        return path.read_bytes()


def write_lock(
    project_dir: Path, data: bytes, inputs: dict[str, str]
) -> tuple[str, ...]:
    """Write conda-lock.yml (``data``) and its explicit files into the project; returns
    the names.

    ``inputs``: file name → sha256 of the inputs the lock was made from (envgen.toml,
    environment.yml). The explicit files are :mod:`envgen.lock.integrity`'s render of
    ``data``; everything lands in one commit (stale explicit files removed with it), or
    nothing does.
    """
    from envgen.errors import CheckFailed
    from envgen.lock.integrity import LockIntegrityError, header_lines, render_explicit
    from envgen.lock.lockform import read_form

    form = read_form(data)
    if form.problem:
        # what bootstrap.sh would refuse is never written
        raise CheckFailed(
            f"conda-lock's writer made a conda-lock.yml bootstrap.sh cannot verify:"
            f" {form.problem}",
            "report it to envgen's maintainers with the environment.yml",
        )
    # the render needs only the entries, read as bootstrap.sh reads them
    document = {"package": [entry.as_dict() for entry in form.entries]}
    header = header_lines(hashlib.sha256(data).hexdigest(), list(inputs.items()))
    platforms = tuple(form.platforms)
    try:
        rendered = {
            explicit_lock_name(p): render_explicit(document, p, header)
            for p in platforms
        }
    except LockIntegrityError as error:
        raise CheckFailed(
            f"the lock cannot be rendered for bootstrap.sh: {error}",
            "run envgen lock --force; if it persists, report it with the"
            " conda-lock.yml",
        ) from None
    stale = [
        old.name
        for old in project_dir.glob("conda-*.lock")
        if old.name not in rendered
        and old.is_file()
        and "envgen-lock-sha256"
        in read_regular(old).decode("utf-8", errors="replace")[:2000]
    ]
    # One commit: the explicit files, conda-lock.yml and the removal of stale explicit
    # files land together, or (on any failure or interrupt) none of them does.
    commit_files(
        project_dir,
        pending(project_dir, {**rendered, LOCK_FILE: data, **dict.fromkeys(stale)}),
        is_project_file,
    )
    return (LOCK_FILE, *rendered)
