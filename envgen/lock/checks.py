"""Consistency checks on a parsed conda-lock.yml: pure functions, no files, no solver.

Each rule returns findings naming the packages. A finding may carry a mechanical fix — a
pin that, solved again, removes it:
- a pip requirement the conda-provided version does not satisfy: pin conda to the pip
  requirement;
- a package from both conda and pip although conda's version satisfies every pip requirement on it
  (conda-lock's pip solver sometimes adds a newer copy, conda-lock issues #540/#813): pin the pip
  side to conda's version, so the pip solver finds it already installed.
The lock step applies those and solves again; any other finding fails the lock.
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

from envgen.pypi.tags import parse_wheel_tags

CONDA_FORGE = "https://conda.anaconda.org/conda-forge"
TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-macos", "tensorflow-cpu")


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
    return NameMap(
        tuple(sorted((canonicalize_name(k), v["conda_name"]) for k, v in table.items()))
    )


@dataclass(frozen=True)
class FixPin:
    """A requirement to add to the solve: conda ``name version`` (conda syntax) or pip
    ``name==version``."""

    manager: str  # "conda" | "pip"
    name: str
    version: str
    reason: str

    def spec(self) -> str:
        return (
            f"{self.name} {self.version}"
            if self.manager == "conda"
            else f"{self.name}{self.version}"
        )


@dataclass(frozen=True)
class LockProblem:
    rule: str
    platform: str
    message: str
    packages: tuple[str, ...]
    fix: FixPin | None = None


def _packages(lock: dict, platform: str, manager: str) -> list[dict]:
    return [
        p
        for p in lock.get("package", [])
        if p.get("platform") == platform and p.get("manager") == manager
    ]


def _platforms(lock: dict) -> list[str]:
    return list(
        lock.get("metadata", {}).get("platforms")
        or sorted({p.get("platform") for p in lock.get("package", [])})
    )


def _python_conda_packages(
    lock: dict, platform: str, names: NameMap
) -> dict[str, dict]:
    """Conda packages that install into site-packages (they depend on python), by PyPI
    name."""
    found = {}
    for package in _packages(lock, platform, "conda"):
        if package["name"].startswith("__") or "python" not in (
            package.get("dependencies") or {}
        ):
            continue
        found[names.pypi_name(package["name"])] = package
    return found


def _specifier_sets(constraint: str) -> list[SpecifierSet] | None:
    """A poetry/pip constraint as alternatives of PEP 440 sets; None means
    "anything"."""
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
    """Whether a version meets a pip constraint; None when either cannot be read as PEP
    440."""
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
                upper = (
                    ".".join(str(x) for x in (*base[:-2], base[-2] + 1))
                    if len(base) > 1
                    else str(base[0] + 1)
                )
                items += [f">={item[2:]}", f"<{upper}"]
                continue
            if re.match(r"^[0-9]", item):
                item = f"=={item}"
            if item.startswith("==") and "*" not in item:
                # an exact version as a range: conda's MatchSpec drops '==' and some
                # solvers then reject the bare version inside a ',' list
                items += [f">={item[2:]}", f"<={item[2:]}"]
                continue
            items.append(item)
        alternatives.append(",".join(items))
    return "|".join(a for a in alternatives if a)


def join_version_specs(specs) -> str:
    """Conda version specs joined with 'and', each clause once (specs using '|' are kept
    whole)."""
    clauses: list[str] = []
    for spec in specs:
        for clause in [spec] if "|" in spec else spec.split(","):
            if clause and clause not in clauses:
                clauses.append(clause)
    return ",".join(clauses)


def _pip_requirements_on(lock: dict, platform: str, name: str) -> list[tuple[str, str]]:
    """(requiring pip package, constraint) for every locked pip package that requires
    ``name``."""
    found: list[tuple[str, str]] = []
    for pip in _packages(lock, platform, "pip"):
        for dependency, constraint in (pip.get("dependencies") or {}).items():
            if (
                canonicalize_name(dependency) == name
                and canonicalize_name(pip["name"]) != name
            ):
                found.append((canonicalize_name(pip["name"]), constraint))
    return found


def check_duplicates(
    lock: dict, names: NameMap, root: tuple[str, ...] = ()
) -> list[LockProblem]:
    """A package installed by both conda and pip (fix when conda's version would do: pin
    pip to it)."""
    findings = []
    for platform in _platforms(lock):
        conda = _python_conda_packages(lock, platform, names)
        for pip in _packages(lock, platform, "pip"):
            name = canonicalize_name(pip["name"])
            if name not in conda:
                continue
            other = conda[name]
            message = (
                f"{name} is locked twice for {platform}: conda {other['name']}"
                f" {other['version']} and pip {pip['name']} {pip['version']}"
            )
            requirements = _pip_requirements_on(lock, platform, name) + [
                (n, c) for n, c in _root_constraints(root) if n == name
            ]
            fix = None
            if all(satisfies(other["version"], c) for _, c in requirements):
                fix = FixPin(
                    "pip",
                    name,
                    f"=={other['version']}",
                    f"conda's {other['version']} meets every pip requirement on it",
                )
            findings.append(LockProblem("duplicate", platform, message, (name,), fix))
    return findings


def _root_constraints(requirements: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, constraint) of the environment's own pip requirements (PEP 508; markers
    ignored)."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: list[tuple[str, str]] = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        found.append(
            (canonicalize_name(requirement.name), str(requirement.specifier) or "*")
        )
    return found


def check_pip_requirements(
    lock: dict, names: NameMap, root: tuple[str, ...] = ()
) -> list[LockProblem]:
    """A pip requirement (of a pip package, or of environment.yml itself: ``root``) that
    the conda-provided version does not meet. Fix: pin conda to the requirement."""
    findings = []
    for platform in _platforms(lock):
        conda = _python_conda_packages(lock, platform, names)
        wanted: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for name, constraint in _root_constraints(root):
            if name in conda and satisfies(conda[name]["version"], constraint) is False:
                wanted[name].append(("environment.yml", constraint))
        for pip in _packages(lock, platform, "pip"):
            for dependency, constraint in sorted(
                (pip.get("dependencies") or {}).items()
            ):
                name = canonicalize_name(dependency)
                if (
                    name in conda
                    and satisfies(conda[name]["version"], constraint) is False
                ):
                    wanted[name].append((canonicalize_name(pip["name"]), constraint))
        for name, requirements in sorted(wanted.items()):
            provided = conda[name]
            by_constraint: dict[str, list[str]] = defaultdict(list)
            for who, constraint in requirements:
                by_constraint[constraint].append(who)
            by = ", ".join(
                f"{' and '.join(who)} need{'s' if len(who) == 1 else ''}"
                f" {name}{c if not c[:1].isdigit() else '==' + c}"
                for c, who in by_constraint.items()
            )
            version = join_version_specs(conda_version_spec(c) for c in by_constraint)
            findings.append(
                LockProblem(
                    "pip-requirement",
                    platform,
                    f"{by}, but conda provides {provided['name']} {provided['version']}"
                    f" on {platform}",
                    (name, *sorted({who for who, _ in requirements})),
                    FixPin("conda", provided["name"], version, by),
                )
            )
    return findings


def check_hashes(lock: dict) -> list[LockProblem]:
    """Every artifact must be pinned by sha256."""
    missing = defaultdict(list)
    for package in lock.get("package", []):
        if package["name"].startswith("__"):
            continue
        if not (package.get("hash") or {}).get("sha256"):
            missing[package["platform"]].append(
                f"{package['manager']} {package['name']} {package['version']}"
            )
    return [
        LockProblem(
            "sha256",
            platform,
            f"no sha256 for {', '.join(sorted(items))} ({platform})",
            tuple(sorted(i.split()[1] for i in items)),
        )
        for platform, items in sorted(missing.items())
    ]


def check_single_tensorflow(lock: dict) -> list[LockProblem]:
    """Never two distributions that each ship the ``tensorflow`` module.

    From 2.13 on, tensorflow-macos (and tensorflow-cpu) are thin aliases that depend on
    tensorflow and ship no module: locking one with tensorflow is then expected. Before
    that, each shipped its own copy, and both together break imports.
    """
    findings = []
    for platform in _platforms(lock):
        present = {
            canonicalize_name(p["name"]): p
            for p in lock.get("package", [])
            if p.get("platform") == platform
            and canonicalize_name(p["name"]) in TF_DISTRIBUTIONS
        }
        shipping = sorted(
            name
            for name, package in present.items()
            if name == "tensorflow"
            or "tensorflow"
            not in {canonicalize_name(d) for d in package.get("dependencies") or {}}
        )
        if len(shipping) > 1:
            versions = ", ".join(f"{n} {present[n]['version']}" for n in shipping)
            findings.append(
                LockProblem(
                    "tensorflow-twice",
                    platform,
                    f"{versions} are both locked for {platform}: each installs its own"
                    " 'tensorflow' module",
                    tuple(shipping),
                )
            )
    return findings


def check_channels(lock: dict, allowed: tuple[str, ...]) -> list[LockProblem]:
    """Conda packages only from conda-forge (or the mirror locked against)."""
    prefixes = tuple(a.rstrip("/") + "/" for a in allowed)
    foreign = defaultdict(list)
    for package in lock.get("package", []):
        if package.get("manager") != "conda" or package["name"].startswith("__"):
            continue
        if not str(package.get("url", "")).startswith(prefixes):
            foreign[package["platform"]].append(
                f"{package['name']} ({package.get('url', '')})"
            )
    return [
        LockProblem(
            "channel",
            platform,
            f"{len(items)} conda packages from outside {' or '.join(allowed)} on "
            f"{platform}: {_first(sorted(items))}",
            tuple(sorted(i.split()[0] for i in items)),
        )
        for platform, items in sorted(foreign.items())
    ]


def _first(items: list[str], shown: int = 3) -> str:
    """The first few of a long list, and how many more (an error stays one readable
    line)."""
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def check_macos_wheels(lock: dict, min_macos: str) -> list[LockProblem]:
    """Every pip wheel for a Mac installs on the project's minimum macOS.

    conda-lock picks pip wheels as if for macOS 13.4, whatever the target: a release
    whose wheel needs a newer macOS than the catalog line's minimum would fail to
    install on an older Mac.
    """
    too_new = defaultdict(list)
    for package in lock.get("package", []):
        platform = package.get("platform", "")
        if package.get("manager") != "pip" or not platform.startswith("osx-"):
            continue
        filename = str(package.get("url", "")).split("#")[0].rsplit("/", 1)[-1]
        if not filename.endswith(".whl"):
            continue
        try:
            needs = parse_wheel_tags(filename).macos_min
        except (ValueError, InvalidVersion):
            continue
        if needs and Version(needs) > Version(min_macos):
            too_new[platform].append(
                (package["name"], package["version"], filename, needs)
            )
    return [
        LockProblem(
            "macos",
            platform,
            "; ".join(
                f"{filename} needs macOS {needs}" for _, _, filename, needs in items
            )
            + f", newer than this project's minimum macOS {min_macos} on {platform}:"
            f" pin an older release of {', '.join(name for name, *_ in items)} in"
            " [packages] pip",
            tuple(name for name, *_ in items),
        )
        for platform, items in sorted(too_new.items())
    ]


def check_lock(
    lock: dict,
    names: NameMap,
    allowed_channels: tuple[str, ...] = (CONDA_FORGE,),
    root: tuple[str, ...] = (),
    min_macos: str | None = None,
) -> list[LockProblem]:
    """All rules, in the order a reader would fix them; ``root``: environment.yml's pip
    requirements."""
    return [
        *check_pip_requirements(lock, names, root),
        *check_duplicates(lock, names, root),
        *check_single_tensorflow(lock),
        *check_hashes(lock),
        *check_channels(lock, allowed_channels),
        *(check_macos_wheels(lock, min_macos) if min_macos else ()),
    ]
