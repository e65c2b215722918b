"""Every command of the app follows the README's command-line conventions.

The commands are enumerated from the typer/click tree itself, so a new command is held
to the conventions the moment it is registered: its help (no type noise, usage with the
real argument names, an exit-code section), usage errors pointing at its own help,
``--json`` output that parses, and ``-q`` printing nothing on success. A command with no
recipe in ``RECIPES`` fails here until it gets one.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from support.lock_fixtures import CHANNEL_URL, PipIndex, write_index
from support.pypi_fixtures import FakePyPI, make_test_catalog

from envgen.cli import build_app, run
from envgen.commands.conventions import EnvgenCommand, EnvgenGroup
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec

FIXTURES = Path(__file__).parent.parent / "fixtures"


def walk(
    command: typer.core.TyperGroup | typer.core.TyperCommand, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every command under ``command`` (groups included), with its words after
    ``envgen``."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def _tree() -> list[tuple[tuple[str, ...], object]]:
    app, _ = build_app()
    return list(walk(typer.main.get_command(app), ()))


TREE = _tree()
LEAVES = [(path, cmd) for path, cmd in TREE if not hasattr(cmd, "commands")]
IDS = [" ".join(path) or "envgen" for path, _ in TREE]
LEAF_IDS = [" ".join(path) for path, _ in LEAVES]
# What typer prints as a type when nothing says otherwise: <bool>, <str>, <list[str]>,
# <path>, <float range>...
TYPE_NOISE = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|[a-z]+ range)>")


def test_the_tree_holds_every_command_the_readme_lists():
    names = {" ".join(path) for path, _ in LEAVES}
    assert {
        "new",
        "generate",
        "add",
        "remove",
        "lock",
        "matrix",
        "doctor",
        "verify",
        "update",
        "catalog refresh",
        "catalog check-pair",
    } <= names


@pytest.mark.parametrize(("path", "command"), TREE, ids=IDS)
def test_help_style(path, command, capsys):
    assert isinstance(command, (EnvgenCommand, EnvgenGroup)), (
        "register it with envgen.commands.conventions.command"
    )
    assert run([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert not TYPE_NOISE.search(text), TYPE_NOISE.search(text)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage
    for param in command.params:
        if param.param_type_name == "argument":
            assert param.metavar and param.metavar in usage, (param.name, usage)
    assert "Exit codes" in text
    for code in ("0", "2", "130"):
        assert re.search(rf"│ {code}\s", text), f"exit code {code} missing from help"


@pytest.mark.parametrize(("path", "command"), TREE, ids=IDS)
def test_an_option_says_its_default_once(path, command):
    """A default described in the help text is not repeated as typer's [default: …]."""
    for param in command.params:
        if param.param_type_name != "option" or param.is_flag:
            continue
        if "default" in (param.help or "").lower():
            assert param.show_default is False or param.default is None, param.opts


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=LEAF_IDS)
def test_usage_error_points_at_the_commands_own_help(path, command, capsys):
    assert run([*path, "--no-such-option"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "envgen: error: No such option: --no-such-option (hint: see 'envgen"
        f" {' '.join(path)} --help')"
    ]
    # an option left without its value: the parser's error carries no context of its own
    valued = [
        p.opts[0]
        for p in command.params
        if p.param_type_name == "option" and not p.is_flag
    ]
    for option in valued[:1]:
        assert run([*path, option]) == 2
        err = capsys.readouterr().err
        assert (
            f"requires an argument. (hint: see 'envgen {' '.join(path)} --help')" in err
        )


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=LEAF_IDS)
def test_every_command_has_json_quiet_and_verbose(path, command):
    flags = {opt for param in command.params for opt in param.opts}
    assert {"--json", "--quiet", "-q", "--verbose", "-v"} <= flags, sorted(flags)


# ---- --json parses and -q prints nothing, on a successful run of each command --------


@pytest.fixture(scope="module")
def pip_index(tmp_path_factory):
    served = PipIndex(write_index(tmp_path_factory.mktemp("pypi")))
    yield served
    served.close()


@pytest.fixture
def pypi(monkeypatch):
    with FakePyPI() as fake:
        monkeypatch.setenv("ENVGEN_PYPI_URL", fake.url)
        fake.serve_recorded()
        yield fake


def _project(where: Path, tf: str = "2.6") -> Path:
    target = where / "demo"
    create_project(ProjectSpec(name="demo", tensorflow=tf, python="3.9"), target)
    return target


def _new(where: Path, request) -> list[str]:
    return ["new", "demo", "--tf", "2.6", "--no-lock", "--dir", str(where / "demo")]


def _generate(where: Path, request) -> list[str]:
    project = _project(where)
    spec = project / "envgen.toml"
    spec.write_text(spec.read_text().replace('version = "2.6"', 'version = "2.12"'))
    return ["generate", "--dir", str(project)]


def _add(where: Path, request) -> list[str]:
    return ["add", "--pip", "tqdm>=4.60", "--dir", str(_project(where))]


