"""Locks of the modern lines against REAL conda-forge records, offline; and a graph that
hangs conda-lock.

The conda side reads tests/fixtures/lock/real/ (real conda-forge records, with their
provenance: see its README); the pip side reads a loopback index of wheels made for the
line's pins, which counts as a mirror of PyPI (a stand-in PyPI lists the same files at
files.pythonhosted.org URLs).
"""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml
from support.lock_fixtures import (
    CHANNEL_URL,
    FIXTURES,
    PipIndex,
    make_fixtures,
    stand_in_base,
    write_pypi_stand_in,
)

from envgen.cli import run
from envgen.lock.freshness import freshness

REAL = FIXTURES / "real" / "channel"
REAL_URL = REAL.as_uri()
CONDA_FORGE = "https://conda.anaconda.org/conda-forge"


def real_records() -> dict[str, dict]:
    """The fixture's records by "<subdir>/<file name>"."""
    found = {}
    for subdir in ("osx-arm64", "noarch"):
        repodata = json.loads((REAL / subdir / "repodata.json").read_text())
        for key in ("packages", "packages.conda"):
            for fn, record in (repodata.get(key) or {}).items():
                found[f"{subdir}/{fn}"] = record
    return found


@pytest.fixture
def pypi(tmp_path, monkeypatch):
    """Serve an index for some pins (and extra wheels); the stand-in PyPI answers for
    its files."""
    served: list[PipIndex] = []

    def serve(pins=(), extra=()) -> PipIndex:
        root = make_fixtures.write_pypi(tmp_path / "pypi", tuple(pins), tuple(extra))
        index = PipIndex(root)
        stand_in = PipIndex(write_pypi_stand_in(tmp_path / "pypi-org", root))
        served.extend((index, stand_in))
        monkeypatch.setenv("ENVGEN_PYPI_URL", stand_in_base(stand_in))
        return index

    yield serve
    for index in served:
        index.close()


# Requires-Dist the lock's checks read, as published: on macOS arm64 the 2.16
# tensorflow-macos wheel is an alias that installs tensorflow (the fixture's other
# wheels carry no Requires-Dist)
PUBLISHED = {
    "2.16": [("tensorflow-macos", "2.16.2", "py3-none-any", ["tensorflow==2.16.2"])]
}


@pytest.mark.parametrize(
    ("line", "python"), [("2.13", "3.11"), ("2.16", "3.11"), ("2.18", "3.12")]
)
def test_a_modern_line_locks_against_real_conda_forge_records(
    tmp_path, pypi, capsys, line, python
):
    _lock_against_real_records(tmp_path, pypi, capsys, line, python, REAL_URL)


def test_a_channel_url_with_dot_dot_segments_still_locks_canonical_urls(
    tmp_path, pypi, capsys
):
    """``--channel file://$PWD/../records/channel``: the solver reports the resolved
    path."""
    dotted = (REAL / ".." / ".." / "real" / "channel").as_uri()
    assert "/../" in dotted
    _lock_against_real_records(tmp_path, pypi, capsys, "2.18", "3.12", dotted)


def _lock_against_real_records(tmp_path, pypi, capsys, line, python, channel_url):
    index = pypi(make_fixtures.plain_pins(line, python), PUBLISHED.get(line, ()))
    project = tmp_path / "p"
    argv = [
        "new",
        "p",
        "--tf",
        line,
        "--dir",
        str(project),
        "--channel",
        channel_url,
        "--pypi-index",
        index.url,
    ]
    assert run(argv) == 0, capsys.readouterr().err
    document = yaml.safe_load((project / "conda-lock.yml").read_text())
    records = real_records()
    conda = [p for p in document["package"] if p["manager"] == "conda"]
    pip = [p for p in document["package"] if p["manager"] == "pip"]
    assert {"python", "numpy", "h5py", "grpcio", "pip"} <= {p["name"] for p in conda}
    python_package = next(p for p in conda if p["name"] == "python")
    assert python_package["version"].startswith(python + ".")
    for package in conda:
        # the URL a teammate installs from is conda-forge's; the sha256 and md5 are the
        # real record's
        assert package["url"].startswith(CONDA_FORGE + "/"), package["url"]
        record = records[package["url"].removeprefix(CONDA_FORGE + "/")]
        assert package["hash"] == {"md5": record["md5"], "sha256": record["sha256"]}
        assert package["version"] == record["version"]
    tf = next(p for p in pip if p["name"] in ("tensorflow", "tensorflow-macos"))
    assert tf["version"].startswith(line + ".")
    assert all(
        p["url"].startswith("https://files.pythonhosted.org/packages/") for p in pip
    )
    assert not {p["name"] for p in pip} & {
        "numpy",
        "h5py",
        "grpcio",
        "pip",
        "setuptools",
        "wheel",
    }
    explicit = (project / "conda-osx-arm64.lock").read_text()
    urls = re.findall(r"^(https://\S+)#[0-9a-f]+$", explicit, re.M)
    assert len(urls) == len(conda) and all(
        u.startswith(CONDA_FORGE + "/") for u in urls
    )
    assert "file://" not in explicit and "127.0.0.1" not in explicit
    assert freshness(project).fresh


