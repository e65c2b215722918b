"""What every doctor rule reads: the probe's answer as typed accessors, the project's
facts and lock, and the catalog line the installed TensorFlow belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envgen.catalog import pairs
from envgen.catalog.lines import Catalog, Line
from envgen.errors import CatalogError, SpecError
from envgen.names import (
    INTEL_MAC_PLATFORM,
    LINUX_PLATFORM,
    METAL_PLATFORM,
    PLATFORMS,
)

# Distributions that each provide the `tensorflow` module: two of them in one env
# overwrite each other.
TF_DISTRIBUTIONS = (
    "tensorflow-macos",
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tf-nightly",
    "tf-nightly-macos",
    "tensorflow-intel",
)


# The conda subdirs a channel URL may end with (envgen's platforms and the others).
_SUBDIR_AT_END = re.compile(
    "/({})(/[^/]*)?$".format(
        "|".join(
            re.escape(subdir)
            for subdir in ("noarch", *PLATFORMS, "linux-aarch64", "win-64")
        )
    )
)


DEFAULTS_CHANNELS = frozenset(
    {"defaults", "pkgs/main", "pkgs/r", "pkgs/free", "pkgs/msys2", "anaconda"}
)


FORGE = "conda-forge"


FIX_BOOTSTRAP = "./bootstrap.sh (recreates the environment from conda-lock.yml)"


FIX_MINIFORGE = (
    "install an arm64 conda (Miniforge3-MacOSX-arm64.sh from"
    " github.com/conda-forge/miniforge) and recreate the environment with it; `python"
    " -c 'import platform; print(platform.machine())'` must print arm64"
)


@dataclass(frozen=True)
class LockedPackage:
    """One ``package:`` entry of conda-lock.yml."""

    name: str
    version: str
    manager: str
    platform: str


@dataclass(frozen=True)
class ProjectFacts:
    """What an envgen project says the environment should be (None fields: not
    known)."""

    directory: Path
    line: Line | None = None
    python: str | None = None
    metal: bool = True
    env_location: str | None = None  # where the project's environment was looked for
    env_found: bool = False
    # None: the project has no conda-lock.yml
    lock: tuple[LockedPackage, ...] | None = None


@dataclass(frozen=True)
class Probe:
    """Typed, defensive access to the probe's JSON (missing keys read as 'unknown',
    never crash)."""

    raw: Mapping

    def value(self, *path: str, default=None):
        value = self.raw
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return value

    @property
    def system(self) -> str:
        return self.value("machine", "system", default="") or ""

    @property
    def machine(self) -> str:
        return self.value("machine", "machine", default="") or ""

    @property
    def mac_ver(self) -> str:
        """The macOS version, from the kernel when the probe could ask (mac_ver() may
        say 10.16 on macOS 11+)."""
        return (
            self.value("machine", "os_product_version", default="")
            or self.value("machine", "mac_ver", default="")
            or ""
        )

    @property
    def is_mac(self) -> bool:
        return self.system == "Darwin"

    @property
    def translated(self) -> bool:
        return str(self.value("machine", "proc_translated", default="")).strip() == "1"

    @property
    def apple_silicon(self) -> bool:
        """Apple Silicon hardware, also when this Python is an x86_64 binary under
        Rosetta."""
        return self.is_mac and (
            str(self.value("machine", "hw_arm64", default="")).strip() == "1"
            or self.machine == "arm64"
            or self.translated
        )

    @property
    def python_version(self) -> str:
        return self.value("python", "version", default="") or ""

    @property
    def python_minor(self) -> str:
        return ".".join(self.python_version.split(".")[:2])

    @property
    def prefix(self) -> str:
        return self.value("python", "prefix", default="") or ""

    @property
    def is_conda_env(self) -> bool:
        return bool(self.value("conda", "is_conda_env", default=False))

    @property
    def conda_records(self) -> tuple[Mapping, ...]:
        return tuple(
            r
            for r in self.value("conda", "records", default=[]) or []
            if isinstance(r, Mapping)
        )

    def conda_record(self, name: str) -> Mapping | None:
        for record in self.conda_records:
            if record.get("name") == name:
                return record
        return None

    @property
    def distributions(self) -> tuple[Mapping, ...]:
        return tuple(
            d
            for d in self.value("distributions", default=[]) or []
            if isinstance(d, Mapping) and d.get("name")
        )

    def distribution(self, name: str) -> Mapping | None:
        wanted = canonicalize_name(name)
        for dist in self.distributions:
            if canonicalize_name(dist["name"]) == wanted:
                return dist
        return None

    def installed(self, name: str) -> list[Mapping]:
        wanted = canonicalize_name(name)
        return [d for d in self.distributions if canonicalize_name(d["name"]) == wanted]

    @property
    def tf_stage(self) -> Mapping:
        return self.value("tensorflow", default={}) or {}

    @property
    def tf(self) -> Mapping:
        """The TensorFlow stage's own answer (empty when it crashed, hung or never
        ran)."""
        return self.tf_stage.get("result") or {}

    @property
    def platform(self) -> str:
        """The conda platform of this environment (its python's subdir if conda says,
        else from the machine)."""
        subdir = self.value("conda", "python_subdir")
        if subdir:
            return subdir
        arm = self.machine in ("arm64", "aarch64")
        if self.is_mac:
            return METAL_PLATFORM if arm else INTEL_MAC_PLATFORM
        if self.system == "Linux":
            return "linux-aarch64" if arm else LINUX_PLATFORM
        return self.system.lower() or "unknown"


def channel_name(record: Mapping) -> str:
    """'conda-forge', 'pkgs/main', ... from a conda-meta record's channel or url."""
    raw = (record.get("channel") or record.get("url") or "").strip()
    if not raw:
        return "unknown"
    raw = raw.split("::")[0] if "::" in raw and "://" not in raw else raw
    match = re.search(r"repo\.anaconda\.com/(pkgs/[^/]+)", raw)
    if match:
        return match.group(1)
    match = re.search(r"conda\.anaconda\.org/([^/]+)", raw) or re.search(
        r"anaconda\.org/([^/]+)", raw
    )
    if match:
        return match.group(1)
    if "://" in raw:
        return _SUBDIR_AT_END.sub("", raw)
    return raw


