"""What bootstrap.sh installs, bound to conda-lock.yml byte for byte.

An explicit file (``conda-<platform>.lock``) is a pure function of conda-lock.yml:
envgen's header lines, ``@EXPLICIT``, one ``URL#SHA256`` line per conda package and one
``# pip NAME @ URL#sha256=SHA256`` line per pip package, both in conda-lock.yml's order.
Conda packages carry their sha256 (conda >= 24.9 and mamba/micromamba >= 2.1 verify a
64-hex digest after ``#``; older front ends refuse it rather than skip it).

:func:`render_explicit` writes that text; :func:`check_explicit` compares a file on disk
with it and names every package whose line differs. ``bootstrap.sh`` runs the same
comparison in awk before installing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from envgen.lock.lockform import read_form
from envgen.names import EXPLICIT_NOTICE, LOCK_FILE, explicit_lock_name
from envgen.reading import read_regular

_HEX64 = re.compile(r"[0-9a-f]{64}")
_PIP_LINE = re.compile(
    r"# pip (?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) @"
    r" (?P<url>\S+)#sha256=(?P<sha>[0-9a-f]{64})"
)
_CONDA_LINE = re.compile(r"(?P<url>[^\s#]+)#(?P<sha>[0-9a-f]{64})")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s#]+")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


class LockIntegrityError(ValueError):
    """conda-lock.yml itself cannot be rendered: an artifact without a sha256, or a
    malformed entry."""


@dataclass(frozen=True)
class Artifact:
    """One thing an explicit file installs."""

    manager: str  # "conda" | "pip"
    name: str
    url: str
    sha256: str

    def line(self) -> str:
        if self.manager == "pip":
            return f"# pip {self.name} @ {self.url}#sha256={self.sha256}"
        return f"{self.url}#{self.sha256}"


def locked_artifacts(document: object, platform: str) -> tuple[Artifact, ...]:
    """Every artifact conda-lock.yml locks for a platform, conda first then pip, each in
    the file's order."""
    if not isinstance(document, dict) or not isinstance(document.get("package"), list):
        raise LockIntegrityError("conda-lock.yml has no package list")
    found: dict[str, list[Artifact]] = {"conda": [], "pip": []}
    requires: dict[str, list[str]] = {}
    for entry in document["package"]:
        if not isinstance(entry, dict) or entry.get("platform") != platform:
            continue
        manager, name, url = entry.get("manager"), entry.get("name"), entry.get("url")
        raw_hash = entry.get("hash")
        hashes = raw_hash if isinstance(raw_hash, dict) else {}
        sha = hashes.get("sha256")
        label = name if isinstance(name, str) else "?"
        if manager not in found:
            raise LockIntegrityError(
                f"package {label} ({platform}) has an unknown manager {manager!r}"
            )
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise LockIntegrityError(
                f"a {manager} package for {platform} has an invalid name {name!r}"
            )
        if not isinstance(url, str) or not _URL.fullmatch(url):
            raise LockIntegrityError(
                f"package {name} ({platform}) has an invalid url {url!r}"
            )
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise LockIntegrityError(f"package {name} ({platform}) has no sha256")
        found[manager].append(Artifact(manager, name, url, sha))
        if manager == "conda":
            dependencies = entry.get("dependencies")
            if isinstance(dependencies, dict):
                requires[name] = [str(dep) for dep in dependencies]
    return (*_dependencies_first(found["conda"], requires), *found["pip"])


def _dependencies_first(
    artifacts: list[Artifact], requires: dict[str, list[str]]
) -> list[Artifact]:
    """Conda packages with each one after what it depends on (conda links them in this
    order), else file order."""
    by_name = {artifact.name: artifact for artifact in artifacts}
    placed: dict[str, None] = {}
    visiting: set[str] = set()

    def place(name: str) -> None:
        if name in placed or name in visiting or name not in by_name:
            return
        visiting.add(name)
        for dependency in requires.get(name, ()):
            place(dependency)
        visiting.discard(name)
        placed[name] = None

    for artifact in artifacts:
        place(artifact.name)
    return [by_name[name] for name in placed]


def render_explicit(document: object, platform: str, header: Sequence[str]) -> str:
    """The explicit file for a platform: the header lines, ``@EXPLICIT``, then one line
    per artifact."""
    for line in header:
        if not line.startswith("# ") or "\n" in line or "\r" in line:
            raise ValueError(
                f"explicit-file header lines are single comment lines, got {line!r}"
            )
    body = [
        f"# platform: {platform}",  # bootstrap.sh reads it before anything else
        "@EXPLICIT",
        *(artifact.line() for artifact in locked_artifacts(document, platform)),
    ]
    return "\n".join([*header, *body]) + "\n"


def _line_label(line: str) -> str:
    """What a line of an explicit file is about, for a message: a package, or the line
    itself."""
    pip = _PIP_LINE.fullmatch(line)
    if pip:
        return f"pip package {pip.group('name')}"
    stripped = line.strip()
    if stripped.startswith("#") or not stripped:
        return f"line {stripped[:70]!r}"
    filename = stripped.split("#", 1)[0].rsplit("/", 1)[-1]
    for suffix in (".conda", ".tar.bz2"):
        if filename.endswith(suffix):
            return f"conda package {filename[: -len(suffix)].rsplit('-', 2)[0]}"
    return f"line {stripped[:70]!r}"


