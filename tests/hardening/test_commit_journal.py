"""The commit journal (.envgen-commit.json) as recovery reads it: a file of the project
(it can be committed to a repository, copied, moved), so it is trusted with nothing
outside the directory that holds it.

- a crafted journal never deletes or overwrites a file outside the project;
- a project moved or copied after a kill recovers its own files, not the original's;
- a commit killed after its last rename is kept (rolled forward), never undone;
- every command that reads a project recovers first (lock --check, generate, add,
  update; a no-op lock: tests/lock/test_lock.py);
- a commit that fails removes every temp file it made and puts back what it renamed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.hardening import cli, fabricate_lock, new_project, snapshot

from envgen import atomic
from envgen.atomic import JOURNAL, PendingFile, commit_files, recover

OLD = {"a.txt": b"old a", "sub/b.txt": b"old b", "c.txt": b"old c"}
NEW = {"a.txt": b"new a", "sub/b.txt": b"new b", "c.txt": None, "d.txt": b"new d"}


def _seed(root: Path) -> dict:
    for name, data in OLD.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return snapshot(root)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".envgen-*"))


# A commit of NEW into argv[1], killed (as by SIGKILL) at the argv[2]-th rename of a
# target; "journal" kills it after every rename, just before the journal is removed.
KILLER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from envgen import atomic
    root, at = Path(sys.argv[1]), sys.argv[2]
    real_replace, real_unlink = os.replace, Path.unlink
    count = [0]
    def dying(src, dst, *a, **k):
        if ".envgen-" not in str(dst) and atomic.JOURNAL not in str(dst):
            if str(count[0]) == at:
                os._exit(137)
            count[0] += 1
        return real_replace(src, dst, *a, **k)
    def dying_unlink(self, *a, **k):
        if at == "journal" and self.name == atomic.JOURNAL and self.exists():
            os._exit(137)
        return real_unlink(self, *a, **k)
    atomic.os.replace = dying
    Path.unlink = dying_unlink
    new = {"a.txt": b"new a", "sub/b.txt": b"new b", "c.txt": None, "d.txt": b"new d"}
    atomic.commit_files(root, [atomic.PendingFile(root / n, d) for n, d in new.items()])
    """)


def _kill_commit(root: Path, at: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(root), at], capture_output=True, text=True
    )
    assert done.returncode == 137, done.stderr
    assert (root / JOURNAL).exists()


# ---- 1. a crafted journal -------------------------------------------------------------


def test_a_crafted_journal_touches_nothing_outside_the_project(
    tmp_path, capsys, monkeypatch
):
    project = new_project(capsys, tmp_path)
    monkeypatch.chdir(tmp_path)  # where an older envgen resolved relative names
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep me")
    (outside / "victim2.txt").write_text("keep me too")
    (outside / "attacker.txt").write_text("pwned")
    (project / "escape").symlink_to(outside)
    (project / JOURNAL).write_text(
        json.dumps(
            [
                {"target": str(outside / "victim.txt"), "temp": "/tmp/nope"},
                {
                    "target": str(outside / "victim2.txt"),
                    "backup": str(outside / "attacker.txt"),
                },
                {"target": "../outside/victim.txt", "temp": ".envgen-new.x.1.tmp"},
                {"target": "escape/victim.txt", "temp": ".envgen-new.victim.txt.1.tmp"},
                {"target": "train.py", "backup": "../outside/attacker.txt"},
                {"target": "train.py", "backup": "README.md"},
            ]
        )
    )
    before = snapshot(outside)
    train = (project / "train.py").read_bytes()
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 0, err
    assert snapshot(outside) == before
    assert (project / "train.py").read_bytes() == train
    assert (project / "README.md").exists()
    assert not (project / JOURNAL).exists()
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1, err
    assert JOURNAL in warnings[0] and "ignored 6 entries" in warnings[0]


