"""Injection into every generated file: each file is parsed back and compared with the
values it was given.

Two layers. The escapers themselves (envgen/generate/escape.py) round-trip a corpus of
hostile strings through the real parsers (yaml.safe_load, bash, ast.literal_eval, tomli)
and refuse every control character. Then whole projects made from valid but awkward
specs are rendered, and each generated file is read back by its language's parser:
environment.yml (YAML), envgen.toml (TOML), bootstrap.sh (bash -n, then its variables
evaluated by bash), verify_gpu.py (compile, the EXPECTED_* literals), README.md.
"""

from __future__ import annotations

import ast
import shlex
import subprocess

import pytest
import tomli
import yaml
from support.hardening import UNSAFE_CHARACTERS, cli

from envgen.catalog.lines import load_catalog
from envgen.generate import escape
from envgen.generate.plan import make_plan
from envgen.generate.render import render_files
from envgen.generate.spec import ProjectSpec, parse_spec
from envgen.names import EXPLICIT_NOTICE

HOSTILE = {
    "double-quote": 'say "hi"',
    "single-quote": "it's",
    "backslash": "a\\b\\",
    "command-substitution": "$(touch /tmp/pwned)",
    "backticks": "`touch /tmp/pwned`",
    "variable": "${HOME}$PATH",
    "yaml-mapping": "key: value",
    "yaml-comment": "value # comment",
    "yaml-flow": "{a: 1}",
    "yaml-sequence": "[1, 2]",
    "yaml-anchor": "&anchor *alias",
    "yaml-tag": "!!python/object:os.system",
    "yaml-bool": "yes",
    "yaml-null": "~",
    "yaml-number": "1e3",
    "yaml-document": "---",
    "leading-dash": "- item",
    "leading-space": "  padded  ",
    "percent-at": "%TAG @x",
    "semicolon-pipe": "a; b | c && d > e",
    "glob": "*?[a-z]",
    "markdown": "# *bold* _it_ [link](x) <b>|</b>",
    "triple-quote": "\"\"\"'''",
    "unicode": "naïve ☃ 日本",
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_yaml_scalar_loads_back_exactly(case):
    value = HOSTILE[case]
    assert yaml.safe_load(f"- {escape.yaml_scalar(value)}\n") == [value]
    assert yaml.safe_load(
        f"key: {escape.yaml_scalar(value)}  # trailing comment\n"
    ) == {"key": value}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_shell_word_expands_to_exactly_the_value(case, tmp_path):
    value = HOSTILE[case]
    script = (
        f"cd {shlex.quote(str(tmp_path))}\nVALUE={escape.sh_word(value)}\nprintf '%s'"
        ' "$VALUE"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == value
    assert list(tmp_path.iterdir()) == []  # nothing ran


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_python_literal_evaluates_back_exactly(case):
    value = HOSTILE[case]
    source = f"X = {escape.py_literal(value)}  # comment\n"
    compile(source, "<test>", "exec")
    assert ast.literal_eval(escape.py_literal(value)) == value


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_toml_value_loads_back_exactly(case):
    value = HOSTILE[case]
    assert tomli.loads(f"key = {escape.toml_value(value)}    # comment\n") == {
        "key": value
    }
    assert tomli.loads(f"keys = {escape.toml_value([value, value])}\n") == {
        "keys": [value, value]
    }


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_markdown_text_escapes_every_markup_character(case):
    value = HOSTILE[case]
    text = escape.md_text(value)
    unescaped = []
    index = 0
    while index < len(text):
        if text[index] == "\\":
            unescaped.append(text[index + 1])
            index += 2
            continue
        assert text[index] not in "\\`*_{}[]()#+!<>|~", (
            f"unescaped {text[index]!r} in {text!r}"
        )
        unescaped.append(text[index])
        index += 1
    assert "".join(unescaped) == value


@pytest.mark.parametrize("char_name", sorted(UNSAFE_CHARACTERS))
@pytest.mark.parametrize("escaper", sorted(escape.FILTERS))
def test_every_escaper_refuses_control_characters(escaper, char_name):
    with pytest.raises(escape.UnsafeValue):
        escape.FILTERS[escaper]("ok" + UNSAFE_CHARACTERS[char_name] + "ok")


def test_the_renderer_refuses_an_unescaped_line_break_even_if_validation_were_bypassed():
    """Defense in depth: a spec that skipped validation still cannot write a new line
    into a file."""
    plan = make_plan(
        ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), load_catalog()
    )
    object.__setattr__(plan.spec, "name", "demo\nrm -rf ~")  # plan.name reads it
    assert plan.name == "demo\nrm -rf ~"
    with pytest.raises(escape.UnsafeValue):
        render_files(plan)


# ---- whole projects, every file parsed back ------------------------------------------

SPECS = {
    "plain": ProjectSpec(name="demo", tensorflow="2.6", python="3.9"),
    "awkward-packages": ProjectSpec(
        name="x_y-Z9",
        tensorflow="2.6",
        python="3.9",
        conda_packages=(
            "pandas >=1.3,<2",
            "scipy 1.7.*",
            "libblas=*=*accelerate",
            "zstd>=1.5|<1.4",
        ),
        pip_packages=(
            'tqdm; python_version < "3.10"',
            "requests[socks]>=2.25",
            "rich~=13.0",
            "a.b_c-d==1.0",
        ),
    ),
    "exact-metal-prefix-jupyter": ProjectSpec(
        name="a" * 63,
        tensorflow="2.12",
        metal="0.8.0",
        python="3.10",
        jupyter=True,
        location="prefix",
    ),
    "no-metal-multiplatform": ProjectSpec(
        name="cpu-only",
        tensorflow="2.16",
        metal=False,
        python="3.11",
        platforms=("osx-arm64", "linux-64"),
    ),
}


@pytest.fixture(params=sorted(SPECS))
def rendered(request):
    spec = SPECS[request.param]
    plan = make_plan(spec, load_catalog())
    return spec, plan, {item.path: item.content for item in render_files(plan)}


def test_environment_yml_holds_exactly_the_plan(rendered):
    spec, plan, files = rendered
    document = yaml.safe_load(files["environment.yml"])
    assert document["name"] == plan.env_name
    assert document["channels"] == [*plan.channels, "nodefaults"]
    conda = [entry for entry in document["dependencies"] if isinstance(entry, str)]
    pip = next(
        entry["pip"] for entry in document["dependencies"] if isinstance(entry, dict)
    )
    assert conda == list(plan.conda_specs)
    assert pip == [item.requirement for item in plan.pip_requirements]
    assert set(spec.conda_packages) <= set(conda)
    assert document["platforms"] == list(plan.platforms)


def test_envgen_toml_loads_back_as_the_spec(rendered):
    spec, plan, files = rendered
    assert parse_spec(files["envgen.toml"]) == ProjectSpec(
        name=spec.name,
        tensorflow=spec.tensorflow,
        metal=spec.metal,
        python=plan.python,
        conda_packages=spec.conda_packages,
        pip_packages=spec.pip_packages,
        jupyter=spec.jupyter,
        platforms=spec.platforms,
        channels=spec.channels,
        location=spec.location,
    )


def test_bootstrap_parses_and_its_values_are_the_plans(rendered, tmp_path):
    _, plan, files = rendered
    script = tmp_path / "bootstrap.sh"
    script.write_text(files["bootstrap.sh"])
    assert (
        subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    )
    # the variable block runs before any command; then the notice the integrity check
    # compares with
    head = (
        files["bootstrap.sh"]
        .split("\nusage()", 1)[0]
        .replace("set -euo pipefail", "set -eu")
    )
    notice = next(
        line
        for line in files["bootstrap.sh"].splitlines()
        if line.startswith("EXPLICIT_NOTICE=")
    )
    names = [
        "ENV_NAME",
        "PREFIX_DIR",
        "LOCKED_PLATFORMS",
        "METAL_PLATFORM",
        "MIN_MACOS",
        "TF_VERSION",
        "METAL_TF_PACKAGE",
        "METAL_VERSION",
        "EXPLICIT_NOTICE",
    ]
    shown = " ".join(f'"${name}"' for name in names)
    probe = f'{head}\n{notice}\nprintf "%s\\n" {shown}\n'
    done = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == [
        plan.env_name,
        plan.prefix_dir,
        " ".join(plan.platforms),
        plan.metal_platform,
        plan.min_macos,
        plan.tf_version,
        plan.tf_package,
        plan.metal_version,
        EXPLICIT_NOTICE,
    ]


def test_verify_script_compiles_and_expects_the_plans_pair(rendered):
    _, plan, files = rendered
    tree = ast.parse(files["scripts/verify_gpu.py"])
    compile(tree, "verify_gpu.py", "exec")
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.startswith("EXPECTED_")
    }
    assert constants == {
        "EXPECTED_TF_PACKAGE": plan.tf_package,
        "EXPECTED_TF": plan.tf_version,
        "EXPECTED_METAL": plan.metal_version,
    }


