"""Release facts as envgen reads them from PyPI: a package's releases, their files, and
what each file installs on.

Plain frozen dataclasses, built by ``pypi.answers`` from PyPI's answers and handed out
by a ``pypi.client.Repository``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envgen.names import INTEL_MAC_PLATFORM, LINUX_PLATFORM, METAL_PLATFORM
from envgen.pypi.tags import ARM64_ARCHES, X86_64_ARCHES, WheelTags


@dataclass(frozen=True)
class DistFile:
    """One file of a release (a wheel or an sdist)."""

    filename: str
    kind: str  # "wheel" | "sdist"
    url: str
    sha256: str
    size: int | None
    requires_python: str | None
    upload_time: datetime | None
    yanked: bool
    yanked_reason: str
    tags: WheelTags | None  # None for an sdist

    def supports_python(self, python: str) -> bool:
        """Whether this file installs on Python ``major.minor``."""
        if self.requires_python:
            try:
                # a conda env's "python 3.9.*" is the newest 3.9 patch:
                # "!=3.9.0,!=3.9.1" still admits it
                if Version(f"{python}.99") not in SpecifierSet(self.requires_python):
                    return False
            except (InvalidSpecifier, InvalidVersion):
                pass  # a malformed Requires-Python is ignored by pip too
        if self.tags is None:
            return True
        if self.tags.any_python:
            return True
        if self.tags.abi3:
            return Version(python) >= Version(self.tags.pythons[0])
        return python in self.tags.pythons

    def supports_platform(self, platform: str, macos: str | None = None) -> bool:
        """Whether this file installs on a conda platform name (osx-arm64, osx-64,
        linux-64).

        With ``macos``, a macOS wheel must also not need a newer macOS than that.
        """
        if self.tags is None or self.tags.platform_any:
            return True
        if platform in (METAL_PLATFORM, INTEL_MAC_PLATFORM):
            wanted = ARM64_ARCHES if platform == METAL_PLATFORM else X86_64_ARCHES
            if not any(arch in wanted for arch in self.tags.arches):
                return False
            return not (
                macos
                and self.tags.macos_min
                and Version(self.tags.macos_min) > Version(macos)
            )
        if platform == LINUX_PLATFORM:
            return "x86_64" in self.tags.manylinux
        return False

    def installs_on(self, python: str, platform: str, macos: str | None = None) -> bool:
        """A wheel that pip would pick for this Python and platform (sdists never
        count)."""
        return (
            self.kind == "wheel"
            and self.supports_python(python)
            and self.supports_platform(platform, macos)
        )


@dataclass(frozen=True)
class Release:
    """One version of a package with its files."""

    version: str
    files: tuple[DistFile, ...]

    @property
    def parsed(self) -> Version:
        return Version(self.version)

    @property
    def upload_time(self) -> datetime | None:
        """When the first file of the release was uploaded."""
        times = [f.upload_time for f in self.files if f.upload_time is not None]
        return min(times) if times else None

    @property
    def yanked(self) -> bool:
        """A release is yanked when every one of its files is."""
        return bool(self.files) and all(f.yanked for f in self.files)

    @property
    def yanked_reason(self) -> str:
        return next(
            (f.yanked_reason for f in self.files if f.yanked and f.yanked_reason), ""
        )

    @property
    def is_prerelease(self) -> bool:
        return self.parsed.is_prerelease

    def wheels_for(
        self,
        python: str,
        platform: str,
        macos: str | None = None,
        *,
        include_yanked: bool = False,
    ) -> tuple[DistFile, ...]:
        """The wheels of this release that install on the given Python and platform."""
        return tuple(
            f
            for f in self.files
            if f.installs_on(python, platform, macos)
            and (include_yanked or not f.yanked)
        )

    def pythons_for(self, platform: str, candidates: Iterable[str]) -> tuple[str, ...]:
        """Which of the candidate Pythons have a wheel for this platform."""
        return tuple(p for p in candidates if self.wheels_for(p, platform))


@dataclass(frozen=True)
class Releases:
    """Everything PyPI knows about one package, and how fresh the answer is."""

    name: str
    releases: tuple[Release, ...]  # oldest first (PEP 440 order)
    # "network" (fresh answer), "revalidated" (304), "cache" (not asked),
    # "stale-cache" (PyPI failed)
    source: str
    fetched_at: datetime
    warnings: tuple[str, ...] = ()

    def get(self, version: str) -> Release | None:
        """The release with exactly this version (PEP 440 equality), if PyPI has it."""
        try:
            wanted = Version(version)
        except InvalidVersion:
            return None
        return next((r for r in self.releases if r.parsed == wanted), None)

    @property
    def age_seconds(self) -> float:
        return max(0.0, (datetime.now(timezone.utc) - self.fetched_at).total_seconds())

    def usable(
        self, *, pre: bool = False, include_yanked: bool = False
    ) -> tuple[Release, ...]:
        """Releases with at least one file, without yanked and pre-releases unless
        asked for."""
        return tuple(
            r
            for r in self.releases
            if r.files
            and (include_yanked or not r.yanked)
            and (pre or not r.is_prerelease)
        )


def describe_age(seconds: float) -> str:
    """'12 s', '5 min', '3 h', '2 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
