"""envgen doctor end to end: real probes on this machine, target choice, exit codes."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.tf_env import tensorflow_cpu_python

from envgen.catalog.lines import load_catalog
from envgen.cli import run
from envgen.doctor import target as doctor_target
from envgen.doctor.target import choose_target

FIXTURES = Path(__file__).parent.parent / "fixtures" / "doctor"
LINE = load_catalog().line("2.6")


@pytest.fixture(autouse=True)
def _outside_any_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _json_run(argv, capsys) -> tuple[int, dict]:
    code = run(["doctor", "--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _checks(answer: dict) -> dict:
    return {f["check"]: f for f in answer["findings"]}


def _bare_venv(where: Path) -> Path:
    """A venv without pip (fast to make): only what a test writes into it is
    installed."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(where)], check=True
    )
    return where / "bin" / "python"


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def _fake_dist(site: Path, name: str, version: str) -> None:
    """A minimal dist-info, as pip leaves it: METADATA, INSTALLER, RECORD (no code)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n", encoding="utf-8"
    )
    (info / "INSTALLER").write_text("pip\n", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")


# ---- real runs -----------------------------------------------------------------------


@pytest.mark.slow
def test_real_tensorflow_cpu_venv(capsys):
    python = tensorflow_cpu_python()
    code, answer = _json_run(["--python", str(python)], capsys)
    found = _checks(answer)
    # Linux: the machine's facts are not errors; nothing in this venv is broken
    assert code == 0 and answer["exit_code"] == 0
    assert (
        found["macos"]["severity"] == "fact" and "Linux" in found["macos"]["evidence"]
    )
    assert found["apple-silicon"]["severity"] == "fact"
    assert (
        found["tensorflow-metal"]["severity"] == "fact"
        and found["tensorflow-metal"]["evidence"] == "tensorflow-metal: absent"
    )
    assert found["gpu"]["severity"] == "fact" and "CPU:0" in found["gpu"]["evidence"]
    assert found["tf-import"]["severity"] == "ok"
    assert found["tensorflow"]["severity"] == "ok"
    severities = [f["severity"] for f in answer["findings"]]
    assert severities == sorted(
        severities, key=["error", "warning", "fact", "ok"].index
    )


@pytest.mark.slow
def test_real_tensorflow_cpu_venv_by_prefix_human_output(capsys):
    prefix = tensorflow_cpu_python().parent.parent
    code = run(["doctor", "--prefix", str(prefix)])
    out = capsys.readouterr().out
    assert code == 0
    assert "✗ error" not in out and "about this machine (nothing to fix here):" in out
    assert "not macOS" in out and "tensorflow-metal" in out
    assert out.splitlines()[-1].startswith("0 error(s)")


def test_both_tensorflow_and_tensorflow_macos_in_a_real_venv(tmp_path, capsys):
    python = _bare_venv(tmp_path / "venv")
    site = _site_packages(python)
    _fake_dist(site, "tensorflow", LINE.version)
    _fake_dist(site, "tensorflow-macos", LINE.version)
    code, answer = _json_run(["--python", str(python)], capsys)
    found = _checks(answer)
    assert code == 1
    conflict = found["tf-conflict"]
    assert conflict["severity"] == "error"
    assert (
        f"tensorflow {LINE.version}" in conflict["evidence"]
        and f"tensorflow-macos {LINE.version}" in conflict["evidence"]
    )
    assert (
        conflict["fix"] == "pip uninstall -y tensorflow tensorflow-macos && pip install"
        f" {LINE.package}=={LINE.version}"
    )
    # the fake distributions hold no code: the import failure is reported too, with its
    # text
    assert (
        found["tf-import"]["severity"] == "error"
        and "No module named 'tensorflow'" in found["tf-import"]["evidence"]
    )


# ---- a missing, broken or hanging interpreter ----------------------------------------


def _one_error_line(capsys) -> str:
    """The error line; a probe that ran past a second also said it was probing
    (progress)."""
    captured = capsys.readouterr()
    lines = [
        line
        for line in captured.err.strip().splitlines()
        if not line.startswith("envgen doctor: probing ")
    ]
    assert len(lines) == 1 and captured.out == ""
    assert "Traceback" not in captured.err
    return lines[0]


def test_missing_interpreter_is_exit_2(tmp_path, capsys):
    assert run(["doctor", "--python", str(tmp_path / "nope" / "python")]) == 2
    assert _one_error_line(capsys).startswith(
        f"envgen: error: no Python at {tmp_path / 'nope' / 'python'} (hint: "
    )


def test_broken_interpreter_is_exit_2(tmp_path, capsys):
    broken = tmp_path / "python"
    broken.write_text(
        "#!/bin/sh\necho 'dyld: Library not loaded: @rpath/libpython3.9.dylib'"
        " >&2\nexit 134\n",
        encoding="utf-8",
    )
    broken.chmod(0o755)
    assert run(["doctor", "--python", str(broken)]) == 2
    line = _one_error_line(capsys)
    assert (
        f"{broken} is not a working Python (exit 134): dyld: Library not loaded" in line
    )


def test_directory_as_interpreter_and_missing_prefix_are_exit_2(tmp_path, capsys):
    assert run(["doctor", "--python", str(tmp_path)]) == 2
    assert "is not an executable interpreter" in _one_error_line(capsys)
    assert run(["doctor", "--prefix", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in _one_error_line(capsys)
    assert run(["doctor", "--python", sys.executable, "--prefix", str(tmp_path)]) == 2
    assert "--python and --prefix both given" in _one_error_line(capsys)


def test_probe_timeout_is_exit_3_and_kills_the_whole_probe(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(doctor_target, "PROBE_MARGIN", 0.0)
    hanging = tmp_path / "python"
    hanging.write_text(
        "#!/bin/sh\nsleep 60 &\nsleep 60\n", encoding="utf-8"
    )  # a child that keeps the pipes open
    hanging.chmod(0o755)
    started = time.monotonic()
    assert run(["doctor", "--python", str(hanging), "--timeout", "5"]) == 3
    assert time.monotonic() - started < 20
    assert "gave no answer within 5 s" in _one_error_line(capsys)


@pytest.mark.parametrize("value", ["inf", "1e400", "1e10", "3601", "nan", "4"])
def test_a_timeout_out_of_bounds_is_a_usage_error_before_any_probe(
    tmp_path, capsys, value
):
    called = tmp_path / "called"
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\ntouch {called}\n", encoding="utf-8")
    python.chmod(0o755)
    assert run(["doctor", "--python", str(python), "--timeout", value]) == 2
    line = _one_error_line(capsys)
    assert "--timeout" in line and "envgen doctor --help" in line
    assert not called.exists()


def test_recorded_probe_result(capsys):
    code, answer = _json_run(["--probe-result", str(FIXTURES / "healthy.json")], capsys)
    assert code == 0 and answer["summary"]["error"] == 0
    assert answer["facts"] == {
        "os": "macOS 12.6",
        "machine": "arm64",
        "python": "3.9.16",
        "environment": "conda (osx-arm64)",
        "tensorflow_imported": "2.6.0",
        "tensorflow_distributions": "tensorflow-macos 2.6.0, tensorflow-metal 0.2.0",
    }
    code, answer = _json_run(
        ["--probe-result", str(FIXTURES / "symbol-not-found.json")], capsys
    )
    assert code == 1 and answer["findings"][0]["severity"] == "error"


def test_bad_probe_result_file_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "probe.json"
    bad.write_text("not json", encoding="utf-8")
    assert run(["doctor", "--probe-result", str(bad)]) == 2
    assert "is not a probe result" in _one_error_line(capsys)


def test_the_probe_script_parses_as_python_3_6_and_imports_only_the_standard_library():
    tree = ast.parse(
        Path(doctor_target.PROBE_SCRIPT).read_text(encoding="utf-8"),
        feature_version=(3, 6),
    )
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - {"tensorflow"} <= set(sys.stdlib_module_names), imported - set(
        sys.stdlib_module_names
    )


def _old_pythons() -> list[str]:
    found = set()
    for name in ("python3.6", "python3.7", "python2.7"):
        path = shutil.which(name)
        if (
            path
            and subprocess.run([path, "-c", "pass"], capture_output=True).returncode
            == 0
        ):
            found.add(path)
    pyenv = Path(
        os.environ.get("PYENV_ROOT", "/root/.pyenv")
    )  # HOME is a temporary directory in tests
    found.update(str(p) for p in (pyenv / "versions").glob("[23].[67].*/bin/python"))
    return sorted(found)


def test_old_interpreters_get_a_report_not_a_crash(capsys):
    old = _old_pythons()
    if not old:
        pytest.skip("no Python 2.7/3.6/3.7 on this machine")
    for python in old:
        code, answer = _json_run(["--python", python], capsys)
        found = _checks(answer)
        assert code == 1 and found["python-version"]["severity"] == "error", python


# ---- inside an envgen project --------------------------------------------------------


def _project(directory: Path, location: str = "named", lock: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "envgen.toml").write_text(
        '[project]\nname = "demo"\n\n[tensorflow]\nversion ='
        f' "{LINE.tf}"\n\n[environment]\npython = "{LINE.default_python}"\nlocation ='
        f' "{location}"\n',
        encoding="utf-8",
    )
    if lock is not None:
        (directory / "conda-lock.yml").write_text(lock, encoding="utf-8")
    return directory


LOCK = """\
version: 1
package:
- name: python
  version: 3.9.16
  manager: conda
  platform: {platform}