# ---- a dependency graph that makes conda-lock's category walk explode ----------------

LAYERS, WIDTH = 14, 3


def layered_graph() -> list[tuple[str, str, str, list[str]]]:
    """LAYERS layers of WIDTH packages, each requiring every package of the next layer.

    Each distribution spells its name as ``Layer3_Pkg1`` while its dependents require
    ``layer3-pkg1`` (both are the same PyPI name): conda-lock's walk then fails to
    recognise a name it already visited and expands it once per path (WIDTH ** LAYERS
    paths), as it did on TensorFlow 2.18's graph.
    """
    graph = []
    for layer in range(LAYERS):
        needs = (
            [f"layer{layer + 1}-pkg{k}" for k in range(WIDTH)]
            if layer + 1 < LAYERS
            else []
        )
        graph += [
            (f"Layer{layer}_Pkg{j}", "1.0", "py3-none-any", needs) for j in range(WIDTH)
        ]
    return graph


def test_conda_locks_category_walk_explodes_on_the_graph():
    """The graph is one conda-lock 4 cannot lock: its pip side's category walk blows up
    on it."""
    import conda_lock.lockfile as conda_lockfile
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency
    from conda_lock.models.lock_spec import VersionedDependency

    from envgen.lock.name_mapping import MAPPING_PATH

    # planned as conda-lock's solve_pypi plans it: keyed by the requested name, each
    # package under its distribution's own name
    planned = {
        requirement: [
            LockedDependency(
                name=name, version=version, manager="pip", platform="osx-arm64",
                dependencies=dict.fromkeys(needs, "*"), url=f"https://example.invalid/{name}.whl",
                hash=HashModel(sha256="0" * 64), categories=set(),
            )
        ]
        for name, version, _, needs in layered_graph()
        for requirement in [re.sub(r"[-_.]+", "-", name).lower()]
    }  # fmt: skip
    requested = {
        f"layer0-pkg{j}": VersionedDependency(name=f"layer0-pkg{j}", version="*", manager="pip", category="main", extras=[])
        for j in range(WIDTH)
    }  # fmt: skip
    # a walk that visits each of the 42 packages once per root needs a few hundred
    # lookups
    budget = 5_000
    lookups = 0
    original = conda_lockfile._seperator_munge_get

    def counted(mapping, key):
        nonlocal lookups
        lookups += 1
        if lookups > budget:
            raise TimeoutError(f"{lookups} lookups for {len(planned)} packages")
        return original(mapping, key)

    conda_lockfile._seperator_munge_get = counted
    try:
        with pytest.raises(TimeoutError):
            conda_lockfile.apply_categories(
                requested=requested,
                planned=planned,
                convert_to_pip_names=True,
                mapping_url=str(MAPPING_PATH),
            )
    finally:
        conda_lockfile._seperator_munge_get = original


@pytest.mark.timeout(300)
def test_the_graph_that_hangs_conda_lock_locks(tmp_path, pypi, capsys):
    index = pypi(make_fixtures.plain_pins("2.6", "3.9"), layered_graph())
    project = tmp_path / "deep"
    assert (
        run(
            [
                "new",
                "deep",
                "--tf",
                "2.6",
                "--python",
                "3.9",
                "--dir",
                str(project),
                "--no-lock",
            ]
        )
        == 0
    )
    spec = project / "envgen.toml"
    spec.write_text(
        spec.read_text().replace(
            "pip = []", f"pip = {json.dumps([f'layer0-pkg{j}' for j in range(WIDTH)])}"
        )
    )
    assert run(["generate", "--dir", str(project)]) == 0
    started = time.monotonic()
    code = run(
        [
            "lock",
            "--dir",
            str(project),
            "--channel",
            CHANNEL_URL,
            "--pypi-index",
            index.url,
        ]
    )
    seconds = time.monotonic() - started
    assert code == 0, capsys.readouterr().err
    pip = {
        p["name"]: p
        for p in yaml.safe_load((project / "conda-lock.yml").read_text())["package"]
        if p["manager"] == "pip"
    }
    layered = {name for name in pip if name.startswith("layer")}
    assert len(layered) == LAYERS * WIDTH, sorted(layered)
    # each package records what it requires: the next layer
    assert sorted(pip["layer0-pkg0"]["dependencies"]) == [
        f"layer1-pkg{k}" for k in range(WIDTH)
    ]
    print(
        f"locked {len(pip)} pip packages over {WIDTH**LAYERS:,} dependency paths in"
        f" {seconds:.1f}s"
    )
