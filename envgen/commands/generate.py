"""``envgen generate``: re-render the managed files from an edited envgen.toml."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.generate.plan import Plan
from envgen.generate.project import GenerateResult, generate_project

if TYPE_CHECKING:
    from envgen.lock.freshness import Freshness

EXIT_CODES = {
    0: "written, or already up to date",
    2: "bad envgen.toml, or a managed file edited by hand (--force overwrites it)",
}


def caps_note(reason: str) -> str:
    """The one line saying why a project's pip side is the line's caps, not envgen's
    exact pins."""
    return (
        f"pip pins: the line's caps, not envgen's exact pin set, because {reason}; the"
        " lock resolves the rest"
    )


def lock_state(project_dir: Path) -> Freshness:
    """Whether the lock is fresh, for the next-step line once the files are written: it
    never fails the command. A conda-lock.yml that cannot be checked at all (a
    directory, a FIFO, a device, past the size limit) is not fresh, the reason naming it
    and what to do, as a lock that is not valid YAML is; `envgen lock --check` and
    `envgen lock` refuse it with that line.
    """
    from envgen.errors import EnvgenError, from_os_error
    from envgen.lock.run import Freshness, freshness

    try:
        return freshness(project_dir)
    except (EnvgenError, OSError) as failure:
        error = failure if isinstance(failure, EnvgenError) else from_os_error(failure)
        return Freshness(
            False, (f"the lock cannot be checked: {error.message}; {error.hint}",)
        )


def report_rendered(
    out: Output, plan: Plan, result: GenerateResult, project_dir: Path, state: Freshness
) -> None:
    """What a re-render changed, why the pip pins are caps (when they are), and what to
    run next (``state``: :func:`lock_state` after the write)."""
    if not result.written:
        out.say("up to date: nothing to write")
    else:
        out.say("wrote " + ", ".join(result.written))
    if plan.caps_reason and "environment.yml" in result.written:
        out.say(caps_note(plan.caps_reason))
    if not state.fresh:
        where = "" if Path(project_dir) == Path(".") else f" --dir {project_dir}"
        out.next_step(f"envgen lock{where}", "; ".join(state.reasons))


def generate_document(plan: Plan, result: GenerateResult, state: Freshness) -> dict:
    """The --json document of a re-render (``state``: :func:`lock_state` after it)."""
    return {
        "written": list(result.written),
        "unchanged": list(result.unchanged),
        "pip_pins": "exact" if plan.pin_set else "caps",
        "pin_set": plan.pin_set or None,
        "caps_reason": plan.caps_reason or None,
        "lock_fresh": state.fresh,
        "next": None if state.fresh else "envgen lock",
    }


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "generate", exit_codes=EXIT_CODES)
    def generate(
        directory: options.ProjectDir = Path("."),
        force: options.Force = False,
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> None:
        """Re-render the managed files from an edited envgen.toml."""
        out = Output(as_json, quiet, verbose)
        plan, result = generate_project(directory, force=force)
        state = lock_state(directory)  # once: reading the lock is not free
        out.document(generate_document(plan, result, state))
        report_rendered(out, plan, result, directory, state)
        for path in result.unchanged:
            out.detail(f"unchanged: {path}")


def apply_spec_edit(
    out: Output,
    project_dir: Path,
    old_text: str,
    new_text: str,
    changes: tuple[str, ...],
    *,
    force: bool,
) -> dict:
    """Write an edited (already checked) envgen.toml and re-render it, together: on any
    failure (a refusal, an unreadable file, a full disk, Ctrl-C) neither envgen.toml nor
    a managed file changes. A symbolic link envgen.toml is written through.

    Returns the --json document: the changes and what ``envgen generate`` would report.
    """
    from envgen.errors import EnvgenError, from_os_error
    from envgen.names import SPEC_FILE

    try:
        plan, result = generate_project(
            project_dir,
            force=force,
            spec_text=new_text if new_text != old_text else None,
        )
    except (EnvgenError, OSError) as failure:
        error = failure if isinstance(failure, EnvgenError) else from_os_error(failure)
        raise type(error)(
            f"{SPEC_FILE} left unchanged: {error.message}",
            error.hint,
            exit_code=error.exit_code,
        ) from None
    for change in changes:
        out.say(change)
    state = lock_state(project_dir)
    report_rendered(out, plan, result, project_dir, state)
    return {"changes": list(changes), **generate_document(plan, result, state)}
