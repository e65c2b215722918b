"""The one place envgen writes files: temp files beside their targets, fsync, rename,
all or nothing.

:func:`atomic_write` replaces one file. :func:`commit_files` replaces a set of files
together: every new content is written to a temp file first, the old files are kept as
hard-linked backups, a journal names them, and only then are the temps renamed into
place. A failure or interrupt during the renames puts every old file back; a run killed
outright (SIGKILL, power loss) leaves the journal, and the next commit in that directory
rolls the set back before it starts. Leftover temps and backups of killed runs are
removed then.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

JOURNAL = ".envgen-commit.json"
_NEW = ".envgen-new."
_OLD = ".envgen-old."


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_temp(path: Path, data: bytes, mode: int, prefix: str) -> Path:
    fd, tmp = tempfile.mkstemp(
        prefix=prefix + path.name + ".", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def _mode_for(path: Path, mode: int | None) -> int:
    if mode is not None:
        return mode
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o644


def atomic_write(path: Path, content: str | bytes, *, mode: int | None = None) -> None:
    """Write content to path so that readers see the old file or the new one, never half
    of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = _write_temp(path, data, _mode_for(path, mode), f".{path.name}.")
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class PendingFile:
    """One file of a commit: its new content (None deletes it) and mode (None keeps the
    old one, else 0644)."""

    path: Path
    content: str | bytes | None
    mode: int | None = None


@dataclass
class _Step:
    target: Path
    temp: Path | None
    backup: Path | None
    done: bool = False


def _journal_path(root: Path) -> Path:
    return Path(root) / JOURNAL


def _roll_back(steps: Sequence[_Step]) -> None:
    """Undo the renames already made, newest first, then drop every temp and backup."""
    for step in reversed(steps):
        if step.backup is not None and step.backup.exists():
            os.replace(step.backup, step.target)
        elif step.backup is None and step.temp is not None and not step.temp.exists():
            # a new file that was already renamed into place (its temp is gone)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(step.target)
    for step in steps:
        for leftover in (step.temp, step.backup):
            if leftover is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)


def _sweep(directories: set[Path]) -> None:
    """Remove temps and backups that a killed commit left behind (none is in use: the
    caller holds the lock)."""
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.startswith((_NEW, _OLD)):
                with contextlib.suppress(OSError):
                    os.unlink(directory / name)


def recover(root: Path) -> bool:
    """Roll back a commit a killed run left half done in root (per its journal); True if
    there was one."""
    journal = _journal_path(root)
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        entries = []
    steps = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            steps.append(
                _Step(
                    Path(entry["target"]),
                    Path(entry["temp"]) if entry.get("temp") else None,
                    Path(entry["backup"]) if entry.get("backup") else None,
                )
            )
        except (KeyError, TypeError):
            continue
    _roll_back(steps)
    _sweep({step.target.parent for step in steps})
    journal.unlink(missing_ok=True)
    _fsync_dir(Path(root))
    return True


def commit_files(root: Path, files: Sequence[PendingFile]) -> None:
    """Replace every file in ``files`` (all under ``root``) together, or none of them.

    Call it holding :func:`directory_lock` on root. A half-done commit left by a killed
    run is rolled back first. On any exception (Ctrl-C included) the files already
    renamed are put back before it propagates.
    """
    root = Path(root)
    recover(root)
    if not files:
        return
    directories = {Path(item.path).parent for item in files}
    _sweep(directories)
    steps: list[_Step] = []
    try:
        for item in files:
            target = Path(item.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = None
            if item.content is not None:
                data = (
                    item.content.encode("utf-8")
                    if isinstance(item.content, str)
                    else item.content
                )
                temp = _write_temp(target, data, _mode_for(target, item.mode), _NEW)
            backup = None
            if os.path.lexists(target):
                backup = target.parent / f"{_OLD}{target.name}.{os.getpid()}"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(backup)
                try:
                    os.link(target, backup, follow_symlinks=False)
                except OSError as error:
                    if error.errno not in (
                        errno.EPERM,
                        errno.EXDEV,
                        errno.EMLINK,
                        errno.ENOTSUP,
                        errno.EOPNOTSUPP,
                    ):
                        raise
                    shutil.copy2(target, backup, follow_symlinks=False)
            steps.append(_Step(target, temp, backup))
        for directory in directories:
            _fsync_dir(directory)
        record = [
            {
                "target": str(s.target),
                "temp": str(s.temp) if s.temp else None,
                "backup": str(s.backup) if s.backup else None,
            }
            for s in steps
        ]
        atomic_write(_journal_path(root), json.dumps(record, indent=1) + "\n")
        for step in steps:
            if step.temp is not None:
                os.replace(step.temp, step.target)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(step.target)
            step.done = True
        for directory in directories:
            _fsync_dir(directory)
    except BaseException:
        _roll_back(steps)
        _journal_path(root).unlink(missing_ok=True)
        raise
    _journal_path(root).unlink(missing_ok=True)
    for step in steps:
        if step.backup is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(step.backup)


def pending(
    root: Path,
    contents: Mapping[str, str | bytes | None],
    modes: Mapping[str, int] | None = None,
) -> list[PendingFile]:
    """PendingFiles for relative paths under root."""
    modes = modes or {}
    return [
        PendingFile(Path(root) / name, content, modes.get(name))
        for name, content in contents.items()
    ]


@contextlib.contextmanager
def directory_lock(directory: Path, on_wait=None) -> Iterator[None]:
    """Hold an exclusive flock on a directory while writing into it (released when the
    process dies, too)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
