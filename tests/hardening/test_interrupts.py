"""Interrupts at every commit point: Ctrl-C, a failing rename, and a kill (SIGKILL)
mid-commit.

A commit of several files (envgen generate's managed files, envgen lock's conda-lock.yml
and explicit files) either lands whole or not at all. Ctrl-C and errors are rolled back
in the process; a killed process leaves a journal that the next run in that directory
rolls back before it does anything else.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.hardening import cli, fabricate_lock, new_project, snapshot

from envgen import atomic
from envgen.atomic import JOURNAL, PendingFile, commit_files, recover

OLD = {"a.txt": b"old a", "sub/b.txt": b"old b", "c.txt": b"old c"}
NEW = {
    "a.txt": b"new a",
    "sub/b.txt": b"new b",
    "c.txt": None,
    "d.txt": b"new d",
}  # c deleted, d created


def _seed(root: Path) -> dict:
    for name, data in OLD.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return snapshot(root)


def _pending(root: Path) -> list[PendingFile]:
    return [PendingFile(root / name, data) for name, data in NEW.items()]


def _expected_new(root: Path) -> dict[str, bytes]:
    return {name: data for name, data in NEW.items() if data is not None}


def test_a_commit_lands_whole(tmp_path):
    _seed(tmp_path)
    commit_files(tmp_path, _pending(tmp_path))
    for name, data in NEW.items():
        assert (
            (tmp_path / name).read_bytes() == data
            if data is not None
            else not (tmp_path / name).exists()
        )
    assert not list(tmp_path.rglob(".envgen-*"))


def _fail_at(monkeypatch, step: int, error: BaseException) -> None:
    """Make the step-th rename of a commit (and only it) raise error."""
    real_replace = os.replace
    real_unlink = os.unlink
    calls = {"n": 0}

    def counting(operation):
        def wrapped(*args, **kwargs):
            target = str(args[-1] if operation is real_replace else args[0])
            if ".envgen-" not in target and JOURNAL not in target:
                if calls["n"] == step:
                    calls["n"] += 1
                    raise error
                calls["n"] += 1
            return operation(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(atomic.os, "replace", counting(real_replace))
    monkeypatch.setattr(atomic.os, "unlink", counting(real_unlink))


@pytest.mark.parametrize("step", range(len(NEW)))
@pytest.mark.parametrize(
    "error",
    [
        KeyboardInterrupt(),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EIO, "I/O error"),
    ],
    ids=["ctrl-c", "disk-full", "io-error"],
)
def test_a_commit_interrupted_at_any_rename_leaves_every_file_as_it_was(
    tmp_path, monkeypatch, step, error
):
    before = _seed(tmp_path)
    _fail_at(monkeypatch, step, error)
    with pytest.raises(type(error)):
        commit_files(tmp_path, _pending(tmp_path))
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


KILLER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from envgen import atomic
    root, step = Path(sys.argv[1]), int(sys.argv[2])
    real = os.replace
    count = [0]
    def dying(src, dst, *a, **k):
        if ".envgen-" not in str(dst) and atomic.JOURNAL not in str(dst):
            if count[0] == step:
                os._exit(137)  # as if SIGKILLed between two renames
            count[0] += 1
        return real(src, dst, *a, **k)
    atomic.os.replace = dying
    new = {"a.txt": b"new a", "sub/b.txt": b"new b", "c.txt": None, "d.txt": b"new d"}
    atomic.commit_files(root, [atomic.PendingFile(root / n, d) for n, d in new.items()])
    """)


@pytest.mark.parametrize(
    "step", range(len(NEW) - 1)
)  # the deletion step is an unlink, not a rename
def test_a_commit_killed_between_renames_is_rolled_back_by_the_next_run(tmp_path, step):
    before = _seed(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path), str(step)], capture_output=True
    )
    assert done.returncode == 137, done.stderr
    assert (tmp_path / JOURNAL).exists()  # the killed run left its journal
    assert recover(tmp_path) is True
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.rglob(".envgen-*"))
    commit_files(tmp_path, _pending(tmp_path))  # and the next commit works
    assert {
        n: (tmp_path / n).read_bytes() for n in _expected_new(tmp_path)
    } == _expected_new(tmp_path)


def test_leftover_temps_without_a_journal_are_swept(tmp_path):
    before = _seed(tmp_path)
    (tmp_path / ".envgen-new.a.txt.123.tmp").write_bytes(b"half")
    (tmp_path / ".envgen-old.a.txt.999").write_bytes(b"stale backup")
    commit_files(tmp_path, [PendingFile(tmp_path / "a.txt", b"new a")])
    assert not list(tmp_path.glob(".envgen-*"))
    assert (tmp_path / "a.txt").read_bytes() == b"new a"
    assert (tmp_path / "sub/b.txt").read_bytes() == before["sub/b.txt"][0]