def test_train_script_compiles(rendered):
    _, _, files = rendered
    compile(files["train.py"], "train.py", "exec")


def test_readme_shows_the_name_literally(rendered):
    spec, _plan, files = rendered
    first = files["README.md"].splitlines()[0]
    assert first == "# " + escape.md_text(spec.name)
    cd_line = next(
        line for line in files["README.md"].splitlines() if line.startswith("git clone")
    )
    assert shlex.split(cd_line.split("&&", 1)[1]) == ["cd", spec.name]


def test_workflow_and_gitignore_parse(rendered):
    _, _, files = rendered
    assert isinstance(yaml.safe_load(files[".github/workflows/verify.yml"]), dict)
    assert all("\r" not in line for line in files[".gitignore"].splitlines())


def test_generated_project_on_disk_round_trips_through_the_cli(tmp_path, capsys):
    """The same checks through `envgen new` and `envgen generate` on disk, with the
    awkward spec."""
    spec = SPECS["awkward-packages"]
    code, _, err = cli(
        capsys,
        "new",
        spec.name,
        "--tf",
        "2.6",
        "--python",
        "3.9",
        "--no-lock",
        "--dir",
        tmp_path / "p",
    )
    assert code == 0, err
    project = tmp_path / "p"
    text = (project / "envgen.toml").read_text()
    text = text.replace(
        "conda = []", f"conda = {escape.toml_value(list(spec.conda_packages))}"
    )
    text = text.replace(
        "pip = []", f"pip = {escape.toml_value(list(spec.pip_packages))}"
    )
    (project / "envgen.toml").write_text(text)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 0, err
    document = yaml.safe_load((project / "environment.yml").read_text())
    conda = [entry for entry in document["dependencies"] if isinstance(entry, str)]
    pip = next(
        entry["pip"] for entry in document["dependencies"] if isinstance(entry, dict)
    )
    assert set(spec.conda_packages) <= set(conda)
    assert set(spec.pip_packages) <= set(pip)
    assert document["channels"] == ["conda-forge", "nodefaults"]


@pytest.mark.parametrize(
    "name", ["null", "yes", "No", "True", "off", "on", "y", "e10", "NaN", "inf"]
)
def test_project_names_that_yaml_reads_as_other_types_stay_strings(name):
    """Valid names that YAML 1.1 would read as null, booleans or numbers come back as
    the same string."""
    plan = make_plan(
        ProjectSpec(name=name, tensorflow="2.6", python="3.9"), load_catalog()
    )
    files = {item.path: item.content for item in render_files(plan)}
    assert yaml.safe_load(files["environment.yml"])["name"] == name
    assert tomli.loads(files["envgen.toml"])["project"]["name"] == name