def test_a_crafted_journal_cannot_touch_a_project_file_envgen_does_not_write(
    tmp_path, capsys
):
    """A journal and a backup committed to a repo, aimed at the user's own file in the
    project (an untracked .env, notes): recovery in a project touches only envgen's
    files."""
    project = new_project(capsys, tmp_path)
    (project / ".env").write_text("SECRET=mine\n")
    (project / ".envgen-old..env.1").write_text("SECRET=attacker\n")
    (project / "notes.txt").write_text("mine\n")
    (project / JOURNAL).write_text(
        json.dumps(
            [
                {"target": ".env", "backup": ".envgen-old..env.1"},
                {"target": "notes.txt", "temp": ".envgen-new.notes.txt.1.tmp"},
            ]
        )
    )
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 0, err
    assert (project / ".env").read_text() == "SECRET=mine\n"
    assert (project / "notes.txt").read_text() == "mine\n"
    assert "ignored 2 entries" in err and not (project / JOURNAL).exists()


def test_a_journal_entry_naming_the_commits_own_files_is_still_recovered(tmp_path):
    """Entries that fit are recovered even when others in the journal are refused."""
    before = _seed(tmp_path)
    _kill_commit(tmp_path, "1")
    journal = json.loads((tmp_path / JOURNAL).read_text())
    journal["files"].append({"target": "/etc/passwd", "temp": None, "backup": None})
    (tmp_path / JOURNAL).write_text(json.dumps(journal))
    assert recover(tmp_path) is True
    assert snapshot(tmp_path) == before
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "content",
    ["", "{not json", "[1, 2]", '{"files": 3}', "null", "[" * 100000 + "]" * 100000],
    ids=["empty", "not-json", "numbers", "files-int", "null", "nested-100k"],
)
def test_a_journal_that_is_not_one_is_dropped(tmp_path, content):
    before = _seed(tmp_path)
    (tmp_path / JOURNAL).write_text(content)
    recover(tmp_path)
    assert snapshot(tmp_path) == before


def test_a_journal_that_is_a_symlink_is_not_followed(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps([{"target": "a.txt", "temp": None}]))
    project = tmp_path / "p"
    project.mkdir()
    (project / JOURNAL).symlink_to(outside)
    recover(project)
    assert outside.exists() and not os.path.lexists(project / JOURNAL)


# ---- 2. a moved or copied project ----------------------------------------------------


def test_a_project_moved_or_copied_after_a_kill_recovers_its_own_files(tmp_path):
    origin = tmp_path / "projA"
    origin.mkdir()
    before = _seed(origin)
    _kill_commit(origin, "1")
    half = snapshot(origin)
    copy, moved = tmp_path / "projC", tmp_path / "projB"
    shutil.copytree(origin, copy, symlinks=True)
    origin.rename(moved)
    assert recover(moved) is True
    assert snapshot(moved) == before
    assert snapshot(copy) == half  # the copy is its own project, not touched
    assert recover(copy) is True
    assert snapshot(copy) == before
    assert not origin.exists()  # nothing recreated where the project used to be


# ---- 3. a kill after the last rename -------------------------------------------------


def test_a_commit_killed_after_its_last_rename_is_kept(tmp_path):
    _seed(tmp_path)
    _kill_commit(tmp_path, "journal")
    assert recover(tmp_path) is True
    for name, data in NEW.items():
        path = tmp_path / name
        assert path.read_bytes() == data if data is not None else not path.exists()
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / JOURNAL).exists()


@pytest.mark.parametrize("at", ["0", "1", "2"])
def test_a_commit_killed_before_its_last_rename_is_rolled_back(tmp_path, at):
    before = _seed(tmp_path)
    _kill_commit(tmp_path, at)
    assert recover(tmp_path) is True
    assert snapshot(tmp_path) == before


# ---- 4. every command that reads a project recovers first ----------------------------

