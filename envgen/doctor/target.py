"""Which interpreter ``envgen doctor`` examines, and running the probe in it (the
subprocess edge).

Default target, in order: ``--python PATH``; ``--prefix PATH`` (its ``bin/python``);
inside an envgen project (a directory with envgen.toml), the project's environment when
it exists; otherwise the ``python3`` first on PATH. Not envgen's own interpreter: envgen
lives in its own venv, while the environment a user complains about is the one their
shell activates, whose python3 comes first on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from envgen.catalog.lines import Catalog
from envgen.doctor.context import ProjectFacts, parse_lock
from envgen.errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EnvgenError, SpecError
from envgen.generate.plan import PREFIX_DIR, make_plan
from envgen.generate.spec import load_spec
from envgen.names import LOCK_FILE, SPEC_FILE
from envgen.reading import read_regular

PROBE_SCRIPT = Path(__file__).with_name("probe.py")
DEFAULT_TIMEOUT = 120.0
# Of the --timeout budget, left for the probe's start-up and answer around its
# TensorFlow stage.
PROBE_MARGIN = 2.0
# Where conda installers put their root; a named env lives in <root>/envs/<name>.
CONDA_ROOTS = (
    "miniforge3",
    "mambaforge",
    "miniconda3",
    "anaconda3",
    "micromamba",
    ".local/share/mamba",
    "opt/miniforge3",
)
SYSTEM_ROOTS = (
    "/opt/homebrew/Caskroom/miniforge/base",
    "/opt/miniforge3",
    "/opt/conda",
    "/usr/local/miniforge3",
)


class InterpreterError(EnvgenError):
    """The interpreter to examine is missing or cannot run the probe."""

    exit_code = EXIT_BAD_INPUT


class ProbeTimeout(EnvgenError):
    """The probe did not answer in time (a hanging environment)."""

    exit_code = EXIT_ENVIRONMENT


@dataclass(frozen=True)
class Target:
    """The interpreter to probe, why it was chosen, and the project around it (if
    any)."""

    python: Path
    reason: str
    project: ProjectFacts | None = None


def _python_of(prefix: Path) -> Path:
    for candidate in (
        prefix / "bin" / "python",
        prefix / "bin" / "python3",
        prefix / "python.exe",
    ):
        if candidate.exists():
            return candidate
    return prefix / "bin" / "python"


def _named_env_candidates(name: str) -> list[Path]:
    """Where a conda env called ``name`` may live: conda's own list first, then the
    usual roots."""
    home = Path(os.path.expanduser("~"))
    found: list[Path] = []
    try:
        for line in (
            read_regular(home / ".conda" / "environments.txt")
            .decode("utf-8", errors="replace")
            .splitlines()
        ):
            if line.strip() and Path(line.strip()).name == name:
                found.append(Path(line.strip()))
    except (OSError, SpecError):  # none, unreadable or not a regular file: not a list
        pass
    roots = [
        Path(os.environ[v])
        for v in ("MAMBA_ROOT_PREFIX", "CONDA_ROOT")
        if os.environ.get(v)
    ]
    exe = os.environ.get("CONDA_EXE")
    if exe:
        roots.append(Path(exe).parent.parent)
    roots += [home / r for r in CONDA_ROOTS] + [Path(r) for r in SYSTEM_ROOTS]
    found += [root / "envs" / name for root in roots]
    return found


def project_facts(
    directory: Path, catalog: Catalog
) -> tuple[ProjectFacts, Path | None]:
    """What the project at ``directory`` expects, and its environment's python if that
    exists."""
    spec = load_spec(directory)
    python: str | None
    try:
        plan = make_plan(spec, catalog)
        line, python, metal = plan.line, plan.python, plan.metal
    except EnvgenError:
        # a spec the catalog cannot plan (yet) still names its env and its lock
        line, python, metal = None, spec.python, spec.metal is not False
    if spec.location == "prefix":
        candidates = [Path(directory).resolve() / PREFIX_DIR]
    else:
        candidates = _named_env_candidates(spec.name)
    env = next(
        (
            c
            for c in candidates
            if (c / "conda-meta").is_dir() or _python_of(c).exists()
        ),
        None,
    )
    lock_path = Path(directory) / LOCK_FILE
    lock = (
        parse_lock(read_regular(lock_path).decode("utf-8"), str(lock_path))
        if lock_path.is_file()
        else None
    )
    location = (
        str(env)
        if env
        else (
            str(candidates[0])
            if spec.location == "prefix"
            else (
                f"conda env {spec.name!r} (~/.conda/environments.txt, <conda"
                f" root>/envs/{spec.name})"
            )
        )
    )
    facts = ProjectFacts(
        directory=Path(directory),
        line=line,
        python=python,
        metal=metal,
        env_location=location,
        env_found=env is not None,
        lock=lock,
    )
    return facts, (_python_of(env) if env else None)


def find_project(
    directory: Path | None, catalog: Catalog
) -> tuple[ProjectFacts | None, Path | None]:
    """The envgen project in ``--dir`` (required to be one) or the working directory (if
    it is one)."""
    project_dir = Path(directory) if directory is not None else Path.cwd()
    if not (project_dir / SPEC_FILE).is_file():
        if directory is not None:
            raise InterpreterError(
                f"no {SPEC_FILE} in {project_dir}",
                "pass --dir the directory of an envgen project, or leave --dir out",
            )
        return None, None
    return project_facts(project_dir, catalog)


def choose_target(
    python: str | None, prefix: str | None, directory: Path | None, catalog: Catalog
) -> Target:
    """Pick the interpreter to probe (see the module docstring for the order)."""
    if python and prefix:
        raise InterpreterError("--python and --prefix both given", "pass one of them")
    project, project_python = find_project(directory, catalog)
    if python:
        path = (
            Path(python).expanduser()
            if os.sep in python
            else Path(shutil.which(python) or python)
        )
        return Target(path, "--python", project)
    if prefix:
        root = Path(prefix).expanduser()
        if not root.is_dir():
            raise InterpreterError(
                f"--prefix {root} is not a directory",
                "pass the path of a conda environment or venv (the directory holding"
                " bin/python)",
            )
        return Target(_python_of(root), "--prefix", project)
    if project is not None and project_python is not None:
        return Target(
            project_python,
            f"the environment of the envgen project in {project.directory}",
            project,
        )
    on_path = shutil.which("python3")
    if on_path is None:
        raise InterpreterError(
            "no python3 on PATH to examine",
            "activate the environment first, or pass --python PATH",
        )
    reason = "python3 first on PATH"
    if project is not None:
        reason += " (the project's environment was not found)"
    return Target(Path(on_path), reason, project)


def _run(argv: list[str], timeout: float, cwd: Path) -> tuple[int, str, str]:
    """The one subprocess call of the doctor: (returncode, stdout, stderr).

    The probe runs in its own process group, killed whole on timeout: its TensorFlow
    child would otherwise keep the pipes open and make the wait outlive the timeout.
    """
    # __PYVENV_LAUNCHER__ (macOS) would make the child pose as envgen's venv.
    env = {k: v for k, v in os.environ.items() if k != "__PYVENV_LAUNCHER__"}
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except BaseException:
            # The timeout, and Ctrl-C (its own session does not get the terminal's
            # SIGINT).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise
    return (
        child.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )


def run_probe(python: Path, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Run the probe (probe.py) with ``python`` from an empty temporary directory; its
    JSON answer as a dict."""
    python = Path(python)
    if not python.exists():
        raise InterpreterError(
            f"no Python at {python}",
            "pass the path of an existing interpreter, e.g. --python"
            " ~/miniforge3/envs/NAME/bin/python",
        )
    if python.is_dir() or not os.access(python, os.X_OK):
        raise InterpreterError(
            f"{python} is not an executable interpreter",
            "pass the python binary itself (…/bin/python), or --prefix for an"
            " environment directory",
        )
    with tempfile.TemporaryDirectory(prefix="envgen-doctor-") as scratch:
        script = Path(scratch) / "envgen_doctor_probe.py"
        shutil.copyfile(PROBE_SCRIPT, script)
        try:
            # --timeout is the whole wait: the probe's TensorFlow stage gets what is
            # left of it.
            returncode, out, err = _run(
                [
                    str(python),
                    str(script),
                    "--timeout",
                    str(max(1.0, timeout - PROBE_MARGIN)),
                ],
                timeout,
                Path(scratch),
            )
        except subprocess.TimeoutExpired:
            raise ProbeTimeout(
                f"the probe in {python} gave no answer within {timeout:.0f} s"
                " (--timeout)",
                "the environment hangs (importing TensorFlow, or before); try"
                " `--timeout 600`, or recreate it with ./bootstrap.sh",
            ) from None
        except OSError as error:
            raise InterpreterError(
                f"cannot run {python}: {error.strerror or error}",
                "pass a working Python with --python PATH",
            ) from None
    # Tolerate a sitecustomize that prints first.
    start = 0 if out.startswith("{") else out.rfind("\n{") + 1
    try:
        answer = json.loads(out[start:])
    except ValueError:
        lines = err.strip().splitlines() or out.strip().splitlines() or ["no output"]
        last = lines[-1]
        raise InterpreterError(
            f"{python} is not a working Python (exit {returncode}): {last[:200]}",
            "repair or recreate that environment (./bootstrap.sh in an envgen project),"
            " or pass another --python",
        ) from None
    if not isinstance(answer, dict) or "probe_schema" not in answer:
        raise InterpreterError(
            f"{python} answered something that is not a doctor probe result",
            "pass a Python interpreter with --python",
        )
    return answer


def load_probe_result(path: Path) -> dict:
    """A probe result recorded earlier (``python3 envgen/doctor/probe.py > probe.json``
    on the machine in question)."""
    try:
        answer = json.loads(read_regular(path).decode("utf-8"))
    except FileNotFoundError:
        raise InterpreterError(
            f"no probe result at {path}",
            "record one with `python3 envgen/doctor/probe.py > probe.json`",
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise InterpreterError(
            f"{path} is not a probe result (not JSON)",
            "record one with `python3 envgen/doctor/probe.py > probe.json`",
        ) from None
    if not isinstance(answer, dict) or "probe_schema" not in answer:
        raise InterpreterError(
            f"{path} is not a doctor probe result",
            "record one with `python3 envgen/doctor/probe.py > probe.json`",
        )
    return answer
