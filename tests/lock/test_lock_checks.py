"""Each lock consistency rule on hand-made conda-lock.yml documents
(envgen/lock_checks.py)."""

from __future__ import annotations

import json

import pytest

from envgen.lock.canonical import conda_url
from envgen.lock.checks import (
    CONDA_FORGE,
    NameMap,
    check_channels,
    check_duplicates,
    check_hashes,
    check_lock,
    check_macos_wheels,
    check_pip_requirements,
    check_single_tensorflow,
    conda_version_spec,
    load_name_map,
    satisfies,
)
from envgen.lock.name_mapping import MAPPING_PATH, TF_CLOSURE_NAMES

P = "osx-arm64"
NAMES = NameMap(
    (("flatbuffers", "python-flatbuffers"), ("typing-extensions", "typing_extensions"))
)


def conda(name, version, *, python=True, url=None, sha256="c" * 64):
    return {
        "name": name,
        "version": version,
        "manager": "conda",
        "platform": P,
        "dependencies": {"python": ">=3.9"} if python else {},
        "url": url or f"{CONDA_FORGE}/{P}/{name}-{version}-h0_0.conda",
        "hash": {"md5": "d" * 32, **({"sha256": sha256} if sha256 else {})},
    }


def pip(name, version, deps=None, sha256="a" * 64):
    return {
        "name": name,
        "version": version,
        "manager": "pip",
        "platform": P,
        "dependencies": deps or {},
        "url": f"https://files.pythonhosted.org/x/{name}-{version}-py3-none-any.whl",
        "hash": {"sha256": sha256} if sha256 else {},
    }


def lock(*packages):
    return {"version": 1, "metadata": {"platforms": [P]}, "package": list(packages)}


HEALTHY = lock(
    conda("python", "3.9.18", python=False),
    conda("numpy", "1.19.5"),
    conda("six", "1.15.0"),
    pip(
        "tensorflow-macos",
        "2.6.0",
        {"numpy": ">=1.19.2,<1.20.0", "six": ">=1.15.0,<1.16.0"},
    ),
    pip("tensorflow-metal", "0.2.0", {"six": ">=1.15.0,<1.16.0"}),
)


def test_a_consistent_lock_has_no_findings():
    assert (
        check_lock(HEALTHY, NAMES, root=("tensorflow-macos==2.6.0", "six==1.15.0"))
        == []
    )


def test_pip_requirement_unmet_by_conda_is_fixed_by_pinning_conda():
    doc = lock(
        conda("six", "1.16.0"),
        pip("six", "1.15.0"),
        pip("tensorflow-macos", "2.6.0", {"six": ">=1.15.0,<1.16.0"}),
        pip("tensorflow-metal", "0.2.0", {"six": ">=1.15.0,<1.16.0"}),
    )
    [finding] = check_pip_requirements(doc, NAMES)
    assert finding.rule == "pip-requirement"
    assert (
        "tensorflow-macos and tensorflow-metal need six>=1.15.0,<1.16.0"
        in finding.message
    )
    assert "conda provides six 1.16.0" in finding.message
    assert (
        finding.fix.manager == "conda" and finding.fix.spec() == "six >=1.15.0,<1.16.0"
    )
    # the duplicate it causes is reported too, without a pip-side fix (conda's 1.16
    # would not do)
    [duplicate] = check_duplicates(doc, NAMES)
    assert duplicate.packages == ("six",) and duplicate.fix is None


def test_environment_pins_count_as_requirements():
    doc = lock(conda("setuptools", "68.2.2"), pip("setuptools", "82.0.1"))
    [finding] = check_pip_requirements(doc, NAMES, root=("setuptools==82.0.1",))
    assert "environment.yml needs setuptools==82.0.1" in finding.message
    assert finding.fix.spec() == "setuptools >=82.0.1,<=82.0.1"