PAIR_KILLER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from envgen import atomic
    root, at, change = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "change"
    real_replace, real_unlink = os.replace, Path.unlink
    count = [0]
    def dying(src, dst, *a, **k):
        if ".envgen-" not in str(dst) and atomic.JOURNAL not in str(dst):
            if str(count[0]) == at:
                os._exit(137)
            count[0] += 1
        return real_replace(src, dst, *a, **k)
    def dying_unlink(self, *a, **k):
        if at == "journal" and self.name == atomic.JOURNAL and self.exists():
            os._exit(137)
        return real_unlink(self, *a, **k)
    atomic.os.replace = dying
    Path.unlink = dying_unlink
    lock = (root / "conda-lock.yml").read_bytes()
    explicit = (root / "conda-osx-arm64.lock").read_bytes()
    if change:
        lock = lock.replace(b"3.9.18", b"3.9.19")
    atomic.commit_files(root, [
        atomic.PendingFile(root / "conda-osx-arm64.lock", explicit),
        atomic.PendingFile(root / "conda-lock.yml", lock),
    ])
    """)


def _kill_lock_commit(project: Path, at: str, change: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PAIR_KILLER, str(project), at, str(change and "change")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 137, done.stderr
    assert (project / JOURNAL).exists()


def test_lock_check_after_a_kill_mid_commit_recovers_the_pair_first(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    before = snapshot(project)
    _kill_lock_commit(project, "1", change=True)  # conda-lock.yml new, explicit old
    assert snapshot(project) != before
    code, _, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 0, err
    assert snapshot(project) == before
    assert _leftovers(project) == [] and not (project / JOURNAL).exists()


@pytest.mark.parametrize(
    "command",
    [("generate",), ("add", "pandas"), ("update", "--check", "--offline")],
    ids=["generate", "add", "update"],
)
def test_project_commands_recover_before_reading(tmp_path, capsys, command):
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    before = snapshot(project)
    _kill_lock_commit(project, "1", change=True)
    cli(capsys, *command, "--dir", project)
    assert not (project / JOURNAL).exists()
    assert (project / "conda-lock.yml").read_bytes() == before["conda-lock.yml"][0]
    assert _leftovers(project) == []


# ---- 5. and 6. a failed commit cleans up after itself --------------------------------


def test_a_commit_failing_before_the_renames_removes_its_temp_files(tmp_path):
    _seed(tmp_path)
    (tmp_path / "e.lock").mkdir()  # a directory where a file is to go
    before = snapshot(tmp_path)
    with pytest.raises(OSError):
        commit_files(
            tmp_path,
            [
                PendingFile(tmp_path / "a.txt", b"new a"),
                PendingFile(tmp_path / "e.lock", b"new e"),
            ],
        )
    assert snapshot(tmp_path) == before
    assert _leftovers(tmp_path) == [] and not (tmp_path / JOURNAL).exists()


def test_lock_write_onto_a_directory_leaves_no_temp_file(tmp_path, capsys):
    """The end of `envgen lock --force` when conda-osx-arm64.lock is a directory."""
    from envgen.lock.write import write_lock
    from envgen.names import ENV_FILE, SPEC_FILE

    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    data = (project / "conda-lock.yml").read_bytes()
    (project / "conda-osx-arm64.lock").unlink()
    (project / "conda-osx-arm64.lock").mkdir()
    before = snapshot(project)
    with pytest.raises(IsADirectoryError):
        write_lock(project, data, {SPEC_FILE: "0" * 64, ENV_FILE: "0" * 64})
    assert snapshot(project) == before
    assert _leftovers(project) == []


def test_a_rename_refused_by_the_target_is_rolled_back_in_the_same_run(
    tmp_path, monkeypatch
):
    """As with a read-only bind mount on one target: every rename onto it fails."""
    before = _seed(tmp_path)
    real_replace = os.replace
    busy = str(tmp_path / "sub" / "b.txt")

    def replace(src, dst, *args, **kwargs):
        if str(dst) == busy:
            raise OSError(errno.EBUSY, "Device or resource busy", busy)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError):
        commit_files(tmp_path, [PendingFile(tmp_path / n, d) for n, d in NEW.items()])
    monkeypatch.undo()
    assert snapshot(tmp_path) == before
    assert _leftovers(tmp_path) == [] and not (tmp_path / JOURNAL).exists()


def test_a_rollback_that_cannot_put_a_file_back_keeps_the_journal(
    tmp_path, monkeypatch
):
    """A rename made, then every rename onto that target refused: the next run retries."""
    before = _seed(tmp_path)
    real_replace = os.replace
    target = str(tmp_path / "a.txt")
    state = {"renamed": False}

    def replace(src, dst, *args, **kwargs):
        if str(dst) == target:
            if state["renamed"]:
                raise OSError(errno.EROFS, "Read-only file system", target)
            state["renamed"] = True
        elif ".envgen-" not in str(dst) and JOURNAL not in str(dst):
            raise OSError(errno.EIO, "I/O error", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError):
        commit_files(tmp_path, [PendingFile(tmp_path / n, d) for n, d in NEW.items()])
    monkeypatch.undo()
    assert (tmp_path / JOURNAL).exists()
    assert recover(tmp_path) is True
    assert snapshot(tmp_path) == before
    assert _leftovers(tmp_path) == []


# ---- a file written through a link (envgen.toml linked out of the project) -----------

THROUGH_KILLER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from envgen import atomic
    root, real = Path(sys.argv[1]), Path(sys.argv[2])
    real_replace = os.replace
    def dying(src, dst, *a, **k):
        if str(dst) == str(root / "a.txt"):
            os._exit(137)  # after the linked file's rename
        return real_replace(src, dst, *a, **k)
    atomic.os.replace = dying
    atomic.commit_files(root, [
        atomic.PendingFile(real, b"new spec", through=root / "envgen.toml"),
        atomic.PendingFile(root / "a.txt", b"new a"),
    ])
    """)


