"""Draft the catalog entry of a TensorFlow line PyPI has and the catalog does not (for
maintainers).

``draft_line`` is pure: the PyPI release facts, the Requires-Dist of the new line's
newest macOS arm64 wheel (and of the newest catalog line's, to see what was dropped),
and the recorded symbol checks in; the TOML text of a ``[[lines]]`` entry out, every
fact with its source, the whole entry marked ``inferred`` until a maintainer reviews it.
The Requires-Dist comes from ``releases.wheelmeta``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from envgen.catalog import pairs
from envgen.catalog.abirecords import AbiRecord, AbiRecords
from envgen.catalog.lines import METAL, Catalog
from envgen.errors import EnvironmentProblem
from envgen.names import (
    CANDIDATE_PYTHONS,
    INTEL_MAC_PLATFORM,
    LINUX_PLATFORM,
    METAL_PLATFORM,
)
from envgen.pypi.models import DistFile, Release, Releases
from envgen.releases.wheelmeta import RequiresReader

CONDA = (
    "numpy",
    "h5py",
    "grpcio",
)  # compiled: from conda-forge, pinned as the wheel says


CAPPED = ("tensorboard", "tensorflow-estimator")  # pip, capped as the wheel says


APPLE_SILICON = {
    "platform_system": "Darwin",
    "platform_machine": "arm64",
    "sys_platform": "darwin",
    "os_name": "posix",
}


@dataclass(frozen=True)
class Draft:
    tf: str
    toml: str
    checks_needed: tuple[
        tuple[str, str, str], ...
    ]  # (metal, package, version) with no record
    error: str = ""  # why no draft could be made (the wheel's metadata was unreadable)


def new_lines(catalog: Catalog, releases: Mapping[str, Releases]) -> list[str]:
    """TF lines newer than the catalog's newest that have a final release with macOS
    arm64 wheels."""
    newest = max((Version(line.tf) for line in catalog.lines), default=Version("0"))
    found = set()
    for package in pairs.ARM64_TF_PACKAGES:
        answer = releases.get(package)
        for release in answer.usable() if answer else ():
            minor = Version(f"{release.parsed.major}.{release.parsed.minor}")
            if minor > newest and release.pythons_for(
                METAL_PLATFORM, CANDIDATE_PYTHONS
            ):
                found.add(str(minor))
    return sorted(found, key=Version)


def _arm64_wheel(release: Release, pythons: Sequence[str]) -> DistFile:
    for python in reversed(pythons):
        wheels = release.wheels_for(python, METAL_PLATFORM)
        if wheels:
            return wheels[0]
    raise EnvironmentProblem(f"{release.version} has no macOS arm64 wheel", "")


def _requirements(lines: Sequence[str], python: str) -> dict[str, Requirement]:
    environment = {
        **APPLE_SILICON,
        "python_version": python,
        "python_full_version": f"{python}.0",
    }
    found: dict[str, Requirement] = {}
    for text in lines:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(
            {**environment, "extra": ""}
        ):
            continue
        found[canonicalize_name(requirement.name)] = requirement
    return found


def _spec_text(specifier: SpecifierSet) -> str:
    """ ">=1.26.0,<2.2.0": lower bounds first, ~= spelled out (the catalog's style)."""
    parts: list[tuple[int, str]] = []
    for spec in specifier:
        if spec.operator == "~=":
            release = Version(spec.version).release
            upper = ".".join(str(n) for n in (*release[:-2], release[-2] + 1))
            parts += [(0, f">={spec.version}"), (1, f"<{upper}")]
        elif spec.operator in (">=", ">"):
            parts.append((0, str(spec)))
        elif spec.operator in ("<", "<="):
            parts.append((1, str(spec)))
        else:
            parts.append((2, str(spec)))
    return ",".join(text for _, text in sorted(parts))


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _keras_major(requirement: Requirement | None) -> str:
    if requirement is None:
        return ""
    bounds = [
        Version(s.version)
        for s in requirement.specifier
        if s.operator in (">=", "~=", "==", ">")
    ]
    return str(bounds[0].major) if bounds else ""


def _verdict(record: AbiRecord) -> str:
    if record.compatible:
        return f"compatible ({record.symbols_checked} symbols bind)"
    first = record.missing[0].symbol if record.missing else "a library"
    count = len(record.missing) + len(record.library_problems)
    return f"incompatible ({count} of {record.symbols_checked} missing, first {first})"


def draft_line(
    tf: str,
    releases: Mapping[str, Releases],
    *,
    requires: Sequence[str],
    previous_requires: Sequence[str] = (),
    previous_line: str = "",
    abi: AbiRecords = AbiRecords(),
    today: str | None = None,
) -> Draft:
    """The TOML of a catalog entry for line ``tf``, from PyPI facts and recorded
    checks."""
    day = today or datetime.date.today().isoformat()
    minor = Version(tf).release[:2]
    package = pairs.preferred_package(minor)
    answer = releases[package]
    finals = [
        r
        for r in answer.usable()
        if r.parsed.release[:2] == minor
        and r.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)
    ]
    finals.sort(key=lambda r: r.parsed)
    versions = [r.version for r in finals]
    newest = finals[-1]
    pythons = set(CANDIDATE_PYTHONS)
    for release in finals:
        pythons &= set(release.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS))
    python_list = sorted(pythons, key=Version)
    tags = [
        f.tags.macos_min
        for r in finals
        for f in r.files
        if f.tags and f.tags.macos_min and f.supports_platform(METAL_PLATFORM)
    ]
    platforms = [METAL_PLATFORM]
    plain = releases.get("tensorflow")
    for platform in (LINUX_PLATFORM, INTEL_MAC_PLATFORM):
        if plain is not None and all(
            release is not None and release.wheels_for(p, platform)
            for release in (plain.get(v) for v in versions)
            for p in python_list
        ):
            platforms.append(platform)
    wanted = _requirements(requires, python_list[-1])
    read = (
        f"Requires-Dist of the {package} {newest.version} macOS arm64 wheel on PyPI,"
        f" read {day}"
    )
    tagged = f"PyPI wheel tags, read {day}"

    # the plugin: the newest release whose recorded check against the newest TF release
    # passed
    metal_answer = releases.get(METAL)
    candidates = (
        sorted(metal_answer.usable(), key=lambda r: r.parsed, reverse=True)
        if metal_answer
        else []
    )
    verdicts: list[str] = []
    unchecked: list[tuple[str, str, str]] = []
    metal, metal_release = "", None
    for release in candidates:
        record = abi.get(release.version, package, newest.version)
        if record is None:
            if (
                not verdicts
            ):  # only the releases no older than a checked one are worth a check
                unchecked.append((release.version, package, newest.version))
            continue
        verdicts.append(
            f"# {METAL} {release.version} + {package} {newest.version}:"
            f" {_verdict(record)}"
        )
        if record.compatible and not metal:
            metal, metal_release = release.version, release
        if not record.compatible:
            break
    minos = [
        m
        for r in abi.records
        if r.tf_version == newest.version
        for m in (r.tf_min_macos, r.plugin_min_macos if r.metal == metal else "")
        if m
    ]
    min_macos = str(
        max(
            [Version("12.0"), *(Version(t) for t in tags), *(Version(m) for m in minos)]
        )
    )
    metal_pythons = (
        [
            p
            for p in python_list
            if p in metal_release.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)
        ]
        if metal_release
        else []
    )

    conda = {
        name: _spec_text(wanted[name].specifier) for name in CONDA if name in wanted
    }
    caps = {
        name: _spec_text(wanted[name].specifier) for name in CAPPED if name in wanted
    }
    keras = _keras_major(wanted.get("keras"))
    previous = {
        name
        for python in CANDIDATE_PYTHONS
        for name in _requirements(previous_requires, python)
    }
    now = {name for python in python_list for name in _requirements(requires, python)}
    dropped = sorted(previous - now)

    sources = {
        "package": tagged,
        "versions": (
            f"{tagged}: final releases of {package} {tf} with macOS arm64 wheels"
        ),
        "pythons": f"{tagged}: macOS arm64 wheels of {', '.join(versions)}",
        "platforms": (
            f"{tagged}: {', '.join(platforms)} wheels for every release and Python"
        ),
        "min_macos": (
            f"{tagged} (macOS arm64 tags) and LC_BUILD_VERSION minos in"
            " envgen/data/abi_checks.toml"
        ),
        "metal": (
            f"envgen catalog check-pair --metal {metal} --tf {newest.version}:"
            " compatible (envgen/data/abi_checks.toml)"
            if metal
            else (
                f"no compatible check of a {METAL} release against {newest.version} in"
                " envgen/data/abi_checks.toml"
            )
        ),
    }
    sources["metal_range"] = sources["metal"]
    if keras:
        sources["keras"] = f"{read} ({wanted['keras']})"
    if metal and metal_pythons != python_list:
        sources["metal_pythons"] = (
            f"{tagged}: {METAL} {metal} and {package} {newest.version} share these"
        )
    if dropped:
        sources["dropped"] = f"{read}, against the {previous_line} line's wheel"
    for name, spec in conda.items():
        sources[f"conda.{name}"] = f"{read} ({spec})"
    for name, spec in caps.items():
        sources[f"pip_caps.{name}"] = f"{read} ({spec})"
    reviewed = {"package", "versions", "pythons", "platforms"}
    inferred = sorted(set(sources) - reviewed)
    if metal:
        upper = Version(metal).release
        metal_range = f">={metal},<{upper[0]}.{upper[1] + 1}"
    else:
        metal_range = ""

    notes = "Drafted by envgen catalog refresh; not reviewed." + (
        ""
        if metal
        else " No tensorflow-metal release is known to load into it: CPU only."
    )
    out = [
        (
            f"# Drafted by `envgen catalog refresh` on {day} from PyPI and"
            " envgen/data/abi_checks.toml: review every fact,"
        ),
        "# then move facts out of `inferred` as a source confirms them.",
        *verdicts,
        *(
            f"# {METAL} {m} + {p} {v}: not checked (run `envgen catalog refresh"
            " --abi-check`)"
            for m, p, v in unchecked
        ),
        "[[lines]]",
        f"tf = {_q(tf)}",
        f"package = {_q(package)}",
        f"version = {_q(newest.version)}",
        f"versions = {_list(versions)}",
        f"metal = {_q(metal)}",
        f"metal_range = {_q(metal_range)}",
        f"pythons = {_list(python_list)}",
        *(
            [f"metal_pythons = {_list(metal_pythons)}"]
            if metal and metal_pythons != python_list
            else []
        ),
        *([f"keras = {_q(keras)}"] if keras else []),
        f"min_macos = {_q(min_macos)}",
        f"platforms = {_list(platforms)}",
        *([f"dropped = {_list(dropped)}"] if dropped else []),
        'status = "inferred"',
        f"inferred = {_list(inferred)}",
        f"notes = {_q(notes)}",
        "[lines.conda]",
        *(f"{name} = {_q(spec)}" for name, spec in conda.items()),
        "[lines.pip_caps]",
        *(f"{name} = {_q(spec)}" for name, spec in caps.items()),
        "[lines.sources]",
        *(f"{_q(key)} = {_q(sources[key])}" for key in sorted(sources)),
    ]
    return Draft(tf, "\n".join(out) + "\n", tuple(unchecked))