def shorten(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def version_of(dist: Mapping | None) -> str:
    return str(dist.get("version") or "?") if dist else "?"


def installed_by(dist: Mapping) -> str:
    if dist.get("conda_package"):
        return "conda"
    return (dist.get("installer") or "unknown installer").strip()


@dataclass(frozen=True)
class RuleContext:
    probe: Probe
    catalog: Catalog
    project: ProjectFacts | None
    tf_dists: tuple[Mapping, ...]
    # What `import tensorflow` reports, else the installed distribution's version.
    tf_version: str | None
    # The catalog line of the installed TensorFlow, else the project's line.
    line: Line | None
    # False when TensorFlow is installed but the catalog has no line for it.
    line_known: bool

    @property
    def metal_wanted(self) -> bool:
        return self.project.metal if self.project else True

    def install_tf_command(self) -> str:
        line = self.line
        if line is None:
            return (
                "pick a TensorFlow line with `envgen matrix` and install its pair"
                " (envgen new NAME --tf X sets it all up)"
            )
        metal = (
            f" tensorflow-metal=={line.metal}"
            if line.metal and self.metal_wanted
            else ""
        )
        return (
            f"pip install {pairs.tf_package(line, line.version)}=={line.version}{metal}"
        )

    def conda_pin(self, name: str) -> str:
        """``name`` with the line's conda pin, quoted for a shell, e.g.
        ``'numpy >=1.19.2,<1.20'``; the bare name when the line pins none."""
        pins = dict(self.line.conda) if self.line else {}
        return f"'{name} {pins[name]}'" if name in pins else name


def tf_line_of(catalog: Catalog, version: str | None) -> Line | None:
    if not version:
        return None
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    minor = f"{parsed.major}.{parsed.minor}"
    for candidate in (parsed.base_version, minor):
        try:
            return catalog.line(candidate)
        except CatalogError:
            continue
    return None


def make_context(
    probe: Probe, catalog: Catalog, project: ProjectFacts | None
) -> RuleContext:
    tf_dists = tuple(d for name in TF_DISTRIBUTIONS for d in probe.installed(name))
    version = probe.tf.get("version") if probe.tf.get("import_ok") else None
    if not version and tf_dists:
        version = version_of(tf_dists[0])
    line = tf_line_of(catalog, version)
    line_known = line is not None or not version
    if line is None and version is None and project is not None:
        line = project.line
    return RuleContext(probe, catalog, project, tf_dists, version, line, line_known)


def same_version(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return False


def listed(items: Sequence[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (
        f" and {len(items) - limit} more" if len(items) > limit else ""
    )


def parse_lock(text: str, where: str = "conda-lock.yml") -> tuple[LockedPackage, ...]:
    """The ``package:`` entries of a conda-lock.yml (name, version, manager,
    platform)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError(
            f"{where} is not valid YAML: {shorten(str(error), 160)}",
            "regenerate it with `envgen lock`",
        ) from None
    entries = raw.get("package") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise SpecError(
            f"{where} has no package: list", "regenerate it with `envgen lock`"
        )
    packages = []
    for entry in entries:
        if isinstance(entry, dict) and all(
            k in entry for k in ("name", "version", "platform")
        ):
            packages.append(
                LockedPackage(
                    str(entry["name"]),
                    str(entry["version"]),
                    str(entry.get("manager", "conda")),
                    str(entry["platform"]),
                )
            )
    return tuple(packages)