def test_duplicate_that_conda_satisfies_is_fixed_by_pinning_pip_to_conda():
    doc = lock(
        conda("setuptools", "68.2.2"),
        pip("setuptools", "84.2.1"),
        pip("tensorboard", "2.16.2", {"setuptools": ">=41.0.0"}),
    )
    [finding] = check_duplicates(doc, NAMES)
    assert (
        finding.message
        == "setuptools is locked twice for osx-arm64: conda setuptools 68.2.2 and pip"
        " setuptools 84.2.1"
    )
    assert finding.fix.manager == "pip" and finding.fix.spec() == "setuptools==68.2.2"


def test_duplicates_follow_the_name_mapping():
    doc = lock(conda("python-flatbuffers", "1.12"), pip("flatbuffers", "2.0"))
    [finding] = check_duplicates(doc, NAMES)
    assert finding.packages == ("flatbuffers",)
    assert "conda python-flatbuffers 1.12 and pip flatbuffers 2.0" in finding.message


def test_conda_packages_outside_site_packages_are_not_duplicates():
    # conda's tzdata is timezone data (no python dependency); PyPI's tzdata is a Python
    # package
    doc = lock(conda("tzdata", "2023c", python=False), pip("tzdata", "2024.1"))
    assert check_duplicates(doc, NAMES) == []


def test_missing_sha256_names_every_artifact():
    doc = lock(
        conda("numpy", "1.19.5", sha256=""),
        pip("keras", "2.6.0", sha256=""),
        pip("six", "1.15.0"),
    )
    [finding] = check_hashes(doc)
    assert (
        finding.message
        == "no sha256 for conda numpy 1.19.5, pip keras 2.6.0 (osx-arm64)"
    )
    assert finding.packages == ("keras", "numpy") and finding.fix is None


def test_tensorflow_and_old_tensorflow_macos_together_is_refused():
    doc = lock(
        pip("tensorflow", "2.6.0"),
        pip("tensorflow-macos", "2.6.0", {"numpy": ">=1.19.2"}),
    )
    [finding] = check_single_tensorflow(doc)
    assert "tensorflow 2.6.0, tensorflow-macos 2.6.0 are both locked" in finding.message


def test_tensorflow_macos_alias_of_213_and_later_is_expected_with_tensorflow():
    doc = lock(
        pip("tensorflow", "2.16.2"),
        pip("tensorflow-macos", "2.16.2", {"tensorflow": "2.16.2"}),
    )
    assert check_single_tensorflow(doc) == []


def test_conda_package_from_another_channel_is_named():
    doc = lock(
        conda(
            "numpy",
            "1.19.5",
            url="https://repo.anaconda.com/pkgs/main/osx-arm64/numpy-1.19.5-py39_0.conda",
        ),
        conda("six", "1.15.0"),
    )
    [finding] = check_channels(doc, (CONDA_FORGE,))
    assert finding.packages == ("numpy",) and "repo.anaconda.com" in finding.message


def test_the_mirror_locked_against_is_allowed():
    mirror = "file:///srv/conda-forge-copy"
    doc = lock(
        conda("numpy", "1.19.5", url=f"{mirror}/osx-arm64/numpy-1.19.5-py39_0.conda")
    )
    assert check_channels(doc, (CONDA_FORGE, mirror)) == []
    assert check_channels(doc, (CONDA_FORGE,)) != []


def test_many_foreign_packages_are_counted_and_the_first_few_named():
    other = "https://repo.anaconda.com/pkgs/main/osx-arm64"
    doc = lock(
        *(conda(f"pkg{i}", "1.0", url=f"{other}/pkg{i}-1.0-0.conda") for i in range(9))
    )
    [finding] = check_channels(doc, (CONDA_FORGE,))
    assert finding.message.startswith("9 conda packages from outside")
    assert "pkg0 (" in finding.message and "and 6 more" in finding.message
    assert "pkg8 (" not in finding.message
    assert len(finding.packages) == 9


