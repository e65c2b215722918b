"""`envgen catalog refresh` drafts the entry of a TF line PyPI has and the catalog
lacks.

The proof that a draft is right: take the shipped catalog without its 2.20 and 2.21
lines and draft them again from the recorded PyPI answers (tests/fixtures/pypi_client,
with the Requires-Dist in line-requires.json) and the shipped symbol checks: every fact
a draft can read must equal what the shipped, reviewed entry says.
"""

from __future__ import annotations

import json

import pytest
import tomli
from support.pypi_fixtures import RECORDED, recorded_releases

from envgen.catalog.abirecords import AbiRecords, load_abi_records
from envgen.catalog.lines import Catalog, load_catalog, parse_catalog
from envgen.cli import run
from envgen.pypi.client import PyPIClient
from envgen.releases.draft import draft_new_lines, draft_pairs, new_lines, write_drafts
from envgen.releases.wheelmeta import wheel_requires

LINE_REQUIRES = json.loads(
    (RECORDED / "line-requires.json").read_text(encoding="utf-8")
)


def recorded_requires(dist, package):
    version = dist.filename.split("-")[1]
    entry = LINE_REQUIRES[package][version]
    assert entry["wheel"] == dist.filename, (
        "the draft reads the wheel the recording read"
    )
    return entry["requires"]


SHIPPED = load_catalog()
WITHOUT_NEW = Catalog(
    tuple(line for line in SHIPPED.lines if line.tf not in ("2.20", "2.21"))
)


def drafted(abi=None):
    drafts = draft_new_lines(
        WITHOUT_NEW,
        recorded_releases(),
        abi=load_abi_records() if abi is None else abi,
        read_requires=recorded_requires,
        today="2026-11-23",
    )
    return {d.tf: d for d in drafts}


def test_the_lines_newer_than_the_catalog_are_found():
    assert new_lines(WITHOUT_NEW, recorded_releases()) == ["2.20", "2.21"]
    assert new_lines(SHIPPED, recorded_releases()) == []


@pytest.mark.parametrize("tf", ["2.20", "2.21"])
def test_a_draft_reproduces_the_reviewed_entry(tf):
    draft = drafted()[tf]
    raw = tomli.loads(draft.toml)["lines"][0]
    line = parse_catalog("schema = 1\n" + draft.toml).lines[0]
    shipped = next(line for line in SHIPPED.lines if line.tf == tf)
    for fact in (
        "package",
        "version",
        "versions",
        "pythons",
        "keras",
        "min_macos",
        "platforms",
        "metal",
        "metal_range",
    ):
        assert getattr(line, fact) == getattr(shipped, fact), fact
    assert dict(line.conda) == {
        name: spec.replace(" ", "") for name, spec in shipped.conda
    }
    assert line.status == "inferred" and "metal" in line.inferred
    assert set(raw["sources"]) == set(dict(line.sources))
    # what the line no longer installs, read against the previous line's wheel
    assert (
        line.dropped
        == {"2.20": ("tensorflow-io-gcs-filesystem",), "2.21": ("tensorboard",)}[tf]
    )
    # the plugin verdicts that decided `metal = ""` are in the draft, with the first
    # missing symbol
    assert (
        f"tensorflow-metal 1.2.0 + tensorflow {shipped.version}: incompatible"
        in draft.toml
    )
    assert "_TF_AssignUpdateVariable" in draft.toml


def test_2_20_keeps_the_tensorboard_cap_its_wheel_states_and_2_21_has_none():
    drafts = drafted()
    assert 'tensorboard = ">=2.20.0,<2.21"' in drafts["2.20"].toml
    assert "tensorboard =" not in drafts["2.21"].toml  # the wheel no longer requires it


def test_without_a_recorded_check_the_draft_says_which_check_to_run():
    draft = drafted(AbiRecords())["2.20"]
    assert 'metal = ""' in draft.toml
    assert (
        "tensorflow-metal 1.2.0 + tensorflow 2.20.0: not checked (run `envgen catalog"
        " refresh --abi-check`)" in draft.toml
    )
    assert ("1.2.0", "tensorflow", "2.20.0") in draft.checks_needed
    checks = [
        (p.metal, p.tf_package, p.tf_version)
        for p in draft_pairs(WITHOUT_NEW, recorded_releases())
    ]
    assert checks == [
        ("1.2.0", "tensorflow", "2.20.0"),
        ("1.2.0", "tensorflow", "2.21.0"),
    ]


def test_a_compatible_check_pairs_the_draft_with_that_plugin():
    from support.abi_fixtures import abi_record, records

    draft = drafted(records(abi_record("1.2.0", "tensorflow", "2.20.0")))["2.20"]
    line = parse_catalog("schema = 1\n" + draft.toml).lines[0]
    assert (line.metal, line.metal_range) == ("1.2.0", ">=1.2.0,<1.3")
    assert line.metal_pythons == (
        "3.9",
        "3.10",
        "3.11",
        "3.12",
    )  # 1.2.0 has no cp313 wheel
    assert "compatible" in draft.toml


def test_write_appends_the_drafts_and_the_catalog_still_loads(tmp_path):
    path = tmp_path / "catalog.toml"
    text = (RECORDED.parents[2] / "envgen" / "data" / "catalog.toml").read_text(
        encoding="utf-8"
    )
    cut = text[: text.index('\n[[lines]]\ntf = "2.20"')] + "\n"
    path.write_text(cut, encoding="utf-8")
    write_drafts(list(drafted().values()), path)
    written = parse_catalog(path.read_text(encoding="utf-8"))
    assert [line.tf for line in written.lines][-3:] == ["2.19", "2.20", "2.21"]
    assert written.line("2.21").status == "inferred"


def test_a_draft_that_breaks_the_schema_never_reaches_the_file(tmp_path):
    from envgen.errors import CatalogError
    from envgen.releases.draft import Draft

    path = tmp_path / "catalog.toml"
    path.write_text("schema = 1\n", encoding="utf-8")
    with pytest.raises(CatalogError):
        write_drafts([Draft("2.99", '[[lines]]\ntf = "2.99"\n', ())], path)
    assert path.read_text(encoding="utf-8") == "schema = 1\n"


def test_write_with_offline_is_refused(capsys):
    assert run(["catalog", "refresh", "--write", "--offline"]) == 2
    assert "--write cannot be combined with --offline" in capsys.readouterr().err


@pytest.mark.network
def test_requires_dist_read_with_range_requests_matches_the_recording(tmp_path):
    client = PyPIClient(cache_dir=tmp_path, refresh=True, timeout=60)
    release = client.releases("tensorflow").get("2.21.0")
    entry = LINE_REQUIRES["tensorflow"]["2.21.0"]
    (dist,) = [f for f in release.files if f.filename == entry["wheel"]]
    assert wheel_requires(dist, client.url_for("tensorflow")) == entry["requires"]
