"""The lock's pip side, resolved by uv for the target platform with conda's packages
held.

conda-lock's own pip solver walks every path through the dependency graph when it
assigns categories (``apply_categories``), which never finishes on real TensorFlow
graphs, and it cannot read sdist-only releases without PyPI's per-version JSON. So
envgen resolves the pip side itself, as its ``locks/`` pin sets are made: ``uv pip
compile`` for the target (``aarch64-apple-darwin`` at the line's minimum macOS, conda's
exact Python), where every package conda already installs is a stand-in wheel at conda's
version, so pip never brings a second copy and every pip requirement on a conda package
is checked against the version conda really provides. uv's answer (pins and sha256s) is
then matched against the index's file list to give each pin the one file that installs
on the target: the best wheel for its tags, or a pure-Python sdist where no wheel
exists."""

from __future__ import annotations

import io
import os
import re
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging import tags
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envgen.lock.simple_index import IndexFile, IndexUnreachable, many_project_files
from envgen.lock.uvcompile import (
    HELD_LABEL,
    NEEDS_WHEEL,
    Runner,
    compile_argv,
    find_uv,
    parse_compiled,
    run_command,
    write_stand_in_wheel,
)
from envgen.names import METAL_PLATFORM, uv_python_platform

MAX_SOURCE_ROUNDS = 8


COMPILED_SOURCES = (
    ".c",
    ".cc",
    ".cpp",
    ".cxx",
    ".pyx",
    ".f",
    ".f90",
    ".rs",
    ".cu",
    ".m",
    ".mm",
)


@dataclass(frozen=True)
class PipTarget:
    platform: str  # conda's name: "osx-arm64"
    python: str  # conda's exact Python: "3.12.7"
    min_macos: str = "12.0"


@dataclass(frozen=True)
class PipRequest:
    requirements: tuple[str, ...]  # environment.yml's pip section (PEP 508)
    held: tuple[
        tuple[str, str], ...
    ]  # (PyPI name, version) of what conda installs into site-packages
    target: PipTarget
    index_url: str


@dataclass(frozen=True)
class PipPackage:
    name: str
    version: str
    filename: str
    url: str
    sha256: str
    dependencies: tuple[
        str, ...
    ]  # the names it requires (PyPI names), conda-held ones included
    sdist: bool = False


@dataclass(frozen=True)
class PipResolution:
    packages: tuple[PipPackage, ...]
    from_source: tuple[str, ...]  # pure-Python sdists (no wheel for the target)
    uv_version: str
    argv: tuple[str, ...]


class PipUnsolvable(Exception):
    """uv found no solution; ``held_conflicts``: (name, specifier, requirer) pip needs
    of a conda package."""

    def __init__(
        self, explanation: str, held_conflicts: tuple[tuple[str, str, str], ...]
    ) -> None:
        super().__init__(explanation)
        self.explanation = explanation
        self.held_conflicts = held_conflicts


class PipIndexUnreachable(Exception):
    pass


class PipPackageMissing(Exception):
    pass


