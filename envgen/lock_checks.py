"""Consistency checks on a parsed conda-lock.yml: pure functions, no files, no solver.

Each rule returns findings naming the packages. A finding may carry a mechanical fix — a conda
pin that, solved again, removes it (a pip requirement the conda-provided version does not satisfy:
tighten the conda pin to the pip requirement). The lock step applies those and solves again; any
other finding fails the lock.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

CONDA_FORGE = "https://conda.anaconda.org/conda-forge"
TF_PACKAGES = ("tensorflow", "tensorflow-macos", "tensorflow-cpu")


@dataclass(frozen=True)
class NameMap:
    """PyPI ↔ conda names; a name absent from the table is the same in both."""

    pypi_to_conda: tuple[tuple[str, str], ...] = ()

    @cached_property
    def _forward(self) -> dict[str, str]:
        return dict(self.pypi_to_conda)

    @cached_property
    def _reverse(self) -> dict[str, str]:
        return {conda: pypi for pypi, conda in self.pypi_to_conda}

    def conda_name(self, pypi: str) -> str:
        pypi = canonicalize_name(pypi)
        return self._forward.get(pypi, pypi)

    def pypi_name(self, conda: str) -> str:
        return self._reverse.get(conda) or canonicalize_name(conda)


def load_name_map(path: Path) -> NameMap:
    """Read conda-lock's JSON mapping format (pypi name → {"conda_name": ...})."""
    table = json.loads(Path(path).read_text())
    return NameMap(tuple(sorted((canonicalize_name(k), v["conda_name"]) for k, v in table.items())))


