"""Spec + catalog → the one resolved description every generated file is rendered from.

Pure: no files, no network. Checks that need the catalog (known line, supported Python,
metal on a platform that has Metal) raise SpecError naming the envgen.toml key.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from envgen.catalog import abirecords, pairs
from envgen.catalog.lines import Catalog, Caveat, Line
from envgen.catalog.pairs import Choice
from envgen.catalog.pinsets import (
    PIP_TOOLING,
    pin_set_metal,
    pin_set_name,
    pinned_requirements,
)
from envgen.errors import CatalogError, SpecError
from envgen.generate.spec import ProjectSpec
from envgen.names import METAL_PLATFORM

PREFIX_DIR = ".conda-env"
JUPYTER_CONDA = ("ipykernel", "jupyterlab")
# The selector conda-lock understands for each platform (conda-build's preprocessing
# selectors).
SELECTORS = {"osx-arm64": "arm64", "osx-64": "osx64", "linux-64": "linux64"}


@dataclass(frozen=True)
class PipRequirement:
    """One line of the environment's pip section; ``platforms`` empty means every
    platform."""

    requirement: str
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything envgen renders and locks for one project."""

    spec: ProjectSpec
    line: Line
    tf_package: str
    tf_version: str
    metal_version: str
    python: str
    platforms: tuple[str, ...]
    channels: tuple[str, ...]
    conda_specs: tuple[str, ...]
    pip_requirements: tuple[PipRequirement, ...]
    min_macos: str
    pin_set: str = (
        ""  # the locks/ file the pip pins come from, when they are its exact closure
    )
    caps_reason: str = ""  # why the pip side is the line's caps, when it is
    # For a Mac older than min_macos: (minimum macOS, newest catalog line it allows),
    # one per older minimum the catalog has and the spec could switch to.
    older_lines: tuple[tuple[str, str], ...] = ()

    @property
    def metal_platform(self) -> str:
        """The platform that gets the Metal plugin ("" when the project has none)."""
        return METAL_PLATFORM if self.metal else ""

    choice: Choice | None = (
        None  # the pair as catalog.pairs resolved it (notes, caveats)
    )

    @property
    def notes(self) -> tuple[str, ...]:
        return self.choice.notes if self.choice else ()

    @property
    def caveats(self) -> tuple[Caveat, ...]:
        return self.choice.caveats if self.choice else ()

    @property
    def pythons(self) -> tuple[str, ...]:
        """The Pythons this project's pair can use (with or without the plugin)."""
        return pairs.pythons(self.line, self.spec.metal)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def env_name(self) -> str:
        return self.spec.name

    @property
    def uses_prefix(self) -> bool:
        return self.spec.location == "prefix"

    @property
    def prefix_dir(self) -> str:
        return PREFIX_DIR

    @property
    def metal(self) -> bool:
        return bool(self.metal_version)

    def pip_for(self, platform: str) -> tuple[str, ...]:
        """The pip requirements that apply on one platform."""
        return tuple(
            p.requirement
            for p in self.pip_requirements
            if not p.platforms or platform in p.platforms
        )

    def virtual_packages(self, platform: str) -> dict[str, str]:
        """The virtual packages a real machine of this platform presents to the
        solver."""
        if platform == METAL_PLATFORM:
            return {"__osx": self.min_macos, "__unix": "0", "__archspec": "1=m1"}
        if platform == "osx-64":
            return {"__osx": self.min_macos, "__unix": "0", "__archspec": "1=x86_64"}
        return {
            "__linux": "5.10",
            "__glibc": "2.17",
            "__unix": "0",
            "__archspec": "1=x86_64",
        }


@dataclass(frozen=True)
class Terms:
    """How refusals name the user's settings: envgen.toml's keys, or the flags that set
    them.

    A user who typed ``envgen new demo --tf 2.6 --python 3.10`` should read about
    ``--python``, not about an ``environment.python`` they never wrote.
    """

    tensorflow: str = "tensorflow.version"
    python: str = "environment.python"
    platforms: str = "environment.platforms"
    metal_on: str = "tensorflow.metal is on"
    omit_python: str = "remove environment.python"
    add_metal_platform: str = f'add "{METAL_PLATFORM}" to environment.platforms'
    metal_off: str = "set tensorflow.metal = false"
    flags: bool = False

    def platforms_value(self, platforms: tuple[str, ...]) -> str:
        """The platforms as the user wrote them: ``--platform a --platform b`` or a TOML
        list."""
        if self.flags:
            return " ".join(f"{self.platforms} {p}" for p in platforms)
        quoted = ", ".join(f'"{p}"' for p in platforms)
        return f"{self.platforms} = [{quoted}]"


