"""What the releases code reads of PyPI's answers: the packages it tracks, a release
as PyPI answered it, and why a release is passed over.

``update``, ``proposal``, ``inference`` and ``refresh`` ask these, so they track the
same packages and pass a release over for the same reasons.
"""

from __future__ import annotations

from collections.abc import Mapping

from envgen.catalog.lines import METAL
from envgen.catalog.pairs import ARM64_TF_PACKAGES
from envgen.names import METAL_PLATFORM
from envgen.pypi.models import Release, Releases

# The packages `envgen update` and `envgen catalog refresh` ask PyPI about.
TRACKED_PACKAGES = (METAL, *ARM64_TF_PACKAGES)


def find_release(
    releases: Mapping[str, Releases], package: str, version: str
) -> Release | None:
    """``package`` ``version`` as PyPI answered it (None when it is not there)."""
    known = releases.get(package)
    return known.get(version) if known is not None else None


def pass_over_reason(release: Release, pre: bool, include_yanked: bool) -> str:
    """Why a release is passed over ('' when it is not)."""
    if release.yanked and not include_yanked:
        reason = f": {release.yanked_reason}" if release.yanked_reason else ""
        return f"yanked{reason}"
    if release.is_prerelease and not pre:
        return "a pre-release"
    if not release.files:
        return "has no files"
    return ""


def arm64_tf_releases(releases: Mapping[str, Releases]) -> dict[str, Release]:
    """Every TF release with a macOS arm64 wheel, by version (either package)."""
    found: dict[str, Release] = {}
    for package in ARM64_TF_PACKAGES:
        known = releases.get(package)
        for release in known.releases if known else ():
            if any(
                f.supports_platform(METAL_PLATFORM)
                for f in release.files
                if f.kind == "wheel"
            ):
                found.setdefault(release.version, release)
    return found
