"""The shipped catalog against what PyPI says: recorded answers offline, live PyPI when
reachable.

The recorded answers are tests/fixtures/pypi_client/*.json (made by its record.py,
2026-11-22); wheel-requires.json holds the Requires-Dist of the small alias/stub arm64
wheels of tensorflow and tensorflow-macos (``record.py --wheel-requires``), which tells
which package really carries TensorFlow.
"""

from __future__ import annotations

import json

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from rattler import MatchSpec
from support.pypi_fixtures import RECORDED, recorded_releases

from envgen.catalog import pairs
from envgen.catalog.abirecords import load_abi_records
from envgen.catalog.lines import fact_keys, load_catalog
from envgen.pypi.client import PyPIClient
from envgen.pypi.models import Releases

CATALOG = load_catalog()
LINES = {line.tf: line for line in CATALOG.lines}
REQUIRED_LINES = [f"2.{minor}" for minor in range(5, 22)]
CANDIDATE_PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
APPLE_SILICON = {
    "platform_system": "Darwin",
    "platform_machine": "arm64",
    "sys_platform": "darwin",
}
# a wheel that carries TensorFlow itself is ~190 MB and up; aliases are a few kB
REAL_WHEEL = 50_000_000
PACKAGES = ("tensorflow", "tensorflow-macos", "tensorflow-metal")


RECORDED_RELEASES = recorded_releases(PACKAGES)
WHEEL_REQUIRES = json.loads(
    (RECORDED / "wheel-requires.json").read_text(encoding="utf-8")
)


def _line_of(version: str) -> str:
    parsed = Version(version)
    return f"{parsed.major}.{parsed.minor}"


def _arm64_wheels(release):
    return [
        f
        for f in release.files
        if f.kind == "wheel" and f.supports_platform("osx-arm64") and not f.yanked
    ]


def _apple_silicon_target(package: str, version: str) -> str | None:
    """What an alias wheel installs on Apple Silicon: the package it forwards to (None
    if nothing known)."""
    for text in WHEEL_REQUIRES.get(package, {}).get(version, []):
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(APPLE_SILICON):
            return requirement.name
    return None


def _carries_tensorflow(
    releases: dict[str, Releases], package: str, version: str
) -> bool:
    """Installing package==version on Apple Silicon yields a real TensorFlow (directly
    or through its alias)."""
    release = releases[package].get(version)
    if release is None:
        return False
    if any(f.size and f.size >= REAL_WHEEL for f in _arm64_wheels(release)):
        return True
    target = _apple_silicon_target(package, version)
    if (
        target is None or target == package
    ):  # a stub that requires only itself installs nothing
        return False
    target_release = releases[target].get(version)
    return target_release is not None and any(
        f.size and f.size >= REAL_WHEEL for f in _arm64_wheels(target_release)
    )