- name: tensorflow-metal
  version: 0.2.0
  manager: pip
  platform: {platform}
"""


def test_project_prefix_env_is_the_default_target_and_is_compared_with_the_lock(
    tmp_path, capsys
):
    project = _project(tmp_path / "demo", "prefix", LOCK.format(platform="linux-64"))
    python = _bare_venv(project / ".conda-env")
    code, answer = _json_run(["--dir", str(project)], capsys)
    assert answer["target"] == str(python)
    assert "envgen project" in answer["target_reason"]
    lock = _checks(answer)["lock"]
    assert code == 1 and lock["severity"] == "error"
    assert "missing 2: python 3.9.16, tensorflow-metal 0.2.0" in lock["evidence"]
    assert lock["fix"].startswith("./bootstrap.sh")


def test_project_named_env_found_through_conda_environments_txt(tmp_path, monkeypatch):
    project = _project(tmp_path / "demo")
    env = tmp_path / "miniforge3" / "envs" / "demo"
    _bare_venv(env)
    home = Path.home()  # conftest points HOME at a temporary directory
    (home / ".conda").mkdir(exist_ok=True)
    (home / ".conda" / "environments.txt").write_text(
        f"{tmp_path / 'miniforge3'}\n{env}\n", encoding="utf-8"
    )
    target = choose_target(None, None, project, load_catalog())
    assert target.python == env / "bin" / "python"
    assert (
        target.project is not None
        and target.project.env_found
        and target.project.lock is None
    )


@pytest.mark.parametrize("kind", ["not utf-8", "fifo"])
def test_an_unreadable_conda_environments_txt_is_no_list_at_all(tmp_path, kind):
    project = _project(tmp_path / "demo")
    listing = Path.home() / ".conda" / "environments.txt"
    listing.parent.mkdir(exist_ok=True)
    if kind == "fifo":
        os.mkfifo(listing)  # reading it would block for ever
    else:
        listing.write_bytes(b"\xff\xfe/opt/envs/demo\n")
    target = choose_target(None, None, project, load_catalog())
    assert target.project is not None and not target.project.env_found


def test_project_without_its_env_falls_back_to_python3_on_path(tmp_path, monkeypatch):
    project = _project(tmp_path / "demo")
    monkeypatch.chdir(project)
    target = choose_target(None, None, None, load_catalog())
    assert (
        target.reason
        == "python3 first on PATH (the project's environment was not found)"
    )
    assert target.project is not None and not target.project.env_found


def test_dir_without_envgen_toml_is_exit_2(tmp_path, capsys):
    assert run(["doctor", "--dir", str(tmp_path)]) == 2
    assert f"no envgen.toml in {tmp_path}" in _one_error_line(capsys)


def test_outside_a_project_the_default_is_python3_on_path(tmp_path):
    target = choose_target(None, None, None, load_catalog())
    assert target.reason == "python3 first on PATH" and target.project is None


# ---- the probe on a conda layout (a venv dressed with conda-meta/, as conda leaves it)


def _conda_record(
    meta: Path, name: str, version: str, channel: str, subdir: str, files: list[str]
) -> None:
    record = {
        "name": name,
        "version": version,
        "build": "0",
        "channel": f"{channel}/{subdir}",
        "subdir": subdir,
        "url": f"{channel}/{subdir}/{name}-{version}-0.conda",
        "files": files,
    }
    (meta / f"{name}-{version}-0.json").write_text(json.dumps(record), encoding="utf-8")


def test_probe_reads_conda_meta_channels_and_who_installed_each_distribution(
    tmp_path, capsys
):
    root = tmp_path / "miniforge3"
    (root / "conda-meta").mkdir(parents=True)
    _conda_record(
        root / "conda-meta",
        "python",
        "3.9.16",
        "https://conda.anaconda.org/conda-forge",
        "osx-64",
        [],
    )
    env = root / "envs" / "demo"
    python = _bare_venv(env)
    site = _site_packages(python)
    relative = site.relative_to(env)
    meta = env / "conda-meta"
    meta.mkdir()
    (meta / "history").write_text(
        "==> 2026-11-22 <==\n# cmd: conda create -n demo python=3.9\n", encoding="utf-8"
    )
    _conda_record(
        meta,
        "python",
        "3.9.16",
        "https://conda.anaconda.org/conda-forge",
        "osx-arm64",
        [],
    )
    # numpy: conda's record from defaults, but the files on disk are a pip install that
    # replaced it
    _conda_record(
        meta,
        "numpy",
        "1.19.5",
        "https://repo.anaconda.com/pkgs/main",
        "osx-arm64",
        [f"{relative}/numpy-1.19.5.dist-info/METADATA"],
    )
    _fake_dist(site, "numpy", "1.26.4")
    # h5py: conda-forge's, owned by its record
    _conda_record(
        meta,
        "h5py",
        "3.1.0",
        "https://conda.anaconda.org/conda-forge",
        "osx-arm64",
        [f"{relative}/h5py-3.1.0.dist-info/METADATA"],
    )
    _fake_dist(site, "h5py", "3.1.0")
    code, answer = _json_run(["--python", str(python)], capsys)
    found = _checks(answer)
    assert code == 1
    assert found["numpy-source"]["severity"] == "error"
    assert (
        found["numpy-source"]["evidence"]
        == "numpy 1.26.4 (INSTALLER: pip); conda's 1.19.5 from pkgs/main is shadowed"
    )
    assert found["h5py-source"]["severity"] == "ok"
    assert (
        found["channels"]["severity"] == "error"
        and "pkgs/main: 1 (numpy)" in found["channels"]["evidence"]
    )
    assert (
        found["conda-platform"]["evidence"]
        == f"env python from osx-arm64; installation {root} is osx-64"
    )


def test_recorded_probe_result_compared_with_a_project_lock(tmp_path, capsys):
    lock = LOCK.format(platform="osx-arm64").replace("3.9.16", "3.9.18")
    project = _project(tmp_path / "demo", "named", lock)
    code, answer = _json_run(
        ["--probe-result", str(FIXTURES / "healthy.json"), "--dir", str(project)],
        capsys,
    )
    found = _checks(answer)
    assert code == 1
    assert found["lock"]["severity"] == "error"
    assert "other version 1: python 3.9.16 (lock 3.9.18)" in found["lock"]["evidence"]
    assert (
        "extra" in found["lock"]["evidence"]
        and "keras 2.6.0 (pip)" in found["lock"]["evidence"]
    )
