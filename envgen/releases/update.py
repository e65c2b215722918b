"""Compare a project's TensorFlow / tensorflow-metal pins with PyPI and the catalog; propose a move.

``find_updates`` is pure: a spec-like object, the catalog and PyPI release facts in, an
``UpdateReport`` out. ``preview_changes`` and ``apply_update`` are the edges that read and write
the project. A pair is *catalog* (the catalog's line says it works: verified, or marked
inferred by the catalog) or *inferred* here (a tensorflow-metal release the catalog does not
know, paired by upload date with the TF line released just before it: evidence, never proof).
Only catalog pairs are applied; an inferred pair is reported so a maintainer can verify it.
A pair with a recorded passing Mach-O symbol check (``envgen.catalog.abirecords``) is labelled
ABI-checked; one with a failing record is never proposed: the plugin would not load.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from packaging.version import Version

from envgen.catalog import pairs
from envgen.catalog.abirecords import AbiRecords
from envgen.catalog.lines import METAL, Catalog, Caveat, Line
from envgen.errors import CatalogError, CheckFailed, EnvgenError, SpecError
from envgen.pypi.client import Repository, fetch_all
from envgen.pypi.models import Release, Releases

TF_PACKAGES = ("tensorflow-macos", "tensorflow")
PACKAGES = (METAL, *TF_PACKAGES)
ARM64 = "osx-arm64"


class SpecLike(Protocol):
    tensorflow: str
    metal: bool | str
    python: str | None
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class Current:
    """What the project uses now."""

    line: str
    tf_package: str
    tf_version: str
    metal: str  # "" when the project runs without Metal
    python: str
    platforms: tuple[str, ...]

    @property
    def key(self) -> tuple[Version, Version]:
        return (Version(self.metal or "0"), Version(self.tf_version))


@dataclass(frozen=True)
class Pair:
    """A TensorFlow release and the tensorflow-metal release to run with it, on one Python."""

    tf_package: str
    tf_version: str
    metal: str
    python: str
    line: str  # the catalog line ("2.18"), or the TF major.minor for an inferred pair
    status: str  # "verified" | "catalog-inferred" (the catalog's own inferred entry) | "inferred" (guessed here)
    evidence: tuple[str, ...] = ()
    wheels: tuple[
        str, ...
    ] = ()  # the wheel files the pair installs on osx-arm64 at this Python
    abi: str = ""  # "checked": envgen's recorded symbol check passed for this plugin and TF release
    caveats: tuple[
        Caveat, ...
    ] = ()  # what a user of this pair must know (catalog.pairs.caveats)
    breaks: tuple[
        str, ...
    ] = ()  # what moving from the project's line to this pair changes under it

    @property
    def key(self) -> tuple[Version, Version]:
        return (Version(self.metal or "0"), Version(self.tf_version))

    @property
    def label(self) -> str:
        metal = f" + {METAL} {self.metal}" if self.metal else ""
        return f"{self.tf_package} {self.tf_version}{metal} (Python {self.python})"


@dataclass(frozen=True)
class UpdateReport:
    """What `envgen update` found: the proposal, the alternatives, and why releases were passed over."""

    current: Current
    proposal: Pair | None  # the move `--apply` makes (a catalog pair)
    python_change: (
        Pair | None
    )  # a newer catalog pair that needs another Python (not the proposal)
    inferred: tuple[
        Pair, ...
    ]  # newer Metal releases the catalog does not know yet (never applied)
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]
    changes: tuple[
        tuple[str, object], ...
    ]  # envgen.toml keys the proposal changes (set_spec_values)
    latest: bool = (
        False  # the mode: False stays in the project's line, True crosses lines
    )
    newer_lines: tuple[
        str, ...
    ] = ()  # catalog lines newer than the project's (in-line mode names them)

    @property
    def update_available(self) -> bool:
        return self.proposal is not None


# --------------------------------------------------------------------------------- pure analysis


def current_state(
    spec: SpecLike, catalog: Catalog, abi: AbiRecords = AbiRecords()
) -> Current:
    """The TF release, Metal release and Python a spec resolves to today (``catalog.pairs`` decides)."""
    try:
        line = catalog.line(spec.tensorflow)
    except CatalogError as error:
        raise SpecError(f"tensorflow.version: {error.message}", error.hint) from None
    tf_version = spec.tensorflow if spec.tensorflow in line.versions else line.version
    choice = pairs.choose(
        line,
        tf_version,
        metal=spec.metal,
        python=spec.python,
        abi=abi,
        catalog=catalog,
    )
    return Current(
        line.tf,
        choice.tf_package,
        tf_version,
        choice.metal,
        choice.python,
        tuple(spec.platforms),
    )


def _tf_release(
    releases: Mapping[str, Releases], package: str, version: str
) -> Release | None:
    known = releases.get(package)
    return known.get(version) if known is not None else None


def _filter(release: Release, pre: bool, include_yanked: bool) -> str:
    """Why a release is passed over ('' when it is not)."""
    if release.yanked and not include_yanked:
        reason = f": {release.yanked_reason}" if release.yanked_reason else ""
        return f"yanked{reason}"
    if release.is_prerelease and not pre:
        return "a pre-release"
    if not release.files:
        return "has no files"
    return ""


def _pythons_in_order(current: str, pythons: tuple[str, ...]) -> list[str]:
    """Try the project's Python first, then newer ones (closest first), then older ones."""
    ordered = sorted(pythons, key=Version)
    newer = [p for p in ordered if Version(p) > Version(current)]
    older = [p for p in reversed(ordered) if Version(p) < Version(current)]
    return ([current] if current in pythons else []) + newer + older


