"""`envgen new` and `envgen generate` end to end through the real CLI, on temp
directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.project_snapshot import snapshot

from envgen.cli import run
from envgen.generate.render import is_unedited


def new(tmp_path: Path, *args: str, name: str = "demo") -> Path:
    target = tmp_path / name
    assert run(["new", name, "--dir", str(target), "--no-lock", *args]) == 0
    return target


def test_new_writes_a_complete_project(tmp_path, capsys):
    project = new(tmp_path, "--tf", "2.6")
    files = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    assert {
        "envgen.toml",
        "environment.yml",
        "README.md",
        ".gitignore",
        "train.py",
    } <= files
    env = yaml.safe_load((project / "environment.yml").read_text())
    assert env["name"] == "demo"
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert conda[0] == "python 3.9.*"
    assert {spec.split()[0] for spec in conda} >= {"numpy", "h5py", "grpcio", "pip"}
    assert "tensorflow-macos==2.6.0" in pip and "tensorflow-metal==0.2.0" in pip
    assert not any(p.startswith("tensorflow==") for p in pip), (
        "never both tensorflow and tensorflow-macos"
    )
    assert not any(
        p.split("=")[0].split("<")[0].split(">")[0] in ("numpy", "h5py", "grpcio")
        for p in pip
    )
    assert env["platforms"] == ["osx-arm64"]
    assert "created" in capsys.readouterr().out


def test_generated_environment_is_read_by_conda_lock(tmp_path):
    from conda_lock.src_parser.environment_yaml import parse_environment_file

    project = new(
        tmp_path, "--tf", "2.6", "--platform", "osx-arm64", "--platform", "linux-64"
    )
    mapping = (
        tmp_path / "mapping.json"
    )  # conda-lock's name-mapping format; identity names here
    mapping.write_text(
        '{"six": {"pypi_name": "six", "conda_name": "six", "import_name": "six",'
        ' "mapping_source": "test"}}'
    )
    parsed = parse_environment_file(
        project / "environment.yml",
        platforms=["osx-arm64", "linux-64"],
        mapping_url=str(mapping),
    )
    by_platform = {
        platform: {(dep.name, dep.manager) for dep in deps}
        for platform, deps in parsed.dependencies.items()
    }
    assert ("tensorflow-macos", "pip") in by_platform["osx-arm64"]
    assert ("tensorflow-metal", "pip") in by_platform["osx-arm64"]
    assert ("tensorflow", "pip") not in by_platform["osx-arm64"]
    assert ("tensorflow", "pip") in by_platform["linux-64"]
    assert (
        not {("tensorflow-macos", "pip"), ("tensorflow-metal", "pip")}
        & by_platform["linux-64"]
    )
    for deps in by_platform.values():
        assert ("numpy", "conda") in deps and ("python", "conda") in deps
    assert parsed.channels[0].url == "conda-forge"


def test_generate_is_a_no_op_when_nothing_changed(tmp_path, capsys, monkeypatch):
    project = new(tmp_path, "--tf", "2.6")
    before = snapshot(project)
    monkeypatch.chdir(project)  # undone after the test (os.chdir leaked into others)
    assert run(["generate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert snapshot(project) == before


def test_generate_follows_an_edited_spec(tmp_path):
    project = new(tmp_path, "--tf", "2.6")
    spec = project / "envgen.toml"
    spec.write_text(
        spec.read_text()
        .replace('python = "3.9"', 'python = "3.8"')
        .replace("pip = []", 'pip = ["tqdm>=4"]')
    )
    train_before = (project / "train.py").read_bytes()
    assert run(["generate", "--dir", str(project)]) == 0
    env = (project / "environment.yml").read_text()
    assert "python 3.8.*" in env and "tqdm>=4" in env
    assert is_unedited(env)
    assert (project / "train.py").read_bytes() == train_before, (
        "seed files belong to the user"
    )


def test_generate_refuses_a_hand_edited_file_then_force_overwrites(tmp_path, capsys):
    project = new(tmp_path, "--tf", "2.6")
    env_file = project / "environment.yml"
    env_file.write_text(env_file.read_text() + "  - pandas\n")
    before = snapshot(project)
    assert run(["generate", "--dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "environment.yml" in err and "--force" in err
    assert snapshot(project) == before
    assert run(["generate", "--dir", str(project), "--force"]) == 0
    assert "pandas" not in env_file.read_text() and is_unedited(env_file.read_text())


def test_jupyter_and_prefix_location(tmp_path):
    project = new(tmp_path, "--tf", "2.6", "--jupyter")
    assert "  - jupyterlab\n" in (project / "environment.yml").read_text()
    spec = project / "envgen.toml"
    spec.write_text(
        spec.read_text().replace('location = "named"', 'location = "prefix"')
    )
    assert run(["generate", "--dir", str(project)]) == 0


def _write_spec(tmp_path: Path, body: str) -> Path:
    project = tmp_path / "p"
    project.mkdir()
    (project / "envgen.toml").write_text(body)
    return project


GOOD = '[project]\nname = "demo"\n[tensorflow]\nversion = "2.6"\n'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[project]\nname = "demo"\n[tensorflow\nversion = "2.6"\n', "line 3, column"),
        (GOOD + '[environment]\npythn = "3.9"\n', "unknown key environment.pythn"),
        (GOOD + "[extras]\n", "unknown section [extras]"),
        (
            '[project]\nname = "demo"\n[tensorflow]\nversion = "1.15"\n',
            "unknown TensorFlow line '1.15'",
        ),
        (
            GOOD + '[environment]\npython = "3.12"\n',
            (
                "environment.python 3.12: tensorflow-macos 2.6.0 has no macOS arm64"
                " wheel for it"
            ),
        ),
        (
            GOOD + '[environment]\nplatforms = ["linux-64"]\n',
            "Metal exists only on osx-arm64",
        ),
        (
            GOOD + '[environment]\nchannels = ["conda-forge", "defaults"]\n',
            "'defaults' is not allowed",
        ),
        (
            '[project]\nname = "1bad name"\n[tensorflow]\nversion = "2.6"\n',
            "not a valid project name",
        ),
        (GOOD + '[packages]\npip = ["numpy==1.19.5"]\n', "must come from conda-forge"),
        (GOOD + '[packages]\nconda = ["defaults::pandas"]\n', "names a channel"),
        (GOOD.replace('"2.6"\n', '"2.6"\nmetal = "9.9.9"\n'), "not known to work"),
    ],
)
def test_bad_spec_is_one_line_exit_2_and_writes_nothing(
    tmp_path, capsys, body, expected
):
    project = _write_spec(tmp_path, body)
    before = snapshot(project)
    assert run(["generate", "--dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("envgen: error: ") and err.count("\n") == 1, err
    assert expected in err
    assert "hint:" in err
    assert snapshot(project) == before


def test_unknown_line_lists_the_supported_ones(tmp_path, capsys):
    assert (
        run(
            [
                "new",
                "demo",
                "--tf",
                "1.15",
                "--dir",
                str(tmp_path / "demo"),
                "--no-lock",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "supported lines: " in err and "2.6" in err
    assert not (tmp_path / "demo").exists()


def test_unsupported_python_lists_the_supported_ones(tmp_path, capsys):
    assert (
        run(
            [
                "new",
                "demo",
                "--tf",
                "2.6",
                "--python",
                "3.12",
                "--dir",
                str(tmp_path / "demo"),
                "--no-lock",
            ]
        )
        == 2
    )
    assert "use one of 3.8, 3.9" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_new_refuses_a_non_empty_directory(tmp_path, capsys):
    target = tmp_path / "demo"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    before = snapshot(target)
    assert run(["new", "demo", "--tf", "2.6", "--dir", str(target), "--no-lock"]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert snapshot(target) == before


def test_new_refuses_an_invalid_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["new", "my project", "--tf", "2.6", "--no-lock"]) == 2
    assert "NAME 'my project' is not a valid project name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["base", "root", "Base"])
def test_new_refuses_the_name_of_condas_own_environment(tmp_path, capsys, name):
    """The conda environment is named after the project: `base` would be conda's."""
    assert (
        run(["new", name, "--tf", "2.6", "--no-lock", "--dir", str(tmp_path / "p")])
        == 2
    )
    err = capsys.readouterr().err
    assert f"NAME {name!r} is the name of conda's own environment" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_new_into_an_existing_empty_directory(tmp_path):
    target = tmp_path / "demo"
    target.mkdir()
    assert run(["new", "demo", "--tf", "2.6", "--dir", str(target), "--no-lock"]) == 0
    assert (target / "environment.yml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["demo"], (
        "no staging directory left behind"
    )