@pytest.mark.parametrize(
    ("channel", "url"),
    [
        (
            "file:///work/p/../records/channel",
            "file:///work/records/channel/osx-arm64/zstd-1.5.7-h0_0.conda",
        ),
        (
            "file:///work/records/./channel/",
            "file:///work/records/channel/noarch/pip-26.2-pyh_0.conda",
        ),
        (
            "https://mirror.example/a/../conda-forge",
            "https://mirror.example/conda-forge/noarch/pip-26.2-pyh_0.conda",
        ),
    ],
)
def test_a_mirror_url_is_made_canonical_whatever_its_dot_segments(channel, url):
    canonical = conda_url(url, channel)
    subdir_and_file = url.rsplit("/", 2)[-2:]
    assert canonical == f"{CONDA_FORGE}/{'/'.join(subdir_and_file)}"


def test_a_url_from_elsewhere_is_not_made_canonical():
    url = "https://repo.anaconda.com/pkgs/main/noarch/pip-26.2-py_0.conda"
    assert conda_url(url, "file:///work/records/channel") == url


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("1.16.0", ">=1.15.0,<1.16.0", False),
        ("1.15.0", "1.15.0", True),
        ("3.0", ">=1,<2 || >=3", True),
        ("1.0", "*", True),
        ("not a version", ">=1", None),
    ],
)
def test_satisfies_reads_poetry_constraints(version, constraint, expected):
    assert satisfies(version, constraint) is expected


def test_pip_constraints_become_conda_version_specs():
    assert conda_version_spec(">=1.15.0,<1.16.0") == ">=1.15.0,<1.16.0"
    assert conda_version_spec("~=1.15.0") == ">=1.15.0,<1.16"
    assert conda_version_spec("==2.6.0") == ">=2.6.0,<=2.6.0"
    assert conda_version_spec(">=1,<2 || >=3") == ">=1,<2|>=3"


def test_shipped_mapping_is_conda_locks_format_and_knows_tf_packages():
    from conda_lock.lookup import conda_name_to_pypi_name, pypi_name_to_conda_name

    table = json.loads(MAPPING_PATH.read_text())
    assert all({"pypi_name", "conda_name"} <= set(entry) for entry in table.values())
    for name in (
        "numpy",
        "h5py",
        "grpcio",
        "six",
        "protobuf",
        "wrapt",
        "keras",
        "tensorboard",
    ):
        assert name in TF_CLOSURE_NAMES and table[name]["conda_name"] == name
    assert (
        pypi_name_to_conda_name("flatbuffers", mapping_url=str(MAPPING_PATH))
        == "python-flatbuffers"
    )
    assert (
        pypi_name_to_conda_name("typing-extensions", mapping_url=str(MAPPING_PATH))
        == "typing_extensions"
    )
    assert (
        conda_name_to_pypi_name("ml_dtypes", mapping_url=str(MAPPING_PATH))
        == "ml-dtypes"
    )
    names = load_name_map(MAPPING_PATH)
    assert (
        names.conda_name("Typing_Extensions") == "typing_extensions"
        and names.pypi_name("numpy") == "numpy"
    )


def test_a_mac_wheel_needing_a_newer_macos_than_the_minimum_fails_the_lock():
    newer = dict(
        pip("optree", "0.13.0"),
        url="https://files.pythonhosted.org/x/optree-0.13.0-cp311-cp311-macosx_13_0_arm64.whl",
    )
    fine = dict(
        pip("ml-dtypes", "0.4.1"),
        url="https://files.pythonhosted.org/x/ml_dtypes-0.4.1-cp311-cp311-macosx_10_9_universal2.whl",
    )
    doc = lock(
        conda("python", "3.11.9", python=False), newer, fine, pip("keras", "3.6.0")
    )
    [finding] = check_macos_wheels(doc, "12.1")
    assert (
        finding.rule == "macos"
        and finding.packages == ("optree",)
        and finding.fix is None
    )
    assert (
        finding.message
        == "optree-0.13.0-cp311-cp311-macosx_13_0_arm64.whl needs macOS 13.0, newer"
        " than this project's minimum macOS 12.1 on osx-arm64: pin an older release"
        " of optree in [packages] pip"
    )
    assert check_macos_wheels(doc, "13.0") == []
    assert [f.rule for f in check_lock(doc, NAMES, min_macos="12.1")] == ["macos"]
    assert check_lock(doc, NAMES) == []  # no minimum given: the rule does not apply