def problems_with(line, releases: dict[str, Releases], abi=None) -> list[str]:
    """Every disagreement between one catalog line and PyPI's release facts (and, given
    ``abi``, the recorded symbol checks its inferred pairs and its refusal rest on)."""
    problems: list[str] = []
    metal_releases = releases["tensorflow-metal"]
    plain = releases["tensorflow"]

    def release_of(version: str):
        return releases[pairs.tf_package(line, version)].get(version)

    # versions: exist, not yanked, arm64 wheels that really install TensorFlow; the
    # newest is the default; none missing
    for version in line.versions:
        package = pairs.tf_package(line, version)
        release = release_of(version)
        if release is None:
            problems.append(f"{package} {version} is not on PyPI")
            continue
        if release.yanked:
            problems.append(f"{package} {version} is yanked ({release.yanked_reason})")
        if not _arm64_wheels(release):
            problems.append(f"{package} {version} has no macOS arm64 wheel")
        elif not _carries_tensorflow(releases, package, version):
            problems.append(
                f"{package} {version} installs no TensorFlow on Apple Silicon (an empty"
                " stub)"
            )
        if _line_of(version) != line.tf:
            problems.append(f"{version} is not a {line.tf} release")
    if line.version != max(line.versions, key=Version):
        problems.append(
            f"version {line.version} is not the newest of {list(line.versions)}"
        )
    for name in {line.package, *dict(line.release_packages).values()}:
        for release in releases[name].usable():
            if (
                _line_of(release.version) == line.tf
                and _arm64_wheels(release)
                and release.version not in line.versions
                and _carries_tensorflow(releases, name, release.version)
            ):
                problems.append(
                    f"{name} {release.version} installs on Apple Silicon but is missing"
                    " from versions"
                )

    # the plugin: exists, not yanked, inside its range
    metal = metal_releases.get(line.metal) if line.metal else None
    if line.metal:
        if metal is None:
            problems.append(f"tensorflow-metal {line.metal} is not on PyPI")
        elif metal.yanked:
            problems.append(
                f"tensorflow-metal {line.metal} is yanked ({metal.yanked_reason})"
            )
        if Version(line.metal) not in SpecifierSet(line.metal_range):
            problems.append(
                f"metal {line.metal} outside metal_range {line.metal_range}"
            )

    # Pythons: TensorFlow's own are exactly those with arm64 wheels of every listed
    # release; with the plugin, those the paired plugin release also has; an alternative
    # plugin serves only Pythons both it and TensorFlow have, and that the paired one
    # lacks.
    wanted = set(CANDIDATE_PYTHONS)
    for version in line.versions:
        release = release_of(version)
        if release is not None:
            wanted &= set(release.pythons_for("osx-arm64", CANDIDATE_PYTHONS))
    if set(line.pythons) != wanted:
        problems.append(
            f"pythons {sorted(line.pythons, key=Version)} but wheels exist for"
            f" {sorted(wanted, key=Version)}"
        )
    if metal is not None:
        with_plugin = wanted & set(metal.pythons_for("osx-arm64", CANDIDATE_PYTHONS))
        if set(line.metal_pythons) != with_plugin:
            problems.append(
                f"metal_pythons {sorted(line.metal_pythons, key=Version)} but"
                f" tensorflow-metal {line.metal} and TensorFlow share wheels for"
                f" {sorted(with_plugin, key=Version)}"
            )
    for alternative in line.alternatives:
        other = metal_releases.get(alternative.metal)
        served = (
            set(other.pythons_for("osx-arm64", CANDIDATE_PYTHONS)) if other else set()
        )
        if not set(alternative.pythons) <= (wanted & served) - set(line.metal_pythons):
            problems.append(
                f"alternative {alternative.metal} claims {list(alternative.pythons)},"
                f" but it and TensorFlow share {sorted(wanted & served, key=Version)}"
                " beyond the paired plugin's"
            )
        for version in line.versions if abi is not None else ():
            record = abi.get(
                alternative.metal, pairs.tf_package(line, version), version
            )
            if record is None or not record.compatible:
                problems.append(
                    f"alternative {alternative.metal} + {version} has no passing symbol"
                    " check"
                )
    if abi is not None and "metal" in line.inferred:
        for version in line.versions:
            record = abi.get(line.metal, pairs.tf_package(line, version), version)
            if record is None or not record.compatible:
                problems.append(
                    f"inferred pair {line.metal} + {version} has no passing symbol"
                    " check"
                )
    if abi is not None and not line.metal:
        newest = max(metal_releases.usable(), key=lambda r: r.parsed).version
        record = abi.get(newest, pairs.tf_package(line, line.version), line.version)
        if record is None or record.compatible:
            problems.append(
                f"no plugin, but no failed symbol check of the newest plugin {newest}"
                f" against {line.version}"
            )

    # min macOS: not below any arm64 wheel's tag, nor below Apple's stated minimum for
    # the plugin (12.0)
    tags = [
        f.tags.macos_min
        for version in line.versions
        if release_of(version)
        for f in _arm64_wheels(release_of(version))
        if f.tags and f.tags.macos_min
    ]
    if metal is not None:
        tags += [
            f.tags.macos_min
            for f in _arm64_wheels(metal)
            if f.tags and f.tags.macos_min
        ]
    floor = max([Version("12.0"), *(Version(t) for t in tags)])
    if Version(line.min_macos) < floor:
        problems.append(
            f"min_macos {line.min_macos} is below {floor} (wheel tags / Apple's"
            " minimum)"
        )

    # platforms: osx-64 and linux-64 exactly while plain tensorflow has wheels there for
    # every version and Python
    for platform in ("osx-64", "linux-64"):
        ships = all(
            plain.get(version) is not None
            and plain.get(version).wheels_for(python, platform)
            for version in line.versions
            for python in line.pythons
        )
        if ships != (platform in line.platforms):
            problems.append(
                f"{platform} {'missing from' if ships else 'listed in'} platforms, but"
                f" plain tensorflow {'has' if ships else 'lacks'} wheels for"
                f" {list(line.versions)} on {list(line.pythons)}"
            )
    return problems


