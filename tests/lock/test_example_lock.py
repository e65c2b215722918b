"""examples/mnist-metal's committed lock: made against real conda-forge records and real
PyPI.

Offline: every URL is conda-forge's or PyPI's, every conda artifact is a real
conda-forge record (its md5 and sha256 as tests/fixtures/lock/real/ holds them), the
lock is fresh for the example's inputs and its explicit file renders from it. Network:
every pip artifact downloads from files.pythonhosted.org with exactly the sha256 the
lock pins.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from support.lock_fixtures import FIXTURES

from envgen.lock.freshness import freshness

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist-metal"
CONDA_FORGE = "https://conda.anaconda.org/conda-forge/"
PYPI_FILES = "https://files.pythonhosted.org/packages/"


def packages() -> list[dict]:
    return yaml.safe_load((EXAMPLE / "conda-lock.yml").read_text())["package"]


def test_the_example_lock_is_fresh_and_names_only_conda_forge_and_pypi():
    state = freshness(EXAMPLE)
    assert state.fresh, (
        f"{'; '.join(state.reasons)}: re-lock it with `envgen lock --dir"
        " examples/mnist-metal` (it reuses the recorded channel,"
        " ../shared/conda-forge-records/channel, and needs PyPI)"
    )
    locked = packages()
    assert {p["manager"] for p in locked} == {"conda", "pip"}
    for package in locked:
        prefix = CONDA_FORGE if package["manager"] == "conda" else PYPI_FILES
        assert package["url"].startswith(prefix), package["url"]
        assert re.fullmatch(r"[0-9a-f]{64}", package["hash"]["sha256"])
    explicit = (EXAMPLE / "conda-osx-arm64.lock").read_text()
    urls = re.findall(r"^(?:# pip \S+ @ )?(https://\S+)#", explicit, re.M)
    assert sorted(urls) == sorted(p["url"] for p in locked)
    assert "file://" not in explicit and "127.0.0.1" not in explicit


def test_every_conda_artifact_of_the_example_is_a_real_conda_forge_record():
    records = {}
    for subdir in ("osx-arm64", "noarch"):
        repodata = json.loads(
            (FIXTURES / "real" / "channel" / subdir / "repodata.json").read_text()
        )
        for key in ("packages", "packages.conda"):
            records.update(
                {f"{subdir}/{fn}": r for fn, r in (repodata.get(key) or {}).items()}
            )
    conda = [p for p in packages() if p["manager"] == "conda"]
    assert len(conda) >= 50
    for package in conda:
        record = records[package["url"].removeprefix(CONDA_FORGE)]
        assert package["hash"] == {
            "md5": record["md5"],
            "sha256": record["sha256"],
        }, package["name"]


@pytest.mark.network
def test_every_pip_artifact_of_the_example_downloads_with_its_locked_sha256():
    pip = [p for p in packages() if p["manager"] == "pip"]

    def digest(url: str) -> str:
        request = urllib.request.Request(url, headers={"User-Agent": "envgen-tests"})
        with urllib.request.urlopen(request, timeout=120) as answer:
            hasher = hashlib.sha256()
            while chunk := answer.read(1 << 20):
                hasher.update(chunk)
        return hasher.hexdigest()

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = dict(
            zip(
                (p["name"] for p in pip),
                pool.map(digest, (p["url"] for p in pip)),
                strict=True,
            )
        )
    assert {name: found[name] for name in found} == {
        p["name"]: p["hash"]["sha256"] for p in pip
    }