@dataclass(frozen=True)
class CondaPin:
    """A conda spec to add to the solve: ``name`` must satisfy ``version`` (conda version syntax)."""

    name: str
    version: str
    reason: str

    def spec(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Finding:
    rule: str
    platform: str
    message: str
    packages: tuple[str, ...]
    fix: CondaPin | None = None


def _packages(lock: dict, platform: str, manager: str) -> list[dict]:
    return [p for p in lock.get("package", []) if p.get("platform") == platform and p.get("manager") == manager]


def _platforms(lock: dict) -> list[str]:
    return list(lock.get("metadata", {}).get("platforms") or sorted({p.get("platform") for p in lock.get("package", [])}))


def _python_conda_packages(lock: dict, platform: str, names: NameMap) -> dict[str, dict]:
    """Conda packages that install into site-packages (they depend on python), by PyPI name."""
    found = {}
    for package in _packages(lock, platform, "conda"):
        if package["name"].startswith("__") or "python" not in (package.get("dependencies") or {}):
            continue
        found[names.pypi_name(package["name"])] = package
    return found


def _specifier_sets(constraint: str) -> list[SpecifierSet] | None:
    """A poetry/pip constraint as alternatives of PEP 440 sets; None means "anything"."""
    constraint = constraint.strip()
    if constraint in ("", "*"):
        return None
    alternatives = []
    for part in constraint.split("||"):
        items = []
        for item in part.split(","):
            item = item.strip()
            if not item or item == "*":
                continue
            if re.match(r"^[0-9]", item):
                item = f"=={item}"
            items.append(item)
        alternatives.append(SpecifierSet(",".join(items)))
    return alternatives


def satisfies(version: str, constraint: str) -> bool | None:
    """Whether a version meets a pip constraint; None when either cannot be read as PEP 440."""
    try:
        sets = _specifier_sets(constraint)
        parsed = Version(version)
    except (InvalidSpecifier, InvalidVersion):
        return None
    if sets is None:
        return True
    return any(s.contains(parsed, prereleases=True) for s in sets)


def conda_version_spec(constraint: str) -> str:
    """A pip constraint in conda's version syntax (',' is and, '|' is or)."""
    alternatives = []
    for part in constraint.split("||"):
        items = []
        for item in part.split(","):
            item = item.strip().replace(" ", "")
            if not item or item == "*":
                continue
            if item.startswith("~="):
                base = Version(item[2:]).release
                upper = ".".join(str(x) for x in (*base[:-2], base[-2] + 1)) if len(base) > 1 else str(base[0] + 1)
                items += [f">={item[2:]}", f"<{upper}"]
                continue
            if re.match(r"^[0-9]", item):
                item = f"=={item}"
            items.append(item)
        alternatives.append(",".join(items))
    return "|".join(a for a in alternatives if a)


def join_version_specs(specs) -> str:
    """Conda version specs joined with 'and', each clause once (specs using '|' are kept whole)."""
    clauses: list[str] = []
    for spec in specs:
        for clause in ([spec] if "|" in spec else spec.split(",")):
            if clause and clause not in clauses:
                clauses.append(clause)
    return ",".join(clauses)


def check_duplicates(lock: dict, names: NameMap) -> list[Finding]:
    """A package installed by both conda and pip."""
    findings = []
    for platform in _platforms(lock):
        conda = _python_conda_packages(lock, platform, names)
        for pip in _packages(lock, platform, "pip"):
            name = canonicalize_name(pip["name"])
            if name in conda:
                other = conda[name]
                findings.append(Finding(
                    "duplicate", platform,
                    f"{name} is locked twice for {platform}: conda {other['name']} {other['version']} and pip {pip['name']} {pip['version']}",
                    (name,),
                ))
    return findings


def check_pip_requirements(lock: dict, names: NameMap) -> list[Finding]:
    """A pip package's requirement that the conda-provided version does not meet (fix: pin conda to it)."""
    findings = []
    for platform in _platforms(lock):
        conda = _python_conda_packages(lock, platform, names)
        wanted: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for pip in _packages(lock, platform, "pip"):
            for dependency, constraint in sorted((pip.get("dependencies") or {}).items()):
                name = canonicalize_name(dependency)
                if name in conda and satisfies(conda[name]["version"], constraint) is False:
                    wanted[name].append((canonicalize_name(pip["name"]), constraint))
        for name, requirements in sorted(wanted.items()):
            provided = conda[name]
            by_constraint: dict[str, list[str]] = defaultdict(list)
            for who, constraint in requirements:
                by_constraint[constraint].append(who)
            by = ", ".join(
                f"{' and '.join(who)} need{'s' if len(who) == 1 else ''} {name}{c if not c[:1].isdigit() else '==' + c}"
                for c, who in by_constraint.items()
            )
            version = join_version_specs(conda_version_spec(c) for c in by_constraint)
            findings.append(Finding(
                "pip-requirement", platform,
                f"{by}, but conda provides {provided['name']} {provided['version']} on {platform}",
                (name, *sorted({who for who, _ in requirements})),
                CondaPin(provided["name"], version, by),
            ))
    return findings


def check_hashes(lock: dict) -> list[Finding]:
    """Every artifact must be pinned by sha256."""
    missing = defaultdict(list)
    for package in lock.get("package", []):
        if package["name"].startswith("__"):
            continue
        if not (package.get("hash") or {}).get("sha256"):
            missing[package["platform"]].append(f"{package['manager']} {package['name']} {package['version']}")
    return [
        Finding("sha256", platform, f"no sha256 for {', '.join(sorted(items))} ({platform})",
                tuple(sorted(i.split()[1] for i in items)))
        for platform, items in sorted(missing.items())
    ]


def check_single_tensorflow(lock: dict) -> list[Finding]:
    """tensorflow and tensorflow-macos (or -cpu) never together: they install the same module."""
    findings = []
    for platform in _platforms(lock):
        present = sorted({canonicalize_name(p["name"]) for p in lock.get("package", [])
                          if p.get("platform") == platform and canonicalize_name(p["name"]) in TF_PACKAGES})
        if len(present) > 1:
            findings.append(Finding("tensorflow-twice", platform,
                                    f"{' and '.join(present)} are both locked for {platform}: they install the same 'tensorflow' module",
                                    tuple(present)))
    return findings


def check_channels(lock: dict, allowed: tuple[str, ...]) -> list[Finding]:
    """Conda packages only from conda-forge (or the mirror locked against)."""
    prefixes = tuple(a.rstrip("/") + "/" for a in allowed)
    foreign = defaultdict(list)
    for package in lock.get("package", []):
        if package.get("manager") != "conda" or package["name"].startswith("__"):
            continue
        if not str(package.get("url", "")).startswith(prefixes):
            foreign[package["platform"]].append(f"{package['name']} ({package.get('url', '')})")
    return [
        Finding("channel", platform,
                f"conda packages from outside {' or '.join(allowed)} on {platform}: {', '.join(sorted(items))}",
                tuple(sorted(i.split()[0] for i in items)))
        for platform, items in sorted(foreign.items())
    ]


def check_lock(lock: dict, names: NameMap, allowed_channels: tuple[str, ...] = (CONDA_FORGE,)) -> list[Finding]:
    """All rules, in the order a reader would fix them."""
    return [
        *check_pip_requirements(lock, names),
        *check_duplicates(lock, names),
        *check_single_tensorflow(lock),
        *check_hashes(lock),
        *check_channels(lock, allowed_channels),
    ]