TOML_TERMS = Terms()


def _choose(
    spec: ProjectSpec, line: Line, tf_version: str, catalog: Catalog, terms: Terms
) -> Choice:
    """The pair (plugin release, Python) for this spec: ``catalog.pairs`` decides;
    refusals name the package that limits the Python, the way out, and the user's
    settings in ``terms``.
    """
    if spec.metal is not False and METAL_PLATFORM not in spec.platforms:
        raise SpecError(
            f"{terms.metal_on}, but {terms.platforms_value(spec.platforms)} has no"
            f" Apple Silicon platform: Metal exists only on {METAL_PLATFORM}",
            f"{terms.add_metal_platform}, or {terms.metal_off}",
        )
    return pairs.choose(
        line,
        tf_version,
        metal=spec.metal,
        python=spec.python,
        abi=abirecords.load_abi_records(),
        catalog=catalog,
        words=pairs.Words(
            tensorflow=terms.tensorflow,
            python=terms.python,
            omit_python=terms.omit_python,
            metal_on=terms.metal_on,
            metal_off=terms.metal_off,
        ),
    )


def _conda_name(match_spec: str) -> str:
    return match_spec.split()[0].split("=")[0].split("<")[0].split(">")[0].lower()


def _extra_names(spec: ProjectSpec) -> set[str]:
    return {_conda_name(extra) for extra in spec.conda_packages}


def _conda_specs(spec: ProjectSpec, line: Line, python: str) -> tuple[str, ...]:
    pinned = {name for name, _ in line.conda}
    specs = [f"python {python}.*"]
    specs += [f"{name} {version}" for name, version in line.conda]
    # pip's own tooling comes from conda-forge, never from pip: conda-forge's pip
    # carries setuptools and wheel up to Python 3.12 and not after, so name them, and
    # locks/ leaves them out (see PIP_TOOLING).
    specs += [name for name in PIP_TOOLING if name not in _extra_names(spec)]
    if spec.jupyter:
        specs += [name for name in JUPYTER_CONDA if name not in pinned]
    for extra in spec.conda_packages:
        name = _conda_name(extra)
        if name in pinned:
            raise SpecError(
                f"packages.conda lists {name!r}, which envgen pins for TensorFlow"
                f" {line.tf} ({dict(line.conda)[name]})",
                "remove it: the catalog's pin is the one known to work with this line",
            )
        specs.append(extra)
    return tuple(specs)


def _pip_requirements(
    spec: ProjectSpec, line: Line, tf_version: str, metal: str, python: str
) -> tuple[tuple[PipRequirement, ...], str]:
    """The pip section, and the locks/ pin set it was taken from ("" when it is the
    line's caps)."""
    platforms = spec.platforms
    exact = _pinned_closure(spec, line, tf_version, metal, python)
    if exact is not None:
        pinned, pin_set = exact
        return tuple(PipRequirement(r) for r in pinned), pin_set
    requirements: list[PipRequirement] = []
    if len(platforms) == 1 or all(p == METAL_PLATFORM for p in platforms):
        only = platforms[0]
        package = pairs.tf_package(line, tf_version, only)
        requirements.append(PipRequirement(f"{package}=={tf_version}"))
        if metal:
            requirements.append(PipRequirement(f"tensorflow-metal=={metal}"))
    else:
        for platform in platforms:
            package = pairs.tf_package(line, tf_version, platform)
            requirements.append(PipRequirement(f"{package}=={tf_version}", (platform,)))
        if metal:
            requirements.append(
                PipRequirement(f"tensorflow-metal=={metal}", (METAL_PLATFORM,))
            )
    requirements += [PipRequirement(f"{name}{cap}") for name, cap in line.pip_caps]
    requirements += [PipRequirement(extra) for extra in spec.pip_packages]
    return tuple(requirements), ""


