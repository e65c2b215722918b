"""Hostile interpreters for `envgen verify` and `envgen doctor`.

verify's verdict comes only from the verification script's JSON report: a program that
exits 0 without one is a bad interpreter (2), never "GPU used". doctor's --timeout is
the whole wait, and whatever the "interpreter" does (hang, crash, print garbage, exit 0
silently), the answer is one line with 2 or 3.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.hardening import assert_one_error_line, cli, new_project

GPU_REPORT = {
    "python": {"version": "3.9.16", "machine": "arm64"},
    "devices": [{"name": "/physical_device:GPU:0", "type": "GPU"}],
    "matmul": {
        "device": "/job:localhost/device:GPU:0",
        "on_gpu": True,
        "matches_numpy": True,
    },
    "exit_code": 0,
}


def _interpreter(tmp_path: Path, body: str, name: str = "python") -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def _writes_report(tmp_path: Path, report: object, exit_code: int) -> Path:
    data = tmp_path / "report-to-write.json"
    data.write_text(report if isinstance(report, str) else json.dumps(report))
    return _interpreter(
        tmp_path,
        f'while [ $# -gt 0 ]; do [ "$1" = --json ] && cp "{data}" "$2"; shift;'
        f" done\nexit {exit_code}",
    )


@pytest.fixture
def project(tmp_path, capsys):
    return new_project(capsys, tmp_path)


NO_REPORT = {
    "exits-0-silently": "exit 0",
    "exits-1-silently": "exit 1",
    "prints-gpu-used": 'echo "OK: the GPU is used"; exit 0',
    "killed-by-a-signal": "kill -9 $$",
    "segfault-code": "exit 139",
}


@pytest.mark.parametrize("case", sorted(NO_REPORT))
def test_verify_without_a_report_is_a_bad_interpreter_never_a_verdict(
    project, tmp_path, capsys, case
):
    python = _interpreter(tmp_path, NO_REPORT[case])
    code, _, err = cli(capsys, "verify", "--python", python, "--dir", project)
    assert code == 2, err
    line = [line for line in err.splitlines() if line.startswith("envgen: error")]
    assert len(line) == 1 and "report" in line[0], err
    assert "Traceback" not in err


BAD_REPORTS = {
    "not-json": "GPU used!",
    "a-list": [1, 2],
    "a-number": 0,
    "no-facts": {"exit_code": 0},
    "no-devices": {
        "python": {},
        "matmul": {"on_gpu": True, "matches_numpy": True},
        "exit_code": 0,
    },
    "truncated": json.dumps(GPU_REPORT)[:40],
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_verify_with_a_report_that_proves_nothing_is_exit_2(
    project, tmp_path, capsys, case
):
    python = _writes_report(tmp_path, BAD_REPORTS[case], 0)
    code, _, err = cli(capsys, "verify", "--python", python, "--dir", project)
    assert code == 2, err
    assert "Traceback" not in err


FACTS = {
    # the report's facts decide, whatever the process's exit status says
    "gpu-used-exit-1": (GPU_REPORT, 1, 0),
    "cpu-matmul-exit-0": (
        {**GPU_REPORT, "matmul": {**GPU_REPORT["matmul"], "on_gpu": False}},
        0,
        1,
    ),
    "gpu-op-but-no-gpu-device": (
        {**GPU_REPORT, "devices": [{"name": "cpu", "type": "CPU"}]},
        0,
        1,
    ),
    "wrong-result-exit-0": (
        {**GPU_REPORT, "matmul": {**GPU_REPORT["matmul"], "matches_numpy": False}},
        0,
        2,
    ),
    "error-recorded-exit-0": (
        {**GPU_REPORT, "error": {"stage": "import", "message": "x"}},
        0,
        2,
    ),
    "on-gpu-as-a-string": (
        {**GPU_REPORT, "matmul": {**GPU_REPORT["matmul"], "on_gpu": "yes"}},
        0,
        1,
    ),
}


@pytest.mark.parametrize("case", sorted(FACTS))
def test_verify_reads_the_verdict_from_the_reports_facts(
    project, tmp_path, capsys, case
):
    report, status, expected = FACTS[case]
    python = _writes_report(tmp_path, report, status)
    code, _, err = cli(
        capsys,
        "verify",
        "--python",
        python,
        "--dir",
        project,
        "--report",
        tmp_path / "copy.json",
    )
    assert code == expected, err
    assert json.loads((tmp_path / "copy.json").read_text()) == report


def test_verify_json_prints_the_report_it_judged(project, tmp_path, capsys):
    python = _writes_report(tmp_path, GPU_REPORT, 1)
    code, out, err = cli(
        capsys, "verify", "--python", python, "--dir", project, "--json"
    )
    assert code == 0, err
    assert json.loads(out) == GPU_REPORT


def test_verify_json_without_a_report_is_one_error_and_no_document(
    project, tmp_path, capsys
):
    python = _interpreter(tmp_path, "echo 'not json'; exit 0")
    code, out, err = cli(
        capsys, "verify", "--python", python, "--dir", project, "--json"
    )
    assert code == 2
    assert out == ""
    assert [line for line in err.splitlines() if line.startswith("envgen: error")]


def test_verify_report_copy_is_not_written_without_a_report(project, tmp_path, capsys):
    python = _interpreter(tmp_path, "exit 0")
    code, _, _ = cli(
        capsys,
        "verify",
        "--python",
        python,
        "--dir",
        project,
        "--report",
        tmp_path / "copy.json",
    )
    assert code == 2
    assert not (tmp_path / "copy.json").exists()


UNRUNNABLE = {
    "missing": lambda tmp: tmp / "nope" / "python",
    "a-directory": lambda tmp: tmp,
    "not-executable": lambda tmp: (
        (tmp / "plain").write_text("#!/bin/sh\nexit 0\n") and tmp / "plain"
    ),
    "exec-format-error": lambda tmp: _binary(tmp),
    "bad-shebang": lambda tmp: (
        _interpreter(tmp, "", name="shebang").write_text("#!/does/not/exist\n")
        and tmp / "shebang"
    ),
}


def _binary(tmp: Path) -> Path:
    path = tmp / "garbage"
    path.write_bytes(b"\x7fELF\x00\x00garbage")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("command", ["verify", "doctor"])
@pytest.mark.parametrize("case", sorted(UNRUNNABLE))
def test_an_interpreter_that_cannot_run_is_exit_2(
    project, tmp_path, capsys, command, case
):
    python = UNRUNNABLE[case](tmp_path)
    code, _, err = cli(capsys, command, "--python", python, "--dir", project)
    assert code == 2, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("envgen: error")]


DOCTOR_GARBAGE = {
    "exits-0-silently": "exit 0",
    "prints-garbage": "echo 'not json at all'; exit 0",
    "prints-a-json-list": "echo '[1, 2, 3]'",
    "prints-json-without-schema": "echo '{\"python\": {}}'",
    "prints-binary": "head -c 200 /dev/urandom; exit 0",
    "crashes": "echo 'Segmentation fault' >&2; kill -11 $$",
}


@pytest.mark.parametrize("case", sorted(DOCTOR_GARBAGE))
def test_doctor_on_a_lying_interpreter_is_one_line_exit_2(
    tmp_path, capsys, case, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    python = _interpreter(tmp_path, DOCTOR_GARBAGE[case])
    code, _, err = cli(capsys, "doctor", "--python", python)
    assert code == 2, err
    assert_one_error_line(err)


@pytest.mark.parametrize("timeout", [5, 7])
def test_doctor_timeout_is_the_whole_wait(tmp_path, capsys, monkeypatch, timeout):
    monkeypatch.chdir(tmp_path)
    hanging = _interpreter(
        tmp_path, "sleep 60 &\nsleep 60"
    )  # a child that keeps the pipes open
    started = time.monotonic()
    code, _, err = cli(capsys, "doctor", "--python", hanging, "--timeout", str(timeout))
    waited = time.monotonic() - started
    assert code == 3, err
    assert_one_error_line(err, f"within {timeout} s")
    assert timeout - 0.5 <= waited <= timeout + 2.5, waited


def test_doctor_probe_result_that_is_garbage_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "probe.json").write_bytes(b"\xff\xfe not json")
    code, _, err = cli(capsys, "doctor", "--probe-result", tmp_path / "probe.json")
    assert code == 2
    assert_one_error_line(err)
