"""The one error boundary (envgen/cli.py): what reaches it becomes one line and a code
no verdict uses.

EnvgenError → its code; OSError → 2 (a path that is wrong) or 3 (the machine: full,
read-only, denied, I/O); UnicodeError → 2; Ctrl-C → 130; anything else → 4 "internal
error" with the traceback in a log file the line names. Never a traceback on the
terminal, never exit 1 (the verdict code) by accident.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.hardening import assert_one_error_line, cli

from envgen.commands import generate as generate_command
from envgen.errors import EXIT_INTERNAL

UNEXPECTED = {
    "runtime-error": RuntimeError("boom"),
    "key-error": KeyError("missing"),
    "type-error": TypeError("unsupported operand"),
    "assertion": AssertionError("invariant broken"),
    "recursion": RecursionError("maximum recursion depth exceeded"),
    "multi-line-message": ValueError("line one\nline two\r\nline three\u2028four"),
    "zero-division": ZeroDivisionError("division by zero"),
    "attribute-error": AttributeError("'NoneType' object has no attribute 'x'"),
}


def _raising(error: BaseException):
    def generate_project(*args, **kwargs):
        raise error

    return generate_project


@pytest.mark.parametrize("case", sorted(UNEXPECTED))
def test_an_unexpected_exception_is_exit_4_with_a_log(
    tmp_path, capsys, monkeypatch, case
):
    monkeypatch.setattr(
        generate_command, "generate_project", _raising(UNEXPECTED[case])
    )
    code, _, err = cli(capsys, "generate", "--dir", tmp_path)
    assert code == EXIT_INTERNAL == 4
    line = assert_one_error_line(err, "internal error", type(UNEXPECTED[case]).__name__)
    log = Path(line.split("the traceback is in ", 1)[1].split(",", 1)[0])
    text = log.read_text()
    assert "Traceback" in text and type(UNEXPECTED[case]).__name__ in text
    assert "generate" in text  # the argv is recorded for the report


OS_ERRORS = {
    "no-space": (errno.ENOSPC, 3),
    "quota": (errno.EDQUOT, 3),
    "read-only": (errno.EROFS, 3),
    "permission": (errno.EACCES, 3),
    "not-permitted": (errno.EPERM, 3),
    "io-error": (errno.EIO, 3),
    "too-big": (errno.EFBIG, 3),
    "no-such-file": (errno.ENOENT, 2),
    "not-a-directory": (errno.ENOTDIR, 2),
    "is-a-directory": (errno.EISDIR, 2),
    "symlink-loop": (errno.ELOOP, 2),
    "name-too-long": (errno.ENAMETOOLONG, 2),
}


@pytest.mark.parametrize("case", sorted(OS_ERRORS))
def test_an_os_error_is_one_line_with_the_path_and_2_or_3(
    tmp_path, capsys, monkeypatch, case
):
    number, expected = OS_ERRORS[case]
    error = OSError(number, os.strerror(number), str(tmp_path / "some" / "file"))
    monkeypatch.setattr(generate_command, "generate_project", _raising(error))
    code, _, err = cli(capsys, "generate", "--dir", tmp_path)
    assert code == expected
    assert_one_error_line(err, os.strerror(number), "some/file", "hint:")


def test_a_unicode_error_is_bad_input(tmp_path, capsys, monkeypatch):
    error = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    monkeypatch.setattr(generate_command, "generate_project", _raising(error))
    code, _, err = cli(capsys, "generate", "--dir", tmp_path)
    assert code == 2
    assert_one_error_line(err, "UTF-8")


@pytest.mark.parametrize(
    "interrupt", [KeyboardInterrupt(), __import__("envgen.cli").cli.Interrupted()]
)
def test_an_interrupt_is_130(tmp_path, capsys, monkeypatch, interrupt):
    monkeypatch.setattr(generate_command, "generate_project", _raising(interrupt))
    code, _, err = cli(capsys, "generate", "--dir", tmp_path)
    assert code == 130
    assert err.strip() == "envgen: interrupted"


def test_an_unwritable_log_directory_still_gives_exit_4(tmp_path, capsys, monkeypatch):
    (tmp_path / "cache").write_text("a file where the cache directory should be")
    monkeypatch.setenv("ENVGEN_CACHE_DIR", str(tmp_path / "cache" / "envgen"))
    monkeypatch.setattr(
        generate_command, "generate_project", _raising(RuntimeError("boom"))
    )
    code, _, err = cli(capsys, "generate", "--dir", tmp_path)
    assert code == 4
    line = assert_one_error_line(err, "internal error")
    log = Path(line.split("the traceback is in ", 1)[1].split(",", 1)[0])
    assert (
        log.is_file() and "RuntimeError" in log.read_text()
    )  # fell back to the temp directory


def test_an_error_message_with_control_characters_stays_one_line(tmp_path, capsys):
    code, _, err = cli(capsys, "generate", "--dir", tmp_path / "a\nb\x1b[31mred")
    assert code == 2
    assert_one_error_line(err, "\\n", "\\x1b")


def test_unknown_options_are_bad_input_not_a_verdict(capsys):
    code, _, err = cli(capsys, "lock", "--chek")
    assert code == 2
    assert_one_error_line(err)


def test_a_crash_in_a_real_process_never_prints_a_traceback(tmp_path):
    """The same boundary when envgen runs as a program: a sitecustomize makes one
    command crash."""
    (tmp_path / "sitecustomize.py").write_text(
        "import envgen.generate.project as p\n"
        "def broken(*a, **k):\n    raise RuntimeError('planted bug')\n"
        "p.generate_project = broken\n"
        "import envgen.commands.generate as g\ng.generate_project = broken\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "envgen", "generate", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 4, done.stderr
    assert_one_error_line(done.stderr, "internal error", "planted bug")
