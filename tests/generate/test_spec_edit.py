"""`envgen add` / `envgen remove`: envgen.toml edited with its comments and layout kept,
checked, re-rendered."""

from __future__ import annotations

import json

import pytest
import yaml

from envgen.cli import run
from envgen.errors import SpecError
from envgen.generate.edit import add_packages, remove_packages
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec, parse_spec

HAND_WRITTEN = """\
# my project's spec; the comments are mine
[project]
name = "demo"   # keep this

[tensorflow]
version = "2.6"

[packages]
conda = [
    "pandas",   # dataframes
]
pip = []   # nothing yet
# the end
"""


def test_add_keeps_comments_and_layout():
    edit = add_packages(HAND_WRITTEN, ("scipy >=1.7",), "conda")
    assert edit.changes == ("added scipy >=1.7 to packages.conda",)
    assert "# my project's spec; the comments are mine" in edit.text
    assert 'name = "demo"   # keep this' in edit.text
    assert '"pandas",   # dataframes' in edit.text and "# the end" in edit.text
    assert parse_spec(edit.text).conda_packages == ("pandas", "scipy >=1.7")
    # nothing else moved: the new text is the old one plus the added entry
    assert edit.text.replace('"scipy >=1.7"', "").count("\n") == HAND_WRITTEN.count(
        "\n"
    ) or ("scipy" in edit.text)


def test_add_repins_an_entry_and_refuses_the_other_manager():
    edit = add_packages(HAND_WRITTEN, ("pandas >=2",), "conda")
    assert parse_spec(edit.text).conda_packages == ("pandas >=2",)
    assert edit.changes == ("packages.conda: pandas → pandas >=2",)
    with pytest.raises(SpecError, match=r"pandas is already in packages.conda"):
        add_packages(HAND_WRITTEN, ("pandas",), "pip")


def test_add_creates_the_packages_table_when_missing():
    text = '[project]\nname = "demo"\n\n[tensorflow]\nversion = "2.6"\n'
    edit = add_packages(text, ("tqdm",), "pip")
    assert parse_spec(edit.text).pip_packages == ("tqdm",)
    assert edit.text.startswith(text)


@pytest.mark.parametrize(
    ("spec", "manager", "message"),
    [
        (
            "numpy",
            "conda",
            (
                r"envgen.toml left unchanged: packages.conda lists 'numpy', which"
                r" envgen pins"
            ),
        ),
        (
            "tensorflow",
            "pip",
            r"envgen.toml left unchanged: packages.pip must not list 'tensorflow'",
        ),
        ("not a spec!", "pip", r"'not a spec!' is not a pip package spec"),
    ],
)
def test_add_refuses_what_the_spec_loader_or_catalog_refuse(spec, manager, message):
    with pytest.raises(SpecError, match=message):
        add_packages(HAND_WRITTEN, (spec,), manager)


def test_remove_takes_a_name_from_either_list_and_refuses_unknown_names():
    edit = remove_packages(HAND_WRITTEN, ("Pandas",))
    assert parse_spec(edit.text).conda_packages == ()
    assert "# the end" in edit.text and "# nothing yet" in edit.text
    with pytest.raises(
        SpecError, match=r"numpy is not among envgen.toml's extra packages"
    ) as caught:
        remove_packages(HAND_WRITTEN, ("numpy",))
    assert caught.value.hint == "listed: pandas"


def test_cli_add_rerenders_and_says_what_to_run_next(tmp_path, capsys):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    assert run(["add", "--pip", "tqdm>=4.60", "--dir", str(project)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "added tqdm>=4.60 to packages.pip"
    assert out[1] == "wrote environment.yml"
    assert out[2].startswith("pip pins: the line's caps") and "tqdm>=4.60" in out[2]
    assert out[-1].startswith("next: envgen lock --dir")
    environment = yaml.safe_load((project / "environment.yml").read_text())
    pip = next(d for d in environment["dependencies"] if isinstance(d, dict))["pip"]
    assert "tqdm>=4.60" in pip
    assert run(["remove", "tqdm", "--dir", str(project), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["changes"] == ["removed tqdm>=4.60 from packages.pip"]
    assert document["pip_pins"] == "exact" and document["next"] == "envgen lock"


def test_cli_add_leaves_envgen_toml_unchanged_when_rendering_refuses(tmp_path, capsys):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    before = (project / "envgen.toml").read_bytes()
    with (project / "bootstrap.sh").open("a") as handle:
        handle.write("# my edit\n")
    assert run(["add", "pandas", "--dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert "envgen.toml left unchanged: refusing to overwrite bootstrap.sh" in err
    assert (project / "envgen.toml").read_bytes() == before


def _break_environment_yml(project):
    (project / "environment.yml").unlink()
    (project / "environment.yml").symlink_to("environment.yml")  # a loop: ELOOP


def _scripts_a_file(project):
    import shutil

    shutil.rmtree(project / "scripts")
    (project / "scripts").write_text("x\n")  # scripts/verify_gpu.py: ENOTDIR


def _interrupt_the_commit(project, monkeypatch):
    import envgen.generate.project as generate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "commit_files", interrupted)


@pytest.mark.parametrize("command", [["add", "pandas"], ["remove", "pandas"]])
@pytest.mark.parametrize(
    "fault", ["environment.yml-loop", "scripts-a-file", "interrupted"]
)
def test_add_and_remove_leave_every_file_unchanged_on_any_failure(
    tmp_path, capsys, monkeypatch, command, fault
):
    from support.hardening import snapshot

    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    if command[0] == "remove":
        assert run(["add", "pandas", "--dir", str(project)]) == 0
        capsys.readouterr()
    if fault == "environment.yml-loop":
        _break_environment_yml(project)
    elif fault == "scripts-a-file":
        _scripts_a_file(project)
    else:
        _interrupt_the_commit(project, monkeypatch)
    before = snapshot(project)
    code = run([*command, "--dir", str(project)])
    err = capsys.readouterr().err
    assert code == (130 if fault == "interrupted" else 2), err
    if fault != "interrupted":
        assert err.count("\n") == 1 and "envgen.toml left unchanged" in err, err
    assert snapshot(project) == before


def test_add_writes_through_a_symlinked_envgen_toml(tmp_path, capsys):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    shared = tmp_path / "shared"
    shared.mkdir()
    (project / "envgen.toml").rename(shared / "envgen.toml")
    (project / "envgen.toml").symlink_to(shared / "envgen.toml")
    assert run(["add", "pandas", "--dir", str(project)]) == 0, capsys.readouterr().err
    assert (project / "envgen.toml").is_symlink()
    assert parse_spec((shared / "envgen.toml").read_text()).conda_packages == (
        "pandas",
    )
    assert sorted(p.name for p in shared.iterdir()) == ["envgen.toml"]  # no temps left
    assert "pandas" in (project / "environment.yml").read_text()


@pytest.mark.parametrize(
    "spec",
    [
        "tqdm; python_version == 'a #b'",
        "tqdm; python_version == 'a --index-url http://evil/simple'",
    ],
)
def test_cli_add_refuses_a_pip_spec_the_requirements_file_would_misread(
    tmp_path, capsys, spec
):
    project = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project)
    before = (project / "envgen.toml").read_bytes()
    assert run(["add", "--pip", spec, "--dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "packages.pip entry" in err, err
    assert (project / "envgen.toml").read_bytes() == before
