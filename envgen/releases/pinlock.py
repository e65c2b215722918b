"""Regenerate the pin sets in ``locks/`` (`envgen catalog refresh --locks`).

``write_locks`` resolves, for each catalog line and each Python it supports, the full
hash-pinned pip closure for aarch64-apple-darwin with uv against real PyPI: the line's
pip caps are constraints; the packages the catalog leaves to conda are constrained to
their conda pins and resolved against dependency-free stand-in wheels
(``NAME-VERSION+conda``, one per PyPI release inside the pin), so pip's requirements
must agree with conda's versions while conda keeps providing them; they are then left
out of the file, as are pip, setuptools and wheel, which every envgen environment gets
from conda-forge. Every subprocess goes through a ``Runner``
(``lock.uvcompile.run_command`` by default) so tests can see the command.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from envgen.atomic import atomic_write
from envgen.catalog.lines import METAL, Catalog, Line
from envgen.catalog.pairs import tf_package
from envgen.catalog.pinsets import (
    PIP_TOOLING,
    line_fields,
    locks_dir,
    pin_set_metal,
    pin_set_name,
)
from envgen.errors import CatalogError, EnvironmentProblem
from envgen.lock.uvcompile import (
    NEEDS_WHEEL,
    Runner,
    compile_argv,
    find_uv,
    parse_compiled,
    run_command,
    write_stand_in_wheel,
)
from envgen.names import METAL_PLATFORM, uv_python_platform
from envgen.pypi.client import DEFAULT_BASE_URL, Repository, fetch_all

UV_PLATFORM = uv_python_platform(METAL_PLATFORM)


# The local version label of the stand-in wheels.
STUB_LOCAL = "conda"


@dataclass(frozen=True)
class PinSetResult:
    line: str
    python: str
    file: str
    pins: int
    from_source: tuple[str, ...]
    conda_versions: tuple[tuple[str, str], ...]
    changed: bool


def conda_to_pep440(name: str, spec: str) -> str:
    """A conda version pin (">=1.19.5,<1.20", "1.19.*", "1.19.5") as a PEP 440
    specifier."""
    text = spec.strip().replace(" ", "")
    if not text:
        return ""
    if text[0] not in "<>=!~":
        text = f"=={text}"
    elif text.startswith("=") and not text.startswith("=="):
        text = f"={text}"  # conda's "=1.19" means 1.19.*
        if not text.endswith("*"):
            text += ".*"
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        raise CatalogError(
            f"catalog: conda pin {name} {spec!r} has no PEP 440 equivalent envgen"
            " understands",
            'write it like ">=1.19.5,<1.20" or "1.19.*"',
        ) from None
    return text


def parse_uv_output(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, version, sha256 hashes) for each requirement uv wrote."""
    try:
        compiled = parse_compiled(text)
    except ValueError as error:
        raise EnvironmentProblem(str(error), "report this with uv's version") from None
    return [(name, version, hashes) for name, version, hashes, _ in compiled]


@dataclass(frozen=True)
class _Resolved:
    pins: tuple[tuple[str, str, tuple[str, ...]], ...]
    conda_versions: tuple[tuple[str, str], ...]
    from_source: tuple[str, ...]
    argv: tuple[str, ...]
    uv_version: str


