"""`envgen update`'s core: which pair a project should move to, from recorded PyPI
facts."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from support.pypi_fixtures import (
    TEST_CATALOG_TEXT,
    add_release,
    drop_wheels,
    make_test_catalog,
    recorded,
    yank,
)

from envgen.catalog.lines import parse_catalog
from envgen.generate.spec import ProjectSpec
from envgen.pypi.answers import parse_json_api
from envgen.pypi.models import Releases
from envgen.releases.update import find_updates, spec_changes


def facts(**overrides: dict) -> dict[str, Releases]:
    """Parsed PyPI answers: the recorded ones, with some packages' documents
    replaced."""
    result = {}
    for name in ("tensorflow-metal", "tensorflow-macos", "tensorflow"):
        document = overrides.get(name.replace("-", "_")) or recorded(name)
        releases = parse_json_api(name, json.dumps(document).encode())
        result[name] = Releases(name, releases, "network", datetime.now(timezone.utc))
    return result


def spec(
    tensorflow="2.6", metal=True, python="3.9", platforms=("osx-arm64",)
) -> ProjectSpec:
    return ProjectSpec(
        name="demo",
        tensorflow=tensorflow,
        metal=metal,
        python=python,
        platforms=platforms,
    )


def test_tf26_project_moves_to_the_newest_verified_pair_its_python_allows():
    report = find_updates(spec(), make_test_catalog(), facts(), latest=True)
    pair = report.proposal
    assert (pair.tf_package, pair.tf_version, pair.metal, pair.python, pair.status) == (
        "tensorflow",
        "2.18.0",
        "1.2.0",
        "3.9",
        "verified",
    )
    assert pair.wheels == (
        "tensorflow-2.18.0-cp39-cp39-macosx_12_0_arm64.whl",
        "tensorflow_metal-1.2.0-cp39-cp39-macosx_12_0_arm64.whl",
    )
    assert report.python_change is None and report.update_available
    assert report.changes == (
        ("tensorflow", "2.18"),
    )  # the line form stays a line; metal = true stays true


def test_release_without_arm64_wheel_for_the_projects_python_is_passed_over_and_python_change_proposed():
    no_cp39 = drop_wheels(recorded("tensorflow"), "2.18.0", "cp39-cp39-macosx")
    report = find_updates(
        spec(), make_test_catalog(), facts(tensorflow=no_cp39), latest=True
    )
    assert "tensorflow 2.18.0: no osx-arm64 wheel for Python 3.9" in report.skipped
    assert (
        report.proposal.tf_version,
        report.proposal.metal,
        report.proposal.python,
    ) == ("2.9.2", "0.5.1", "3.9")
    assert (report.python_change.tf_version, report.python_change.python) == (
        "2.18.0",
        "3.10",
    )
    assert dict(report.changes) == {"tensorflow": "2.9.2", "metal": "0.5.1"}
    moved = find_updates(
        spec(),
        make_test_catalog(),
        facts(tensorflow=no_cp39),
        allow_python_change=True,
        latest=True,
    )
    assert moved.proposal.python == "3.10" and moved.python_change is None
    assert dict(moved.changes) == {"tensorflow": "2.18", "python": "3.10"}


def test_yanked_plugin_release_is_skipped_unless_asked_for():
    yanked = yank(recorded("tensorflow-metal"), "1.2.0", "crashes in fit()")
    report = find_updates(
        spec(), make_test_catalog(), facts(tensorflow_metal=yanked), latest=True
    )
    assert "tensorflow-metal 1.2.0: yanked: crashes in fit()" in report.skipped
    assert (report.proposal.tf_version, report.proposal.metal) == ("2.9.2", "0.5.1")
    with_yanked = find_updates(
        spec(),
        make_test_catalog(),
        facts(tensorflow_metal=yanked),
        include_yanked=True,
        latest=True,
    )
    assert with_yanked.proposal.metal == "1.2.0"


def test_project_on_a_yanked_release_is_warned():
    yanked = yank(recorded("tensorflow-metal"), "0.2.0", "broken")
    report = find_updates(spec(), make_test_catalog(), facts(tensorflow_metal=yanked))
    assert any(
        "tensorflow-metal 0.2.0 is yanked on PyPI (broken)" in w
        for w in report.warnings
    )


def test_new_metal_release_outside_the_catalog_is_an_inferred_pair_with_evidence():
    metal = add_release(
        recorded("tensorflow-metal"),
        "1.3.0",
        like="1.2.0",
        uploaded="2025-08-20T12:00:00.000000Z",
    )
    report = find_updates(
        spec(), make_test_catalog(), facts(tensorflow_metal=metal), latest=True
    )
    assert report.proposal.metal == "1.2.0"  # the verified pair stays the proposal
    (inferred,) = report.inferred
    assert inferred.status == "inferred" and inferred.metal == "1.3.0"
    # TF 2.20.0 was uploaded 2025-08-13, the newest line released before 2025-08-20.
    assert (inferred.tf_package, inferred.tf_version, inferred.line) == (
        "tensorflow",
        "2.20.0",
        "2.20",
    )
    assert (
        "tensorflow 2.20.0 uploaded 2025-08-13 (7 days before)" in inferred.evidence[0]
    )
    assert "cp39 macosx 12.0 arm64" in inferred.evidence[1]
    assert inferred.evidence[-1] == "usable with Python 3.9: yes"


def test_pre_releases_are_skipped_unless_asked_for():
    metal = add_release(
        recorded("tensorflow-metal"),
        "1.2.1rc1",
        like="1.2.0",
        uploaded="2025-03-01T00:00:00Z",
    )
    report = find_updates(
        spec(), make_test_catalog(), facts(tensorflow_metal=metal), latest=True
    )
    assert (
        report.proposal.metal == "1.2.0"
        and "tensorflow-metal 1.2.1rc1: a pre-release" in report.skipped
    )
    assert (
        find_updates(
            spec(),
            make_test_catalog(),
            facts(tensorflow_metal=metal),
            pre=True,
            latest=True,
        ).proposal.metal
        == "1.2.1rc1"
    )


def test_by_default_update_stays_in_the_projects_line():
    """Patch and plugin updates of the project's own line: what a scheduled CI job
    wants."""
    report = find_updates(spec("2.9.0", "0.5.0"), make_test_catalog(), facts())
    assert (
        report.proposal.tf_version,
        report.proposal.metal,
        report.proposal.line,
    ) == ("2.9.2", "0.5.1", "2.9")
    assert dict(report.changes) == {"tensorflow": "2.9.2", "metal": "0.5.1"}
    assert report.inferred == () and report.proposal.breaks == ()
    on_26 = find_updates(spec(), make_test_catalog(), facts())
    assert on_26.proposal is None and not on_26.update_available
    assert on_26.newer_lines == ("2.9", "2.18")
    assert (
        "tensorflow 2.18.0: another line (2.18); `envgen update --latest` moves across"
        " lines" in on_26.skipped
    )


def test_up_to_date_project_has_no_proposal():
    report = find_updates(spec("2.18", python="3.12"), make_test_catalog(), facts())
    assert (
        report.proposal is None and not report.update_available and report.changes == ()
    )


def test_extra_platforms_need_plain_tensorflow_wheels_too():
    catalog = parse_catalog(
        TEST_CATALOG_TEXT.replace(
            'pythons = ["3.8", "3.9"]',
            'pythons = ["3.8", "3.9"]\nplatforms = ["osx-arm64", "linux-64"]',
            1,
        )
    )
    # The test catalog's 2.9 and 2.18 lines do not list linux-64: nothing to move to.
    report = find_updates(
        spec(platforms=("osx-arm64", "linux-64")), catalog, facts(), latest=True
    )
    assert report.proposal is None
    assert "TF 2.18: no wheels for linux-64 in the catalog" in report.skipped


def test_cpu_only_project_follows_tensorflow_alone():
    report = find_updates(spec(metal=False), make_test_catalog(), facts(), latest=True)
    assert (report.proposal.tf_version, report.proposal.metal) == ("2.18.0", "")
    assert report.inferred == ()


def test_python_omitted_in_spec_is_written_when_the_new_lines_default_differs():
    report = find_updates(spec(python=None), make_test_catalog(), facts(), latest=True)
    assert report.proposal.python == "3.9"
    assert dict(report.changes) == {
        "tensorflow": "2.18",
        "python": "3.9",
    }  # 2.18 alone would mean Python 3.12


def test_exact_pins_stay_exact():
    pair = find_updates(
        spec("2.6.0", "0.2.0"), make_test_catalog(), facts(), latest=True
    ).proposal
    assert dict(spec_changes(spec("2.6.0", "0.2.0"), make_test_catalog(), pair)) == {
        "tensorflow": "2.18.0",
        "metal": "1.2.0",
    }


def test_unknown_line_in_spec_names_the_key():
    from envgen.errors import SpecError

    with pytest.raises(SpecError, match=r"tensorflow\.version"):
        find_updates(spec("2.99"), make_test_catalog(), facts())


# ------------------------------------------------------------------ recorded Mach-O
# symbol checks


def test_a_pair_whose_symbol_check_passed_is_labelled_abi_checked():
    from support.abi_fixtures import abi_record, records

    plain = find_updates(spec(), make_test_catalog(), facts(), latest=True)
    assert plain.proposal.abi == ""  # no record: no label
    checked = find_updates(
        spec(),
        make_test_catalog(),
        facts(),
        abi=records(abi_record("1.2.0", "tensorflow", "2.18.0")),
        latest=True,
    )
    assert (
        checked.proposal.tf_version,
        checked.proposal.metal,
        checked.proposal.abi,
    ) == ("2.18.0", "1.2.0", "checked")


def test_an_inferred_pair_whose_symbol_check_failed_is_never_proposed():
    from support.abi_fixtures import LOG_MESSAGE, abi_record, records

    metal = add_release(
        recorded("tensorflow-metal"),
        "1.3.0",
        like="1.2.0",
        uploaded="2025-08-20T12:00:00.000000Z",
    )
    failed = records(
        abi_record("1.3.0", "tensorflow", "2.20.0", missing=(LOG_MESSAGE,))
    )
    report = find_updates(
        spec(),
        make_test_catalog(),
        facts(tensorflow_metal=metal),
        abi=failed,
        latest=True,
    )
    assert report.inferred == ()
    (why,) = [
        item
        for item in report.skipped
        if item.startswith("tensorflow-metal 1.3.0 + tensorflow 2.20.0")
    ]
    assert (
        "never proposed, the plugin fails to load: Symbol not found (1 of 160)" in why
        and f"readable {LOG_MESSAGE}" in why
    )
    passed = find_updates(
        spec(),
        make_test_catalog(),
        facts(tensorflow_metal=metal),
        abi=records(abi_record("1.3.0", "tensorflow", "2.20.0")),
        latest=True,
    )
    assert [(p.metal, p.status, p.abi) for p in passed.inferred] == [
        ("1.3.0", "inferred", "checked")
    ]


def test_a_catalog_pair_whose_symbol_check_failed_is_passed_over_for_the_next_one():
    from support.abi_fixtures import LOG_MESSAGE, abi_record, records

    failed = records(
        abi_record("1.2.0", "tensorflow", "2.18.0", missing=(LOG_MESSAGE,))
    )
    report = find_updates(spec(), make_test_catalog(), facts(), abi=failed, latest=True)
    assert (report.proposal.tf_version, report.proposal.metal) == ("2.9.2", "0.5.1")
    assert any(
        item.startswith("tensorflow-metal 1.2.0 + tensorflow 2.18.0: never proposed")
        for item in report.skipped
    )


# ------------------------------------------------------------- the shipped catalog,
# recorded PyPI


def shipped():
    from envgen.catalog.abirecords import load_abi_records
    from envgen.catalog.lines import load_catalog

    return load_catalog(), load_abi_records()


def test_a_212_project_is_up_to_date_in_line_and_latest_lists_what_breaks():
    """The scheduled-CI case of the issue: 2.12 stays green by default; --latest says
    what moving to the newest verified pair (2.18) breaks."""
    catalog, abi = shipped()
    project = spec("2.12", python="3.10")
    in_line = find_updates(project, catalog, facts(), abi=abi)
    assert in_line.proposal is None and not in_line.update_available
    assert in_line.newer_lines[-1] == "2.21"
    latest = find_updates(project, catalog, facts(), abi=abi, latest=True)
    pair = latest.proposal
    assert (pair.tf_package, pair.tf_version, pair.metal, pair.python) == (
        "tensorflow",
        "2.18.1",
        "1.2.0",
        "3.10",
    )
    assert pair.breaks == (
        "TensorFlow 2.12 -> 2.18",
        "Keras 2 -> 3: code written for Keras 2 may need migrating",
        "the TensorFlow package changes: tensorflow-macos -> tensorflow",
        "tensorflow-estimator is no longer installed (TF 2.16 dropped it)",
    )
    # 2.19 is newer but only inferred: the newest verified pair is proposed, and -v says
    # why.
    assert any(
        item.startswith("tensorflow 2.19.1: line 2.19 is inferred in the catalog")
        for item in latest.skipped
    )
    # 2.20 and 2.21: no plugin loads, named with the recorded check.
    assert any(
        item.startswith(
            "TF 2.20: no tensorflow-metal release loads into TensorFlow 2.20"
        )
        and "_TF_AssignUpdateVariable" in item
        for item in latest.skipped
    )


def test_latest_names_a_python_change():
    catalog, abi = shipped()
    report = find_updates(
        spec("2.12", python="3.8"),
        catalog,
        facts(),
        abi=abi,
        latest=True,
        allow_python_change=True,
    )
    assert report.proposal.python == "3.9"
    assert "Python 3.8 -> 3.9: the environment is rebuilt" in report.proposal.breaks


def test_verbose_lists_releases_of_lines_the_catalog_does_not_know():
    catalog, abi = shipped()
    newer = add_release(
        recorded("tensorflow"), "2.22.0", like="2.21.0", uploaded="2026-11-01T00:00:00Z"
    )
    newer = add_release(
        newer, "2.23.0rc0", like="2.21.0", uploaded="2026-11-20T00:00:00Z"
    )
    report = find_updates(
        spec("2.18", python="3.12"), catalog, facts(tensorflow=newer), abi=abi
    )
    assert report.proposal is None
    assert (
        "tensorflow 2.22.0: line 2.22 is not in envgen's catalog yet "
        "(a maintainer drafts it with `envgen catalog refresh`)" in report.skipped
    )
    assert "tensorflow 2.23.0rc0: a pre-release" in report.skipped
    assert (
        "tensorflow 2.19.1: another line (2.19); `envgen update --latest` moves across"
        " lines" in report.skipped
    )


def test_in_line_update_of_215_moves_to_plain_tensorflow_2151_with_its_caveats():
    catalog, abi = shipped()
    report = find_updates(
        spec("2.15.0", "1.1.0", python="3.11"), catalog, facts(), abi=abi
    )
    pair = report.proposal
    assert (pair.tf_package, pair.tf_version, pair.metal, pair.abi) == (
        "tensorflow",
        "2.15.1",
        "1.1.0",
        "checked",
    )
    assert pair.breaks == ()
    assert dict(report.changes) == {"tensorflow": "2.15.1"}


def test_a_216_project_on_312_runs_the_inferred_alternative_and_is_told_its_caveats():
    catalog, abi = shipped()
    report = find_updates(spec("2.16", python="3.12"), catalog, facts(), abi=abi)
    assert (report.current.metal, report.current.python) == ("1.2.0", "3.12")
    on_312 = find_updates(spec("2.16.1", python="3.12"), catalog, facts(), abi=abi)
    pair = on_312.proposal
    assert (pair.tf_version, pair.metal, pair.status, pair.abi) == (
        "2.16.2",
        "1.2.0",
        "catalog-inferred",
        "checked",
    )
    assert any("inferred alternative" in item for item in pair.evidence)
    assert dict(on_312.changes) == {
        "tensorflow": "2.16.2"
    }  # metal = true still means 1.2.0 here
    on_311 = find_updates(spec("2.16.1", python="3.11"), catalog, facts(), abi=abi)
    assert on_311.proposal.metal == "1.1.0"
    assert any("Keras 3" in caveat.text for caveat in on_311.proposal.caveats)
    assert not any("Keras 3" in caveat.text for caveat in pair.caveats)
