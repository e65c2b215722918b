"""envgen doctor's rules on recorded probe results: one fixture per failure.

The failures are the rows of envgen/doctor/FAILURES.md.

Fixtures: tests/fixtures/doctor/ (see its README: linux-tensorflow-cpu.json recorded
here, the Mac ones hand-made in the probe's real shape by make_fixtures.py). Expected
pins and pairs are read from the catalog's 2.6 line, never hard-coded, so completing the
catalog does not break these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

from envgen.catalog.lines import load_catalog
from envgen.doctor.context import LockedPackage, ProjectFacts, channel_name, parse_lock
from envgen.doctor.findings import SEVERITIES
from envgen.doctor.rules import diagnose
from envgen.errors import SpecError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "doctor"
CATALOG = load_catalog()
LINE = CATALOG.line("2.6")


def probe(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def report(probe_result: dict, project: ProjectFacts | None = None):
    return diagnose(probe_result, CATALOG, project)


def by_check(probe_result: dict, project: ProjectFacts | None = None) -> dict:
    found = report(probe_result, project).findings
    return {f.check: f for f in found}


def test_fixture_generator_and_files_agree():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_fixtures", FIXTURES / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, make in module.FIXTURES.items():
        assert json.loads(json.dumps(make())) == probe(name), (
            f"{name}.json is stale: rerun make_fixtures.py"
        )


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_every_fixture_sorted_errors_first_and_one_finding_per_check(name):
    result = report(probe(name))
    ranks = [SEVERITIES.index(f.severity) for f in result.findings]
    assert ranks == sorted(ranks)
    checks = [f.check for f in result.findings]
    assert len(checks) == len(set(checks))
    for finding in result.findings:
        assert finding.evidence, finding
        if finding.severity == "error":
            assert finding.fix, finding
    assert result.exit_code == (1 if result.errors else 0)


def test_healthy_mac_has_no_errors_or_warnings():
    result = report(probe("healthy"))
    assert result.exit_code == 0
    assert not result.errors and not result.warnings
    found = {f.check: f for f in result.findings}
    assert (
        found["metal-pair"].severity == "ok"
        and LINE.metal_range in found["metal-pair"].evidence
    )
    assert found["gpu-ops"].severity == "ok" and "GPU:0" in found["gpu-ops"].evidence
    assert found["python-arch"].severity == "ok"
    assert found["channels"].severity == "ok"


# ---- one test per row of the failure table -------------------------------------------


def test_unpinned_python_against_the_project_line():
    project = ProjectFacts(
        directory=Path("."), line=LINE, python=LINE.default_python, env_found=True
    )
    found = by_check(probe("unpinned-python"), project)
    finding = found["python-version"]
    assert finding.severity == "error"
    assert "3.13.1" in finding.evidence and ", ".join(LINE.pythons) in finding.evidence
    assert finding.evidence.endswith(
        "created by: /Users/ana/miniforge3/bin/conda create -n tf python"
    )
    assert f"python={LINE.default_python}" in finding.fix
    assert found["project-python"].severity == "error"


def test_unpinned_python_without_a_project_uses_the_whole_catalog():
    finding = by_check(probe("unpinned-python"))["python-version"]
    supported = [line.tf for line in CATALOG.lines if "3.13" in line.pythons]
    if supported:
        assert finding.severity == "ok" and supported[0] in finding.evidence
    else:
        newest = max({py for line in CATALOG.lines for py in line.pythons}, key=Version)
        assert finding.severity == "error" and f"python={newest}" in finding.fix


def test_grpcio_built_from_source_by_pip():
    finding = by_check(probe("grpcio-build"))["grpcio"]
    assert finding.severity == "error"
    assert "grpcio not installed" in finding.evidence
    assert (
        "conda install -c conda-forge grpcio" in finding.fix
        and "--no-dependencies" in finding.fix
    )


def test_grpcio_installed_by_pip_next_to_tensorflow_is_a_warning():
    result = probe("healthy")
    grpcio = next(d for d in result["distributions"] if d["name"] == "grpcio")
    grpcio.update(installer="pip", conda_package=None)
    finding = by_check(result)["grpcio-source"]
    assert finding.severity == "warning"
    assert "INSTALLER: pip" in finding.evidence
    assert finding.fix.startswith(
        "pip uninstall -y grpcio && conda install --override-channels -c conda-forge"
    )


def test_numpy_from_pip_and_the_c_extension_failure():
    found = by_check(probe("numpy-pip"))
    pin = dict(LINE.conda)["numpy"]
    assert found["numpy-source"].severity == "error"
    assert "numpy 1.26.4 (INSTALLER: pip)" in found["numpy-source"].evidence
    assert (
        f"'numpy {pin}'" in found["numpy-source"].fix
        and "pip uninstall -y numpy" in found["numpy-source"].fix
    )
    assert found["numpy-abi"].severity == "error"
    assert "Importing the numpy C-extensions failed" in found["numpy-abi"].evidence
    assert (
        f"conda install --override-channels -c conda-forge 'numpy {pin}'"
        in found["numpy-abi"].fix
    )


def test_metal_tf_mismatch_and_the_kernel_dying_during_fit():
    found = by_check(probe("metal-mismatch-crash"))
    pair = found["metal-pair"]
    assert pair.severity == "error"
    assert (
        "tensorflow-metal 0.5.0 with TensorFlow 2.6.0" in pair.evidence
        and LINE.metal_range in pair.evidence
    )
    assert pair.fix.startswith(f"pip install tensorflow-metal=={LINE.metal}")
    other = CATALOG.pair_of_metal("0.5.0")
    if (
        other is not None
    ):  # the catalog knows which TensorFlow 0.5.0 belongs to: offer that way out too
        assert f"pip install {other.package}=={other.version}" in pair.fix
    crash = found["metal-crash"]
    assert crash.severity == "error" and "SIGABRT" in crash.evidence
    assert f"{LINE.package}=={LINE.version} tensorflow-metal=={LINE.metal}" in crash.fix


def test_symbol_not_found_when_the_plugin_loads():
    found = by_check(probe("symbol-not-found"))
    plugin = found["metal-plugin"]
    assert plugin.severity == "error"
    assert (
        plugin.evidence == "libmetal_plugin.dylib: Symbol not found:"
        " __ZN10tensorflow16TensorShapeProtoC1ERKS0_"
    )
    assert (
        f"pip install {LINE.package}=={LINE.version} tensorflow-metal=={LINE.metal}"
        in plugin.fix
    )
    assert found["metal-pair"].severity == "error"
    assert "tf-import" not in found  # classified, not reported twice


def test_rosetta_python():
    found = by_check(probe("rosetta-python"))
    arch = found["python-arch"]
    assert arch.severity == "error"
    assert arch.evidence == "platform.machine() = x86_64, sysctl.proc_translated = 1"
    assert "Miniforge3-MacOSX-arm64" in arch.fix
    assert (
        found["tf-import"].severity == "error"
        and "SIGILL" in found["tf-import"].evidence
    )
    assert (
        found["apple-silicon"].severity == "ok"
    )  # the hardware is fine, the Python is not


def test_x86_64_conda_on_apple_silicon():
    found = by_check(probe("intel-conda"))
    finding = found["conda-platform"]
    assert finding.severity == "error"
    assert (
        "env python from osx-64" in finding.evidence
        and "/Users/ana/anaconda3 is osx-64" in finding.evidence
    )
    assert "Miniforge3-MacOSX-arm64" in finding.fix


def test_both_tensorflow_and_tensorflow_macos():
    found = by_check(probe("both-tensorflows"))
    finding = found["tf-conflict"]
    assert finding.severity == "error"
    assert (
        "tensorflow-macos 2.6.0" in finding.evidence
        and "tensorflow 2.6.0" in finding.evidence
    )
    assert (
        finding.fix == "pip uninstall -y tensorflow tensorflow-macos && pip install"
        f" {LINE.package}=={LINE.version}"
    )


def test_tensorflow_macos_2_13_alias_is_not_a_conflict():
    result = probe("healthy")
    for dist in result["distributions"]:
        if dist["name"] == "tensorflow-macos":
            dist["version"] = "2.13.0"
    result["distributions"].append(
        {
            "name": "tensorflow",
            "version": "2.13.0",
            "installer": "pip",
            "location": "x",
            "conda_package": None,
        }
    )
    assert by_check(result)["tf-conflict"].severity == "ok"


def test_gpu_listed_but_ops_on_cpu():
    finding = by_check(probe("gpu-listed-ops-on-cpu"))["gpu-ops"]
    assert finding.severity == "error"
    assert "device:CPU:0" in finding.evidence
    assert "tf.debugging.set_log_device_placement(True)" in finding.fix


def test_memory_growth_advice_and_when_it_is_already_on():
    advice = by_check(probe("healthy"))["memory-growth"]
    assert advice.severity == "ok"
    assert "tf.config.experimental.set_memory_growth(gpu, True)" in advice.fix
    result = probe("healthy")
    result["tensorflow"]["result"]["env_TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    quiet = by_check(result)["memory-growth"]
    assert quiet.severity == "ok" and quiet.fix == ""


def test_defaults_and_conda_forge_mixed():
    found = by_check(probe("mixed-channels"))
    finding = found["channels"]
    assert finding.severity == "error"
    assert "pkgs/main: 2 (libopenblas, numpy)" in finding.evidence
    assert "nodefaults" in finding.fix
    assert (
        found["numpy-source"].severity == "error"
        and "from pkgs/main" in found["numpy-source"].evidence
    )


def test_another_channel_alone_is_a_warning():
    result = probe("healthy")
    result["conda"]["records"].append(
        {
            "name": "tensorflow-deps",
            "version": "2.6.0",
            "channel": "https://conda.anaconda.org/apple/osx-arm64",
            "subdir": "osx-arm64",
        }
    )
    finding = by_check(result)["channels"]
    assert (
        finding.severity == "warning"
        and "apple: 1 (tensorflow-deps)" in finding.evidence
    )


# ---- the checks the table implies ----------------------------------------------------


def test_tensorflow_metal_missing_on_apple_silicon():
    found = by_check(probe("metal-missing"))
    assert found["tensorflow-metal"].severity == "error"
    assert (
        found["tensorflow-metal"].fix == f"pip install tensorflow-metal=={LINE.metal}"
    )
    assert found["gpu"].severity == "error"


def test_tensorflow_metal_missing_is_fine_in_a_cpu_only_project():
    project = ProjectFacts(
        directory=Path("."), line=LINE, python="3.9", metal=False, env_found=True
    )
    found = by_check(probe("metal-missing"), project)
    assert found["tensorflow-metal"].severity == "ok"
    assert found["gpu"].severity == "warning"


def test_not_macos_recorded_on_this_machine():
    """Linux: not a Mac, no Apple GPU, no plugin are facts about the machine, not errors
    to fix."""
    found = by_check(probe("linux-tensorflow-cpu"))
    assert found["macos"].severity == "fact" and found["macos"].evidence.startswith(
        "OS: Linux"
    )
    assert (
        found["apple-silicon"].severity == "fact"
        and "x86_64" in found["apple-silicon"].evidence
    )
    assert found["tensorflow-metal"].severity == "fact"
    assert found["gpu"].severity == "fact"
    assert found["conda-env"].severity == "warning"
    assert found["tf-import"].severity == "ok"
    report = diagnose(probe("linux-tensorflow-cpu"), CATALOG)
    assert not report.errors and report.exit_code == 0
    assert {f.check for f in report.machine_facts} == {
        "macos",
        "apple-silicon",
        "tensorflow-metal",
        "gpu",
    }


def test_macos_older_than_the_line_needs():
    result = probe("healthy")
    result["machine"].update(mac_ver="10.15.7", os_product_version="10.15.7")
    finding = by_check(result)["macos"]
    assert finding.severity == "error" and LINE.min_macos in finding.fix


def test_macos_version_from_the_kernel_beats_an_old_sdk_python_saying_10_16():
    result = probe("healthy")
    result["machine"].update(mac_ver="10.16", os_product_version="13.4.1")
    assert by_check(result)["macos"].evidence == "macOS 13.4.1"
    result["machine"].update(os_product_version=None)
    assert (
        by_check(result)["macos"].severity == "ok"
    )  # 10.16 is no version to compare with


def test_a_hanging_tensorflow_stage_is_an_error_not_a_crash():
    result = probe("healthy")
    result["tensorflow"] = {
        "ran": False,
        "timed_out": True,
        "timeout_seconds": 108.0,
        "stderr_tail": "Metal device set to: Apple M1\n",
    }
    finding = by_check(result)["tf-import"]
    assert (
        finding.severity == "error"
        and "108.0 s" in finding.evidence
        and "--timeout" in finding.fix
    )


def test_protobuf_too_new_gets_the_line_cap():
    result = probe("healthy")
    result["tensorflow"]["result"] = {
        "import_ok": False,
        "import_error": "TypeError: Descriptors cannot be created directly.",
    }
    finding = by_check(result)["tf-import"]
    assert finding.fix == f"pip install 'protobuf{dict(LINE.pip_caps)['protobuf']}'"


def test_an_empty_or_partial_probe_result_does_not_crash_the_rules():
    for partial in (
        {"probe_schema": 1},
        {
            "probe_schema": 1,
            "machine": {"system": "Darwin"},
            "tensorflow": {"ran": True},
        },
    ):
        result = report(partial)
        assert result.findings and result.exit_code in (0, 1)


@pytest.mark.parametrize(
    "raw, name",
    [
        (
            {"channel": "https://conda.anaconda.org/conda-forge/osx-arm64"},
            "conda-forge",
        ),
        ({"channel": "conda-forge"}, "conda-forge"),
        ({"channel": "https://repo.anaconda.com/pkgs/main/osx-64"}, "pkgs/main"),
        ({"channel": "pkgs/main"}, "pkgs/main"),
        (
            {
                "channel": "",
                "url": (
                    "https://conda.anaconda.org/apple/osx-arm64/tensorflow-deps-2.9.0-0.tar.bz2"
                ),
            },
            "apple",
        ),
        ({}, "unknown"),
    ],
)
def test_channel_names(raw, name):
    assert channel_name(raw) == name


# ---- the project's lock --------------------------------------------------------------


def _lock_of(result: dict, platform: str = "osx-arm64") -> tuple[LockedPackage, ...]:
    conda = [
        LockedPackage(r["name"], r["version"], "conda", platform)
        for r in result["conda"]["records"]
    ]
    pip = [
        LockedPackage(d["name"], d["version"], "pip", platform)
        for d in result["distributions"]
        if not d["conda_package"]
    ]
    return tuple(conda + pip)


def _project(lock) -> ProjectFacts:
    return ProjectFacts(
        directory=Path("/p"),
        line=LINE,
        python="3.9",
        env_found=True,
        env_location="/p/.conda-env",
        lock=lock,
    )


def test_environment_matching_the_lock():
    result = probe("healthy")
    finding = by_check(result, _project(_lock_of(result)))["lock"]
    assert finding.severity == "ok" and "osx-arm64" in finding.evidence


def test_environment_differing_from_the_lock():
    result = probe("healthy")
    lock = list(_lock_of(result))
    lock = [
        p for p in lock if p.name != "keras"
    ]  # keras installed but not locked: extra
    lock = [
        LockedPackage(
            p.name, "1.20.0" if p.name == "numpy" else p.version, p.manager, p.platform
        )
        for p in lock
    ]
    lock.append(
        LockedPackage("tensorboard", "2.6.0", "pip", "osx-arm64")
    )  # locked, not installed: missing
    lock.append(LockedPackage("ignored-elsewhere", "1.0", "conda", "linux-64"))
    finding = by_check(result, _project(tuple(lock)))["lock"]
    assert finding.severity == "error"
    assert "missing 1: tensorboard 2.6.0" in finding.evidence
    assert "other version 1: numpy 1.19.5 (lock 1.20.0)" in finding.evidence
    assert "extra 1: keras 2.6.0 (pip)" in finding.evidence
    assert "./bootstrap.sh" in finding.fix


def test_only_extra_packages_is_a_warning():
    result = probe("healthy")
    lock = tuple(p for p in _lock_of(result) if p.name != "keras")
    assert by_check(result, _project(lock))["lock"].severity == "warning"


def test_lock_without_this_platform_and_project_without_lock():
    result = probe("healthy")
    assert (
        by_check(result, _project(_lock_of(result, "linux-64")))["lock"].severity
        == "warning"
    )
    no_lock = ProjectFacts(
        directory=Path("/p"),
        line=LINE,
        python="3.9",
        env_found=False,
        env_location="conda env 'demo'",
    )
    found = by_check(result, no_lock)
    assert found["lock"].severity == "warning"
    assert found["project-env"].severity == "warning" and found[
        "project-env"
    ].fix.startswith("./bootstrap.sh")


LOCK_YAML = """\
version: 1
metadata:
  platforms: [osx-arm64]
  sources: [environment.yml]