def _resolve(
    line: Line,
    python: str,
    *,
    repository: Repository,
    uv: str,
    index_url: str,
    run: Runner,
) -> _Resolved:
    conda_names = {canonicalize_name(name) for name, _ in line.conda} | set(PIP_TOOLING)
    conda_specs = {
        canonicalize_name(name): conda_to_pep440(name, spec)
        for name, spec in line.conda
    }
    with tempfile.TemporaryDirectory(prefix="envgen-lock-") as tmp:
        work = Path(tmp)
        stubs = work / "conda-provided"
        stubs.mkdir()
        answers = (
            fetch_all(repository, sorted(conda_specs), workers=8) if conda_specs else {}
        )
        for name, spec in sorted(conda_specs.items()):
            versions = (
                [
                    r.version
                    for r in answers[name].usable()
                    if r.parsed in SpecifierSet(spec)
                ]
                if spec
                else []
            )
            if not versions:
                raise CatalogError(
                    f"catalog line {line.tf}: conda pin {name} {spec or '(any)'}"
                    " matches no release on PyPI",
                    "fix the pin in envgen/data/catalog.toml",
                )
            for version in versions:
                write_stand_in_wheel(stubs, name, version, STUB_LOCAL)
        metal = pin_set_metal(line, python)
        requirements = [f"{tf_package(line, line.version)}=={line.version}"] + (
            [f"{METAL}=={metal}"] if metal else []
        )
        constraints = [f"{name}{spec}" for name, spec in line.pip_caps] + [
            f"{name}{spec}" for name, spec in sorted(conda_specs.items()) if spec
        ]
        (work / "requirements.in").write_text(
            "\n".join(requirements) + "\n", encoding="utf-8"
        )
        (work / "constraints.txt").write_text(
            "\n".join(constraints) + "\n", encoding="utf-8"
        )
        env = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": line.min_macos}
        env = {k: v for k, v in env.items() if not k.startswith(("UV_", "PIP_"))}
        from_source: list[str] = []
        for _ in range(12):
            argv = compile_argv(
                uv,
                index_url=index_url,
                platform=UV_PLATFORM,
                python=python,
                from_source=from_source,
                annotate=False,
            )
            code, _, err = run(argv, env, work)
            if code == 0:
                break
            needs = [
                name
                for name in NEEDS_WHEEL.findall(err)
                if canonicalize_name(name) not in from_source
            ]
            if not needs:
                tail = " ".join(err.strip().splitlines()[-6:])[:800]
                raise EnvironmentProblem(
                    f"uv could not resolve catalog line {line.tf} for Python {python}:"
                    f" {tail}",
                    "fix the line's caps or conda pins in the catalog, or check the"
                    " network",
                )
            from_source += [
                canonicalize_name(name) for name in needs
            ]  # sdist-only releases (pure-Python, e.g. clang 5.0)
        else:
            raise EnvironmentProblem(
                f"uv kept asking for source builds resolving line {line.tf}",
                "check the catalog's caps",
            )
        resolved = parse_uv_output((work / "resolved.txt").read_text(encoding="utf-8"))
        _, version_out, _ = run([uv, "--version"], env, work)
    pins: list[tuple[str, str, tuple[str, ...]]] = []
    conda_versions: list[tuple[str, str]] = []
    for pinned, version, hashes in resolved:
        if canonicalize_name(pinned) in conda_names:
            conda_versions.append((pinned, version.split("+")[0]))
        elif version.endswith(f"+{STUB_LOCAL}"):
            raise EnvironmentProblem(
                f"a stand-in wheel leaked into the pins ({pinned}=={version})",
                "report this",
            )
        else:
            pins.append((pinned, version, hashes))
    shown = ["uv" if a == uv else a for a in argv if a != "--quiet"]
    uv_version = version_out.strip().split()[1] if version_out.strip() else "?"
    return _Resolved(
        tuple(pins),
        tuple(sorted(conda_versions)),
        tuple(sorted(set(from_source))),
        tuple(shown),
        uv_version,
    )


def _installed_files(
    line: Line, python: str, resolved: _Resolved, repository: Repository
) -> list[tuple[str, str, str, str]]:
    """(kind, name, file name, sha256): the file each pin installs, checked against
    PyPI's file list."""
    answers = fetch_all(repository, [name for name, _, _ in resolved.pins], workers=8)
    chosen = []
    for name, version, hashes in resolved.pins:
        release = answers[name].get(version)
        if release is None:
            raise EnvironmentProblem(
                f"PyPI does not list {name} {version}, which uv pinned",
                "retry with --refresh",
            )
        wheels = [
            f
            for f in release.wheels_for(
                python, METAL_PLATFORM, line.min_macos, include_yanked=True
            )
            if f.sha256 in hashes
        ]
        if wheels:
            best = sorted(
                wheels,
                key=lambda f: (f.tags.platform_any if f.tags else True, f.filename),
            )[0]
            chosen.append(("wheel", name, best.filename, best.sha256))
            continue
        sdists = [f for f in release.files if f.kind == "sdist" and f.sha256 in hashes]
        if sdists and name in resolved.from_source:
            chosen.append(("sdist", name, sdists[0].filename, sdists[0].sha256))
            continue
        raise EnvironmentProblem(
            f"{name} {version} has no osx-arm64 wheel for Python {python} among the"
            " pinned hashes",
            "cap it in the catalog line so uv picks a release with an arm64 wheel",
        )
    return chosen


