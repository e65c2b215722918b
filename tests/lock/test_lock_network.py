"""Every catalog line locks its pip side against real PyPI, for its default Python
(network tests).

Where a conda channel for the line exists here, the whole lock runs (`envgen new`): the
real-record fixture for 2.13–2.18, the hand-made channel for 2.6. For 2.5 and 2.7–2.12
no channel here gives a lockable conda side (the real records barely cover their era,
and 2.7/2.8's solve needs an hdf5 record without a sha256; see
tests/fixtures/lock/real/README.md), so the pip side is resolved on its own, exactly as
a lock would: conda's packages held at the versions the line's pin set records (locks/,
resolved against PyPI). Either way: sdist-only dependencies (wrapt 1.12.1, termcolor
1.1.0, clang 5.0) resolve, a compiled package without an arm64 wheel would fail the
lock, and a pure-Python sdist is named in the report.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
import yaml
from support.fakemac import FakeMac
from support.lock_fixtures import CHANNEL_URL, FIXTURES

from envgen.catalog.lines import load_catalog
from envgen.catalog.pinsets import pin_set_name
from envgen.cli import run
from envgen.generate.plan import make_plan
from envgen.generate.spec import ProjectSpec
from envgen.lock.pipside import PipRequest, PipTarget, UvResolver
from envgen.resources import locks_dir

pytestmark = pytest.mark.network

REAL_URL = (FIXTURES / "real" / "channel").as_uri()
CHANNELS = {
    "2.6": CHANNEL_URL,
    **dict.fromkeys(("2.13", "2.14", "2.15", "2.16", "2.17", "2.18"), REAL_URL),
}
LINES = [line.tf for line in load_catalog().lines]
PYPI_FILES = "https://files.pythonhosted.org/packages/"


def conda_versions(pin_set: str) -> list[tuple[str, str]]:
    """(name, version) conda resolved for a pin set (its header's ``conda:`` line)."""
    header = next(
        line for line in pin_set.splitlines() if line.startswith("#   conda:")
    )
    return re.findall(r"([A-Za-z0-9_.-]+)[<>=!~][^;]*?\(resolved ([^)]+)\)", header)


@pytest.mark.parametrize("tf", LINES)
def test_a_catalog_line_locks_its_pip_side_against_real_pypi(tf, tmp_path, capsys):
    if tf in CHANNELS:
        project = tmp_path / "live"
        code = run(
            [
                "new",
                "live",
                "--tf",
                tf,
                "--dir",
                str(project),
                "--channel",
                CHANNELS[tf],
            ]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        document = yaml.safe_load((project / "conda-lock.yml").read_text())
        pip = [p for p in document["package"] if p["manager"] == "pip"]
        sdists = [p for p in pip if not p["url"].endswith(".whl")]
        names = {p["name"] for p in pip}
        for package in sdists:
            assert (
                f"{package['name']} {package['version']}" in out
            )  # the report names each one
    else:
        catalog = load_catalog()
        line = next(entry for entry in catalog.lines if entry.tf == tf)
        spec = ProjectSpec(name="live", tensorflow=tf, metal=bool(line.metal))
        plan = make_plan(spec, catalog)
        pin_set = (locks_dir() / pin_set_name(tf, plan.python)).read_text()
        held = (
            *conda_versions(pin_set),
            ("pip", "24.0"),
            ("setuptools", "70.0.0"),
            ("wheel", "0.43.0"),
        )
        target = PipTarget("osx-arm64", plan.python, plan.min_macos)
        resolved = UvResolver().resolve(
            PipRequest(
                plan.pip_for("osx-arm64"), held, target, "https://pypi.org/simple"
            )
        )
        pip = [
            {
                "name": p.name,
                "version": p.version,
                "url": p.url,
                "hash": {"sha256": p.sha256},
            }
            for p in resolved.packages
        ]
        names = {p["name"] for p in pip}
        assert not names & {name for name, _ in held}, (
            "nothing conda provides comes from pip too"
        )
        assert line.package in names
    assert all(
        p["url"].startswith(PYPI_FILES) and len(p["hash"]["sha256"]) == 64 for p in pip
    )
    assert {"tensorflow", "tensorflow-macos"} & names
    assert not names & {
        "numpy",
        "h5py",
        "grpcio",
    }, "compiled dependencies come from conda-forge"


RECORDS = Path(__file__).resolve().parents[2].parent / "shared" / "conda-forge-records"


@pytest.mark.skipif(
    not (RECORDS / "channel").is_dir(),
    reason=f"the real-record channel is not beside this checkout ({RECORDS})",
)
def test_a_2_18_project_locked_against_every_real_record_installs_on_the_stub_mac(
    tmp_path, capsys
):
    """The issue's done-when: `envgen new demo --tf 2.18 --channel
    file://…/conda-forge-records/channel`."""
    project = tmp_path / "demo"
    channel = (RECORDS / "channel").as_uri()
    assert (
        run(
            ["new", "demo", "--tf", "2.18", "--dir", str(project), "--channel", channel]
        )
        == 0
    ), capsys.readouterr().err
    locked = yaml.safe_load((project / "conda-lock.yml").read_text())["package"]
    records = {}
    for subdir in ("osx-arm64", "noarch"):
        repodata = json.loads(
            (RECORDS / "channel" / subdir / "repodata.json").read_text()
        )
        for key in ("packages", "packages.conda"):
            records.update(
                {f"{subdir}/{fn}": r for fn, r in (repodata.get(key) or {}).items()}
            )
    conda = [p for p in locked if p["manager"] == "conda"]
    pip = [p for p in locked if p["manager"] == "pip"]
    for package in conda:
        record = records[
            package["url"].removeprefix("https://conda.anaconda.org/conda-forge/")
        ]
        assert package["hash"]["sha256"] == record["sha256"]
    # the pip sha256s, as PyPI's JSON API (not the simple index the lock read) lists
    # each file
    for package in pip:
        assert package["url"].startswith(PYPI_FILES)
        with urllib.request.urlopen(
            f"https://pypi.org/pypi/{package['name']}/json", timeout=60
        ) as answer:
            releases = json.load(answer)["releases"][package["version"]]
        listed = {f["filename"]: f["digests"]["sha256"] for f in releases}
        filename = package["url"].rsplit("/", 1)[1]
        assert listed[filename] == package["hash"]["sha256"], package["name"]
    mac = FakeMac(tmp_path)
    done = mac.run(project, "--allow-cpu")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = mac.calls()
    assert "conda: create -y -n demo --file conda-osx-arm64.lock" in calls
    assert any(
        c.startswith("python: -m pip install --no-deps --require-hashes -r ")
        for c in calls
    )