def test_a_file_written_through_a_link_is_put_back_after_a_kill(tmp_path):
    root, shared = tmp_path / "p", tmp_path / "shared"
    root.mkdir()
    shared.mkdir()
    (shared / "spec.toml").write_bytes(b"old spec")
    (root / "envgen.toml").symlink_to(shared / "spec.toml")
    (root / "a.txt").write_bytes(b"old a")
    done = subprocess.run(
        [sys.executable, "-c", THROUGH_KILLER, str(root), str(shared / "spec.toml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 137, done.stderr
    assert (shared / "spec.toml").read_bytes() == b"new spec"
    journal = json.loads((root / JOURNAL).read_text())
    assert [f["target"] for f in journal["files"]] == ["envgen.toml", "a.txt"]
    assert recover(root) is True
    assert (shared / "spec.toml").read_bytes() == b"old spec"
    assert (root / "envgen.toml").is_symlink()
    assert (root / "a.txt").read_bytes() == b"old a"
    assert _leftovers(root) == [] and _leftovers(shared) == []


def test_a_crafted_entry_through_a_link_never_deletes_what_the_link_points_at(
    tmp_path,
):
    import hashlib

    root, outside = tmp_path / "p", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"well known content")
    (root / "envgen.toml").symlink_to(outside / "victim.txt")
    (root / "a.txt").write_bytes(b"a")
    entry = {
        "target": "envgen.toml",
        "temp": ".envgen-new.victim.txt.1.tmp",
        "backup": None,
        "sha256": hashlib.sha256(b"well known content").hexdigest(),
        "through_link": True,
    }
    unfinished = {"target": "a.txt", "temp": None, "backup": None}
    (root / JOURNAL).write_text(json.dumps({"files": [entry, unfinished]}))
    assert recover(root) is True
    assert (outside / "victim.txt").read_bytes() == b"well known content"
    assert (root / "a.txt").read_bytes() == b"a"
