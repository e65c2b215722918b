"""The envgen command line: parse, call one core function, print, exit code.

Each command lives in ``envgen/commands/<name>.py`` and registers itself on the app.
:func:`run` is the one error boundary: every EnvgenError and OSError becomes one line on
stderr and its exit code (2 bad input, 3 environment), Ctrl-C exits 130, and anything
else is a bug: exit 4 with the traceback written to a log whose path the line names. No
traceback reaches the terminal, and no crash exits 1, the code that means a verdict
("stale", "errors found", "update available").
"""

from __future__ import annotations

import datetime
import errno
import importlib
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import typer

from envgen import __version__
from envgen.commands.conventions import EnvgenGroup
from envgen.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EnvgenError,
    from_os_error,
    printable,
)
from envgen.names import cache_dir

COMMANDS = (
    "new",
    "generate",
    "add",
    "remove",
    "matrix",
    "doctor",
    "verify",
    "update",
    "refresh",
    "check_pair",
    "lock",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"envgen {__version__}")
        raise typer.Exit()


# Modules whose commands live under ``envgen catalog``; every other module registers the
# command of its name.
CATALOG_COMMANDS = ("refresh", "check_pair")


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules a command line needs: only the invoked one, so start-up stays
    short.

    With no command word (``envgen``, ``envgen --help``) every module is loaded, for the
    help listing.
    """
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    if word == "catalog":
        return CATALOG_COMMANDS
    if word in COMMANDS and word not in CATALOG_COMMANDS:
        return (word,)
    return COMMANDS


def build_app(modules: Sequence[str] = COMMANDS) -> tuple[typer.Typer, typer.Typer]:
    """The typer app with the given command modules registered (all by default) and the
    ``catalog`` sub-app."""
    app = typer.Typer(
        name="envgen",
        help=(
            "Reproducible, hash-locked TensorFlow-on-Metal environments for Apple"
            " Silicon."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=EnvgenGroup,
    )
    catalog_app = typer.Typer(
        help="Inspect and maintain envgen's version catalog.",
        no_args_is_help=True,
        cls=EnvgenGroup,
    )
    app.add_typer(catalog_app, name="catalog")

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False,
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version.",
        ),
    ) -> None:
        """envgen turns envgen.toml into environment.yml, conda-lock.yml and a verified
        bootstrap."""

    for name in modules:
        importlib.import_module(f"envgen.commands.{name}").register(app, catalog_app)
    return app, catalog_app


class Interrupted(BaseException):
    """Ctrl-C. Not a KeyboardInterrupt: typer turns those into a silent exit 130 before
    we can say anything."""


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted()


@contextmanager
def _sigint_raises_interrupted() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _help_for(error: typer.TyperException, root: object, args: list[str]) -> str:
    """The help of the command the usage error is about (``envgen lock --help``).

    The error's context names the command; a parser error that carries none (an option
    missing its value) is placed by walking the command words of the argument list.
    """
    context = getattr(error, "ctx", None)
    if context is not None:
        return f"{context.command_path} --help"
    path, node = ["envgen"], root
    for word in args:
        node = getattr(node, "commands", {}).get(word)
        if node is None:
            break
        path.append(word)
    return f"{' '.join(path)} --help"


_STREAM_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EPIPE, errno.EBADF, errno.EIO, errno.EDQUOT}
)


def _crash_log(error: BaseException, argv: Sequence[str]) -> str:
    """Write the traceback of an unexpected error to a log file; its path (or why there
    is none)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (
        f"envgen {__version__}, python {sys.version.split()[0]}, argv: {list(argv)!r}\n"
        + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    )
    cache = str(cache_dir())
    for directory in (cache, tempfile.gettempdir()):
        try:
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, f"crash-{stamp}-{os.getpid()}.log")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            return path
        except OSError:
            continue
    return "(no log: neither the cache directory nor the temp directory is writable)"


def _say(line: str) -> None:
    """One line on stderr; a stderr that cannot be written to is not worth a second
    failure."""
    with suppress(OSError, ValueError):
        typer.echo(line, err=True)