# ------------------------------------------------------------------------------ offline


def test_every_line_from_2_5_to_2_21_is_in_the_catalog():
    assert sorted(LINES, key=Version) == sorted(
        set(LINES) | set(REQUIRED_LINES), key=Version
    )
    assert set(REQUIRED_LINES) <= set(LINES)


@pytest.mark.parametrize("tf", REQUIRED_LINES)
def test_line_agrees_with_recorded_pypi(tf):
    assert problems_with(LINES[tf], RECORDED_RELEASES, load_abi_records()) == []


def test_every_final_arm64_release_from_2_5_on_is_a_catalog_release():
    """`envgen new --tf X` works for every TensorFlow release PyPI has for Apple Silicon
    (or the line refuses Metal with its reason): none is left out of the catalog."""
    known = {
        (pairs.tf_package(line, v), v) for line in CATALOG.lines for v in line.versions
    }
    missing = []
    for name in ("tensorflow-macos", "tensorflow"):
        for release in RECORDED_RELEASES[name].usable():
            if release.parsed < Version("2.5") or not _arm64_wheels(release):
                continue
            if not _carries_tensorflow(RECORDED_RELEASES, name, release.version):
                continue  # an empty stub
            versions = {v for _, v in known}
            if release.version not in versions:
                missing.append(f"{name} {release.version}")
    assert missing == []


@pytest.mark.parametrize("tf", REQUIRED_LINES)
def test_package_name_follows_the_rule(tf):
    line = LINES[tf]
    assert line.package == (
        "tensorflow-macos" if Version(tf) <= Version("2.16") else "tensorflow"
    )
    assert line.keras == ("3" if Version(tf) >= Version("2.16") else "2")


@pytest.mark.parametrize("tf", REQUIRED_LINES)
def test_every_fact_has_a_source_and_the_status_matches(tf):
    line = LINES[tf]
    sources = dict(line.sources)
    missing = [fact for fact in fact_keys(line) if not sources.get(fact, "").strip()]
    assert missing == [], f"facts without a source: {missing}"
    assert set(line.inferred) <= set(fact_keys(line))
    assert line.status == ("inferred" if line.inferred else "verified")


@pytest.mark.parametrize("tf", REQUIRED_LINES)
def test_pins_are_valid_and_cover_the_compiled_dependencies(tf):
    line = LINES[tf]
    conda = dict(line.conda)
    assert {"numpy", "h5py", "grpcio"} <= set(conda), (
        "compiled dependencies must come from conda-forge"
    )
    for name, spec in line.conda:
        assert MatchSpec(f"{name} {spec}").name.normalized == name
    caps = dict(line.pip_caps)
    minor = Version(tf).minor
    assert caps.get("tensorboard") == f">={tf},<2.{minor + 1}", (
        "tensorboard is capped to the TF minor"
    )
    if (
        Version("2.6") <= Version(tf) <= Version("2.15")
    ):  # Keras 2 lines: keras follows the TF minor
        assert Version(tf) in SpecifierSet(caps["keras"]) or Version(
            f"{tf}.1"
        ) in SpecifierSet(caps["keras"])
        assert Version(f"2.{minor + 1}") not in SpecifierSet(caps["keras"])
    if "tensorflow-estimator" in caps:
        assert Version(f"2.{minor + 1}") not in SpecifierSet(
            caps["tensorflow-estimator"]
        )
    if Version(tf) <= Version("2.11"):
        assert Version("3.20") not in SpecifierSet(caps["protobuf"]), (
            "old lines break on protobuf >= 3.20"
        )
    if Version(tf) < Version("2.18"):
        assert Version("2.0") not in SpecifierSet(conda["numpy"].replace(" ", "")), (
            "numpy 2 needs TF 2.18"
        )


