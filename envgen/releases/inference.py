"""Pairs for tensorflow-metal releases the catalog does not know yet.

Each such plugin release is paired by upload date with the TensorFlow line whose first
release came out last before it, at that line's newest patch uploaded before it. This is
evidence, never proof: `envgen update` reports an inferred pair and never applies it,
and `envgen catalog refresh --abi-check` runs the symbol check that can rule it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from packaging.version import Version

from envgen.catalog import pairs
from envgen.catalog.lines import METAL, Catalog
from envgen.catalog.pairs import ARM64_TF_PACKAGES
from envgen.names import CANDIDATE_PYTHONS, METAL_PLATFORM
from envgen.pypi.models import Release, Releases
from envgen.releases.model import Pair
from envgen.releases.pypifacts import pass_over_reason


@dataclass(frozen=True)
class _Uploaded:
    """A final TF release with a macOS arm64 wheel, the package it is published under,
    and when it was uploaded."""

    release: Release
    package: str
    at: datetime

    @property
    def minor(self) -> tuple[int, int]:
        return (self.release.parsed.major, self.release.parsed.minor)


def _tf_lines_by_first_upload(
    releases: Mapping[str, Releases], python_candidates: tuple[str, ...]
) -> list[_Uploaded]:
    """Final TF releases with a macOS arm64 wheel, per package (tensorflow-macos up to
    2.16, tensorflow after)."""
    found = []
    for package in ARM64_TF_PACKAGES:
        known = releases.get(package)
        for release in known.releases if known else ():
            at = release.upload_time
            if release.yanked or release.is_prerelease or at is None:
                continue
            if release.pythons_for(METAL_PLATFORM, python_candidates):
                found.append(_Uploaded(release, package, at))
    return found


def infer_pairs(
    catalog: Catalog,
    releases: Mapping[str, Releases],
    *,
    python: str,
    pre: bool = False,
    include_yanked: bool = False,
    skipped: list[str] | None = None,
) -> tuple[Pair, ...]:
    """Metal releases newer than any the catalog knows, each paired with the TF line
    released just before it.

    ``python`` is the Python the pair should preferably run on (the project's).
    """
    skipped = skipped if skipped is not None else []
    metal_releases = releases.get(METAL)
    if metal_releases is None:
        return ()
    known = [Version(line.metal) for line in catalog.lines if line.metal]
    newest_known = max(known) if known else Version("0")
    pythons = CANDIDATE_PYTHONS
    tf_releases = _tf_lines_by_first_upload(releases, pythons)
    found: list[Pair] = []
    for release in metal_releases.releases:
        if release.parsed <= newest_known or any(
            line.metal_accepts(release.version)
            for line in catalog.lines
            if line.metal_range
        ):
            continue
        why = pass_over_reason(release, pre, include_yanked)
        if why:
            skipped.append(f"{METAL} {release.version}: {why}")
            continue
        uploaded = release.upload_time
        if uploaded is None:
            continue
        # The TF line whose first release came out last before this plugin release...
        firsts: dict[tuple[int, int], _Uploaded] = {}
        for tf_upload in tf_releases:
            if tf_upload.at > uploaded:
                continue
            first = firsts.get(tf_upload.minor)
            if first is None or tf_upload.at < first.at:
                firsts[tf_upload.minor] = tf_upload
        if not firsts:
            skipped.append(
                f"{METAL} {release.version}: no TensorFlow release uploaded before it"
            )
            continue
        minor = max(firsts.values(), key=lambda u: u.at).minor
        # ...and that line's newest patch uploaded before it (package: tensorflow from
        # 2.17 on).
        patches = [u for u in tf_releases if u.minor == minor and u.at <= uploaded]
        prefer = pairs.preferred_package(minor)
        newest = max(patches, key=lambda u: (u.release.parsed, u.package == prefer))
        tf, package, tf_uploaded = newest.release, newest.package, newest.at
        metal_pythons = release.pythons_for(METAL_PLATFORM, pythons)
        tf_pythons = tf.pythons_for(METAL_PLATFORM, pythons)
        common = [p for p in metal_pythons if p in tf_pythons]
        chosen = python if python in common else (common[-1] if common else python)
        days = (uploaded - tf_uploaded).total_seconds() / 86400
        metal_wheel = next(iter(release.wheels_for(chosen, METAL_PLATFORM)), None)
        tf_wheel = next(iter(tf.wheels_for(chosen, METAL_PLATFORM)), None)
        evidence = (
            (
                f"{METAL} {release.version} uploaded {uploaded:%Y-%m-%d}; {package}"
                f" {tf.version} uploaded {tf_uploaded:%Y-%m-%d} ({days:.0f} days"
                f" before); TF {minor[0]}.{minor[1]} is the newest line released"
                " before it"
            ),
            f"{METAL} {release.version} wheels: Python"
            f" {', '.join(metal_pythons) or 'none'} on osx-arm64"
            + (
                f" ({metal_wheel.tags.tag_text})"
                if metal_wheel and metal_wheel.tags
                else ""
            ),
            f"{package} {tf.version} wheels: Python {', '.join(tf_pythons) or 'none'}"
            " on osx-arm64"
            + (f" ({tf_wheel.tags.tag_text})" if tf_wheel and tf_wheel.tags else ""),
            f"usable with Python {python}: {'yes' if python in common else 'no'}",
        )
        wheels = tuple(w.filename for w in (tf_wheel, metal_wheel) if w is not None)
        found.append(
            Pair(
                package,
                tf.version,
                release.version,
                chosen,
                f"{minor[0]}.{minor[1]}",
                "inferred",
                evidence,
                wheels,
            )
        )
    return tuple(found)
