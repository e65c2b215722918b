"""The curated catalog: which TensorFlow, tensorflow-metal, Python, macOS and pins go
together.

The knowledge lives in ``envgen/data/catalog.toml``; this module only loads, validates
and queries it. Adding a new Apple release is a data change plus a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tomli
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envgen.errors import CatalogError
from envgen.names import METAL_PLATFORM, PLATFORMS
from envgen.resources import data_path

CATALOG_PATH = data_path("catalog.toml")
STATUSES = ("verified", "inferred")
METAL = "tensorflow-metal"  # Apple's GPU plugin: the package every line pairs with
_LINE_KEYS = {
    "tf",
    "package",
    "version",
    "versions",
    "metal",
    "metal_range",
    "pythons",
    "metal_pythons",
    "keras",
    "min_macos",
    "platforms",
    "status",
    "inferred",
    "conda",
    "pip_caps",
    "sources",
    "notes",
    "dropped",
    "release_packages",
    "alternatives",
    "caveats",
}
_ALTERNATIVE_KEYS = {"metal", "pythons", "source"}
_CAVEAT_KEYS = {"text", "source", "metal"}


@dataclass(frozen=True)
class Caveat:
    """Something a user of a line must know before relying on it (shown by new, matrix,
    update)."""

    text: str
    source: str
    # a specifier: the caveat applies only with a tensorflow-metal release in it
    # ("" = always)
    metal: str = ""

    def applies(self, metal_version: str) -> bool:
        if not self.metal:
            return True
        return bool(metal_version) and Version(metal_version) in SpecifierSet(
            self.metal
        )

    def as_json(self) -> dict:
        return {"text": self.text, "source": self.source, "metal": self.metal}


@dataclass(frozen=True)
class Alternative:
    """A newer tensorflow-metal release for Pythons the line's own plugin lacks
    (ABI-checked, inferred)."""

    metal: str
    pythons: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Line:
    """One TensorFlow line (major.minor) and everything known to make it work on a
    Mac."""

    tf: str
    package: str
    version: str
    versions: tuple[str, ...]
    metal: str
    metal_range: str
    pythons: tuple[str, ...]  # TensorFlow's own: its macOS arm64 wheels
    min_macos: str
    platforms: tuple[str, ...]
    status: str
    inferred: tuple[str, ...]
    conda: tuple[tuple[str, str], ...]
    pip_caps: tuple[tuple[str, str], ...]
    sources: tuple[tuple[str, str], ...]
    notes: str
    keras: str = ""  # the Keras major version the line installs ("2", "3")
    # the Pythons the paired plugin release serves (within pythons)
    metal_pythons: tuple[str, ...] = ()
    # packages the previous line installed and this one no longer does
    dropped: tuple[str, ...] = ()
    # release -> osx-arm64 package, where not `package`
    release_packages: tuple[tuple[str, str], ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    caveats: tuple[Caveat, ...] = ()

    @property
    def default_python(self) -> str:
        """The newest Python of the line's own pair (TensorFlow's newest when the line
        has no plugin).

        ``envgen.catalog.pairs.default_python`` answers for a project without the
        plugin.
        """
        return max(self.metal_pythons or self.pythons, key=Version)

    def metal_accepts(self, metal_version: str) -> bool:
        """Whether a tensorflow-metal release lies in the range known to work with this
        line."""
        return Version(metal_version) in SpecifierSet(self.metal_range)


@dataclass(frozen=True)
class Catalog:
    lines: tuple[Line, ...]

    def line(self, tf: str) -> Line:
        """Find the line for ``"2.6"`` or an exact ``"2.6.0"``; unknown ones list the
        supported ones."""
        wanted = tf.strip()
        for line in self.lines:
            if wanted == line.tf or wanted in line.versions:
                return line
        supported = ", ".join(line.tf for line in self.lines)
        try:
            parsed = Version(wanted)
        except InvalidVersion:
            parsed = None
        for line in self.lines:
            if (
                parsed is not None
                and parsed.release[:2] == Version(line.tf).release[:2]
            ):
                raise CatalogError(
                    f"TensorFlow {wanted} is not a release envgen knows on line"
                    f" {line.tf}",
                    f"use one of {', '.join(line.versions)}, or the line itself"
                    f" ({line.tf!r})",
                )
        raise CatalogError(
            f"unknown TensorFlow line {wanted!r}",
            f"supported lines: {supported}",
        )

    def pair_of_metal(self, metal_version: str) -> Line | None:
        """The line whose default pairing uses this tensorflow-metal release, if any."""
        for line in self.lines:
            if line.metal == metal_version:
                return line
        return None


def _table(raw: dict, key: str, where: str) -> tuple[tuple[str, str], ...]:
    value = raw.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, str) for v in value.values()
    ):
        raise CatalogError(f"catalog: {where}.{key} must be a table of strings")
    return tuple(sorted(value.items()))


def _items(
    raw: dict, key: str, where: str, keys: set[str], required: set[str]
) -> list[dict]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CatalogError(
            f"catalog: {where}.{key} must be an array of tables ([[lines.{key}]])"
        )
    for item in value:
        if set(item) - keys or required - set(item):
            raise CatalogError(
                f"catalog: {where}.{key} entries take {sorted(keys)} (required:"
                f" {sorted(required)})"
            )
    return value


def _parse_line(raw: dict, index: int) -> Line:
    where = f"lines[{index}] ({raw.get('tf', '?')})"
    unknown = set(raw) - _LINE_KEYS
    if unknown:
        raise CatalogError(f"catalog: {where} has unknown keys {sorted(unknown)}")
    try:
        line = Line(
            tf=raw["tf"],
            package=raw["package"],
            version=raw["version"],
            versions=tuple(raw.get("versions", [raw["version"]])),
            metal=raw.get("metal", ""),
            metal_range=raw.get("metal_range", ""),
            pythons=tuple(raw["pythons"]),
            min_macos=raw["min_macos"],
            platforms=tuple(raw.get("platforms", [METAL_PLATFORM])),
            status=raw["status"],
            inferred=tuple(raw.get("inferred", [])),
            conda=_table(raw, "conda", where),
            pip_caps=_table(raw, "pip_caps", where),
            sources=_table(raw, "sources", where),
            notes=raw.get("notes", ""),
            keras=str(raw.get("keras", "")),
            metal_pythons=tuple(
                raw.get("metal_pythons", raw["pythons"] if raw.get("metal") else [])
            ),
            dropped=tuple(raw.get("dropped", [])),
            release_packages=_table(raw, "release_packages", where),
            alternatives=tuple(
                Alternative(a["metal"], tuple(a["pythons"]), a["source"])
                for a in _items(
                    raw, "alternatives", where, _ALTERNATIVE_KEYS, _ALTERNATIVE_KEYS
                )
            ),
            caveats=tuple(
                Caveat(c["text"], c["source"], c.get("metal", ""))
                for c in _items(raw, "caveats", where, _CAVEAT_KEYS, {"text", "source"})
            ),
        )
    except KeyError as missing:
        raise CatalogError(f"catalog: {where} lacks required key {missing}") from None
    if line.status not in STATUSES:
        raise CatalogError(f"catalog: {where} status must be one of {STATUSES}")
    if line.version not in line.versions:
        raise CatalogError(
            f"catalog: {where} version {line.version} not among versions"
        )
    if (
        not set(line.platforms) <= set(PLATFORMS)
        or METAL_PLATFORM not in line.platforms
    ):
        raise CatalogError(
            f"catalog: {where} platforms must include {METAL_PLATFORM}, within"
            f" {PLATFORMS}"
        )
    try:
        for spec in [line.metal_range, *(v for _, v in line.pip_caps)]:
            if spec:
                SpecifierSet(spec)
        for spec in [c.metal for c in line.caveats]:
            if spec:
                SpecifierSet(spec)
        for version in [
            *line.versions,
            *line.pythons,
            line.min_macos,
            *([line.metal] if line.metal else []),
            *(a.metal for a in line.alternatives),
        ]:
            Version(version)
    except (InvalidSpecifier, InvalidVersion) as bad:
        raise CatalogError(f"catalog: {where}: {bad}") from None
    if line.metal and not line.metal_accepts(line.metal):
        raise CatalogError(
            f"catalog: {where} metal {line.metal} outside its metal_range"
        )
    if bool(line.metal) != bool(line.metal_range):
        # metal = "" is how a line with no working plugin release is written; a range
        # without a pair is a typo.
        raise CatalogError(
            f'catalog: {where} metal and metal_range must both be set, or both be ""'
            " (no working tensorflow-metal release)"
        )
    if not set(line.metal_pythons) <= set(line.pythons):
        raise CatalogError(
            f"catalog: {where} metal_pythons {list(line.metal_pythons)} must be among"
            f" pythons {list(line.pythons)}"
        )
    for alternative in line.alternatives:
        if not line.metal or line.metal_accepts(alternative.metal):
            raise CatalogError(
                f"catalog: {where} alternative plugin {alternative.metal} needs a line"
                " pair it differs from"
            )
        if not set(alternative.pythons) <= set(line.pythons) or set(
            alternative.pythons
        ) & set(line.metal_pythons):
            raise CatalogError(
                f"catalog: {where} alternative {alternative.metal} must serve Pythons"
                " of the line that its own plugin does not"
            )
    for release, package in line.release_packages:
        if release not in line.versions or package not in (
            "tensorflow",
            "tensorflow-macos",
        ):
            raise CatalogError(
                f"catalog: {where} release_packages maps {release} to {package}: use a"
                " listed release and tensorflow or tensorflow-macos"
            )
    if line.keras not in ("", "2", "3"):
        raise CatalogError(
            f"catalog: {where} keras must be the Keras major version the line installs"
            ' ("2" or "3")'
        )
    facts = _fact_keys(line)
    unknown_inferred = sorted(set(line.inferred) - facts)
    if unknown_inferred:
        raise CatalogError(
            f"catalog: {where} inferred names unknown facts {unknown_inferred}",
            f"use some of {sorted(facts)}",
        )
    unknown_sources = sorted(set(dict(line.sources)) - facts)
    if unknown_sources:
        raise CatalogError(
            f"catalog: {where} sources names unknown facts {unknown_sources}",
            f"use some of {sorted(facts)}",
        )
    if (line.status == "inferred") != bool(line.inferred):
        raise CatalogError(
            f"catalog: {where} status {line.status!r} disagrees with inferred"
            f" {list(line.inferred)}",
            'status is "inferred" exactly when some fact is listed in inferred',
        )
    return line


def _fact_keys(line: Line) -> set[str]:
    """The facts of a line that ``sources`` and ``inferred`` may name."""
    facts = {
        "package",
        "versions",
        "metal",
        "metal_range",
        "pythons",
        "min_macos",
        "platforms",
    }
    if line.keras:
        facts.add("keras")
    if line.metal and line.metal_pythons != line.pythons:
        facts.add("metal_pythons")
    if line.dropped:
        facts.add("dropped")
    if line.release_packages:
        facts.add("release_packages")
    facts |= {f"conda.{name}" for name, _ in line.conda}
    facts |= {f"pip_caps.{name}" for name, _ in line.pip_caps}
    return facts


def fact_keys(line: Line) -> tuple[str, ...]:
    """Every fact of a line, sorted: each needs a source
    (tests/catalog/test_catalog_facts.py holds the catalog to that)."""
    return tuple(sorted(_fact_keys(line)))


def parse_catalog(text: str) -> Catalog:
    """Parse and validate catalog TOML text."""
    raw = tomli.loads(text)
    if raw.get("schema") != 1:
        raise CatalogError("catalog: unsupported schema (expected schema = 1)")
    lines = tuple(_parse_line(item, i) for i, item in enumerate(raw.get("lines", [])))
    return Catalog(lines=tuple(sorted(lines, key=lambda line: Version(line.tf))))


@lru_cache(maxsize=4)
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Load the catalog shipped inside the package (or another file, for tests)."""
    return parse_catalog(Path(path).read_text(encoding="utf-8"))
