"""Errors that end the program with a message for the user.

Core code raises these; only the CLI prints them and turns them into exit codes. An
OSError that reaches the CLI becomes one line too (:func:`from_os_error`); anything else
is a bug: exit 4 ("internal error") with the traceback in a log file, never a verdict
code.
"""

from __future__ import annotations

import errno
import unicodedata

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERNAL = 4  # a bug in envgen: no command uses it for a verdict
EXIT_INTERRUPTED = 130


def printable(text: str) -> str:
    """text on one line: control characters and line separators shown as escapes, never
    emitted."""
    return "".join(
        (
            char.encode("unicode_escape").decode("ascii")
            if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
            else char
        )
        for char in text
    )


class EnvgenError(Exception):
    """Base error: a one-line message, a hint saying what to do, and an exit code."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self, message: str, hint: str = "", *, exit_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def one_line(self) -> str:
        """The message and hint as the single line the CLI prints (control characters
        shown escaped)."""
        text = f"{self.message} (hint: {self.hint})" if self.hint else self.message
        return printable(text)


class SpecError(EnvgenError):
    """envgen.toml or command-line input is invalid."""

    exit_code = EXIT_BAD_INPUT


class CatalogError(EnvgenError):
    """A request the catalog cannot answer (unknown line, unsupported Python...)."""

    exit_code = EXIT_BAD_INPUT


class GenerateError(EnvgenError):
    """Rendering would lose user work (hand-edited file, non-empty directory...)."""

    exit_code = EXIT_BAD_INPUT


class CheckFailed(EnvgenError):
    """A check ran and found a problem (stale lock, GPU not used, update available)."""

    exit_code = EXIT_CHECK_FAILED


class EnvironmentProblem(EnvgenError):
    """The machine or network cannot do what was asked (no solver, no network...)."""

    exit_code = EXIT_ENVIRONMENT


# An OSError is bad input when the path it names is wrong (missing, not a directory...),
# else the machine's problem (full disk, read-only file system, permissions, I/O).
_BAD_PATH_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ELOOP,
        errno.ENAMETOOLONG,
        errno.EEXIST,
        errno.ENOTEMPTY,
    }
)
_MACHINE_HINTS = {
    errno.ENOSPC: "free some space on that device, or use another --dir, and run again",
    errno.EDQUOT: (
        "free some space within your quota, or use another --dir, and run again"
    ),
    errno.EROFS: "that file system is read-only: use a writable --dir",
    errno.EACCES: "check the permissions of that path, or use another --dir",
    errno.EPERM: "check the permissions of that path, or use another --dir",
}


def from_os_error(error: OSError) -> EnvgenError:
    """The one line for an OSError nothing closer to it handled: what failed, on which
    path, what to do."""
    paths = " -> ".join(
        str(name) for name in (error.filename, error.filename2) if name is not None
    )
    reason = error.strerror or str(error) or type(error).__name__
    message = f"{paths}: {reason}" if paths else reason
    if error.errno in _BAD_PATH_ERRNOS:
        return EnvgenError(
            message,
            "check that path (e.g. --dir) and run again",
            exit_code=EXIT_BAD_INPUT,
        )
    hint = _MACHINE_HINTS.get(
        error.errno or 0, "fix the file system problem named above and run again"
    )
    return EnvgenError(message, hint, exit_code=EXIT_ENVIRONMENT)