def draft_new_lines(
    catalog: Catalog,
    releases: Mapping[str, Releases],
    *,
    abi: AbiRecords,
    read_requires: RequiresReader,
    today: str | None = None,
) -> tuple[Draft, ...]:
    """A draft for every TF line on PyPI newer than the catalog's newest."""
    drafts = []
    last = (
        max(catalog.lines, key=lambda line: Version(line.tf)) if catalog.lines else None
    )
    previous: list[str] = []
    previous_line = last.tf if last is not None else ""
    if last is not None:
        last_package = pairs.tf_package(last, last.version)
        release = (
            releases[last_package].get(last.version)
            if last_package in releases
            else None
        )
        if release is not None:
            try:
                previous = read_requires(
                    _arm64_wheel(release, last.pythons), last_package
                )
            except EnvironmentProblem:
                previous = []  # the drafts then cannot say what was dropped
    for tf in new_lines(catalog, releases):
        package = pairs.preferred_package(Version(tf).release)
        finals = [
            r
            for r in releases[package].usable()
            if f"{r.parsed.major}.{r.parsed.minor}" == tf
            and r.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)
        ]
        newest = max(finals, key=lambda r: r.parsed)
        try:
            requires = read_requires(
                _arm64_wheel(
                    newest, newest.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)
                ),
                package,
            )
        except EnvironmentProblem as problem:
            drafts.append(Draft(tf, "", (), problem.message))
            continue
        drafts.append(
            draft_line(
                tf,
                releases,
                requires=requires,
                previous_requires=previous,
                previous_line=previous_line,
                abi=abi,
                today=today,
            )
        )
        previous, previous_line = requires, tf
    return tuple(drafts)


