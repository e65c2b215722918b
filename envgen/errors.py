"""Errors that end the program with a message for the user.

Core code raises these; only the CLI prints them and turns them into exit codes.
Anything that is not an EnvgenError is a bug and may show a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130


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
        """The message and hint as the single line the CLI prints."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


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