def _remove(where: Path, request) -> list[str]:
    project = _project(where)
    spec = project / "envgen.toml"
    spec.write_text(spec.read_text().replace("conda = []", 'conda = ["pandas"]'))
    return ["remove", "pandas", "--dir", str(project)]


def _lock(where: Path, request) -> list[str]:
    index = request.getfixturevalue("pip_index")
    project = _project(where)
    return [
        "lock",
        "--dir",
        str(project),
        "--channel",
        CHANNEL_URL,
        "--pypi-index",
        index.url,
        "--keep-mirror-urls",  # the fixture index is no mirror of PyPI
    ]


def _matrix(where: Path, request) -> list[str]:
    return ["matrix"]


def _doctor(where: Path, request) -> list[str]:
    return ["doctor", "--probe-result", str(FIXTURES / "doctor" / "healthy.json")]


def _verify(where: Path, request) -> list[str]:
    """A stand-in interpreter that answers like scripts/verify_gpu.py on a Mac whose GPU
    ran the ops."""
    python = where / "python3"
    python.write_text(
        f"#!{sys.executable}\nimport json, sys\nargs = sys.argv[2:]\nprint('GPU used:"
        " matmul ran on /GPU:0')\npath = args[args.index('--json') +"
        " 1]\njson.dump({'python': {'version': '3.9.16', 'machine': 'arm64'},\n    "
        "       'devices': [{'name': '/physical_device:GPU:0', 'type': 'GPU'}],\n   "
        "        'matmul': {'device': '/GPU:0', 'on_gpu': True, 'matches_numpy':"
        " True},\n           'exit_code': 0}, open(path, 'w'))\n"
    )
    python.chmod(0o755)
    return ["verify", "--python", str(python), "--tf", "2.6"]


def _test_catalog(request) -> None:
    monkeypatch = request.getfixturevalue("monkeypatch")
    catalog = make_test_catalog()
    for where in (
        "envgen.catalog.lines.load_catalog",
        "envgen.generate.project.load_catalog",
        "envgen.commands.refresh.load_catalog",
    ):
        monkeypatch.setattr(where, lambda *a, **k: catalog)


def _update(where: Path, request) -> list[str]:
    _test_catalog(request)
    request.getfixturevalue("pypi")
    return ["update", "--dir", str(_project(where))]


def _refresh(where: Path, request) -> list[str]:
    _test_catalog(request)
    request.getfixturevalue("pypi")
    return ["catalog", "refresh"]


def _check_pair(where: Path, request) -> list[str]:
    from abi.test_abicheck import _fake_index

    index = _fake_index(where, with_log_message=True)
    request.getfixturevalue("monkeypatch").setattr(
        "envgen.commands.check_pair.PyPIClient", lambda: index
    )
    return ["catalog", "check-pair", "--metal", "1.1.0", "--tf", "2.14.1"]


RECIPES: dict[str, Callable[[Path, pytest.FixtureRequest], list[str]]] = {
    "new": _new,
    "generate": _generate,
    "add": _add,
    "remove": _remove,
    "lock": _lock,
    "matrix": _matrix,
    "doctor": _doctor,
    "verify": _verify,
    "update": _update,
    "catalog refresh": _refresh,
    "catalog check-pair": _check_pair,
}


@pytest.mark.parametrize("name", LEAF_IDS)
def test_json_output_parses(name, tmp_path, request, capfd, monkeypatch):
    assert name in RECIPES, f"add a recipe for `envgen {name}` to RECIPES"
    monkeypatch.chdir(tmp_path)
    argv = RECIPES[name](tmp_path, request)
    code = run([*argv, "--json"])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    document = json.loads(captured.out)
    assert isinstance(document, (dict, list)) and document


@pytest.mark.parametrize("name", LEAF_IDS)
def test_quiet_prints_nothing_on_success(name, tmp_path, request, capfd, monkeypatch):
    """capfd, not capsys: a subprocess's output (verify's script, a solver) counts
    too."""
    assert name in RECIPES, f"add a recipe for `envgen {name}` to RECIPES"
    monkeypatch.chdir(tmp_path)
    argv = RECIPES[name](tmp_path, request)
    code = run([*argv, "-q"])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    assert captured.out == "" and captured.err == ""


def test_every_shared_exit_code_has_a_meaning_in_the_help():
    """A new EXIT_* constant in envgen.errors shows in every command's help once it has
    words here."""
    from envgen import errors
    from envgen.commands.conventions import COMMON_EXIT_CODES, SHARED_MEANINGS

    verdicts = {
        "EXIT_OK",
        "EXIT_CHECK_FAILED",
    }  # each command says what 0 and 1 mean for it
    shared = {n for n in vars(errors) if n.startswith("EXIT_")} - verdicts
    assert shared <= set(SHARED_MEANINGS), (
        f"add a meaning for {sorted(shared - set(SHARED_MEANINGS))} to SHARED_MEANINGS"
    )
    assert set(COMMON_EXIT_CODES) == {getattr(errors, n) for n in shared}
