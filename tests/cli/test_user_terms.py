"""Messages speak the user's terms and say what to do next (README: "Command-line
conventions")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.lock_fixtures import CHANNEL_URL, PipIndex, write_index

from envgen.cli import run
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


# ---- errors name the flag the user typed, or the key they wrote ----------------------


def test_new_with_an_unsupported_python_names_the_flag(tmp_path, capsys):
    target = tmp_path / "demo"
    assert (
        run(["new", "demo", "--tf", "2.6", "--python", "3.10", "--dir", str(target)])
        == 2
    )
    line = _error(capsys)
    assert line.startswith(
        "envgen: error: --python 3.10: tensorflow-macos 2.6.0 has no macOS arm64 wheel"
        " for it"
    )
    assert "leave out --python to get 3.9" in line
    assert "environment.python" not in line
    assert not target.exists()


def test_new_for_linux_with_metal_on_names_no_metal(tmp_path, capsys):
    target = tmp_path / "demo"
    argv = [
        "new",
        "demo",
        "--tf",
        "2.6",
        "--platform",
        "linux-64",
        "--dir",
        str(target),
    ]
    assert run(argv) == 2
    line = _error(capsys)
    assert "--platform linux-64 has no Apple Silicon platform" in line
    assert "pass --no-metal" in line and "add --platform osx-arm64" in line
    assert "metal = false" not in line and "environment.platforms" not in line


def test_new_with_an_unknown_line_names_tf(tmp_path, capsys):
    assert run(["new", "demo", "--tf", "1.15", "--dir", str(tmp_path / "d")]) == 2
    assert _error(capsys).startswith("envgen: error: --tf: ")


@pytest.mark.parametrize(
    ("flag", "value", "problem", "hint"),
    [
        ("--tf", "2.x", "'2.x' is not a TensorFlow line", "--tf 2.6 or --tf 2.6.0"),
        ("--tf", "2.13.0rc0", "'2.13.0rc0' is a pre-release", "e.g. --tf 2.13"),
        ("--python", "3", "'3' is not a Python minor version", "like --python 3.9"),
    ],
)
def test_a_malformed_version_flag_is_answered_in_flag_form(
    tmp_path, capsys, flag, value, problem, hint
):
    argv = ["new", "demo", "--tf", "2.6", "--dir", str(tmp_path / "d"), flag, value]
    assert run(argv) == 2
    line = _error(capsys)
    assert line.startswith(f"envgen: error: {flag} {problem}"), line
    assert hint in line and " = " not in line, line
    assert not (tmp_path / "d").exists()


def test_a_malformed_version_key_is_answered_in_key_form(tmp_path, capsys):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    spec = project / "envgen.toml"
    environment = (project / "environment.yml").read_bytes()
    spec.write_text(spec.read_text().replace('version = "2.6"', 'version = "2.6.0b1"'))
    assert run(["generate", "--dir", str(project)]) == 2
    line = _error(capsys)
    assert "tensorflow.version '2.6.0b1' is a pre-release" in line
    assert 'e.g. version = "2.6"' in line
    assert (project / "environment.yml").read_bytes() == environment


def test_the_same_mistakes_in_envgen_toml_name_the_keys(tmp_path, capsys):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    spec = project / "envgen.toml"
    spec.write_text(spec.read_text().replace('python = "3.9"', 'python = "3.10"'))
    assert run(["generate", "--dir", str(project)]) == 2
    line = _error(capsys)
    assert (
        "environment.python 3.10: tensorflow-macos 2.6.0 has no macOS arm64 wheel"
        " for it" in line
    )
    assert "remove environment.python to get 3.9" in line
    spec.write_text(
        spec.read_text()
        .replace('python = "3.10"', 'python = "3.9"')
        .replace('platforms = ["osx-arm64"]', 'platforms = ["linux-64"]')
    )
    assert run(["generate", "--dir", str(project)]) == 2
    line = _error(capsys)
    assert 'environment.platforms = ["linux-64"] has no Apple Silicon platform' in line
    assert "set tensorflow.metal = false" in line


# ---- after a state change, the next command; caps say why ----------------------------


def test_generate_after_a_line_change_says_to_lock(tmp_path, capsys):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    spec = project / "envgen.toml"
    before = spec.read_text()
    assert (
        "a Python the TensorFlow line supports" in before
    )  # no list that a line change would make stale
    spec.write_text(before.replace('version = "2.6"', 'version = "2.12"'))
    assert run(["generate", "--dir", str(project)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("wrote environment.yml")
    assert out[-1].startswith(f"next: envgen lock --dir {project} (")
    assert sum(line.startswith("next:") for line in out) == 1


def test_adding_a_pip_package_says_why_the_exact_pins_gave_way_to_caps(
    tmp_path, capsys
):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    assert "known-good closure" in (project / "environment.yml").read_text()
    spec = project / "envgen.toml"
    spec.write_text(spec.read_text().replace("pip = []", 'pip = ["tqdm>=4.60"]'))
    assert run(["generate", "--dir", str(project), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pip_pins"] == "caps" and "tqdm>=4.60" in document["caps_reason"]
    spec.write_text(spec.read_text().replace('"tqdm>=4.60"', '"tqdm>=4.61"'))
    assert run(["generate", "--dir", str(project)]) == 0
    caps = [line for line in capsys.readouterr().out.splitlines() if "caps" in line]
    assert caps == [
        "pip pins: the line's caps, not envgen's exact pin set, because envgen.toml"
        " adds pip packages (tqdm>=4.61), which exact pins could conflict with; the"
        " lock resolves the rest"
    ]


def test_new_without_lock_names_the_next_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["new", "my-proj", "--tf", "2.6", "--no-lock"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "next: cd my-proj && envgen lock"


# ---- a solve that fails on envgen's own pins blames envgen, not envgen.toml ----------


@pytest.fixture(scope="module")
def pip_index(tmp_path_factory):
    served = PipIndex(write_index(tmp_path_factory.mktemp("pypi")))
    yield served
    served.close()


def test_no_candidate_for_envgens_own_pin_blames_envgen(tmp_path, pip_index, capsys):
    """The fixture channel has no h5py 3.6 (TF 2.9's pin): nothing in envgen.toml can
    fix that."""
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.9", python="3.9"), project)
    argv = ["lock", "-q", "--dir", str(project), "--channel", CHANNEL_URL]
    assert run([*argv, "--pypi-index", pip_index.url]) == 3
    line = _error(capsys)
    assert "No candidates were found for h5py >=3.6.0,<3.7" in line
    assert "envgen's own pins for this TensorFlow line, not envgen.toml's" in line
    assert "relax" not in line


def test_no_candidate_for_the_users_own_package_asks_to_relax_it(
    tmp_path, pip_index, capsys
):
    project = tmp_path / "demo"
    create_project(
        ProjectSpec(
            name="demo", tensorflow="2.6", python="3.9", conda_packages=("pandas",)
        ),
        project,
    )
    argv = ["lock", "-q", "--dir", str(project), "--channel", CHANNEL_URL]
    assert run([*argv, "--pypi-index", pip_index.url]) == 2
    line = _error(capsys)
    assert (
        "pandas" in line
        and "relax or remove the conflicting pins in envgen.toml" in line
    )


# ---- doctor: facts about the machine apart from fixes; whole lines when piped --------


def test_doctor_on_linux_reports_machine_facts_not_errors(capsys):
    probe = FIXTURES / "doctor" / "linux-tensorflow-cpu.json"
    assert run(["doctor", "--probe-result", str(probe)]) == 0
    out = capsys.readouterr().out
    assert "about this machine (nothing to fix here):" in out
    assert "✗ error" not in out and "fix the errors above" not in out
    assert "0 error(s)" in out and "4 machine fact(s)" in out


def test_doctor_never_breaks_a_command_or_url_when_piped(capsys):
    probe = FIXTURES / "doctor" / "rosetta-python.json"
    assert run(["doctor", "--probe-result", str(probe)]) == 1
    out = capsys.readouterr().out
    fix = next(
        line for line in out.splitlines() if "Miniforge3-MacOSX-arm64.sh" in line
    )
    assert len(fix) > 80  # one line, longer than the 80 columns a pipe used to get
    assert "github.com/conda-forge/miniforge" in fix and fix.rstrip().endswith(
        "must print arm64"
    )
    assert "fine: " in out and "(-v shows the evidence)" in out
    assert run(["doctor", "--probe-result", str(probe), "-v"]) == 1
    assert "✓ ok" in capsys.readouterr().out


def test_doctor_says_it_is_probing_when_the_probe_takes_a_while(tmp_path, capfd):
    slow = tmp_path / "python3"
    slow.write_text("#!/bin/sh\nsleep 1.5\nexit 3\n")
    slow.chmod(0o755)
    run(["doctor", "--python", str(slow)])
    err = capfd.readouterr().err
    assert f"envgen doctor: probing {slow}: import tensorflow and one op" in err


# ---- check-pair: a long list of missing symbols is summarised, -v shows all ----------


def test_check_pair_summarises_many_missing_symbols(tmp_path, monkeypatch, capsys):
    from abi.test_abicheck import PLUGIN, PYWRAP, _Index, plugin, pywrap
    from support.macho_builder import Imp

    from envgen.commands.check_pair import SHOWN_MISSING

    missing = [f"_TF_Gone{n}" for n in range(12)]
    metadata = "Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.18.0\n"
    index = _Index(
        {
            "tensorflow_metal-1.1.0-cp311-cp311-macosx_12_0_arm64.whl": {
                PLUGIN: (
                    plugin(
                        [Imp("_TF_NewStatus", 2), *(Imp(n, 2) for n in missing)]
                    ).build()
                )
            },
            "tensorflow-2.18.0-cp311-cp311-macosx_12_0_arm64.whl": {
                "tensorflow-2.18.0.dist-info/METADATA": metadata.encode(),
                PYWRAP: pywrap(["_TF_NewStatus"]).build(),
            },
        },
        tmp_path,
    )
    monkeypatch.setattr("envgen.commands.check_pair.PyPIClient", lambda: index)
    argv = ["catalog", "check-pair", "--metal", "1.1.0", "--tf", "2.18.0", "-q"]
    assert run(argv) == 1
    out = capsys.readouterr().out
    total = int(re.search(r"(\d+) of the \d+ symbols", out).group(1))
    assert total >= 12
    assert out.count("Symbol not found:") == SHOWN_MISSING
    assert (
        f"… and {total - SHOWN_MISSING} more missing symbols (-v lists them all)" in out
    )
    assert run([*argv, "-v"]) == 1
    assert capsys.readouterr().out.count("Symbol not found:") == total


# ---- update --apply: the same closing lines as generate ------------------------------


def test_update_apply_without_lock_names_the_next_command(
    tmp_path, monkeypatch, capsys
):
    from support.pypi_fixtures import FakePyPI, make_test_catalog

    catalog = make_test_catalog()
    for where in (
        "envgen.catalog.lines.load_catalog",
        "envgen.generate.project.load_catalog",
    ):
        monkeypatch.setattr(where, lambda *a, **k: catalog)
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    with FakePyPI() as fake:
        monkeypatch.setenv("ENVGEN_PYPI_URL", fake.url)
        fake.serve_recorded()
        assert (
            run(["update", "--latest", "--apply", "--no-lock", "--dir", str(project)])
            == 0
        )
    out = capsys.readouterr().out.splitlines()
    assert (
        out[-1] == f"next: envgen lock --dir {project} (--no-lock left the lock stale)"
    )
    assert run(["generate", "--dir", str(project), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    caps_lines = [line for line in out if line.startswith("pip pins: the line's caps")]
    assert len(caps_lines) == (1 if document["pip_pins"] == "caps" else 0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"metal": "0.5.1"},
            "tensorflow-metal 0.5.1 is not the line's pair (tensorflow-metal 0.5.0)",
        ),
        (
            {"tensorflow": "2.9.1"},
            (
                "TensorFlow 2.9.1 is not 2.9.2, the release the line's pin set was"
                " resolved for"
            ),
        ),
        ({"platforms": ("osx-arm64", "linux-64")}, "the project also targets linux-64"),
        ({"metal": False}, "Metal off is not the line's pair"),
        (
            {"jupyter": True},
            "the project adds conda packages (ipykernel, jupyterlab), whose",
        ),
        ({"conda_packages": ("pandas",)}, "the project adds conda packages (pandas)"),
    ],
)
def test_each_step_away_from_the_pin_set_says_why_caps_apply(change, reason):
    """A plugin patch, another release of the line, another platform: each gives way to
    caps, with the reason."""
    from envgen.catalog.lines import load_catalog
    from envgen.generate.plan import make_plan

    base = {"name": "demo", "tensorflow": "2.9", "python": "3.9"}
    exact = make_plan(ProjectSpec(**base), load_catalog())
    assert exact.pin_set and not exact.caps_reason
    capped = make_plan(ProjectSpec(**{**base, **change}), load_catalog())
    assert not capped.pin_set and capped.caps_reason.startswith(reason)