def check_explicit(
    text: str, document: object, platform: str, header: Sequence[str], filename: str
) -> list[str]:
    """Every difference between an explicit file and what conda-lock.yml says it holds,
    one message each.

    Empty when the file is byte-for-byte what :func:`render_explicit` makes. A header
    that differs (most often: conda-lock.yml changed after the file was rendered) is one
    message; each body line that differs names its package: a changed URL or hash, a
    package added or left out, any other changed line.
    """
    expected = render_explicit(document, platform, header)
    if text == expected:
        return []
    problems = []
    want_header, _, want_body = expected.partition("@EXPLICIT\n")
    have_header, marker, have_body = text.partition("@EXPLICIT\n")
    if not marker:
        return [
            f"{filename} has no @EXPLICIT line: it is not the explicit file envgen lock"
            " renders"
        ]
    if have_header != want_header:
        problems.append(
            f"{filename} does not match {LOCK_FILE} (its header differs from the one"
            " envgen lock writes)"
        )
    offset = have_header.count("\n") + 1
    want = want_body.split("\n")
    have = have_body.split("\n")
    extra = [
        (offset + n, line) for n, line in enumerate(have, 1) if line not in set(want)
    ]
    missing = [line for line in want if line not in set(have)]
    missing_labels = {_line_label(line) for line in missing}
    for number, line in extra:
        label = _line_label(line)
        if label in missing_labels and label.startswith(
            ("conda package", "pip package")
        ):
            problems.append(
                f"{filename} line {number}: {label} has another URL or sha256 than"
                f" {LOCK_FILE} locks"
            )
            missing_labels.discard(label)
        else:
            problems.append(f"{filename} line {number}: {label} is not in {LOCK_FILE}")
    for line in missing:
        label = _line_label(line)
        if label in missing_labels:
            problems.append(f"{filename} lacks the {label} that {LOCK_FILE} locks")
    if (
        not problems
    ):  # the same lines in another order, twice, or without the final newline
        problems.append(
            f"{filename} holds {LOCK_FILE}'s lines in another order or layout"
        )
    return problems


def header_lines(lock_sha256: str, inputs: Iterable[tuple[str, str]]) -> list[str]:
    """envgen's header of an explicit file: the notice, conda-lock.yml's sha256 and each
    input's sha256."""
    lines = [EXPLICIT_NOTICE, f"# envgen-lock-sha256: {lock_sha256}"]
    lines += [f"# envgen-input-sha256: {name} {digest}" for name, digest in inputs]
    return lines


@dataclass(frozen=True)
class LockFile:
    """conda-lock.yml as read from disk: its bytes and parsed document, or why it cannot
    be used."""

    raw: bytes
    document: dict
    problem: str = ""


def read_lock(path: Path) -> LockFile:
    """Read conda-lock.yml; a file that is not UTF-8, not YAML or not a lock gives
    ``problem``, never raises."""
    import yaml

    raw = read_regular(path)
    name = Path(path).name
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return LockFile(raw, {}, f"{name} is not UTF-8 text (byte {error.start})")
    form = read_form(raw)
    if form.problem:
        return LockFile(
            raw, {}, f"{name} is not in the form envgen lock writes: {form.problem}"
        )
    try:
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return LockFile(raw, {}, f"{name} is not valid YAML{where}")
    if not isinstance(document, dict):
        return LockFile(
            raw,
            {},
            f"{name} is not a lock file (its top level is a {type(document).__name__},"
            " not a mapping)",
        )
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(document.get("package"), list):
        return LockFile(
            raw,
            {},
            f"{name} is not a conda-lock file (no metadata mapping or package list)",
        )
    platforms = metadata.get("platforms")
    if not isinstance(platforms, list) or not all(
        isinstance(p, str) for p in platforms
    ):
        return LockFile(raw, {}, f"{name} names no platforms (metadata.platforms)")
    custom = metadata.get("custom_metadata")
    if custom is not None and not isinstance(custom, dict):
        return LockFile(raw, {}, f"{name} has a malformed metadata.custom_metadata")
    # what both readers use, as bootstrap.sh reads it: text, not YAML's types
    document["package"] = [entry.as_dict() for entry in form.entries]
    metadata["platforms"] = list(form.platforms)
    metadata["custom_metadata"] = dict(form.custom)
    return LockFile(raw, document)


def explicit_problems(
    project_dir: Path, lock: LockFile, platforms: Sequence[str], inputs: Sequence[str]
) -> list[str]:
    """Every way the explicit files of a project differ from what conda-lock.yml locks
    (empty: all bound).

    ``inputs`` are the file names whose recorded sha256 (``custom_metadata``, key
    ``<name>_sha256`` with dots as underscores) the header carries.
    """
    import hashlib

    recorded = lock.document["metadata"].get("custom_metadata") or {}
    keys = {name: name.replace(".", "_") + "_sha256" for name in inputs}
    header = header_lines(
        hashlib.sha256(lock.raw).hexdigest(),
        [(name, str(recorded.get(key, ""))) for name, key in keys.items()],
    )
    problems = []
    for platform in platforms:
        name = explicit_lock_name(platform)
        path = Path(project_dir) / name
        if not path.is_file():
            there = path.exists() or path.is_symlink()
            problems.append(f"{name} is {'not a regular file' if there else 'missing'}")
            continue
        try:
            text = read_regular(path).decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{name} is not UTF-8 text: not what conda-lock.yml locks")
            continue
        try:
            problems += check_explicit(text, lock.document, platform, header, name)
        except LockIntegrityError as error:
            problems.append(
                f"conda-lock.yml cannot be rendered for {platform}: {error}"
            )
    return problems
