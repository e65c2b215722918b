"""scripts/verify_gpu.py run for real (TensorFlow CPU, no TensorFlow) and `envgen
verify` around it."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest
from support.tf_env import tensorflow_cpu_python

from envgen.catalog.lines import load_catalog
from envgen.cli import run
from envgen.doctor.verify import rendered_script
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec

SMALL = ["--epochs", "2", "--samples", "600", "--batch", "64"]


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    spec = ProjectSpec(
        name="demo",
        tensorflow="2.6",
        metal=True,
        python="3.9",
        platforms=("osx-arm64",),
    )
    path = tmp_path_factory.mktemp("verify") / "verify_gpu.py"
    path.write_text(rendered_script(spec, load_catalog()))
    return path


@pytest.fixture(scope="module")
def tf_python() -> Path:
    return tensorflow_cpu_python()


def _run(
    python: Path, script: Path, *args: str, cwd: Path
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), str(script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.mark.slow
def test_tensorflow_cpu_reports_no_gpu_and_exits_1(script, tf_python, tmp_path):
    report_path = tmp_path / "report.json"
    result = _run(tf_python, script, *SMALL, "--json", str(report_path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: no GPU" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["exit_code"] == 1
    assert report["devices"] and all(d["type"] != "GPU" for d in report["devices"])
    assert report["metal_plugin"]["loaded"] is False
    assert report["memory_growth"] == {}
    assert "CPU" in report["matmul"]["device"] and report["matmul"]["on_gpu"] is False
    assert report["matmul"]["matches_numpy"] is True
    # the catalog pair for 2.6 is tensorflow-macos 2.6.0 + metal 0.2.0, which a Linux
    # CPU venv is not
    assert report["tensorflow"]["catalog_pair"] is False
    assert report["tensorflow"]["expected"] == {"tensorflow": "2.6.0", "metal": "0.2.0"}
    assert report["python"]["native_arm64"] is False
    training = report["training"]
    assert list(training["runs"]) == ["cpu"] and "speedup" not in training
    cpu = training["runs"]["cpu"]
    assert len(cpu["epoch_seconds"]) == 2 and all(t > 0 for t in cpu["epoch_seconds"])
    assert (
        cpu["loss"][-1] < cpu["loss"][0] or cpu["accuracy"][-1] > 0.2
    )  # chance is 0.1


@pytest.mark.slow
def test_tensorflow_cpu_passes_with_allow_cpu_and_plots_or_says_why(
    script, tf_python, tmp_path
):
    plot = tmp_path / "epochs.png"
    result = _run(
        tf_python, script, *SMALL, "--allow-cpu", "--plot", str(plot), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK (CPU allowed)" in result.stdout
    has_matplotlib = (
        subprocess.run(
            [str(tf_python), "-c", "import matplotlib"], capture_output=True
        ).returncode
        == 0
    )
    if has_matplotlib:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in result.stdout and not plot.exists()


def test_without_tensorflow_exits_2_with_the_cause(script, tmp_path):
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    report_path = tmp_path / "report.json"
    result = _run(
        bare / "bin" / "python", script, "--json", str(report_path), cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "No module named 'tensorflow'" in result.stdout
    assert (
        "TensorFlow is not installed in this Python: run ./bootstrap.sh"
        in result.stdout
    )
    report = json.loads(report_path.read_text())
    assert report["error"]["stage"] == "import" and report["exit_code"] == 2


def test_likely_causes_follow_the_failure_table(script):
    namespace: dict = {}
    exec(
        compile(script.read_text(), str(script), "exec"), namespace
    )  # defines functions only (guarded main)
    cause = namespace["likely_cause"]
    assert "tensorflow-metal was built against another TensorFlow" in cause(
        "dlopen: Symbol not found: _TF_Foo"
    )
    assert "numpy not from conda-forge" in cause(
        "Importing the numpy C-extensions failed."
    )
    assert "Rosetta" in cause(
        "mach-o file, but is an incompatible architecture (have 'x86_64', need 'arm64')"
    )
    assert "envgen doctor" in cause("something else entirely")


# ---- envgen verify -------------------------------------------------------------------


CPU_ONLY_REPORT = {
    "python": {"version": "3.9.16", "machine": "arm64"},
    "devices": [{"name": "/physical_device:CPU:0", "type": "CPU"}],
    "matmul": {
        "device": "/job:localhost/device:CPU:0",
        "on_gpu": False,
        "matches_numpy": True,
    },
    "exit_code": 1,
}
GPU_REPORT = {
    **CPU_ONLY_REPORT,
    "devices": [{"name": "/physical_device:GPU:0", "type": "GPU"}],
    "matmul": {
        "device": "/job:localhost/device:GPU:0",
        "on_gpu": True,
        "matches_numpy": True,
    },
    "exit_code": 0,
}


def _recording_python(
    tmp_path: Path, rc: int, report: dict | None = None
) -> tuple[Path, Path]:
    """A fake interpreter: logs its arguments and the script's first bytes, writes
    ``report`` where --json says, exits rc."""
    log = tmp_path / "python-args.log"
    python = tmp_path / "fakepython"
    report_file = tmp_path / "fake-report.json"
    report_file.write_text(json.dumps(report) if report is not None else "")
    write = (
        f'while [ $# -gt 0 ]; do [ "$1" = --json ] && cp "{report_file}" "$2"; shift;'
        " done\n"
        if report is not None
        else ""
    )
    python.write_text(
        f'#!/bin/sh\necho "$@" >>"{log}"\nhead -c 40 "$1" >>"{log}"\n{write}exit {rc}\n'
    )
    python.chmod(0o755)
    return python, log


def test_envgen_verify_runs_project_script_and_trusts_only_its_report(tmp_path, capsys):
    project = tmp_path / "demo"
    create_project(
        ProjectSpec(
            name="demo",
            tensorflow="2.6",
            metal=True,
            python="3.9",
            platforms=("osx-arm64",),
        ),
        project,
    )
    # exit status 0, but the report shows the matmul on the CPU: the report wins
    python, log = _recording_python(tmp_path, 0, CPU_ONLY_REPORT)
    code = run(
        [
            "verify",
            "--python",
            str(python),
            "--dir",
            str(project),
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 1
    first = log.read_text().splitlines()[0]
    script, flag, _report_path = first.split(" ")
    assert script == str(project / "scripts" / "verify_gpu.py") and flag == "--json"
    assert json.loads((tmp_path / "r.json").read_text()) == CPU_ONLY_REPORT
    assert "the project's scripts/verify_gpu.py" in capsys.readouterr().err
    python, _ = _recording_python(tmp_path, 1, CPU_ONLY_REPORT)
    assert (
        run(["verify", "--python", str(python), "--dir", str(project), "--allow-cpu"])
        == 0
    )


def _link(name: str, to: str):
    def make(project: Path) -> None:
        (project / name).symlink_to(to)

    return make


REPORT_TARGETS = {
    "envgen.toml": ("envgen.toml", None),
    "environment.yml": ("environment.yml", None),
    "bootstrap.sh": ("bootstrap.sh", None),
    "verify-script": ("scripts/verify_gpu.py", None),
    "train.py": ("train.py", None),
    "README.md": ("README.md", None),
    "conda-lock.yml": ("conda-lock.yml", None),
    "explicit-lock": ("conda-osx-arm64.lock", None),
    "workflow": (".github/workflows/verify.yml", None),
    "link-to-envgen.toml": ("r.json", _link("r.json", "envgen.toml")),
    "fifo": ("fifo", lambda project: os.mkfifo(project / "fifo")),
    "directory": ("scripts", None),
    "device": ("zero", _link("zero", "/dev/zero")),
}


@pytest.mark.parametrize("case", sorted(REPORT_TARGETS))
def test_envgen_verify_refuses_a_report_path_it_must_not_replace_before_running(
    tmp_path, capsys, monkeypatch, case
):
    from support.hardening import assert_one_error_line, snapshot

    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    (project / "conda-lock.yml").write_text("version: 1\n")
    (project / "conda-osx-arm64.lock").write_text("@EXPLICIT\n")
    relative, make = REPORT_TARGETS[case]
    if make is not None:
        make(project)
    python, log = _recording_python(tmp_path, 0, GPU_REPORT)
    monkeypatch.chdir(project)
    before = snapshot(project)
    code = run(["verify", "--python", str(python), "--report", relative])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, "--report")
    assert not log.exists()  # nothing ran
    assert snapshot(project) == before
    # the PNG --plot asks the script to write is held to the same rule
    assert run(["verify", "--python", str(python), "--plot", relative]) == 2
    assert_one_error_line(capsys.readouterr().err, "--plot")
    assert not log.exists() and snapshot(project) == before


def test_envgen_verify_report_writes_through_to_a_new_file(tmp_path, monkeypatch):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    python, _ = _recording_python(tmp_path, 0, GPU_REPORT)
    monkeypatch.chdir(project)
    (project / "old.json").write_text("{}")
    for name in ("verify-report.json", "old.json"):
        assert run(["verify", "--python", str(python), "--report", name]) == 0
        assert json.loads((project / name).read_text()) == GPU_REPORT


def test_envgen_verify_outside_a_project_renders_the_script(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    python, log = _recording_python(tmp_path, 0, GPU_REPORT)
    assert run(["verify", "--python", str(python), "--tf", "2.6"]) == 0
    text = log.read_text()
    assert "verify_gpu.py" in text.splitlines()[0] and "#!/usr/bin/env python" in text


def test_envgen_verify_missing_interpreter_is_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["verify", "--python", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "env").mkdir()
    assert run(["verify", "--python", str(tmp_path / "env"), "--tf", "2.6"]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "Permission denied" not in err


@pytest.mark.slow
def test_envgen_verify_end_to_end_on_tensorflow_cpu(tf_python, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "report.json"
    assert run(["verify", "--python", str(tf_python), "--report", str(report)]) == 1
    assert json.loads(report.read_text())["training"]["runs"]["cpu"]["epoch_seconds"]
