"""`envgen update`: compare a project's TensorFlow / tensorflow-metal pins with PyPI and
the catalog, and propose a move.

``find_updates`` is pure: a spec-like object, the catalog and PyPI release facts in, an
``UpdateReport`` (``releases.model``) out. It asks ``releases.proposal`` for the newest
catalog pairs, ``releases.inference`` for the plugin releases the catalog does not know,
and says here why every newer release it does not propose was passed over, and what a
move across lines breaks. ``check_for_updates`` is the edge that reads the project and
asks PyPI; ``releases.apply`` writes a proposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from packaging.version import Version

from envgen.catalog import pairs
from envgen.catalog.abirecords import AbiRecords
from envgen.catalog.lines import METAL, Catalog
from envgen.pypi.client import Repository, fetch_all
from envgen.pypi.models import Releases
from envgen.releases.inference import infer_pairs
from envgen.releases.model import (
    Current,
    Pair,
    SpecLike,
    UpdateReport,
    abi_failure,
    current_state,
    with_abi_label,
)
from envgen.releases.proposal import best_catalog_pairs
from envgen.releases.pypifacts import (
    TRACKED_PACKAGES,
    arm64_tf_releases,
    find_release,
    pass_over_reason,
)


def spec_changes(
    spec: SpecLike, catalog: Catalog, pair: Pair
) -> tuple[tuple[str, object], ...]:
    """The envgen.toml values (for ``set_spec_values``) that move a project to a catalog
    pair.

    A spec that names a line ("2.6") keeps naming a line when the pair is that line's
    default release; ``metal = true`` stays true when the pair uses the line's default
    plugin.
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
    """What moving the project from its line to ``pair`` changes under the user's
    code."""
    if pair.line == current.line:
        return ()
    old, new = catalog.line(current.line), catalog.line(pair.line)
    found = [f"TensorFlow {old.tf} -> {new.tf}"]
    if old.keras and new.keras and old.keras != new.keras:
        found.append(
            f"Keras {old.keras} -> {new.keras}: code written for Keras {old.keras} may"
            " need migrating"
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
    """Every TensorFlow and tensorflow-metal release newer than the project's that this
    mode passes over, and why (including lines the catalog does not know yet)."""
    why: list[str] = []
    lines = {line.tf: line for line in catalog.lines}
    chosen = (proposal.tf_version, proposal.metal) if proposal else ("", "")
    for version, release in sorted(
        arm64_tf_releases(releases).items(), key=lambda item: item[1].parsed
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
        reason = pass_over_reason(release, pre, include_yanked)
        if reason:
            why.append(f"{label}: {reason}")
        elif line is None:
            why.append(
                f"{label}: line {minor} is not in envgen's catalog yet "
                "(a maintainer drafts it with `envgen catalog refresh`)"
            )
        elif version not in line.versions:
            why.append(
                f"{label}: not in envgen's catalog yet (line {minor} lists"
                f" {', '.join(line.versions)})"
            )
        elif minor != current.line and not latest:
            why.append(
                f"{label}: another line ({minor}); `envgen update --latest` moves"
                " across lines"
            )
        elif current.metal and not line.metal:
            why.append(f"{label}: {pairs.no_metal_reason(line, abi)}")
        elif (
            proposal is not None
            and Version(minor) > Version(proposal.line)
            and line.status != "verified"
        ):
            why.append(
                f"{label}: line {minor} is inferred in the catalog"
                f" ({', '.join(line.inferred)}); the newest verified pair is proposed"
                " instead"
            )
        elif proposal is not None and release.parsed < Version(proposal.tf_version):
            why.append(f"{label}: older than the proposed {proposal.tf_version}")
    metal = releases.get(METAL)
    if current.metal and metal is not None:
        for release in metal.releases:
            if release.parsed <= Version(current.metal) or release.version == chosen[1]:
                continue
            label = f"{METAL} {release.version}"
            reason = pass_over_reason(release, pre, include_yanked)
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
    """Compare the project's pins with PyPI and the catalog (pure: no files, no
    network).

    By default only the project's own line is considered (patch and plugin updates: what
    a scheduled CI job wants); ``latest`` crosses lines and says what each move breaks.
    ``abi`` holds the recorded symbol checks: they label pairs ABI-checked, or rule them
    out.
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
        release = find_release(releases, package, version)
        if release is not None and release.yanked:
            reason = f" ({release.yanked_reason})" if release.yanked_reason else ""
            warnings.append(
                f"the project's {package} {version} is yanked on PyPI{reason}: move"
                " off it"
            )
    same, any_python = best_catalog_pairs(
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
        pair: abi_failure(abi, pair.metal, pair.tf_package, pair.tf_version)
        for pair in inferred
    }
    skipped += [why for why in failed.values() if why]
    inferred = tuple(with_abi_label(abi, pair) for pair in inferred if not failed[pair])
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


def check_for_updates(
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
    """Load the project's envgen.toml, ask PyPI (three packages, concurrently) and
    compare.

    ``abi_check``: run the symbol check (downloads wheels) on inferred pairs with no
    recorded check, then compare again with those results.
    """
    from envgen.abi import recording
    from envgen.catalog import abipairs, abirecords
    from envgen.catalog.lines import load_catalog
    from envgen.generate.spec import load_spec

    spec = load_spec(Path(project_dir))
    releases = fetch_all(repository, TRACKED_PACKAGES)
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
