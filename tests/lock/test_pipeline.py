"""The whole path a team takes, offline: `envgen new` locks a project (real conda-lock
and the rattler front end against the fixture channel and pip index), then its
bootstrap.sh installs exactly that lock on a stubbed Mac. The lock step and the
bootstrap were built separately; this holds them to one contract.
"""

from __future__ import annotations

import re

import pytest
import yaml
from support.fakemac import FakeMac
from support.lock_fixtures import (
    CHANNEL_URL,
    PipIndex,
    stand_in_base,
    write_index,
    write_pypi_stand_in,
)

from envgen.cli import run


@pytest.fixture(scope="module")
def locked_project(tmp_path_factory):
    root = write_index(tmp_path_factory.mktemp("pypi"))
    served = PipIndex(root)
    stand_in = PipIndex(write_pypi_stand_in(tmp_path_factory.mktemp("pypi-org"), root))
    try:
        project = tmp_path_factory.mktemp("team") / "demo"
        with pytest.MonkeyPatch.context() as patch:
            # the fixture index counts as a mirror: the lock names PyPI's URLs for its
            # files
            patch.setenv("ENVGEN_PYPI_URL", stand_in_base(stand_in))
            code = run(
                [
                    "new",
                    "demo",
                    "--tf",
                    "2.6",
                    "--python",
                    "3.9",
                    "--dir",
                    str(project),
                    "--channel",
                    CHANNEL_URL,
                    "--pypi-index",
                    served.url,
                ]
            )
        assert code == 0
        yield project
    finally:
        served.close()
        stand_in.close()


def _pip_packages(project) -> dict[str, dict]:
    document = yaml.safe_load((project / "conda-lock.yml").read_text())
    return {p["name"]: p for p in document["package"] if p["manager"] == "pip"}


def test_bootstrap_installs_the_lock_envgen_wrote(locked_project, tmp_path):
    mac = FakeMac(tmp_path)
    dry = mac.run(locked_project, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    requirements = dict(
        re.findall(
            r"^\s+(\S+) @ (\S+ --hash=sha256:[0-9a-f]{64})$", dry.stdout, re.MULTILINE
        )
    )
    pip = _pip_packages(locked_project)
    # every pip artifact of the lock, and nothing else, goes to pip with its sha256
    assert sorted(requirements) == sorted(pip)
    for name, package in pip.items():
        assert (
            requirements[name] == f"{package['url'].split('#')[0]}"
            f" --hash=sha256:{package['hash']['sha256']}"
        )
    assert "numpy" not in requirements and "tensorflow-macos" in requirements

    done = mac.run(locked_project, "--allow-cpu")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = mac.calls()
    assert "conda: create -y -n demo --file conda-osx-arm64.lock" in calls
    assert any(
        c.startswith("python: -m pip install --no-deps --require-hashes -r ")
        for c in calls
    )
    assert calls[-1] == "python: scripts/verify_gpu.py --allow-cpu"


def test_bootstrap_refuses_the_lock_once_a_byte_of_it_changes(locked_project, tmp_path):
    mac = FakeMac(tmp_path)
    original = (locked_project / "conda-lock.yml").read_bytes()
    try:
        (locked_project / "conda-lock.yml").write_bytes(
            original.replace(b"1.19.5", b"1.19.4", 1)
        )
        result = mac.run(locked_project)
        assert result.returncode == 5, result.stdout + result.stderr
        assert "conda-lock.yml does not match" in result.stderr
        assert not [c for c in mac.calls() if c.startswith("conda: create")]
    finally:
        (locked_project / "conda-lock.yml").write_bytes(original)


def test_envgen_lock_check_and_bootstrap_agree_on_staleness(
    locked_project, tmp_path, capsys
):
    mac = FakeMac(tmp_path)
    assert run(["lock", "--check", "--dir", str(locked_project)]) == 0
    spec = locked_project / "envgen.toml"
    original = spec.read_bytes()
    try:
        spec.write_bytes(original + b"\n# a comment is a change\n")
        assert run(["lock", "--check", "--dir", str(locked_project)]) == 1
        result = mac.run(locked_project)
        assert result.returncode == 5 and "stale" in result.stderr
    finally:
        spec.write_bytes(original)
    capsys.readouterr()