def render_pin_set(
    line: Line,
    python: str,
    resolved: _Resolved,
    files: list[tuple[str, str, str, str]],
    index_url: str,
) -> str:
    """The text of one locks/ file: envgen's header, then pip requirements with
    hashes."""
    conda = dict(resolved.conda_versions)
    conda_text = (
        "; ".join(
            f"{name}{spec} (resolved {conda.get(canonicalize_name(name), '?')})"
            for name, spec in line.conda
        )
        or "none"
    )
    fields = line_fields(line, python)
    metal_release = pin_set_metal(line, python)
    metal = f" + {METAL} {metal_release}" if metal_release else ""
    header = [
        (
            f"# envgen pin set for catalog line {line.tf}:"
            f" {tf_package(line, line.version)} {line.version}{metal} on Python"
            f" {python}, {METAL_PLATFORM}."
        ),
        (
            "# Generated by `envgen catalog refresh --write-locks` from"
            " envgen/data/catalog.toml: regenerate it, never edit it."
        ),
        (
            "# pip installs exactly these (hash-checked); the packages under 'conda',"
            " and pip, setuptools and wheel, come from"
        ),
        "# conda-forge and are not here.",
        f"#   line: {line.tf}",
        f"#   python: {python}",
        f"#   platform: {METAL_PLATFORM} ({UV_PLATFORM}, macOS {line.min_macos})",
        f"#   status: {fields['status']}",
        f"#   tensorflow: {fields['tensorflow']}",
        f"#   metal: {fields['metal']}",
        f"#   caps: {fields['caps']}",
        f"#   conda: {conda_text}",
        f"#   from-source: {', '.join(resolved.from_source) or 'none'}",
        f"#   resolver: uv {resolved.uv_version}: {' '.join(resolved.argv)}",
        f"#   index: {index_url}",
        "#",
        (
            f"# The file each pin installs on {METAL_PLATFORM} / Python {python} (its"
            " sha256 is among the pin's hashes):"
        ),
    ]
    header += [
        f"#   {kind} {name} {filename} sha256:{sha256}"
        for kind, name, filename, sha256 in files
    ]
    body = []
    for name, version, hashes in resolved.pins:
        body.append(f"{name}=={version} \\")
        body += [
            f"    --hash=sha256:{digest}" + (" \\" if i < len(hashes) - 1 else "")
            for i, digest in enumerate(sorted(hashes))
        ]
    return "\n".join(header + body) + "\n"


def lock_line(
    line: Line,
    *,
    repository: Repository,
    python: str | None = None,
    uv: str | None = None,
    index_url: str | None = None,
    run: Runner = run_command,
) -> tuple[str, _Resolved]:
    """The text of one line's pin set (nothing written)."""
    python = python or line.default_python
    index_url = (
        index_url
        or (os.environ.get("ENVGEN_PYPI_URL") or DEFAULT_BASE_URL).rstrip("/")
        + "/simple"
    )
    resolved = _resolve(
        line,
        python,
        repository=repository,
        uv=uv or find_uv(),
        index_url=index_url,
        run=run,
    )
    files = _installed_files(line, python, resolved, repository)
    return render_pin_set(line, python, resolved, files, index_url), resolved


def write_locks(
    catalog: Catalog,
    *,
    repository: Repository,
    directory: Path | None = None,
    uv: str | None = None,
    run: Runner = run_command,
) -> tuple[PinSetResult, ...]:
    """Regenerate ``locks/``: one pin set per catalog line and Python it supports; stale
    files removed.

    Every line is resolved before anything is written, so a failure leaves ``locks/`` as
    it was.
    """
    directory = Path(directory) if directory else locks_dir()
    uv = uv or find_uv()
    made: list[tuple[Line, str, str, _Resolved]] = []
    for line in catalog.lines:
        for python in line.pythons:
            text, resolved = lock_line(
                line, repository=repository, python=python, uv=uv, run=run
            )
            made.append((line, python, text, resolved))
    results = []
    keep = set()
    for line, python, text, resolved in made:
        path = directory / pin_set_name(line.tf, python)
        keep.add(path.name)
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            atomic_write(path, text)
        results.append(
            PinSetResult(
                line.tf,
                python,
                path.name,
                len(resolved.pins),
                resolved.from_source,
                resolved.conda_versions,
                changed,
            )
        )
    for stale in directory.glob("tf-*.txt"):
        if stale.name not in keep:
            stale.unlink()
    return tuple(results)