package:
- name: numpy
  version: 1.19.5
  manager: conda
  platform: osx-arm64
  dependencies: {python: '>=3.9,<3.10.0a0'}
  url: https://conda.anaconda.org/conda-forge/osx-arm64/numpy-1.19.5-py39h1f3b974_2.tar.bz2
  hash:
    md5: 0123456789abcdef0123456789abcdef
    sha256: 0000000000000000000000000000000000000000000000000000000000000000
  category: main
  optional: false
- name: tensorflow-metal
  version: 0.2.0
  manager: pip
  platform: osx-arm64
  dependencies: {six: '>=1.15.0,<1.16.0', wheel: '>=0.35,<1.0'}
  url: https://files.pythonhosted.org/packages/tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl
  hash: {sha256: 1111111111111111111111111111111111111111111111111111111111111111}
  category: main
  optional: false
"""


def test_parse_lock_reads_package_entries():
    assert parse_lock(LOCK_YAML) == (
        LockedPackage("numpy", "1.19.5", "conda", "osx-arm64"),
        LockedPackage("tensorflow-metal", "0.2.0", "pip", "osx-arm64"),
    )


@pytest.mark.parametrize("text", ["package: [", "version: 1\n"])
def test_parse_lock_refuses_what_is_not_a_lock(text):
    with pytest.raises(SpecError) as error:
        parse_lock(text)
    assert error.value.exit_code == 2 and "conda-lock.yml" in error.value.message


def test_a_crash_without_metal_markers_is_not_blamed_on_metal():
    result = probe("metal-mismatch-crash")
    result["tensorflow"].update(
        signal="SIGSEGV",
        returncode=-11,
        stderr_tail="Metal device set to: Apple M1\nSegmentation fault: 11\n",
    )
    found = by_check(result)
    assert "metal-crash" not in found
    assert (
        found["tf-import"].severity == "error"
        and "SIGSEGV" in found["tf-import"].evidence
    )
    assert (
        f"tensorflow-metal=={LINE.metal}" in found["tf-import"].fix
    )  # metal is installed: the pair is the likely fix


def test_tensorflow_importable_without_a_distribution_is_a_warning():
    result = probe("healthy")
    result["distributions"] = [
        d for d in result["distributions"] if d["name"] != "tensorflow-macos"
    ]
    finding = by_check(result)["tensorflow"]
    assert finding.severity == "warning" and "tensorflow 2.6.0 from" in finding.evidence