def _detach_stdout() -> None:
    """After stdout failed (full device, closed pipe), point it at /dev/null so exit
    does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


_STANDARD_STREAMS = ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w"))


def _open_standard_streams() -> None:
    """A standard stream the caller closed (`envgen matrix >&-`) becomes /dev/null.

    Python leaves ``sys.stdout`` None then, which every print would trip over; and the
    closed descriptor would be the next file envgen opens, so a child process (the probe,
    the solver) writing its output would write into that file. Output nobody can read is
    dropped, as with ``>/dev/null``; the command still runs and its exit code still says
    how it went.
    """
    for descriptor, name, mode in _STANDARD_STREAMS:
        try:
            os.fstat(descriptor)
        except OSError:
            try:
                devnull = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if devnull != descriptor:
                os.dup2(devnull, descriptor)
                os.close(devnull)
            setattr(sys, name, None)
        if getattr(sys, name) is None:
            with suppress(OSError, ValueError):
                setattr(
                    sys,
                    name,
                    open(  # noqa: SIM115 - the process's stream, open until exit
                        descriptor,
                        mode,
                        encoding="utf-8",
                        errors="backslashreplace",
                        closefd=False,
                    ),
                )


def _run_command(command: Any, args: list[str]) -> int:
    with _sigint_raises_interrupted():
        result = command.main(args=args, prog_name="envgen", standalone_mode=False)
        sys.stdout.flush()  # inside the boundary: a full or closed stdout is an error like any other
    if result == EXIT_INTERRUPTED:  # typer turned a KeyboardInterrupt into a silent 130
        _say("envgen: interrupted")
    return result if isinstance(result, int) else 0


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on argv and return the exit code (tests call this)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    command: Any = None
    _open_standard_streams()
    try:
        app, _ = build_app(modules_for(args))
        command = typer.main.get_command(app)
        return _run_command(command, args)
    except EnvgenError as error:
        _say(f"envgen: error: {error.one_line()}")
        return error.exit_code
    except (typer.Abort, KeyboardInterrupt, Interrupted):
        _say("envgen: interrupted")
        return EXIT_INTERRUPTED
    except typer.Exit as done:
        return done.exit_code
    except typer.TyperException as error:
        message = error.format_message()
        if message:  # empty when typer already printed the help (no arguments given)
            _say(
                f"envgen: error: {printable(message)} (hint: see"
                f" '{_help_for(error, command, args)}')"
            )
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        _detach_stdout()  # the reader went away (`envgen matrix | head`): nothing left to say
        return EXIT_ENVIRONMENT
    except SystemExit as done:
        # click turns a closed stdout (EPIPE) into SystemExit(1); 1 is a verdict here,
        # so say what it was
        if done.code == 1:
            _detach_stdout()
            return EXIT_ENVIRONMENT
        return done.code if isinstance(done.code, int) else EXIT_INTERNAL
    except OSError as error:
        if (
            error.filename is None and error.errno in _STREAM_ERRNOS
        ):  # stdout on a full device, closed...
            _detach_stdout()
            _say(
                f"envgen: error: cannot write the output: {error.strerror} (hint: check"
                " where stdout goes)"
            )
            return EXIT_ENVIRONMENT
        _say(f"envgen: error: {from_os_error(error).one_line()}")
        return from_os_error(error).exit_code
    except UnicodeError as error:
        _say(
            f"envgen: error: a file is not UTF-8 text ({printable(str(error))[:200]})"
            " (hint: save it as UTF-8)"
        )
        return EXIT_BAD_INPUT
    except Exception as error:  # a bug: say so, keep the traceback for a report
        log = _crash_log(error, args)
        _say(
            f"envgen: internal error: {type(error).__name__}:"
            f" {printable(str(error))[:200]} (hint: this is a bug in envgen; the"
            f" traceback is in {log}, please attach it to a bug report)"
        )
        return EXIT_INTERNAL


def main() -> None:
    sys.exit(run())
