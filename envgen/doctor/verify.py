"""Run a project's GPU verification script (scripts/verify_gpu.py) with a target
interpreter.

The script is standalone (stdlib + TensorFlow) and runs inside the environment it
checks; envgen only chooses the interpreter and the script, and reads the verdict from
the script's JSON report (never from the process's exit status, which any program can
fake): 0 GPU used, 1 no GPU or ops on the CPU, 2 TensorFlow failed to import, another
error, or no report at all.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from envgen.atomic import atomic_write
from envgen.catalog.lines import Catalog
from envgen.doctor.target import InterpreterError, choose_target, find_project
from envgen.generate.plan import make_plan
from envgen.generate.render import render_files
from envgen.generate.spec import ProjectSpec, load_spec
from envgen.names import METAL_PLATFORM

SCRIPT_PATH = "scripts/verify_gpu.py"


@dataclass(frozen=True)
class VerifyRun:
    """What `envgen verify` runs: the interpreter, the script (or its rendered text),
    and why."""

    python: Path
    python_reason: str
    script: Path | None  # the project's own script
    script_text: str | None  # rendered for a line when there is no project script
    script_reason: str
    cwd: Path


def rendered_script(spec: ProjectSpec, catalog: Catalog) -> str:
    """The verification script envgen renders for a spec (same template as a
    project's)."""
    plan = make_plan(spec, catalog)
    return next(item.content for item in render_files(plan) if item.path == SCRIPT_PATH)


def plan_run(
    python: str | None, directory: Path | None, tf: str | None, catalog: Catalog
) -> VerifyRun:
    """Choose the interpreter (as `envgen doctor` does) and the script: the project's
    own, else one rendered for --tf."""
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
            f"rendered from {project.directory}/envgen.toml ({SCRIPT_PATH} is missing:"
            " run envgen generate)",
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
        platforms=(METAL_PLATFORM,),
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
    """The one subprocess call: the script's output goes to ``output`` (default: the
    terminal)."""
    return subprocess.run(argv, cwd=str(cwd), stdout=output, stderr=output).returncode


VERDICTS = {0: "GPU used", 1: "no GPU, or ops ran on the CPU", 2: "TensorFlow broken"}


def verdict(report: object, *, allow_cpu: bool) -> int:
    """The exit code a verification report proves: 0 GPU used, 1 not, 2 an error; from
    its facts alone.

    A report that is not one (not a mapping, no devices or matmul facts) proves nothing:
    ``ValueError``.
    """
    if not isinstance(report, dict) or not isinstance(report.get("python"), dict):
        raise ValueError("not a verification report")
    if report.get("error") is not None:
        return 2
    devices, matmul = report.get("devices"), report.get("matmul")
    if not isinstance(devices, list) or not isinstance(matmul, dict):
        raise ValueError("a verification report without devices or matmul facts")
    has_gpu = any(isinstance(d, dict) and d.get("type") == "GPU" for d in devices)
    if matmul.get("matches_numpy") is not True:
        return 2
    if has_gpu and matmul.get("on_gpu") is True:
        return 0
    return 0 if allow_cpu else 1


def _read_report(path: Path, returncode: int, python: Path) -> dict:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = None
    if not isinstance(report, dict):
        raise InterpreterError(
            f"{python} ran the verification script but wrote no report (exit status"
            f" {returncode}): nothing shows that TensorFlow ran at all",
            "pass the environment's own Python (--python PATH/bin/python), or recreate"
            " it with ./bootstrap.sh",
        )
    return report


def run_verification(
    run: VerifyRun,
    script_args: list[str],
    *,
    output: TextIO | None = None,
    report_path: Path | None = None,
) -> int:
    """Run the script with the chosen interpreter; the verdict comes from its JSON
    report, never its exit status.

    An interpreter that exits 0 without the script's report (or with one that proves
    nothing) is a bad interpreter (exit 2), not a passed check. ``report_path`` receives
    a copy of the report; ``output`` is where the script's own lines go (a file, or the
    terminal when None).
    """
    if not run.python.exists():
        raise InterpreterError(
            f"the interpreter {run.python} does not exist",
            "run ./bootstrap.sh to create the project's environment, or pass --python"
            " PATH",
        )
    with tempfile.TemporaryDirectory(prefix="envgen-verify-") as scratch:
        script = run.script
        if script is None:
            script = Path(scratch) / "verify_gpu.py"
            script.write_text(run.script_text or "", encoding="utf-8")
        report_file = Path(scratch) / "report.json"
        argv = [str(run.python), str(script), *script_args, "--json", str(report_file)]
        try:
            returncode = _run(argv, run.cwd, output)
        except OSError as error:
            raise InterpreterError(
                f"cannot run {run.python}: {error.strerror or error}",
                "pass a working Python with --python PATH",
            ) from None
        report = _read_report(report_file, returncode, run.python)
    try:
        code = verdict(report, allow_cpu="--allow-cpu" in script_args)
    except ValueError as error:
        raise InterpreterError(
            f"{run.python} wrote a report that proves nothing ({error})",
            "pass the environment's own Python (--python PATH/bin/python)",
        ) from None
    if report_path is not None:
        atomic_write(report_path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return code
