"""``envgen new NAME --tf X``: scaffold a project (and lock it, unless --no-lock)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from envgen.commands import options
from envgen.commands.conventions import Output, command
from envgen.commands.generate import caps_note
from envgen.commands.lock import describe, lock_document, run_lock
from envgen.errors import EnvgenError
from envgen.generate.plan import Terms
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec, validate_name
from envgen.names import METAL_PLATFORM

# `envgen new` is driven by flags, so its refusals name the flags, not envgen.toml's
# keys.
FLAG_TERMS = Terms(
    tensorflow="--tf",
    python="--python",
    platforms="--platform",
    metal_on="Metal is on (the default)",
    omit_python="leave out --python",
    add_metal_platform=f"add --platform {METAL_PLATFORM}",
    metal_off="pass --no-metal",
    flags=True,
)

EXIT_CODES = {
    0: "created (and locked, unless --no-lock)",
    1: "created, but the solved lock failed one of envgen's checks",
    2: "bad input (nothing is written), or no solution for the pins",
    3: "created, but the channel or index cannot be reached or there is no solver",
}


def register(app: typer.Typer, catalog_app: typer.Typer) -> None:
    @command(app, "new", exit_codes=EXIT_CODES)
    def new(
        name: Annotated[
            str,
            typer.Argument(
                metavar="NAME", help="Project name (also the conda environment name)."
            ),
        ],
        tf: Annotated[
            str,
            typer.Option(
                "--tf",
                metavar="VERSION",
                help=(
                    'TensorFlow line ("2.6") or exact release ("2.6.0"); see `envgen'
                    " matrix`."
                ),
            ),
        ],
        python: Annotated[
            str | None,
            typer.Option(
                "--python",
                metavar="VERSION",
                help="Python minor version (default: the newest the line supports).",
            ),
        ] = None,
        directory: Annotated[
            Path | None,
            typer.Option(
                "--dir",
                metavar="DIR",
                help="Where to create the project (default: ./NAME).",
            ),
        ] = None,
        jupyter: Annotated[
            bool, typer.Option("--jupyter", help="Add JupyterLab and an ipykernel.")
        ] = False,
        metal: Annotated[
            bool,
            typer.Option(
                "--metal/--no-metal",
                help="Install tensorflow-metal, the GPU plugin (default: on).",
                show_default=False,
            ),
        ] = True,
        platform: Annotated[
            list[str] | None,
            typer.Option(
                "--platform",
                metavar="PLATFORM",
                help=f"Lock platform (repeatable; default: {METAL_PLATFORM}).",
            ),
        ] = None,
        no_lock: options.NoLock = False,
        channel: options.Channel = None,
        pypi_index: options.PypiIndex = None,
        keep_mirror_urls: options.KeepMirrorUrls = None,
        solver: options.Solver = "auto",
        as_json: options.Json = False,
        quiet: options.Quiet = False,
        verbose: options.Verbose = False,
    ) -> None:
        """Scaffold a project: envgen.toml, environment.yml, bootstrap, checks."""
        out = Output(as_json, quiet, verbose)
        spec = ProjectSpec(
            name=validate_name(name, key="NAME"),
            tensorflow=tf,
            metal=metal,
            python=python,
            jupyter=jupyter,
            platforms=tuple(platform) if platform else (METAL_PLATFORM,),
        )
        target = directory if directory is not None else Path(name)
        if not no_lock:  # a lock option that names nothing is refused before any file
            from envgen.lock.run import LockRequest, check_request

            check_request(LockRequest(target, (), solver, channel, pypi_index))
        plan = create_project(spec, target, FLAG_TERMS)
        document: dict = {
            "project": str(target),
            "tensorflow": f"{plan.tf_package}=={plan.tf_version}",
            "tensorflow_metal": plan.metal_version or None,
            "python": plan.python,
            "line": plan.line.tf,
            "status": plan.choice.status if plan.choice else plan.line.status,
            "notes": list(plan.notes),
            "caveats": [caveat.as_json() for caveat in plan.caveats],
            "pip_pins": "exact" if plan.pin_set else "caps",
            "caps_reason": plan.caps_reason or None,
            "lock": None,
        }
        out.say(
            f"created {target}/ for TensorFlow {plan.tf_version}"
            + (f" + tensorflow-metal {plan.metal_version}" if plan.metal else "")
            + f" on Python {plan.python} (catalog line {plan.line.tf},"
            f" {plan.choice.status if plan.choice else plan.line.status})"
        )
        if plan.caps_reason:
            out.say(caps_note(plan.caps_reason))
        for note in plan.notes:
            out.say(f"note: {note}")
        for caveat in plan.caveats:
            out.say(f"caveat: {caveat.text}")
        lock_later = shlex.join(
            [
                "envgen",
                "lock",
                *(["--channel", channel] if channel else []),
                *(["--pypi-index", pypi_index] if pypi_index else []),
                *(["--keep-mirror-urls"] if keep_mirror_urls else []),
            ]
        )
        enter = f"cd {shlex.quote(str(target))}"
        if no_lock:
            out.document({**document, "next": f"{enter} && {lock_later}"})
            out.next_step(f"{enter} && {lock_later}")
            return
        try:
            result = run_lock(
                target,
                solver=solver,
                channel=channel,
                pypi_index=pypi_index,
                quiet=quiet,
                keep_mirror_urls=keep_mirror_urls,
            )
        except EnvgenError as error:
            raise type(error)(
                f"created {target}/, but locking it failed: {error.message}",
                f"{error.hint + '; then ' if error.hint else ''}lock later with:"
                f" {enter} && {lock_later}",
                exit_code=error.exit_code,
            ) from None
        bootstrap = f"{enter} && ./bootstrap.sh"
        out.document({**document, "lock": lock_document(result), "next": bootstrap})
        for line in describe(result):
            out.say(line)
        out.next_step(
            bootstrap,
            "on the Mac: creates the environment from the lock and checks the GPU",
        )
