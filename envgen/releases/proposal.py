"""The catalog pairs `envgen update` can propose: for each catalog line, the newest TF
release and the newest tensorflow-metal release in its range that install on the
project's platforms and a Python the pair serves.

Which plugin releases a line accepts on which Python, and which TF package a platform
installs, are asked of ``catalog.pairs``; this module walks PyPI's releases newest first
and records why each one it passes over was passed over.
"""

from __future__ import annotations

from collections.abc import Mapping

from packaging.version import Version

from envgen.catalog import pairs
from envgen.catalog.abirecords import AbiRecords
from envgen.catalog.lines import METAL, Catalog, Line
from envgen.names import METAL_PLATFORM
from envgen.pypi.models import Releases
from envgen.releases.model import Current, Pair, abi_failure, with_abi_label
from envgen.releases.pypifacts import find_release, pass_over_reason


def _pythons_in_order(current: str, pythons: tuple[str, ...]) -> list[str]:
    """Try the project's Python first, then newer ones (closest first), then older
    ones."""
    ordered = sorted(pythons, key=Version)
    newer = [p for p in ordered if Version(p) > Version(current)]
    older = [p for p in reversed(ordered) if Version(p) < Version(current)]
    return ([current] if current in pythons else []) + newer + older


def _catalog_pair(
    line: Line,
    python: str,
    current: Current,
    releases: Mapping[str, Releases],
    *,
    pre: bool,
    include_yanked: bool,
    skipped: list[str],
    abi: AbiRecords = AbiRecords(),
) -> Pair | None:
    """The newest TF release of a line and Metal release in its range that install on
    this Python."""
    status = "verified" if line.status == "verified" else "catalog-inferred"
    missing = [p for p in current.platforms if p not in line.platforms]
    if missing:
        skipped.append(
            f"TF {line.tf}: no wheels for {', '.join(missing)} in the catalog"
        )
        return None
    tf_choice: tuple[str, list[str]] | None = None
    for version in sorted(line.versions, key=Version, reverse=True):
        wheels: list[str] = []
        for platform in current.platforms:
            package = pairs.tf_package(line, version, platform)
            release = find_release(releases, package, version)
            if release is None:
                skipped.append(f"{package} {version}: not on PyPI")
                break
            why = pass_over_reason(release, pre, include_yanked)
            if why:
                skipped.append(f"{package} {version}: {why}")
                break
            found = release.wheels_for(python, platform, include_yanked=include_yanked)
            if not found:
                skipped.append(
                    f"{package} {version}: no {platform} wheel for Python {python}"
                )
                break
            if platform == METAL_PLATFORM:
                wheels.append(found[0].filename)
        else:
            tf_choice = (version, wheels)
            break
    if tf_choice is None:
        return None
    metal = ""
    if current.metal:
        if not line.metal_range:
            skipped.append(f"TF {line.tf}: {pairs.no_metal_reason(line, abi)}")
            return None
        metal_releases = releases.get(METAL)
        candidates = [
            r
            for r in (metal_releases.releases if metal_releases else ())
            if pairs.metal_status(line, r.version, python)
        ]
        for release in sorted(candidates, key=lambda r: r.parsed, reverse=True):
            why = pass_over_reason(release, pre, include_yanked)
            if why:
                skipped.append(f"{METAL} {release.version}: {why}")
                continue
            found = release.wheels_for(
                python, METAL_PLATFORM, include_yanked=include_yanked
            )
            if not found:
                skipped.append(
                    f"{METAL} {release.version}: no osx-arm64 wheel for Python {python}"
                )
                continue
            why = abi_failure(
                abi,
                release.version,
                pairs.tf_package(line, tf_choice[0]),
                tf_choice[0],
            )
            if why:
                skipped.append(why)
                continue
            metal = release.version
            tf_choice[1].append(found[0].filename)
            break
        if not metal:
            return None
    version, wheels = tf_choice
    evidence = [
        f"catalog line {line.tf} ({line.status}), {METAL} range"
        f" {line.metal_range or 'none'}"
    ]
    if metal and pairs.metal_status(line, metal, python) == "inferred":
        status = "catalog-inferred"
        evidence.append(
            f"{METAL} {metal} on Python {python} is the line's inferred alternative "
            f"(its own plugin has no Python {python} wheel)"
        )
    return with_abi_label(
        abi,
        Pair(
            pairs.tf_package(line, version),
            version,
            metal,
            python,
            line.tf,
            status,
            tuple(evidence),
            tuple(wheels),
            caveats=pairs.caveats(line, metal, version, abi),
        ),
    )


def best_catalog_pairs(
    current: Current,
    catalog: Catalog,
    releases: Mapping[str, Releases],
    *,
    within_line: bool,
    pre: bool,
    include_yanked: bool,
    skipped: list[str],
    abi: AbiRecords = AbiRecords(),
) -> tuple[Pair | None, Pair | None]:
    """(newest pair on the project's Python, newest pair on any Python the line
    supports)."""
    same: list[Pair] = []
    other: list[Pair] = []
    for line in catalog.lines:
        if within_line and line.tf != current.line:
            continue
        if current.metal and not line.metal:
            if Version(line.tf) > Version(current.line):
                skipped.append(
                    f"TF {line.tf}: {pairs.no_metal_reason(line, abi)} "
                    "(a project with metal = false can move there)"
                )
            continue
        for python in _pythons_in_order(
            current.python, pairs.pythons(line, bool(current.metal))
        ):
            own = python == current.python  # only its reasons reach the report
            pair = _catalog_pair(
                line,
                python,
                current,
                releases,
                pre=pre,
                include_yanked=include_yanked,
                skipped=skipped if own else [],
                abi=abi,
            )
            if pair is not None:
                (same if own else other).append(pair)
                break

    def best(pairs: list[Pair]) -> Pair | None:
        newer = [p for p in pairs if p.key > current.key]
        if not newer:
            return None
        verified = [p for p in newer if p.status == "verified"]
        return max(verified or newer, key=lambda p: p.key)

    return best(same), best(same + other)
