"""The envgen command line: parse, call one core function, print, exit code.

Each command lives in ``envgen/commands/<name>.py`` and registers itself on the app.
Every EnvgenError becomes one line on stderr and its exit code; Ctrl-C exits 130.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import typer

from envgen import __version__
from envgen.commands.conventions import EnvgenGroup
from envgen.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EnvgenError

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


# Modules whose commands live under ``envgen catalog``; every other module registers the command of its name.
CATALOG_COMMANDS = ("refresh", "check_pair")


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules a command line needs: only the invoked one, so start-up stays short.

    With no command word (``envgen``, ``envgen --help``) every module is loaded, for the help listing.
    """
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    if word == "catalog":
        return CATALOG_COMMANDS
    if word in COMMANDS and word not in CATALOG_COMMANDS:
        return (word,)
    return COMMANDS


def build_app(modules: Sequence[str] = COMMANDS) -> tuple[typer.Typer, typer.Typer]:
    """The typer app with the given command modules registered (all by default) and the ``catalog`` sub-app."""
    app = typer.Typer(
        name="envgen",
        help="Reproducible, hash-locked TensorFlow-on-Metal environments for Apple Silicon.",
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
        """envgen turns envgen.toml into environment.yml, conda-lock.yml and a verified bootstrap."""

    for name in modules:
        importlib.import_module(f"envgen.commands.{name}").register(app, catalog_app)
    return app, catalog_app


class Interrupted(BaseException):
    """Ctrl-C. Not a KeyboardInterrupt: typer turns those into a silent exit 130 before we can say anything."""


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

    The error's context names the command; a parser error that carries none (an option missing
    its value) is placed by walking the command words of the argument list.
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


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on argv and return the exit code (tests call this)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    app, _ = build_app(modules_for(args))
    command = typer.main.get_command(app)
    try:
        with _sigint_raises_interrupted():
            result = command.main(args=args, prog_name="envgen", standalone_mode=False)
    except EnvgenError as error:
        typer.echo(f"envgen: error: {error.one_line()}", err=True)
        return error.exit_code
    except (typer.Abort, KeyboardInterrupt, Interrupted):
        typer.echo("envgen: interrupted", err=True)
        return EXIT_INTERRUPTED
    except typer.TyperException as error:
        message = error.format_message()
        if message:  # empty when typer already printed the help (no arguments given)
            typer.echo(
                f"envgen: error: {message} (hint: see '{_help_for(error, command, args)}')",
                err=True,
            )
        return EXIT_BAD_INPUT
    except typer.Exit as done:
        return done.exit_code
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
