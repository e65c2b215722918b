"""For envgen's maintainers (`envgen catalog refresh`): compare the catalog with PyPI.

``compare_catalog`` is pure (catalog + release facts in, findings out): releases the
catalog names that PyPI yanked or does not have, and new tensorflow-metal releases, TF
lines and TF patches with macOS arm64 wheels that the catalog does not list yet.
``releases.pinlock`` regenerates the pin sets in ``locks/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packaging.version import Version

from envgen.catalog.lines import METAL, Catalog
from envgen.catalog.pairs import ARM64_TF_PACKAGES, tf_package
from envgen.names import CANDIDATE_PYTHONS, METAL_PLATFORM
from envgen.pypi.models import Release, Releases
from envgen.releases.inference import infer_pairs
from envgen.releases.model import Pair


@dataclass(frozen=True)
class RefreshFinding:
    # "new-metal" | "new-tf-line" | "new-tf-patch" | "yanked" | "missing" | "pre-release"
    kind: str
    package: str
    version: str
    detail: str


@dataclass(frozen=True)
class RefreshReport:
    findings: tuple[RefreshFinding, ...]
    inferred: tuple[
        Pair, ...
    ]  # pairings suggested for new Metal releases (evidence, not proof)
    warnings: tuple[str, ...]

    @property
    def needs_attention(self) -> bool:
        """The catalog names a release PyPI yanked or does not have."""
        return any(f.kind in ("yanked", "missing") for f in self.findings)


def _arm64_pythons(release: Release) -> tuple[str, ...]:
    return release.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)


def _upcoming_lines(
    package: str, answer: Releases | None, newest_line: tuple[int, ...]
) -> list[RefreshFinding]:
    """The newest pre-release of each TF line beyond the catalog that has no final
    release yet: news for a maintainer, nothing to draft."""
    if answer is None:
        return []
    final = {r.parsed.release[:2] for r in answer.usable()}
    newest: dict[tuple[int, ...], Release] = {}
    for release in answer.usable(pre=True):
        minor = release.parsed.release[:2]
        if (
            release.is_prerelease
            and minor > newest_line
            and minor not in final
            and _arm64_pythons(release)
            and (minor not in newest or release.parsed > newest[minor].parsed)
        ):
            newest[minor] = release
    return [
        RefreshFinding(
            "pre-release",
            package,
            release.version,
            (
                f"uploaded {release.upload_time:%Y-%m-%d}, "
                if release.upload_time
                else ""
            )
            + f"arm64 wheels for Python {', '.join(_arm64_pythons(release))}; line"
            f" {minor[0]}.{minor[1]} has no final release yet (drafted once it has)",
        )
        for minor, release in sorted(newest.items())
    ]


def compare_catalog(
    catalog: Catalog, releases: Mapping[str, Releases]
) -> RefreshReport:
    """New and yanked releases of tensorflow-metal, tensorflow-macos and tensorflow
    against the catalog."""
    findings: list[RefreshFinding] = []
    referenced: set[tuple[str, str]] = set()
    for line in catalog.lines:
        referenced.update((tf_package(line, v), v) for v in line.versions)
        if line.metal:
            referenced.add((METAL, line.metal))
    for package, version in sorted(referenced):
        answer = releases.get(package)
        release = answer.get(version) if answer else None
        if release is None:
            findings.append(
                RefreshFinding(
                    "missing", package, version, "named by the catalog but not on PyPI"
                )
            )
        elif release.yanked:
            reason = f": {release.yanked_reason}" if release.yanked_reason else ""
            findings.append(
                RefreshFinding(
                    "yanked",
                    package,
                    version,
                    f"named by the catalog and yanked on PyPI{reason}",
                )
            )
    metal = releases.get(METAL)
    oldest_paired = min(
        (Version(line.metal) for line in catalog.lines if line.metal),
        default=Version("0"),
    )
    for release in metal.usable() if metal else ():
        if any(
            line.metal_range and line.metal_accepts(release.version)
            for line in catalog.lines
        ):
            continue
        if release.parsed < oldest_paired:
            continue  # a release the catalog's oldest line already moved past: not news
        findings.append(
            RefreshFinding(
                "new-metal",
                METAL,
                release.version,
                (
                    f"uploaded {release.upload_time:%Y-%m-%d}, wheels for Python"
                    f" {', '.join(_arm64_pythons(release)) or 'none'} on osx-arm64; in"
                    " no catalog line's metal_range"
                    if release.upload_time
                    else "in no catalog line's metal_range"
                ),
            )
        )
    lines = {Version(line.tf).release[:2]: line for line in catalog.lines}
    newest_line = max(lines) if lines else (0, 0)
    for package in ARM64_TF_PACKAGES:
        answer = releases.get(package)
        for release in answer.usable() if answer else ():
            pythons = _arm64_pythons(release)
            if not pythons:
                # No macOS arm64 wheel: not something envgen could pin for a Mac.
                continue
            minor = release.parsed.release[:2]
            listed = lines.get(minor)
            when = (
                f"uploaded {release.upload_time:%Y-%m-%d}, "
                if release.upload_time
                else ""
            )
            if (
                listed is not None
                and release.version not in listed.versions
                and package == listed.package
            ):
                findings.append(
                    RefreshFinding(
                        "new-tf-patch",
                        package,
                        release.version,
                        f"{when}arm64 wheels for Python {', '.join(pythons)}; line"
                        f" {listed.tf} lists {', '.join(listed.versions)}",
                    )
                )
            elif listed is None and minor > newest_line:
                findings.append(
                    RefreshFinding(
                        "new-tf-line",
                        package,
                        release.version,
                        f"{when}arm64 wheels for Python {', '.join(pythons)}; no"
                        f" catalog line {minor[0]}.{minor[1]}",
                    )
                )
        findings.extend(_upcoming_lines(package, answer, newest_line))
    newest_python = max(
        (p for line in catalog.lines for p in line.pythons), key=Version, default="3.9"
    )
    inferred = infer_pairs(catalog, releases, python=newest_python)
    warnings = tuple(w for answer in releases.values() for w in answer.warnings)
    order = {
        "yanked": 0,
        "missing": 1,
        "new-metal": 2,
        "new-tf-line": 3,
        "new-tf-patch": 4,
        "pre-release": 5,
    }
    findings.sort(key=lambda f: (order[f.kind], f.package, Version(f.version)))
    return RefreshReport(tuple(findings), inferred, warnings)