def test_checker_catches_a_broken_entry():
    """The check is not vacuous: the known traps of this data are each reported."""
    import dataclasses

    line = LINES["2.15"]
    stub = dataclasses.replace(line, release_packages=())
    assert any("empty stub" in p for p in problems_with(stub, RECORDED_RELEASES))
    wrong_python = dataclasses.replace(
        LINES["2.16"], metal_pythons=("3.9", "3.10", "3.11", "3.12")
    )
    assert any(
        "metal_pythons" in p for p in problems_with(wrong_python, RECORDED_RELEASES)
    )
    plugin_limited = dataclasses.replace(LINES["2.17"], pythons=("3.9", "3.10", "3.11"))
    assert any("pythons" in p for p in problems_with(plugin_limited, RECORDED_RELEASES))
    from envgen.catalog.abirecords import AbiRecords

    unchecked = problems_with(LINES["2.19"], RECORDED_RELEASES, AbiRecords())
    assert any("no passing symbol check" in p for p in unchecked)
    no_reason = problems_with(LINES["2.20"], RECORDED_RELEASES, AbiRecords())
    assert any("no failed symbol check" in p for p in no_reason)
    old_macos = dataclasses.replace(LINES["2.18"], min_macos="11.0")
    assert any("min_macos" in p for p in problems_with(old_macos, RECORDED_RELEASES))
    no_intel = dataclasses.replace(
        LINES["2.18"], platforms=("osx-arm64", "osx-64", "linux-64")
    )
    assert any("osx-64 listed" in p for p in problems_with(no_intel, RECORDED_RELEASES))
    missing = dataclasses.replace(
        LINES["2.9"], version="2.9.1", versions=("2.9.0", "2.9.1")
    )
    assert any(
        "2.9.2" in p and "missing from versions" in p
        for p in problems_with(missing, RECORDED_RELEASES)
    )


# ------------------------------------------------------ schema rules the data relies on

NO_PLUGIN_LINE = """schema = 1
[[lines]]
tf = "2.99"
package = "tensorflow"
version = "2.99.0"
metal = ""
metal_range = ""
pythons = ["3.12"]
min_macos = "12.0"
status = "verified"
[lines.sources]
metal = "nobody ships a plugin for it"
"""


def test_a_line_without_a_plugin_refuses_metal_true_and_shows_in_the_matrix():
    from envgen.catalog.lines import parse_catalog
    from envgen.catalog.matrix import catalog_rows
    from envgen.errors import SpecError
    from envgen.generate.plan import make_plan
    from envgen.generate.spec import parse_spec

    catalog = parse_catalog(NO_PLUGIN_LINE)
    spec = parse_spec('[project]\nname = "p"\n[tensorflow]\nversion = "2.99"\n')
    with pytest.raises(SpecError) as refused:
        make_plan(spec, catalog)
    assert (
        "tensorflow.metal is on" in refused.value.message
        and "metal = false" in refused.value.hint
    )
    cpu = make_plan(
        parse_spec(
            '[project]\nname = "p"\n[tensorflow]\nversion = "2.99"\nmetal = false\n'
        ),
        catalog,
    )
    assert cpu.metal_version == "" and cpu.pip_for("osx-arm64") == (
        "tensorflow==2.99.0",
    )
    assert catalog_rows(catalog)[0]["metal"] == ""


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('metal_range = ""', 'metal_range = ">=1.0"'),
            "both be set",
        ),
        (
            lambda t: t.replace('status = "verified"', 'status = "inferred"'),
            "disagrees with inferred",
        ),
        (
            lambda t: t.replace(
                'status = "verified"', 'status = "verified"\ninferred = ["metal"]'
            ),
            "disagrees with inferred",
        ),
        (
            lambda t: t.replace(
                'status = "verified"', 'status = "inferred"\ninferred = ["colour"]'
            ),
            "unknown facts",
        ),
        (lambda t: t.replace('metal = "nobody', 'pairing = "nobody'), "unknown facts"),
    ],
)
def test_catalog_rejects_inconsistent_facts(edit, message):
    from envgen.catalog.lines import parse_catalog
    from envgen.errors import CatalogError

    with pytest.raises(CatalogError, match=message):
        parse_catalog(edit(NO_PLUGIN_LINE))


# --------------------------------------------------------------------------------- live


@pytest.mark.network
def test_catalog_agrees_with_live_pypi(tmp_path):
    """The same checks against PyPI today (a new yank or a vanished wheel shows up here
    first)."""
    client = PyPIClient(cache_dir=tmp_path, refresh=True, timeout=60)
    live = {name: client.releases(name) for name in PACKAGES}
    abi = load_abi_records()
    problems = {tf: problems_with(line, live, abi) for tf, line in LINES.items()}
    assert {tf: p for tf, p in problems.items() if p} == {}