def test_a_corrupt_journal_does_not_stop_the_next_run(tmp_path):
    _seed(tmp_path)
    (tmp_path / JOURNAL).write_text("{not json")
    commit_files(tmp_path, [PendingFile(tmp_path / "a.txt", b"new a")])
    assert not (tmp_path / JOURNAL).exists()


# ---- through the CLI -----------------------------------------------------------------


def _edit_spec(project: Path) -> None:
    """Change envgen.toml so that generate rewrites two files (environment.yml and
    bootstrap.sh)."""
    text = (project / "envgen.toml").read_text()
    text = text.replace("conda = []", 'conda = ["pandas"]')
    (project / "envgen.toml").write_text(
        text.replace("jupyter = false", "jupyter = true")
    )


@pytest.mark.parametrize("step", range(2))
def test_generate_interrupted_at_each_rename_is_exit_130_and_changes_nothing(
    tmp_path, capsys, monkeypatch, step
):
    project = new_project(capsys, tmp_path)
    _edit_spec(project)
    before = snapshot(project)
    _fail_at(monkeypatch, step, KeyboardInterrupt())
    code, _, err = cli(capsys, "generate", "--dir", project)
    monkeypatch.undo()
    assert code == 130, err
    assert err.strip() == "envgen: interrupted"
    assert snapshot(project) == before


def test_generate_killed_mid_commit_is_rolled_back_by_the_next_generate(
    tmp_path, capsys
):
    project = new_project(capsys, tmp_path)
    _edit_spec(project)
    before = snapshot(project)
    script = textwrap.dedent("""
        import os, sys
        from envgen import atomic
        from envgen.cli import run
        real = os.replace
        count = [0]
        def dying(src, dst, *a, **k):
            if ".envgen-" not in str(dst) and atomic.JOURNAL not in str(dst):
                if count[0] == 1:
                    os._exit(137)
                count[0] += 1
            return real(src, dst, *a, **k)
        atomic.os.replace = dying
        sys.exit(run(["generate", "--dir", sys.argv[1]]))
        """)
    done = subprocess.run(
        [sys.executable, "-c", script, str(project)], capture_output=True, text=True
    )
    assert done.returncode == 137, done.stderr
    assert snapshot(project) != before  # half a commit on disk
    code, _out, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 1, err  # never locked; a read recovers first, too
    assert snapshot(project) == before  # rolled back to the old set
    assert not recover(project)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 0, err
    assert "pandas" in (project / "environment.yml").read_text()
    assert not list(project.rglob(".envgen-*"))


def test_lock_files_interrupted_at_each_rename_stay_a_matching_pair(
    tmp_path, capsys, monkeypatch
):
    """The lock writer's commit (explicit file + conda-lock.yml) lands whole or not at
    all."""
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    before = snapshot(project)
    new_lock = (project / "conda-lock.yml").read_bytes().replace(b"3.9.18", b"3.9.19")
    new_explicit = (project / "conda-osx-arm64.lock").read_bytes() + b""
    for step in range(2):
        _fail_at(monkeypatch, step, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            commit_files(
                project,
                [
                    PendingFile(
                        project / "conda-osx-arm64.lock",
                        new_explicit.replace(b"@EXPLICIT", b"@EXPLICIT"),
                    ),
                    PendingFile(project / "conda-lock.yml", new_lock),
                ],
            )
        monkeypatch.undo()
        assert snapshot(project) == before
        code, _, err = cli(capsys, "lock", "--check", "--dir", project)
        assert code == 0, err


def test_new_killed_leaves_staging_that_the_next_new_removes(tmp_path, capsys):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    leftover = tmp_path / f".demo.envgen-staging-{pid}-abc123"
    (leftover / "scripts").mkdir(parents=True)
    (leftover / "envgen.toml").write_text("half")
    alive = tmp_path / f".demo.envgen-staging-{os.getpid()}-def456"
    alive.mkdir()
    code, _, err = cli(
        capsys, "new", "demo", "--tf", "2.6", "--no-lock", "--dir", tmp_path / "demo"
    )
    assert code == 0, err
    assert not leftover.exists()
    assert alive.exists()  # a staging directory of a live process is not touched
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["demo", alive.name])


def test_new_interrupted_while_staging_leaves_nothing(tmp_path, capsys, monkeypatch):
    from envgen.generate import project as project_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(project_module.os, "replace", interrupted)
    code, _, err = cli(
        capsys, "new", "demo", "--tf", "2.6", "--no-lock", "--dir", tmp_path / "demo"
    )
    assert code == 130, err
    assert list(tmp_path.iterdir()) == []
