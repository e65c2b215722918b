"""The package arrows the README's Architecture section draws, held by the code itself.

The graph is read from every ``import`` in envgen (function-level ones too, since a lazy
import is still a dependency), so a new arrow that breaks the layering fails here, not
in a review.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import envgen

PACKAGE = Path(envgen.__file__).parent
# The modules at the bottom: they import only each other (the loop test keeps that
# one-way).
FOUNDATION = {"names", "errors", "resources", "atomic", "reading", "__init__"}
# package -> the envgen packages it may import (besides the foundation and itself).
ALLOWED = {
    "pypi": set(),
    "catalog": set(),
    "generate": {"catalog"},
    "abi": {"catalog", "pypi"},
    "lock": {"catalog", "generate", "pypi"},
    "doctor": {"catalog", "generate"},
    "releases": {"abi", "catalog", "generate", "lock", "pypi"},
    "commands": {
        "abi",
        "catalog",
        "doctor",
        "generate",
        "lock",
        "pypi",
        "releases",
    },
    "cli": {"commands"},
    "__main__": {"cli"},
}
HEAVY = ("conda_lock", "rattler", "jinja2")


def _part(module: str) -> str:
    """The top-level part of envgen a dotted module belongs to (``envgen.lock.run`` ->
    lock)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[dotted.removesuffix(".__init__")] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every envgen module or name this file imports, as dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "envgen":
                names |= {f"envgen.{alias.name}" for alias in node.names}
            elif node.module.startswith("envgen."):
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("envgen.")}
    return names


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in _modules().items():
        source = _part(module)
        targets = {_part(name) for name in _imports(path)}
        # `from envgen import __version__` reads the package's own __init__.
        targets = {"__init__" if t == "__version__" else t for t in targets}
        graph.setdefault(source, set()).update(targets - {source})
    return graph


def test_every_package_imports_only_the_packages_below_it():
    wrong = []
    for source, targets in sorted(_graph().items()):
        allowed = FOUNDATION if source in FOUNDATION else FOUNDATION | ALLOWED[source]
        wrong += [f"{source} -> {t}" for t in sorted(targets - allowed)]
    assert not wrong, f"imports against the architecture: {wrong}"


def test_the_package_graph_has_no_loop():
    graph = _graph()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    loops = sorted(p for p in graph if reaches(p, p, set()))
    assert not loops, f"packages on an import loop: {loops}"


def test_only_the_command_line_imports_typer_or_rich():
    offenders = []
    for module, path in _modules().items():
        if _part(module) in ("commands", "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{module}: {n}" for n in names if n.split(".")[0] in ("typer", "rich")
            ]
    assert not offenders


def test_every_module_imports_on_its_own():
    """A fresh import of each module, one at a time: an import cycle inside a package
    fails."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('envgen')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n"
    )
    # The doctor probe runs inside the examined interpreter as a script; __main__ runs
    # the CLI.
    modules = [
        m for m in _modules() if m not in ("envgen.doctor.probe", "envgen.__main__")
    ]
    done = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def _heavy_modules_loaded(argv: list[str], cwd: Path) -> tuple[list[str], int]:
    """The heavy libraries a command line loads, and its exit code."""
    script = (
        "import sys\n"
        "from envgen.cli import run\n"
        "code = run(sys.argv[1:])\n"
        f"heavy = {HEAVY!r}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "print('LOADED', ' '.join(loaded))\n"
        "print('EXIT', code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    lines = dict(
        line.split(" ", 1)
        for line in done.stdout.splitlines()
        if line.startswith(("LOADED ", "EXIT "))
    )
    assert "EXIT" in lines, done.stderr
    return lines["LOADED"].split(), int(lines["EXIT"])


def test_help_loads_no_solver_and_no_template_engine(tmp_path):
    assert _heavy_modules_loaded(["--help"], tmp_path) == ([], 0)


def test_lock_check_loads_no_solver_and_no_template_engine(tmp_path):
    from envgen.cli import run

    project = tmp_path / "p"
    assert run(["new", "p", "--tf", "2.18", "--dir", str(project), "--no-lock"]) == 0
    argv = ["lock", "--check", "--dir", str(project)]
    # exit 1: a project made with --no-lock has no lock yet, and --check says it is
    # stale
    assert _heavy_modules_loaded(argv, tmp_path) == ([], 1)


def test_every_file_envgen_renders_is_a_project_file_recovery_may_touch():
    """names.PROJECT_FILES is what a killed commit's journal may name in a project:
    every rendered file must be in it, or recovery would refuse to finish its commit."""
    from envgen.catalog.lines import load_catalog
    from envgen.generate.plan import make_plan
    from envgen.generate.render import render_files
    from envgen.generate.spec import ProjectSpec
    from envgen.names import is_project_file

    specs = [
        ProjectSpec(name="d", tensorflow="2.6"),
        ProjectSpec(
            name="d",
            tensorflow="2.16",
            metal=False,
            platforms=("osx-arm64", "osx-64", "linux-64"),
            jupyter=True,
            location="prefix",
        ),
    ]
    for spec in specs:
        for item in render_files(make_plan(spec, load_catalog())):
            assert is_project_file(item.path), item.path
    for name in ("conda-lock.yml", "conda-osx-arm64.lock", "conda-linux-64.lock"):
        assert is_project_file(name)
    for name in (
        ".env",
        "notes.txt",
        "conda-.lock",
        "conda-../x.lock",
        "sub/envgen.toml",
    ):
        assert not is_project_file(name)