class CompiledSdist(Exception):
    """A package has no wheel for the target and its sdist compiles code."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def _version_tuple(text: str) -> tuple[int, int]:
    parts = [int(p) for p in re.findall(r"\d+", text)[:2]] + [0, 0]
    return parts[0], parts[1]


def supported_tags(target: PipTarget) -> list[tags.Tag]:
    """The wheel tags pip accepts on the target, most specific first (pip's own
    order)."""
    python = _version_tuple(target.python)
    if target.platform.startswith("osx-"):
        arch = "arm64" if target.platform == METAL_PLATFORM else "x86_64"
        platforms = list(tags.mac_platforms(_version_tuple(target.min_macos), arch))
    else:
        arch = (
            "x86_64"
            if target.platform == "linux-64"
            else target.platform.split("-", 1)[1]
        )
        platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(17, 4, -1)]
        platforms[1:1] = [f"manylinux2014_{arch}"]
        platforms += [f"manylinux2010_{arch}", f"manylinux1_{arch}", f"linux_{arch}"]
    interpreter = f"cp{python[0]}{python[1]}"
    return [
        *tags.cpython_tags(python, platforms=platforms),
        *tags.compatible_tags(python, interpreter, platforms),
    ]


def choose_file(
    files: list[IndexFile], hashes: set[str], priority: Mapping[tags.Tag, int]
) -> IndexFile | None:
    """The best wheel among the pinned hashes, else the pinned sdist; None when neither
    exists."""
    best: tuple[int, IndexFile] | None = None
    sdists = []
    for file in files:
        if file.sha256 not in hashes:
            continue
        if file.filename.endswith(".whl"):
            try:
                rank = min(
                    priority.get(tag, 1 << 30)
                    for tag in parse_wheel_filename(file.filename)[3]
                )
            except InvalidWheelFilename:
                continue
            if rank < 1 << 30 and (best is None or rank < best[0]):
                best = (rank, file)
        elif file.filename.endswith((".tar.gz", ".zip", ".tar.bz2")):
            sdists.append(file)
    if best is not None:
        return best[1]
    return sorted(sdists, key=lambda f: f.filename)[0] if sdists else None


def sdist_compiles(url: str, sha256: str) -> bool:
    """Whether an sdist carries C/C++/Cython/Fortran/Rust sources (it would need a
    compiler)."""
    import hashlib

    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"User-Agent": "envgen"}), timeout=60
    ) as answer:
        data = answer.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise PipIndexUnreachable(f"{url} does not have the sha256 the index lists")
    if url.split("#")[0].endswith(".zip"):
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    else:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            names = archive.getnames()
    return any(name.lower().endswith(COMPILED_SOURCES) for name in names)


def _holdable(held: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    usable = []
    for name, version in held:
        try:
            Version(version)
        except InvalidVersion:
            continue  # not a PEP 440 version: uv cannot hold it; the duplicate check still guards it
        usable.append((canonicalize_name(name), version))
    return sorted(set(usable))


_DEPENDS = re.compile(
    r"(?:([A-Za-z0-9][A-Za-z0-9._-]*)(?:[=<>!~]=?\S+)? depends? on|(you) require) "
    r"([A-Za-z0-9][A-Za-z0-9._-]*)((?:[<>=!~]=?=?[A-Za-z0-9.*+!_-]+)(?:,\s?[<>=!~]=?=?[A-Za-z0-9.*+!_-]+)*)"
)


_NETWORK = re.compile(
    r"error sending request|failed to fetch|connection refused|dns error|timed out|tcp"
    r" connect|network",
    re.I,
)


_MISSING = re.compile(
    r"not found in the package registry|was not found in the provided package"
    r" locations|no versions of ([A-Za-z0-9._-]+)",
    re.I,
)


def _explanation(stderr: str) -> str:
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("warning:")
    ]
    return " ".join(" ".join(lines).split()).replace(f"+{HELD_LABEL}", " (conda)")


def _held_conflicts(stderr: str, held: set[str]) -> tuple[tuple[str, str, str], ...]:
    """(conda-held name, the specifier pip needs, who needs it) from uv's
    explanation."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for requirer, you, name, spec in _DEPENDS.findall(stderr):
        name = canonicalize_name(name)
        requirer = "environment.yml" if you else requirer
        if name not in held:
            continue
        specs, who = found.setdefault(name, ([], []))
        if spec.replace(" ", "") not in specs:
            specs.append(spec.replace(" ", ""))
        if requirer and requirer not in who:
            who.append(requirer)
    return tuple(
        (name, ",".join(s), " and ".join(w)) for name, (s, w) in sorted(found.items())
    )


def uv_environment(target: PipTarget) -> dict[str, str]:
    """uv's environment: the target's macOS, no user configuration that changes the
    answer."""
    keep = ("UV_CACHE_DIR", "UV_NO_CACHE", "UV_OFFLINE", "UV_HTTP_TIMEOUT")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_", "PIP_")) or k in keep
    }
    if target.platform.startswith("osx-"):
        env["MACOSX_DEPLOYMENT_TARGET"] = target.min_macos
    return env