def why_caps(
    spec: ProjectSpec, line: Line, tf_version: str, metal: str, python: str
) -> str:
    """Why the pip side is the line's caps rather than envgen's exact closure from
    locks/ ("" when it is not).

    The closures are resolved for the plain case only: osx-arm64 alone, the line's own
    TF and metal releases, no extra pip or conda packages (exact pins could conflict
    with what those need; then the caps apply and the lock resolves the rest).
    """
    others = [p for p in spec.platforms if p != METAL_PLATFORM]
    if others:
        return (
            f"the project also targets {', '.join(others)}, and envgen's exact pin sets"
            f" are for {METAL_PLATFORM} alone"
        )
    if spec.pip_packages:
        return (
            f"envgen.toml adds pip packages ({', '.join(spec.pip_packages)}), which"
            " exact pins could conflict with"
        )
    conda_extras = (JUPYTER_CONDA if spec.jupyter else ()) + tuple(
        sorted(_extra_names(spec))
    )
    if conda_extras:
        # conda-forge then provides pure-Python packages the pin set also pins
        # (jupyterlab brings requests and urllib3): conda's version must win, and
        # conda-forge need not have PyPI's newest release yet.
        return (
            f"the project adds conda packages ({', '.join(conda_extras)}), whose"
            " dependencies conda-forge provides at its own versions"
        )
    if tf_version != line.version:
        return (
            f"TensorFlow {tf_version} is not {line.version}, the release the line's pin"
            " set was resolved for"
        )
    expected = pin_set_metal(line, python)
    if metal != expected:
        plugin = f"tensorflow-metal {metal}" if metal else "Metal off"
        return (
            f"{plugin} is not the line's pair (tensorflow-metal {expected or 'none'}),"
            " which the pin set was resolved for"
        )
    if pinned_requirements(line, python, metal=metal) is None:
        return f"envgen has no pin set for TensorFlow {line.tf} on Python {python}"
    return ""


def _pinned_closure(
    spec: ProjectSpec, line: Line, tf_version: str, metal: str, python: str
) -> tuple[list[str], str] | None:
    """envgen's known-good pip closure from locks/, when it is exactly this project's
    pip side."""
    if why_caps(spec, line, tf_version, metal, python):
        return None
    requirements = pinned_requirements(line, python, metal=metal)
    assert requirements is not None  # why_caps checked it
    return requirements, pin_set_name(line.tf, python)


def _older_lines(
    spec: ProjectSpec, catalog: Catalog, min_macos: str
) -> tuple[tuple[str, str], ...]:
    """Per minimum macOS below the project's, the newest line with it that fits the
    spec."""
    newest: dict[Version, Line] = {}
    for candidate in catalog.lines:
        needs = Version(candidate.min_macos)
        fits = (
            set(spec.platforms) <= set(candidate.platforms)
            and (spec.metal is False or bool(candidate.metal))
            and (
                spec.python is None
                or spec.python in pairs.pythons(candidate, spec.metal)
            )
        )
        if not fits or needs >= Version(min_macos):
            continue
        if needs not in newest or Version(candidate.tf) > Version(newest[needs].tf):
            newest[needs] = candidate
    return tuple((str(needs), newest[needs].tf) for needs in sorted(newest))


def make_plan(spec: ProjectSpec, catalog: Catalog, terms: Terms = TOML_TERMS) -> Plan:
    """Resolve a spec against the catalog; every refusal names the setting to change in
    ``terms``."""
    try:
        line = catalog.line(spec.tensorflow)
    except CatalogError as error:
        raise SpecError(f"{terms.tensorflow}: {error.message}", error.hint) from None
    tf_version = spec.tensorflow if spec.tensorflow in line.versions else line.version
    for platform in spec.platforms:
        if platform not in line.platforms:
            raise SpecError(
                f"{terms.platforms_value((platform,))}: TensorFlow {line.tf} has no"
                f" {platform} wheels",
                f"this line can be locked for {', '.join(line.platforms)}",
            )
    choice = _choose(spec, line, tf_version, catalog, terms)
    python, metal = choice.python, choice.metal
    pip_requirements, pin_set = _pip_requirements(spec, line, tf_version, metal, python)
    min_macos = str(max(Version(line.min_macos), Version("11.0")))
    return Plan(
        spec=spec,
        line=line,
        tf_package=choice.tf_package,
        tf_version=tf_version,
        metal_version=metal,
        python=python,
        platforms=tuple(sorted(spec.platforms, key=lambda p: (p != METAL_PLATFORM, p))),
        channels=tuple(spec.channels),
        conda_specs=_conda_specs(spec, line, python),
        pip_requirements=pip_requirements,
        min_macos=min_macos,
        pin_set=pin_set,
        older_lines=_older_lines(spec, catalog, min_macos),
        caps_reason=why_caps(spec, line, tf_version, metal, python),
        choice=choice,
    )
