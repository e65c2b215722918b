"""The one place envgen writes files: temp files beside their targets, fsync, rename,
all or nothing.

:func:`atomic_write` replaces one file. :func:`commit_files` replaces a set of files
together: every new content is written to a temp file first, the old files are kept as
hard-linked backups, a journal names them, and only then are the temps renamed into
place. A failure or interrupt puts every renamed file back and removes every temp file
made; a run killed outright (SIGKILL, power loss) leaves the journal, and the next run
that reads the project (:func:`recover_project`) finishes the commit if every new file
is in place, else rolls the set back. Leftover temps and backups of killed runs are
removed then.

The journal (``.envgen-commit.json``) is a file of the project: it may have been copied,
moved or committed to a repository by anyone. It names files relative to its own
directory, and recovery touches only those below it that carry envgen's own temp and
backup names (``.envgen-new.*``, ``.envgen-old.*``); any other entry is ignored with a
warning.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envgen.names import is_project_file

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
    # the symbolic link under the commit's root that path is reached through (an
    # envgen.toml linked elsewhere is written through its link): the journal names the
    # link, never the path
    through: Path | None = None


@dataclass
class _Step:
    """One file of a commit as the journal names it: the target relative to the commit's
    root, its temp and backup as plain names in the target's directory."""

    name: str  # the target, relative to root ("environment.yml", "scripts/x.py")
    temp: str | None  # ".envgen-new.<file>.<random>.tmp", None when the file is deleted
    backup: str | None  # ".envgen-old.<file>.<pid>", None when there was no old file
    sha256: str | None  # of the new content (None when the file is deleted)
    root: Path = Path(".")
    done: bool = False
    real: Path | None = None  # the file the link ``name`` points at, if written through

    @property
    def target(self) -> Path:
        return self.real if self.real is not None else self.root / self.name

    @property
    def temp_path(self) -> Path | None:
        return None if self.temp is None else self.target.parent / self.temp

    @property
    def backup_path(self) -> Path | None:
        return None if self.backup is None else self.target.parent / self.backup

    def record(self) -> dict:
        record: dict[str, object] = {
            "target": self.name,
            "temp": self.temp,
            "backup": self.backup,
            "sha256": self.sha256,
        }
        if self.real is not None:
            record["through_link"] = True
        return record


def _journal_path(root: Path) -> Path:
    return Path(root) / JOURNAL


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _holds(path: Path, digest: str | None) -> bool:
    """Whether the regular file at path holds the content with this sha256."""
    if digest is None:
        return False
    from envgen.errors import EnvgenError
    from envgen.reading import read_regular

    if os.path.islink(path):
        return False
    try:
        return _digest(read_regular(path)) == digest
    except (OSError, EnvgenError):
        return False


def _renamed(step: _Step) -> bool:
    """Whether the step's rename (or deletion) has been made: its temp is gone (a
    deletion: its target is)."""
    if step.temp is not None:
        temp = step.temp_path
        return temp is not None and not os.path.lexists(temp)
    return not os.path.lexists(step.target)


def _complete(steps: Sequence[_Step]) -> bool:
    """Whether every new content of the commit is in place (so it finished and must not
    be undone)."""
    return bool(steps) and all(
        _renamed(step) and (step.temp is None or _holds(step.target, step.sha256))
        for step in steps
    )


def _remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _roll_back(steps: Sequence[_Step]) -> bool:
    """Undo the renames already made, newest first, then drop every temp and backup;
    False if some file could not be put back (its backup and the journal are kept for
    the next run)."""
    restored = True
    for step in reversed(steps):
        if not (step.done or _renamed(step)):
            continue  # never renamed: the target still holds its old content
        try:
            backup = step.backup_path
            if backup is not None and os.path.lexists(backup):
                os.replace(backup, step.target)
            elif (
                backup is None
                and step.real is None
                and _holds(step.target, step.sha256)
            ):
                # a new file that was renamed into place (it holds the new content)
                os.unlink(step.target)
        except FileNotFoundError:
            pass
        except OSError:
            restored = False
    for step in steps:
        for leftover in (step.temp_path, step.backup_path if restored else None):
            with contextlib.suppress(OSError):
                _remove(leftover)
    return restored


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