def resolve(
    request: PipRequest, *, uv: str, run: Runner = run_command
) -> PipResolution:
    """Resolve the pip side; raises PipUnsolvable, PipIndexUnreachable,
    PipPackageMissing, CompiledSdist."""
    target = request.target
    held = _holdable(request.held)
    held_names = {name for name, _ in held}
    with tempfile.TemporaryDirectory(prefix="envgen-pip-") as tmp:
        work = Path(tmp)
        (work / "conda-provided").mkdir()
        for name, version in held:
            write_stand_in_wheel(work / "conda-provided", name, version)
        (work / "requirements.in").write_text(
            "\n".join(request.requirements) + "\n", encoding="utf-8"
        )
        (work / "constraints.txt").write_text(
            "".join(f"{n}=={v}+{HELD_LABEL}\n" for n, v in held), encoding="utf-8"
        )
        env = uv_environment(target)
        from_source: list[str] = []
        for _ in range(MAX_SOURCE_ROUNDS):
            argv = compile_argv(
                uv,
                index_url=request.index_url,
                platform=uv_python_platform(target.platform),
                python=target.python,
                from_source=from_source,
                # the interpreter that builds sdist metadata: envgen's own (uv would
                # otherwise probe every Python on PATH, seconds behind pyenv-style
                # shims)
                interpreter=sys.executable,
            )
            code, _, err = run(argv, env, work)
            if code == 0:
                break
            needs = [canonicalize_name(n) for n in NEEDS_WHEEL.findall(err)]
            needs = [n for n in needs if n not in from_source and n not in held_names]
            if needs:
                from_source += (
                    needs  # no wheel for the target: allow the sdist, checked below
                )
                continue
            if _NETWORK.search(err):
                raise PipIndexUnreachable(_explanation(err))
            if "No solution found" in err:
                raise PipUnsolvable(_explanation(err), _held_conflicts(err, held_names))
            if _MISSING.search(err):
                raise PipPackageMissing(_explanation(err))
            raise PipUnsolvable(_explanation(err) or f"uv exited with {code}", ())
        else:
            raise PipUnsolvable(
                f"uv kept asking for source builds ({', '.join(from_source)})", ()
            )
        pins = parse_compiled((work / "resolved.txt").read_text(encoding="utf-8"))
        _, version_out, _ = run([uv, "--version"], env, work)
    shown = tuple("uv" if a == uv else a for a in argv if a != "--quiet")
    return PipResolution(
        _locate(pins, request, held_names, from_source),
        tuple(sorted(from_source)),
        [*version_out.split(), "?", "?"][1],
        shown,
    )


def _locate(
    pins, request: PipRequest, held_names: set[str], from_source: list[str]
) -> tuple[PipPackage, ...]:
    """Each pip pin with the file it installs on the target (the conda stand-ins
    dropped)."""
    wanted = [(n, v, h, via) for n, v, h, via in pins if n not in held_names]
    try:
        listed = many_project_files(request.index_url, [n for n, *_ in wanted])
    except IndexUnreachable as error:
        raise PipIndexUnreachable(str(error)) from None
    requires: dict[str, set[str]] = {}
    for name, _, _, via in pins:
        for parent in via:
            requires.setdefault(parent, set()).add(name)
    priority = {tag: rank for rank, tag in enumerate(supported_tags(request.target))}
    packages, compiled = [], []
    for name, version, hashes, _ in wanted:
        chosen = choose_file(listed.get(name, []), set(hashes), priority)
        if chosen is None:
            raise PipPackageMissing(
                f"{name} {version}: the index lists no file with the hashes uv pinned "
                f"that installs on {request.target.platform}"
            )
        is_sdist = not chosen.filename.endswith(".whl")
        if is_sdist and sdist_compiles(chosen.url, chosen.sha256):
            compiled.append(f"{name} {version}")
        packages.append(
            PipPackage(
                name,
                version,
                chosen.filename,
                chosen.url,
                chosen.sha256,
                tuple(sorted(requires.get(name, ()))),
                is_sdist,
            )
        )
    if compiled:
        raise CompiledSdist(tuple(compiled))
    return tuple(packages)


class UvResolver:
    """The pip side through ``uv pip compile``; see
    :class:`envgen.lock.engines.PipResolver`."""

    name = "uv"

    def __init__(self, uv: str | None = None, run: Runner = run_command) -> None:
        self.uv = uv
        self.run = run

    def resolve(self, request: PipRequest) -> PipResolution:
        return resolve(request, uv=self.uv or find_uv(), run=self.run)
