"""What every envgen command shares: one help style, exit codes in the help, and where
output goes.

Help: typer's rich help, minus the type column (``<bool>``, ``<list[str]>``): a flag
shows nothing, a value shows its metavar (``--dir DIR``), an argument its real name
(``envgen new NAME``), and each command ends with its exit codes. Output: ``--json``
puts one JSON document on stdout and nothing else there; ``-q`` prints nothing on
success; ``-v`` prints the details a summary leaves out; progress and warnings go to
stderr.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from envgen import errors

# The meanings shared by every command, by the name of their constant in envgen.errors
# (a code envgen.errors does not define is left out); a command names its own 0 and 1
# and may sharpen 2 and 3.
SHARED_MEANINGS: dict[str, str] = {
    "EXIT_BAD_INPUT": "bad input: an argument, an option or envgen.toml",
    "EXIT_ENVIRONMENT": (
        "the machine or network cannot do it (no network, no solver, wrong machine)"
    ),
    "EXIT_INTERNAL": "envgen itself failed (a bug): stderr names the log to report",
    "EXIT_INTERRUPTED": "interrupted (Ctrl-C)",
}
COMMON_EXIT_CODES: dict[int, str] = {
    getattr(errors, name): text
    for name, text in SHARED_MEANINGS.items()
    if isinstance(getattr(errors, name, None), int)
}


# What 0 and 1 mean across commands (the top-level help); each command says what they
# mean for it.
GROUP_EXIT_CODES: dict[int, str] = {
    0: "done, or the check passed",
    1: (
        "a check found a problem (a stale lock, errors in an environment, an update"
        " available)"
    ),
}


def _all_codes(codes: Mapping[int, str]) -> list[tuple[int, str]]:
    merged = {**COMMON_EXIT_CODES, **codes}
    return sorted(merged.items())


def _print_exit_codes(
    command: TyperCommand | TyperGroup,
    codes: Mapping[int, str],
    formatter: Any,
) -> None:
    """The help's last section: the command's own exit codes merged over the common
    ones."""
    if not (typer.core.HAS_RICH and command.rich_markup_mode is not None):
        with formatter.section("Exit codes"):
            formatter.write_dl([(str(code), text) for code, text in _all_codes(codes)])
        return
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from typer import rich_utils

    table = Table(show_header=False, box=None, padding=(0, 1), pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for code, text in _all_codes(codes):
        table.add_row(str(code), text)
    Console(
        width=rich_utils.MAX_WIDTH,
        force_terminal=rich_utils.FORCE_TERMINAL,
        color_system=rich_utils.COLOR_SYSTEM,
    ).print(
        Panel(
            table,
            title="Exit codes",
            title_align=rich_utils.ALIGN_OPTIONS_PANEL,
            border_style=rich_utils.STYLE_OPTIONS_PANEL_BORDER,
        )
    )


class EnvgenArgument(TyperArgument):
    """An argument shown by its name alone: the name column already says what it is."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _plain_params(params: list[Any]) -> None:
    """Drop the type column: flags show nothing, values their metavar, arguments their
    name."""
    for param in params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "").upper()
            param.__class__ = EnvgenArgument
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = (
                "" if param.is_flag or param.count else (param.name or "").upper()
            )


class EnvgenCommand(TyperCommand):
    """A typer command with envgen's help style (see the module docstring)."""

    exit_codes: Mapping[int, str] = GROUP_EXIT_CODES

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        _print_exit_codes(self, self.exit_codes, formatter)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_params(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_params([option])
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS] NAME`` and ``[OPTIONS] SPEC...``, not typer's ``{name}``."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or (param.name or "").upper()
                if param.nargs != 1:
                    name += "..."
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class EnvgenGroup(TyperGroup):
    """A typer group with envgen's help style for its own options."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        _print_exit_codes(self, GROUP_EXIT_CODES, formatter)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_params([option])
        return option

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _plain_params(params)
        return params


Function = TypeVar("Function", bound=Callable[..., Any])


def command(
    app: typer.Typer, name: str, *, exit_codes: Mapping[int, str]
) -> Callable[[Function], Function]:
    """Register a command with envgen's help style and its exit codes in the help."""
    cls = type(
        f"{name.title().replace('-', '')}Command",
        (EnvgenCommand,),
        {"exit_codes": dict(exit_codes)},
    )
    return app.command(name, cls=cls)


@dataclass(frozen=True)
class Output:
    """Where a command's words go, following --json, -q and -v.

    stdout carries the result: human lines, or with --json exactly one JSON document.
    stderr carries progress and notes. -q silences both on success (errors are printed
    by the CLI, not here).
    """

    as_json: bool = False
    quiet: bool = False
    verbose: bool = False

    @property
    def human(self) -> bool:
        """Whether human result lines are wanted on stdout."""
        return not (self.as_json or self.quiet)

    def say(self, text: str = "") -> None:
        """A human result line on stdout (not with --json or -q)."""
        if self.human:
            typer.echo(text)

    def detail(self, text: str) -> None:
        """A line only -v asks for."""
        if self.verbose and self.human:
            typer.echo(text)

    def progress(self, text: str) -> None:
        """A progress note on stderr (not with -q)."""
        if not self.quiet:
            typer.echo(text, err=True)

    def progress_callback(self, indent: str = "  ") -> Callable[[str], None] | None:
        """A progress function for core code, or None when -q silences it."""
        if self.quiet:
            return None
        return lambda text: typer.echo(f"{indent}{text}", err=True)

    def next_step(self, command_line: str, why: str = "") -> None:
        """The one line naming the command to run next."""
        self.say(f"next: {command_line}" + (f" ({why})" if why else ""))

    def document(self, document: Any) -> None:
        """The --json document, on stdout."""
        if self.as_json:
            typer.echo(json.dumps(document, indent=2, default=str))

    @contextmanager
    def step(self, message: str, *, after: float = 1.0) -> Iterator[None]:
        """Progress for a step that may take more than a second.

        A terminal gets a transient spinner; a pipe gets one line on stderr, only once
        the step has taken ``after`` seconds (a step that fails at once needs no
        progress line); -q: nothing.
        """
        if self.quiet:
            yield
        elif sys.stderr.isatty():
            from rich.console import Console

            with Console(stderr=True).status(message):
                yield
        else:
            timer = threading.Timer(after, self.progress, (message,))
            timer.start()
            try:
                yield
            finally:
                timer.cancel()

    @property
    def interactive(self) -> bool:
        """stdout is a terminal (tables may fit its width; a pipe gets whole lines)."""
        return sys.stdout.isatty()