def _abi_failure(abi: AbiRecords, metal: str, package: str, version: str) -> str:
    """Why a pair is never proposed ('' unless its recorded symbol check failed)."""
    record = abi.get(metal, package, version)
    if record is None or record.compatible:
        return ""
    return f"{METAL} {metal} + {package} {version}: never proposed, the plugin fails to load: {record.why_incompatible()}"


def _abi_label(abi: AbiRecords, pair: Pair) -> Pair:
    record = (
        abi.get(pair.metal, pair.tf_package, pair.tf_version) if pair.metal else None
    )
    return (
        replace(pair, abi="checked")
        if record is not None and record.compatible
        else pair
    )


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
    """The newest TF release of a line and Metal release in its range that install on this Python."""
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
            release = _tf_release(releases, package, version)
            if release is None:
                skipped.append(f"{package} {version}: not on PyPI")
                break
            why = _filter(release, pre, include_yanked)
            if why:
                skipped.append(f"{package} {version}: {why}")
                break
            found = release.wheels_for(python, platform, include_yanked=include_yanked)
            if not found:
                skipped.append(
                    f"{package} {version}: no {platform} wheel for Python {python}"
                )
                break
            if platform == ARM64:
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
            why = _filter(release, pre, include_yanked)
            if why:
                skipped.append(f"{METAL} {release.version}: {why}")
                continue
            found = release.wheels_for(python, ARM64, include_yanked=include_yanked)
            if not found:
                skipped.append(
                    f"{METAL} {release.version}: no osx-arm64 wheel for Python {python}"
                )
                continue
            why = _abi_failure(
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
        f"catalog line {line.tf} ({line.status}), {METAL} range {line.metal_range or 'none'}"
    ]
    if metal and pairs.metal_status(line, metal, python) == "inferred":
        status = "catalog-inferred"
        evidence.append(
            f"{METAL} {metal} on Python {python} is the line's inferred alternative "
            f"(its own plugin has no Python {python} wheel)"
        )
    return _abi_label(
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


def _best_catalog_pairs(
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
    """(newest pair on the project's Python, newest pair on any Python the line supports)."""
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
        line_pythons = pairs.pythons(line, bool(current.metal))
        if current.python in line_pythons:
            pair = _catalog_pair(
                line,
                current.python,
                current,
                releases,
                pre=pre,
                include_yanked=include_yanked,
                skipped=skipped,
                abi=abi,
            )
            if pair is not None:
                same.append(pair)
                continue
        for python in _pythons_in_order(current.python, line_pythons):
            if python == current.python:
                continue
            quiet: list[str] = []
            pair = _catalog_pair(
                line,
                python,
                current,
                releases,
                pre=pre,
                include_yanked=include_yanked,
                skipped=quiet,
                abi=abi,
            )
            if pair is not None:
                other.append(pair)
                break

    def best(pairs: list[Pair]) -> Pair | None:
        newer = [p for p in pairs if p.key > current.key]
        if not newer:
            return None
        verified = [p for p in newer if p.status == "verified"]
        return max(verified or newer, key=lambda p: p.key)

    return best(same), best(same + other)


def _tf_lines_by_first_upload(
    releases: Mapping[str, Releases], python_candidates: tuple[str, ...]
) -> list[tuple[Release, str]]:
    """Final TF releases with a macOS arm64 wheel, per package (tensorflow-macos up to 2.16, tensorflow after)."""
    found = []
    for package in TF_PACKAGES:
        known = releases.get(package)
        for release in known.releases if known else ():
            if release.yanked or release.is_prerelease or release.upload_time is None:
                continue
            if release.pythons_for(ARM64, python_candidates):
                found.append((release, package))
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
    """Metal releases newer than any the catalog knows, each paired with the TF line released just before it.

    ``python`` is the Python the pair should preferably run on (the project's).
    """
    skipped = skipped if skipped is not None else []
    metal_releases = releases.get(METAL)
    if metal_releases is None:
        return ()
    known = [Version(line.metal) for line in catalog.lines if line.metal]
    newest_known = max(known) if known else Version("0")
    pythons = tuple(f"3.{minor}" for minor in range(8, 16))
    tf_releases = _tf_lines_by_first_upload(releases, pythons)
    found: list[Pair] = []
    for release in metal_releases.releases:
        if release.parsed <= newest_known or any(
            line.metal_accepts(release.version)
            for line in catalog.lines
            if line.metal_range
        ):
            continue
        why = _filter(release, pre, include_yanked)
        if why:
            skipped.append(f"{METAL} {release.version}: {why}")
            continue
        uploaded = release.upload_time
        if uploaded is None:
            continue
        # The TF line whose first release came out last before this plugin release...
        firsts: dict[tuple[int, int], tuple[Release, str]] = {}
        for tf, package in tf_releases:
            if tf.upload_time is None or tf.upload_time > uploaded:
                continue
            minor = tf.parsed.release[:2]
            if minor not in firsts or tf.upload_time < firsts[minor][0].upload_time:  # type: ignore[operator]
                firsts[minor] = (tf, package)
        if not firsts:
            skipped.append(
                f"{METAL} {release.version}: no TensorFlow release uploaded before it"
            )
            continue
        minor, (_first, _) = max(
            firsts.items(), key=lambda item: item[1][0].upload_time
        )  # type: ignore[arg-type,return-value]
        # ...and that line's newest patch uploaded before it (package: tensorflow from 2.17 on).
        patches = [
            (tf, package)
            for tf, package in tf_releases
            if tf.parsed.release[:2] == minor
            and tf.upload_time is not None
            and tf.upload_time <= uploaded
        ]
        prefer = pairs.preferred_package(minor)
        tf, package = max(patches, key=lambda item: (item[0].parsed, item[1] == prefer))
        metal_pythons = release.pythons_for(ARM64, pythons)
        tf_pythons = tf.pythons_for(ARM64, pythons)
        common = [p for p in metal_pythons if p in tf_pythons]
        chosen = python if python in common else (common[-1] if common else python)
        days = (uploaded - tf.upload_time).total_seconds() / 86400  # type: ignore[operator]
        metal_wheel = next(iter(release.wheels_for(chosen, ARM64)), None)
        tf_wheel = next(iter(tf.wheels_for(chosen, ARM64)), None)
        evidence = (
            f"{METAL} {release.version} uploaded {uploaded:%Y-%m-%d}; {package} {tf.version} uploaded {tf.upload_time:%Y-%m-%d} "
            f"({days:.0f} days before); TF {minor[0]}.{minor[1]} is the newest line released before it",
            f"{METAL} {release.version} wheels: Python {', '.join(metal_pythons) or 'none'} on osx-arm64"
            + (
                f" ({metal_wheel.tags.tag_text})"
                if metal_wheel and metal_wheel.tags
                else ""
            ),
            f"{package} {tf.version} wheels: Python {', '.join(tf_pythons) or 'none'} on osx-arm64"
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


def spec_changes(
    spec: SpecLike, catalog: Catalog, pair: Pair
) -> tuple[tuple[str, object], ...]:
    """The envgen.toml values (for ``set_spec_values``) that move a project to a catalog pair.

    A spec that names a line ("2.6") keeps naming a line when the pair is that line's default
    release; ``metal = true`` stays true when the pair uses the line's default plugin.
    """
    line = catalog.line(pair.line)
    exact = spec.tensorflow in catalog.line(spec.tensorflow).versions
    changes: list[tuple[str, object]] = []
    tensorflow = (
        line.tf if (not exact and pair.tf_version == line.version) else pair.tf_version
    )
    if tensorflow != spec.tensorflow:
        changes.append(("tensorflow", tensorflow))
    if pair.metal:
        option = pairs.metal_for_python(line, pair.python)
        chosen = option.metal if option is not None else line.metal
        metal: bool | str = (
            True if (spec.metal is True and pair.metal == chosen) else pair.metal
        )
        if metal != spec.metal:
            changes.append(("metal", metal))
    if spec.python is None:
        if pair.python != pairs.default_python(
            line, bool(pair.metal)
        ):  # the new line's default would silently change the Python
            changes.append(("python", pair.python))
    elif pair.python != spec.python:
        changes.append(("python", pair.python))
    return tuple(changes)


def what_breaks(current: Current, pair: Pair, catalog: Catalog) -> tuple[str, ...]:
    """What moving the project from its line to ``pair`` changes under the user's code."""
    if pair.line == current.line:
        return ()
    old, new = catalog.line(current.line), catalog.line(pair.line)
    found = [f"TensorFlow {old.tf} -> {new.tf}"]
    if old.keras and new.keras and old.keras != new.keras:
        found.append(
            f"Keras {old.keras} -> {new.keras}: code written for Keras {old.keras} may need migrating"
        )
    if pair.python != current.python:
        found.append(
            f"Python {current.python} -> {pair.python}: the environment is rebuilt"
        )
    if pair.tf_package != current.tf_package:
        found.append(
            f"the TensorFlow package changes: {current.tf_package} -> {pair.tf_package}"
        )
    for line in catalog.lines:
        if Version(old.tf) < Version(line.tf) <= Version(new.tf):
            for name in line.dropped:
                found.append(f"{name} is no longer installed (TF {line.tf} dropped it)")
    return tuple(found)


def _arm64_versions(releases: Mapping[str, Releases]) -> dict[str, Release]:
    """Every TF release with a macOS arm64 wheel, by version (either package)."""
    found: dict[str, Release] = {}
    for package in TF_PACKAGES:
        known = releases.get(package)
        for release in known.releases if known else ():
            if any(
                f.supports_platform(ARM64) for f in release.files if f.kind == "wheel"
            ):
                found.setdefault(release.version, release)
    return found


def passed_over(
    current: Current,
    catalog: Catalog,
    releases: Mapping[str, Releases],
    *,
    latest: bool,
    proposal: Pair | None,
    pre: bool = False,
    include_yanked: bool = False,
    abi: AbiRecords = AbiRecords(),
) -> list[str]:
    """Every TensorFlow and tensorflow-metal release newer than the project's that this mode
    passes over, and why (including lines the catalog does not know yet)."""
    why: list[str] = []
    lines = {line.tf: line for line in catalog.lines}
    chosen = (proposal.tf_version, proposal.metal) if proposal else ("", "")
    for version, release in sorted(
        _arm64_versions(releases).items(), key=lambda item: item[1].parsed
    ):
        if release.parsed <= Version(current.tf_version) or version == chosen[0]:
            continue
        minor = f"{release.parsed.major}.{release.parsed.minor}"
        line = lines.get(minor)
        package = (
            pairs.tf_package(line, version)
            if line is not None and version in line.versions
            else pairs.preferred_package(release.parsed.release)
        )
        label = f"{package} {version}"
        reason = _filter(release, pre, include_yanked)
        if reason:
            why.append(f"{label}: {reason}")
        elif line is None:
            why.append(
                f"{label}: line {minor} is not in envgen's catalog yet "
                "(a maintainer drafts it with `envgen catalog refresh`)"
            )
        elif version not in line.versions:
            why.append(
                f"{label}: not in envgen's catalog yet (line {minor} lists {', '.join(line.versions)})"
            )
        elif minor != current.line and not latest:
            why.append(
                f"{label}: another line ({minor}); `envgen update --latest` moves across lines"
            )
        elif current.metal and not line.metal:
            why.append(f"{label}: {pairs.no_metal_reason(line, abi)}")
        elif (
            proposal is not None
            and Version(minor) > Version(proposal.line)
            and line.status != "verified"
        ):
            why.append(
                f"{label}: line {minor} is inferred in the catalog "
                f"({', '.join(line.inferred)}); the newest verified pair is proposed instead"
            )
        elif proposal is not None and release.parsed < Version(proposal.tf_version):
            why.append(f"{label}: older than the proposed {proposal.tf_version}")
    metal = releases.get(METAL)
    if current.metal and metal is not None:
        for release in metal.releases:
            if release.parsed <= Version(current.metal) or release.version == chosen[1]:
                continue
            label = f"{METAL} {release.version}"
            reason = _filter(release, pre, include_yanked)
            owners = [
                line.tf
                for line in catalog.lines
                if any(o.takes(release.version) for o in pairs.metal_options(line))
            ]
            if reason:
                why.append(f"{label}: {reason}")
            elif not owners:
                why.append(
                    f"{label}: in no catalog line's range (see the inferred pairs)"
                )
            elif current.line not in owners and not latest:
                why.append(
                    f"{label}: pairs with another line ({', '.join(owners)}); "
                    "`envgen update --latest` moves across lines"
                )
    return why


def find_updates(
    spec: SpecLike,
    catalog: Catalog,
    releases: Mapping[str, Releases],
    *,
    latest: bool = False,
    pre: bool = False,
    include_yanked: bool = False,
    allow_python_change: bool = False,
    abi: AbiRecords = AbiRecords(),
) -> UpdateReport:
    """Compare the project's pins with PyPI and the catalog (pure: no files, no network).

    By default only the project's own line is considered (patch and plugin updates: what a
    scheduled CI job wants); ``latest`` crosses lines and says what each move breaks.
    ``abi`` holds the recorded symbol checks: they label pairs ABI-checked, or rule them out.
    """
    current = current_state(spec, catalog, abi)
    skipped: list[str] = []
    warnings: list[str] = [w for r in releases.values() for w in r.warnings]
    for package, version in (
        (current.tf_package, current.tf_version),
        (METAL, current.metal),
    ):
        if not version:
            continue
        release = _tf_release(releases, package, version)
        if release is not None and release.yanked:
            reason = f" ({release.yanked_reason})" if release.yanked_reason else ""
            warnings.append(
                f"the project's {package} {version} is yanked on PyPI{reason}: move off it"
            )
    same, any_python = _best_catalog_pairs(
        current,
        catalog,
        releases,
        within_line=not latest,
        pre=pre,
        include_yanked=include_yanked,
        skipped=skipped,
        abi=abi,
    )
    python_change = (
        any_python
        if any_python is not None
        and any_python.python != current.python
        and (same is None or any_python.key > same.key)
        else None
    )
    proposal = same
    if allow_python_change and python_change is not None:
        proposal, python_change = python_change, None
    if proposal is not None:
        proposal = replace(proposal, breaks=what_breaks(current, proposal, catalog))
    if python_change is not None:
        python_change = replace(
            python_change, breaks=what_breaks(current, python_change, catalog)
        )
    inferred = (
        ()
        if not latest or not current.metal
        else infer_pairs(
            catalog,
            releases,
            python=current.python,
            pre=pre,
            include_yanked=include_yanked,
            skipped=skipped,
        )
    )
    failed = {
        pair: _abi_failure(abi, pair.metal, pair.tf_package, pair.tf_version)
        for pair in inferred
    }
    skipped += [why for why in failed.values() if why]
    inferred = tuple(_abi_label(abi, pair) for pair in inferred if not failed[pair])
    skipped += passed_over(
        current,
        catalog,
        releases,
        latest=latest,
        proposal=proposal,
        pre=pre,
        include_yanked=include_yanked,
        abi=abi,
    )
    changes = spec_changes(spec, catalog, proposal) if proposal is not None else ()
    newer = tuple(
        line.tf for line in catalog.lines if Version(line.tf) > Version(current.line)
    )
    return UpdateReport(
        current,
        proposal,
        python_change,
        inferred,
        tuple(dict.fromkeys(skipped)),
        tuple(warnings),
        changes,
        latest=latest,
        newer_lines=newer,
    )


# --------------------------------------------------------------------------- project edges


def check_project(
    project_dir: Path,
    repository: Repository,
    *,
    latest: bool = False,
    pre: bool = False,
    include_yanked: bool = False,
    allow_python_change: bool = False,
    abi_check: bool = False,
    progress=None,
) -> tuple[UpdateReport, dict[str, Releases]]:
    """Load the project's envgen.toml, ask PyPI (three packages, concurrently) and compare.

    ``abi_check``: run the symbol check (downloads wheels) on inferred pairs with no recorded
    check, then compare again with those results.
    """
    from envgen.abi import recording
    from envgen.catalog import abipairs, abirecords
    from envgen.catalog.lines import load_catalog
    from envgen.generate.spec import load_spec

    spec = load_spec(Path(project_dir))
    releases = fetch_all(repository, PACKAGES)
    catalog, abi = load_catalog(), abirecords.load_abi_records()
    options = dict(
        latest=latest,
        pre=pre,
        include_yanked=include_yanked,
        allow_python_change=allow_python_change,
    )
    report = find_updates(spec, catalog, releases, abi=abi, **options)
    unchecked = [
        abipairs.PairToCheck(p.metal, p.tf_package, p.tf_version, "inferred")
        for p in report.inferred
        if abi.get(p.metal, p.tf_package, p.tf_version) is None
    ]
    if abi_check and unchecked:
        fresh = recording.run_checks(
            unchecked,
            recording.pair_checker(repository, releases, progress=progress),
            progress=progress,
        )
        report = find_updates(
            spec, catalog, releases, abi=abi.updated(fresh), **options
        )
    return report, releases


@dataclass(frozen=True)
class Preview:
    """The proposed file contents and their diffs (envgen.toml, environment.yml)."""

    spec_text: str
    new_spec_text: str
    diffs: tuple[tuple[str, str], ...]  # (file name, unified diff)


def _pin_diff(name: str, old: str, new: str) -> str:
    def pins(text: str) -> list[str]:
        return [
            line
            for line in text.splitlines(keepends=True)
            if not line.startswith("# envgen-hash:")
        ]

    return "".join(
        difflib.unified_diff(
            pins(old), pins(new), f"{name} (now)", f"{name} (proposed)", n=0
        )
    )


def preview_changes(project_dir: Path, report: UpdateReport) -> Preview:
    """Render what the proposal would write, without writing anything."""
    from envgen.catalog.lines import load_catalog
    from envgen.generate.plan import make_plan
    from envgen.generate.render import render_files
    from envgen.generate.spec import parse_spec, set_spec_values
    from envgen.names import SPEC_FILE

    project_dir = Path(project_dir)
    text = (project_dir / SPEC_FILE).read_text(encoding="utf-8")
    if not report.changes:
        return Preview(text, text, ())
    new_text = set_spec_values(text, **dict(report.changes))
    diffs = [(SPEC_FILE, _pin_diff(SPEC_FILE, text, new_text))]
    plan = make_plan(parse_spec(new_text), load_catalog())
    rendered = {item.path: item.content for item in render_files(plan)}
    env_path = project_dir / "environment.yml"
    if "environment.yml" in rendered:
        old_env = env_path.read_text(encoding="utf-8") if env_path.exists() else ""
        diffs.append(
            (
                "environment.yml",
                _pin_diff("environment.yml", old_env, rendered["environment.yml"]),
            )
        )
    return Preview(text, new_text, tuple((name, diff) for name, diff in diffs if diff))


@dataclass(frozen=True)
class ApplyResult:
    written: tuple[str, ...]
    locked: bool
    lock_note: str


def apply_update(
    project_dir: Path,
    report: UpdateReport,
    *,
    lock: bool = True,
    channel: str | None = None,
    pypi_index: str | None = None,
) -> ApplyResult:
    """Write the proposal into envgen.toml, re-render the managed files and re-lock.

    If re-rendering refuses (a managed file edited by hand), envgen.toml is put back as it was.
    """
    from envgen.atomic import atomic_write
    from envgen.generate.project import generate_project
    from envgen.names import SPEC_FILE

    if report.proposal is None:
        raise CheckFailed(
            "no update to apply: the project is on the newest pair it can use",
            "nothing to do",
        )
    preview = preview_changes(project_dir, report)
    spec_path = Path(project_dir) / SPEC_FILE
    atomic_write(spec_path, preview.new_spec_text)
    try:
        _, result = generate_project(Path(project_dir))
    except BaseException:
        atomic_write(spec_path, preview.spec_text)
        raise
    written = (SPEC_FILE, *result.written)
    if not lock:
        return ApplyResult(
            written, False, "not re-locked (--no-lock): run `envgen lock`"
        )
    from envgen.lock.run import LockRequest, lock_project

    try:
        lock_project(
            LockRequest(Path(project_dir), channel=channel, pypi_index=pypi_index)
        )
    except (
        EnvgenError
    ) as error:  # the update itself is written: say so, and how to finish
        raise EnvgenError(
            f"wrote {', '.join(written)} but could not re-lock: {error.message}",
            error.hint or "fix the cause, then run `envgen lock`",
            exit_code=error.exit_code,
        ) from None
    return ApplyResult(written, True, "conda-lock.yml re-locked")