def _warn(text: str) -> None:
    from envgen.errors import printable

    sys.stderr.write(f"envgen: warning: {printable(text)}\n")
    sys.stderr.flush()


def _plain_name(value: object) -> str | None:
    """value if it is a plain file name (no separator, not . or ..), else None."""
    if (
        not isinstance(value, str)
        or not value
        or value in (".", "..")
        or "/" in value
        or "\x00" in value
    ):
        return None
    return value


def _inside(real_root: str, path: str) -> bool:
    """Whether the resolved ``path`` is ``real_root`` or below it."""
    return path == real_root or path.startswith(real_root + os.sep)


def _relative_target(root: Path, value: object) -> str | None:
    """A journal's target as a path relative to root, or None if it names anything
    outside root (an absolute path, a .., a directory that is a symlink out of root)."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    real_root = os.path.realpath(root)
    if os.path.isabs(value):
        # an older envgen recorded absolute paths: accept them only inside this root
        parent = os.path.realpath(os.path.dirname(value))
        if not _inside(real_root, parent):
            return None
        value = os.path.relpath(
            os.path.join(parent, os.path.basename(value)), real_root
        )
    parts = value.split("/")
    if any(_plain_name(part) is None for part in parts):
        return None
    if not _inside(real_root, os.path.realpath(os.path.join(root, *parts[:-1]))):
        return None
    return "/".join(parts)


def _sibling(value: object, directory: str) -> object:
    """A temp or backup name as recorded: a plain name, or (an older envgen's journal)
    an absolute path in the target's directory, taken as its name."""
    if isinstance(value, str) and os.path.isabs(value):
        if os.path.realpath(os.path.dirname(value)) != directory:
            return ""  # not a sibling of its target: refused
        return os.path.basename(value)
    return value


def _parse_step(root: Path, entry: object) -> _Step | None:
    """A journal entry as a step, or None if it does not fit what envgen writes."""
    if not isinstance(entry, dict):
        return None
    name = _relative_target(root, entry.get("target"))
    if name is None:
        return None
    real = None
    if entry.get("through_link") is True:
        # written through a link under root: only put back from (or drop) envgen's own
        # backup beside the file it points at, never deleted nor swept there
        link = os.path.join(root, name)
        if not os.path.islink(link) or entry.get("temp") is None:
            return None
        real = Path(os.path.realpath(link))
    target = real if real is not None else Path(root) / name
    base = target.name
    directory = os.path.realpath(target.parent)
    temp = _sibling(entry.get("temp"), directory)
    backup = _sibling(entry.get("backup"), directory)
    digest = entry.get("sha256")
    if temp is not None:
        temp = _plain_name(temp)
        if temp is None or not (
            temp.startswith(f"{_NEW}{base}.") and temp.endswith(".tmp")
        ):
            return None
    if backup is not None:
        backup = _plain_name(backup)
        if backup is None or not backup.startswith(f"{_OLD}{base}."):
            return None
    if digest is not None and not (
        isinstance(digest, str)
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    ):
        return None
    return _Step(name, temp, backup, digest, Path(root), real=real)


def _read_journal(journal: Path) -> object:
    """The journal's JSON (None when it cannot be read as JSON); FileNotFoundError when
    there is none."""
    from envgen.errors import EnvgenError
    from envgen.reading import read_regular

    if os.path.islink(journal):
        return None
    try:
        return json.loads(read_regular(journal).decode("utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError, EnvgenError):
        return None  # RecursionError: JSON nested deeper than Python parses


def recover(root: Path, only: Callable[[str], bool] | None = None) -> bool:
    """Finish a commit a killed run left in root (per its journal); True if there was
    one.

    A commit whose every new file is in place is kept (only its backups are dropped); a
    half-done one is rolled back. Only files the journal names inside root, with
    envgen's own temp and backup names, are touched: an entry naming anything else is
    ignored (one warning on stderr) and dropped with the journal; so is one whose
    target (relative to root) ``only`` refuses, when given: a project recovers only the
    files envgen writes there. Call it holding :func:`directory_lock` on root.
    """
    root = Path(root)
    journal = _journal_path(root)
    if not os.path.lexists(journal):
        return False
    if os.path.isdir(journal) and not os.path.islink(journal):
        _warn(f"{journal} is a directory, not envgen's commit journal: ignored")
        return False
    try:
        document = _read_journal(journal)
    except FileNotFoundError:
        return False
    entries = document.get("files") if isinstance(document, dict) else document
    steps, ignored = [], 0
    for entry in entries if isinstance(entries, list) else []:
        step = _parse_step(root, entry)
        if step is None or (only is not None and not only(step.name)):
            ignored += 1
        else:
            steps.append(step)
    if ignored:
        _warn(
            f"{journal}: ignored {ignored} entr{'y' if ignored == 1 else 'ies'} naming"
            " a file outside the project, a file envgen does not write, or not one of"
            " envgen's own temporary files"
        )
    if _complete(steps):
        # every rename was made: the commit finished, only its clean-up did not
        journal.unlink(missing_ok=True)
        for step in steps:
            _remove(step.backup_path)
    elif _roll_back(steps):
        journal.unlink(missing_ok=True)
    else:
        raise OSError(
            errno.EIO,
            "could not put back every file of an interrupted commit",
            str(journal),
        )
    _sweep({step.target.parent for step in steps if step.real is None})
    _fsync_dir(root)
    return True


def _identity(directory: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(directory)
    except OSError:
        return None
    return info.st_dev, info.st_ino


# The directories this process holds directory_lock on, by (device, inode): locking one
# again from the same process would wait for itself.
_HELD: set[tuple[int, int] | None] = set()


def recover_project(directory: Path) -> bool:
    """Before a command reads a project: finish or roll back a commit a killed run left
    there (under the directory's lock), touching only the files envgen writes in a
    project; True if there was one. Cheap when there is none.
    """
    directory = Path(directory)
    if not os.path.lexists(_journal_path(directory)):
        return False
    if _identity(directory) in _HELD:
        return recover(directory, is_project_file)
    with directory_lock(directory):
        return recover(directory, is_project_file)


def _relative_name(root: Path, path: Path) -> str:
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if relative == ".." or relative.startswith(".." + os.sep) or relative == ".":
        raise ValueError(f"{path} is not a file under {root}")
    return relative.replace(os.sep, "/")


def commit_files(
    root: Path,
    files: Sequence[PendingFile],
    only: Callable[[str], bool] | None = None,
) -> None:
    """Replace every file in ``files`` (all under ``root``) together, or none of them.

    Call it holding :func:`directory_lock` on root. A half-done commit left by a killed
    run is rolled back first (a finished one is kept). On any exception (Ctrl-C
    included) the files already renamed are put back and every temp file made is
    removed before it propagates.
    """
    root = Path(root)
    recover(root, only)
    if not files:
        return
    names = [_relative_name(root, Path(item.through or item.path)) for item in files]
    directories = {Path(item.path).parent for item in files}
    _sweep(directories)
    steps: list[_Step] = []
    journal = _journal_path(root)
    try:
        for item, name in zip(files, names, strict=True):
            target = Path(item.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            step = _Step(
                name, None, None, None, root, real=target if item.through else None
            )
            steps.append(step)  # from here on, a failure removes what the step made
            if item.content is not None:
                data = (
                    item.content.encode("utf-8")
                    if isinstance(item.content, str)
                    else item.content
                )
                step.sha256 = _digest(data)
                step.temp = _write_temp(
                    target, data, _mode_for(target, item.mode), _NEW
                ).name
            if os.path.lexists(target):
                backup = target.parent / f"{_OLD}{target.name}.{os.getpid()}"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(backup)
                step.backup = backup.name
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
        for directory in directories:
            _fsync_dir(directory)
        record = {"envgen_commit": 2, "files": [step.record() for step in steps]}
        atomic_write(journal, json.dumps(record, indent=1) + "\n")
        for step in steps:
            temp = step.temp_path
            if temp is not None:
                os.replace(temp, step.target)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(step.target)
            step.done = True
        for directory in directories:
            _fsync_dir(directory)
    except BaseException:
        if _roll_back(steps):
            journal.unlink(missing_ok=True)
        raise
    journal.unlink(missing_ok=True)
    for step in steps:
        _remove(step.backup_path)


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
    held = None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = os.fstat(fd)
        held = (info.st_dev, info.st_ino)
        _HELD.add(held)
        yield
    finally:
        _HELD.discard(held)
        os.close(fd)
