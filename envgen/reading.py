"""The one way envgen reads a project's own files: regular files only, of bounded size.

envgen.toml, environment.yml, conda-lock.yml and the explicit files are the user's. One
of them may be anything a path can name: a FIFO (reading blocks for ever), a device such
as /dev/zero (reading never ends), a directory, or a runaway file. Each is refused with
one line naming the path, before a byte is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from envgen.errors import SpecError

# Far above any real project file (a large conda-lock.yml is a few MB), far below a
# machine's memory.
MAX_PROJECT_FILE = 64 * 1024 * 1024


def read_regular(path: Path | str, limit: int | None = None) -> bytes:
    """The bytes of the regular file at ``path`` (symlinks followed).

    Raises FileNotFoundError / NotADirectoryError as opening would, IsADirectoryError
    for a directory, and SpecError for anything else that is not a regular file or
    exceeds ``limit`` (default :data:`MAX_PROJECT_FILE`).
    """
    path = Path(path)
    limit = MAX_PROJECT_FILE if limit is None else limit
    # O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(
                f"{path} is not a regular file (a FIFO, socket or device)",
                "envgen reads only regular files: put a regular file there",
            )
        if info.st_size > limit:
            raise SpecError(
                f"{path} is {info.st_size} bytes, more than any project file"
                f" ({limit} at most)",
                "replace it with the real file: a project file is far smaller",
            )
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise SpecError(
                f"{path} grew past {limit} bytes while envgen read it",
                "replace it with the real file: a project file is far smaller",
            )
        return b"".join(chunks)
    finally:
        os.close(descriptor)