def draft_pairs(catalog: Catalog, releases: Mapping[str, Releases]) -> list[object]:
    """The symbol checks a draft needs: each plugin release no older than the newest the
    catalog pairs, against the newest release of each new line (``refresh --abi-check``
    runs them)."""
    from envgen.catalog.abipairs import PairToCheck

    metal_answer = releases.get(METAL)
    paired = [Version(line.metal) for line in catalog.lines if line.metal]
    floor = max(paired, default=Version("0"))
    plugins = (
        [r.version for r in metal_answer.usable() if r.parsed >= floor]
        if metal_answer
        else []
    )
    found: list[object] = []
    for tf in new_lines(catalog, releases):
        package = pairs.preferred_package(Version(tf).release)
        finals = [
            r
            for r in releases[package].usable()
            if f"{r.parsed.major}.{r.parsed.minor}" == tf
            and r.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)
        ]
        newest = max(finals, key=lambda r: r.parsed).version
        found += [
            PairToCheck(metal, package, newest, f"draft of line {tf}")
            for metal in plugins
        ]
    return found


def write_drafts(drafts: Sequence[Draft], path) -> None:
    """Append the drafts to the catalog file, after checking the result parses (all or
    nothing)."""
    from pathlib import Path

    from envgen.atomic import atomic_write
    from envgen.catalog.lines import load_catalog, parse_catalog

    path = Path(path)
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    for draft in drafts:
        if not draft.error:
            text += "\n" + draft.toml
    parse_catalog(text)  # a draft that breaks the schema never reaches the file
    atomic_write(path, text)
    load_catalog.cache_clear()
