"""Run a project's GPU verification script (scripts/verify_gpu.py) with a target interpreter.

The script is standalone (stdlib + TensorFlow) and runs inside the environment it checks; envgen only
chooses the interpreter and the script, and passes the script's exit code through: 0 GPU used,
1 no GPU or ops on the CPU, 2 TensorFlow failed to import or another error.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from envgen.catalog.lines import Catalog
from envgen.doctor.target import InterpreterError, choose_target, find_project
from envgen.generate.plan import make_plan
from envgen.generate.render import render_files
from envgen.generate.spec import ProjectSpec, load_spec

SCRIPT_PATH = "scripts/verify_gpu.py"


@dataclass(frozen=True)
class VerifyRun:
    """What `envgen verify` runs: the interpreter, the script (or its rendered text), and why."""

    python: Path
    python_reason: str
    script: Path | None  # the project's own script
    script_text: str | None  # rendered for a line when there is no project script
    script_reason: str
    cwd: Path


def rendered_script(spec: ProjectSpec, catalog: Catalog) -> str:
    """The verification script envgen renders for a spec (same template as a project's)."""
    plan = make_plan(spec, catalog)
    return next(item.content for item in render_files(plan) if item.path == SCRIPT_PATH)


def plan_run(
    python: str | None, directory: Path | None, tf: str | None, catalog: Catalog
) -> VerifyRun:
    """Choose the interpreter (as `envgen doctor` does) and the script: the project's own, else one rendered for --tf."""
    target = choose_target(python, None, directory, catalog)
    project, _ = find_project(directory, catalog)
    if project is not None and tf is None:
        own = project.directory / SCRIPT_PATH
        if own.is_file():
            return VerifyRun(
                target.python,
                target.reason,
                own,
                None,
                f"the project's {SCRIPT_PATH}",
                project.directory,
            )
        text = rendered_script(load_spec(project.directory), catalog)
        return VerifyRun(
            target.python,
            target.reason,
            None,
            text,
            f"rendered from {project.directory}/envgen.toml ({SCRIPT_PATH} is missing: run envgen generate)",
            project.directory,
        )
    line = (
        catalog.line(tf)
        if tf
        else max(
            catalog.lines, key=lambda item: tuple(int(x) for x in item.tf.split("."))
        )
    )
    spec = ProjectSpec(
        name="verify",
        tensorflow=line.tf,
        metal=bool(line.metal),
        python=None,
        platforms=("osx-arm64",),
    )
    text = rendered_script(spec, catalog)
    where = project.directory if project is not None else Path.cwd()
    return VerifyRun(
        target.python,
        target.reason,
        None,
        text,
        f"rendered for TensorFlow {line.version} (catalog line {line.tf})",
        where,
    )


def _run(argv: list[str], cwd: Path, output: TextIO | None = None) -> int:
    """The one subprocess call: the script's output goes to ``output`` (default: the terminal)."""
    return subprocess.run(argv, cwd=str(cwd), stdout=output, stderr=output).returncode


def run_verification(
    run: VerifyRun, script_args: list[str], output: TextIO | None = None
) -> int:
    """Run the script with the chosen interpreter and return its exit code.

    ``output``: where the script's own lines go (a file, or the terminal when None).
    """
    if not run.python.exists():
        raise InterpreterError(
            f"the interpreter {run.python} does not exist",
            "run ./bootstrap.sh to create the project's environment, or pass --python PATH",
        )
    if run.script is not None:
        return _run([str(run.python), str(run.script), *script_args], run.cwd, output)
    with tempfile.TemporaryDirectory(prefix="envgen-verify-") as scratch:
        script = Path(scratch) / "verify_gpu.py"
        script.write_text(run.script_text or "", encoding="utf-8")
        return _run([str(run.python), str(script), *script_args], run.cwd, output)
