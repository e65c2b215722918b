"""Run a project's GPU verification script (scripts/verify_gpu.py) with a target
interpreter.

The script is standalone (stdlib + TensorFlow) and runs inside the environment it
checks; envgen only chooses the interpreter and the script, and reads the verdict from
the script's JSON report (never from the process's exit status, which any program can
fake): 0 GPU used, 1 no GPU or ops on the CPU, 2 TensorFlow failed to import, another
error, or no report at all.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from envgen.atomic import atomic_write
from envgen.catalog.lines import Catalog
from envgen.doctor.target import InterpreterError, choose_target, find_project
from envgen.errors import SpecError
from envgen.generate.plan import make_plan
from envgen.generate.render import render_files
from envgen.generate.spec import ProjectSpec, load_spec
from envgen.names import METAL_PLATFORM, SPEC_FILE, is_project_file

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


# What a report must never replace, by path inside an envgen project: a file envgen
# writes there (names.is_project_file) and anything in these.
_OWN_PATTERNS = ("scripts/*", ".github/*", ".envgen-*")


def _own_file(path: Path) -> str:
    """The project file ``path`` (absolute, resolved) is, as ``envgen.toml`` or
    ``scripts/verify_gpu.py`` ("" when it is none): the path inside the nearest envgen
    project above it that :func:`envgen.names.is_project_file` or
    :data:`_OWN_PATTERNS` names."""
    for project in path.parents:
        if not os.path.lexists(project / SPEC_FILE):
            continue
        inside = path.relative_to(project).as_posix()
        if is_project_file(inside) or any(
            fnmatch.fnmatchcase(inside, pattern) for pattern in _OWN_PATTERNS
        ):
            return inside
        return ""
    return ""


def checked_report_path(path: Path, option: str = "--report") -> Path:
    """Where ``--report FILE`` (or ``--plot PNG``) may be written (its links followed),
    checked before anything runs: never one of a project's own files, never anything but
    a regular file (a FIFO, a device, a directory)."""
    given = Path(os.path.abspath(Path(path).expanduser()))
    resolved = Path(os.path.realpath(given))
    # the path as given (a project's envgen.toml that links elsewhere), each link on the
    # way (a link.json to envgen.toml) and where they lead
    hops = [given]
    while hops[-1].is_symlink() and len(hops) < 40:
        hops.append(Path(os.path.abspath(hops[-1].parent / os.readlink(hops[-1]))))
    for candidate in dict.fromkeys((*hops, resolved)):
        own = _own_file(candidate)
        if own:
            raise SpecError(
                f"{option} {path} would overwrite {own}, a file of the envgen project"
                f" in {candidate.parents[len(Path(own).parts) - 1]}",
                f"write it to a file of its own, e.g. {option} verify-report"
                + (".json" if option == "--report" else ".png"),
            )
    try:
        info = os.stat(resolved)
    except FileNotFoundError:
        return resolved
    except OSError as error:
        raise SpecError(
            f"{option} {path} cannot be written: {error.strerror or error}",
            "pass a path to a new or regular file",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise SpecError(
            f"{option} {path} is {what}",
            "pass a path to a new or regular file",
        )
    return resolved


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
    if run.python.is_dir():
        raise InterpreterError(
            f"the interpreter {run.python} is a directory",
            "pass the environment's python itself, e.g. --python ENV/bin/python",
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
