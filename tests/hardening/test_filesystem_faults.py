"""File-system faults: symlinked and dangling --dir, paths that are files, read-only and
full file systems, concurrent runs, output to a full device or a closed pipe.

Full and read-only file systems are real: a small tmpfs mounted for the test (this needs
root; as root a chmod does not stop writes). Where mounting is impossible, the disk-full
cases run envgen in a child process with RLIMIT_FSIZE lowered (a write past it fails
with EFBIG, the same path through envgen as ENOSPC), and the read-only cases use chmod
as a non-root user; each says so when it cannot run.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.hardening import (
    assert_one_error_line,
    cli,
    cli_process,
    fabricate_lock,
    new_project,
    remount_read_only,
    small_filesystem,
    snapshot,
)

IS_ROOT = os.geteuid() == 0


def _edit_spec(project: Path) -> None:
    """Change envgen.toml so that generate has files to rewrite (an environment.yml
    over 1 kB)."""
    extras = ", ".join(
        f'"{name} >=1"'
        for name in ("pandas", "matplotlib", "tqdm", "rich", "click", "pyyaml", "scipy")
    )
    text = (project / "envgen.toml").read_text()
    (project / "envgen.toml").write_text(
        text.replace("conda = []", f"conda = [{extras}]")
    )


# ---- --dir that is not a plain directory ---------------------------------------------


def test_new_into_a_symlink_to_an_empty_directory_follows_it(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    code, _, err = cli(
        capsys, "new", "demo", "--tf", "2.6", "--no-lock", "--dir", tmp_path / "link"
    )
    assert code == 0, err
    assert (tmp_path / "link").is_symlink() and (real / "envgen.toml").is_file()


def test_new_into_a_dangling_symlink_is_bad_input(tmp_path, capsys):
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    before = snapshot(tmp_path)
    code, _, err = cli(
        capsys, "new", "demo", "--tf", "2.6", "--no-lock", "--dir", tmp_path / "link"
    )
    assert code == 2
    assert_one_error_line(err, "symbolic link", "does not exist")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "command", ["generate", "lock --check", "lock", "doctor --probe-result x.json"]
)
def test_a_dir_that_does_not_exist_is_bad_input(tmp_path, capsys, command):
    code, _, err = cli(
        capsys, *command.split(), "--dir", tmp_path / "does" / "not" / "exist"
    )
    assert code == 2, err
    assert_one_error_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["generate", "lock --check", "lock"])
def test_a_dir_that_is_a_file_is_bad_input(tmp_path, capsys, command):
    (tmp_path / "afile").write_text("x")
    code, _, err = cli(capsys, *command.split(), "--dir", tmp_path / "afile")
    assert code == 2, err
    assert_one_error_line(err)
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("command", ["generate", "lock --check"])
def test_a_dangling_symlink_dir_is_bad_input(tmp_path, capsys, command):
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    code, _, err = cli(capsys, *command.split(), "--dir", tmp_path / "link")
    assert code == 2, err
    assert_one_error_line(err)


def test_generate_through_a_symlinked_dir_works(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    (tmp_path / "link").symlink_to(project)
    _edit_spec(project)
    code, _, err = cli(capsys, "generate", "--dir", tmp_path / "link")
    assert code == 0, err
    assert "pandas" in (project / "environment.yml").read_text()


def test_new_where_the_parent_is_a_file_is_bad_input(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, _, err = cli(
        capsys,
        "new",
        "demo",
        "--tf",
        "2.6",
        "--no-lock",
        "--dir",
        tmp_path / "afile" / "demo",
    )
    assert code == 2
    assert_one_error_line(err)


def test_new_into_a_non_empty_directory_is_refused(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.txt").write_text("keep")
    before = snapshot(tmp_path)
    code, _, err = cli(
        capsys, "new", "demo", "--tf", "2.6", "--no-lock", "--dir", tmp_path / "p"
    )
    assert code == 2
    assert_one_error_line(err, "not empty")
    assert snapshot(tmp_path) == before


def test_a_managed_file_replaced_by_a_directory_is_named(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    (project / "environment.yml").unlink()
    (project / "environment.yml").mkdir()
    _edit_spec(project)
    before = snapshot(project)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 2
    assert_one_error_line(err, "environment.yml")
    assert snapshot(project) == before


# ---- a project file that is a FIFO, a device or a directory -------------------------

SPECIAL_KINDS = ("fifo", "device", "directory")


def _make_special(path: Path, kind: str) -> None:
    """Put a FIFO (reading blocks), /dev/zero (reading never ends) or a directory at
    path."""
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", SPECIAL_KINDS)
@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("envgen.toml", "generate"),
        ("envgen.toml", "lock --check"),
        ("envgen.toml", "lock"),
        ("envgen.toml", "add --pip tqdm"),
        ("envgen.toml", "remove tqdm"),
        ("environment.yml", "generate"),
        ("environment.yml", "lock"),
        ("conda-lock.yml", "lock --check"),
        ("conda-lock.yml", "lock"),
        ("conda-osx-arm64.lock", "lock --check"),
    ],
)
def test_a_project_file_that_is_not_a_regular_file_is_refused_without_hanging(
    tmp_path, capsys, kind, name, command
):
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    _make_special(project / name, kind)
    before = snapshot(project)
    code, out, err = cli(capsys, *command.split(), "--dir", project)
    # an input that cannot be read is that problem (2), never a stale lock (1); 1 only
    # for an explicit file, which --check compares with conda-lock.yml
    assert code == (1 if name.endswith(".lock") else 2), (code, out, err)
    assert_one_error_line(err, name)
    assert snapshot(project) == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["dangling", "loop", *SPECIAL_KINDS])
@pytest.mark.parametrize("name", ["envgen.toml", "environment.yml"])
def test_lock_check_on_an_unreadable_input_names_it_and_is_not_stale(
    tmp_path, capsys, kind, name
):
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    path = project / name
    if kind == "dangling":
        path.unlink()
        path.symlink_to(project / "nowhere")
    elif kind == "loop":
        path.unlink()
        path.symlink_to(path)
    else:
        _make_special(path, kind)
    before = snapshot(project)
    code, out, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 2, (code, out, err)
    line = assert_one_error_line(err, name)
    assert "is missing" not in line and "stale" not in line
    assert snapshot(project) == before


def test_lock_check_on_invalid_toml_says_so_not_stale(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    (project / "envgen.toml").write_text("[project\nname = 1\n")
    code, out, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 2, (code, out, err)
    assert_one_error_line(err, "not valid TOML")


def test_lock_check_without_envgen_toml_is_no_project(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    (project / "envgen.toml").unlink()
    code, out, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 2, (code, out, err)
    assert_one_error_line(err, "no envgen.toml")


def test_lock_check_with_environment_yml_deleted_is_stale(tmp_path, capsys):
    # a file that is genuinely not there is a lock out of date (1): `envgen generate`
    # writes it back, then the lock is checked again
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    (project / "environment.yml").unlink()
    code, out, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 1, (code, out, err)
    assert_one_error_line(err, "environment.yml is missing")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", [*SPECIAL_KINDS, "runaway"])
@pytest.mark.parametrize("command", ["generate", "add pandas", "generate --json"])
def test_an_unreadable_conda_lock_yml_does_not_fail_a_re_render(
    tmp_path, capsys, monkeypatch, kind, command
):
    # the managed files are written before the lock is looked at: the lock is only the
    # next step, named with what is wrong with it, never an error after the commit
    import envgen.reading

    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    if kind == "runaway":
        # above every other project file (bootstrap.sh is the largest)
        limit = 2 * max(p.stat().st_size for p in project.rglob("*") if p.is_file())
        monkeypatch.setattr(envgen.reading, "MAX_PROJECT_FILE", limit)
        with (project / "conda-lock.yml").open("a") as handle:
            handle.write("#" * limit + "\n")
    else:
        _make_special(project / "conda-lock.yml", kind)
    if command.startswith("generate"):
        _edit_spec(project)
    code, out, err = cli(capsys, *command.split(), "--dir", project)
    assert code == 0, (out, err)
    assert "pandas" in (project / "environment.yml").read_text()
    if command.endswith("--json"):
        document = json.loads(out)
        assert document["lock_fresh"] is False and document["next"] == "envgen lock"
    else:
        next_line = out.splitlines()[-1]
        assert next_line.startswith("next: envgen lock"), out
        assert "conda-lock.yml" in next_line and "cannot be checked" in next_line


def test_a_runaway_envgen_toml_is_refused_by_size(tmp_path, capsys, monkeypatch):
    import envgen.reading

    project = new_project(capsys, tmp_path)
    monkeypatch.setattr(envgen.reading, "MAX_PROJECT_FILE", 1000)
    spec = project / "envgen.toml"
    spec.write_text(spec.read_text() + "#" * 2000 + "\n")
    before = snapshot(project)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 2
    assert_one_error_line(err, "envgen.toml", "more than any project file")
    assert snapshot(project) == before


# ---- read-only and full file systems -------------------------------------------------


@pytest.fixture
def mounted(tmp_path):
    with small_filesystem(tmp_path / "fs", "512k") as where:
        if where is None:
            pytest.skip(
                "cannot mount a tmpfs here (not root): the RLIMIT_FSIZE and chmod"
                " variants below cover it"
            )
        yield where


def test_generate_on_a_read_only_file_system_is_exit_3_and_changes_nothing(
    mounted, capsys
):
    project = new_project(capsys, mounted)
    _edit_spec(project)
    before = snapshot(project)
    assert remount_read_only(mounted)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 3, err
    assert_one_error_line(err, "Read-only file system")
    assert snapshot(project) == before


def test_new_on_a_read_only_file_system_is_exit_3(mounted, capsys):
    assert remount_read_only(mounted)
    code, _, err = cli(
        capsys, "new", "demo", "--tf", "2.6", "--no-lock", "--dir", mounted / "demo"
    )
    assert code == 3, err
    assert_one_error_line(err, "Read-only file system")
    assert list(mounted.iterdir()) == []


def test_lock_check_on_a_read_only_file_system_still_checks(mounted, capsys):
    project = new_project(capsys, mounted)
    fabricate_lock(project)
    assert remount_read_only(mounted)
    code, _, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 0, err


def _fill(where: Path) -> None:
    """Fill a file system to the last byte (unbuffered writes, smaller and smaller)."""
    fd = os.open(where / "ballast", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)


def test_generate_on_a_full_disk_is_exit_3_and_changes_nothing(mounted, capsys):
    project = new_project(capsys, mounted)
    _edit_spec(project)
    _fill(mounted)
    before = snapshot(project)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 3, err
    assert_one_error_line(err, "No space left on device")
    assert snapshot(project) == before
    (mounted / "ballast").unlink()
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 0, err  # nothing was left behind to trip the next run
    assert "pandas" in (project / "environment.yml").read_text()
    assert not [p for p in project.rglob(".envgen-*")]


def test_new_on_a_full_disk_is_exit_3_and_leaves_no_staging(mounted, capsys):
    _fill(mounted)
    ballast = {p.name for p in mounted.iterdir()}
    code, _, err = cli(
        capsys, "new", "demo", "--tf", "2.6", "--no-lock", "--dir", mounted / "demo"
    )
    assert code == 3, err
    assert_one_error_line(err, "No space left on device")
    assert {p.name for p in mounted.iterdir()} == ballast


def test_file_size_limit_is_exit_3_and_changes_nothing(tmp_path, capsys):
    """Disk full without a mount: a child envgen whose writes fail past RLIMIT_FSIZE
    (EFBIG)."""
    project = new_project(capsys, tmp_path)
    _edit_spec(project)
    before = snapshot(project)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    done = subprocess.run(
        [sys.executable, "-m", "envgen", "generate", "--dir", str(project)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
    )
    assert done.returncode == 3, done.stderr
    assert_one_error_line(done.stderr, "File too large")
    assert snapshot(project) == before


@pytest.mark.skipif(
    IS_ROOT,
    reason=(
        "root writes through chmod; the tmpfs read-only cases above cover this as root"
    ),
)
def test_generate_in_a_read_only_directory_is_exit_3(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    _edit_spec(project)
    before = snapshot(project)
    project.chmod(0o555)
    try:
        code, _, err = cli(capsys, "generate", "--dir", project)
    finally:
        project.chmod(0o755)
    assert code == 3
    assert_one_error_line(err, "Permission denied")
    assert snapshot(project) == before


# ---- concurrent runs -----------------------------------------------------------------


def test_two_new_of_one_target_at_once_one_wins_the_other_is_refused(tmp_path):
    target = tmp_path / "demo"
    args = [
        sys.executable,
        "-m",
        "envgen",
        "new",
        "demo",
        "--tf",
        "2.6",
        "--no-lock",
        "--dir",
        str(target),
    ]
    children = [
        subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(child.wait(timeout=120), child.stderr.read()) for child in children]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and all(code in (0, 2) for code in codes), results
    assert codes.count(0) == 1, results
    for code, err in results:
        if code == 2:
            assert_one_error_line(err, "already exists")
    assert (target / "envgen.toml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no staging left behind


def test_concurrent_generates_leave_one_consistent_project(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    _edit_spec(project)
    args = [sys.executable, "-m", "envgen", "generate", "--dir", str(project)]
    children = [
        subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(child.wait(timeout=120), child.stderr.read()) for child in children]
    assert all(code == 0 for code, _ in results), results
    code, out, err = cli(capsys, "generate", "--dir", project)
    assert code == 0 and "up to date" in out, out + err
    assert not list(project.rglob(".envgen-*"))


# ---- output --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["matrix", "matrix --json", "--help", "lock --check --dir ."]
)
def test_output_to_a_full_device_is_exit_3(tmp_path, capsys, command):
    if command.startswith("lock"):
        fabricate_lock(new_project(capsys, tmp_path, "p"))
        tmp_path = tmp_path / "p"
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "envgen", *command.split()],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
    assert done.returncode == 3, done.stderr
    assert_one_error_line(done.stderr, "No space left on device")


def test_output_into_a_closed_pipe_is_not_a_verdict(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-m", "envgen", "matrix", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    child.stdout.close()
    err = child.stderr.read().decode()
    code = child.wait(timeout=60)
    assert code not in (1, 4), err
    assert "Traceback" not in err


def _close(*descriptors: int):
    def close() -> None:
        for descriptor in descriptors:
            os.close(descriptor)

    return close


@pytest.mark.parametrize("closed", [(1,), (2,), (0, 1, 2)], ids=["out", "err", "all"])
@pytest.mark.parametrize(
    "command",
    [
        "matrix",
        "matrix --json",
        "doctor --probe-result probe.json",
        "generate",
        "add pandas",
        "remove pandas",
    ],
)
def test_a_closed_standard_stream_is_dev_null_not_a_crash(
    tmp_path, capsys, command, closed
):
    import shutil

    project = new_project(capsys, tmp_path)
    if command == "remove pandas":
        assert cli(capsys, "add", "pandas", "--dir", project)[0] == 0
    shutil.copy(
        Path(__file__).parent.parent / "fixtures" / "doctor" / "healthy.json",
        project / "probe.json",
    )
    done = subprocess.run(
        [sys.executable, "-m", "envgen", *command.split()],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if 2 not in closed else subprocess.DEVNULL,
        text=True,
        preexec_fn=_close(*closed),
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr  # doctor: 1 only for its findings
    assert "internal error" not in (done.stderr or "")
    import tomli

    spec = tomli.loads((project / "envgen.toml").read_text())
    assert spec["packages"]["conda"] == (["pandas"] if command == "add pandas" else [])


def test_stderr_to_a_full_device_does_not_crash(tmp_path, capsys):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "envgen",
                "generate",
                "--dir",
                str(tmp_path / "nope"),
            ],
            stdout=subprocess.PIPE,
            stderr=full,
            text=True,
        )
    assert done.returncode == 2


def test_a_cli_process_sees_the_same_codes(tmp_path):
    done = cli_process("generate", "--dir", tmp_path / "nope")
    assert done.returncode == 2
    assert_one_error_line(done.stderr)
