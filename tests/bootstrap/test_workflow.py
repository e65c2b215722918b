"""The generated CI workflow: valid against GitHub's workflow schema (vendored in
tests/fixtures/github-workflow), and doing what a team needs for its platforms; no
generated file sends anyone to the unrelated PyPI project called envgen."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from envgen.catalog.lines import load_catalog
from envgen.generate.plan import make_plan
from envgen.generate.render import render_files
from envgen.generate.spec import ProjectSpec

SCHEMA = json.loads(
    (
        Path(__file__).parent.parent
        / "fixtures"
        / "github-workflow"
        / "github-workflow.json"
    ).read_text()
)

CASES = {
    "team": dict(
        tensorflow="2.16", metal=True, platforms=("osx-arm64", "osx-64", "linux-64")
    ),
    "metal-only": dict(tensorflow="2.18", metal=True, platforms=("osx-arm64",)),
    "linux-cpu": dict(tensorflow="2.18", metal=False, platforms=("linux-64",)),
    "mac-cpu-prefix": dict(
        tensorflow="2.12", metal=False, platforms=("osx-arm64",), location="prefix"
    ),
}


def rendered(case: str) -> dict[str, str]:
    spec = ProjectSpec(name="demo", python=None, **CASES[case])
    return {f.path: f.content for f in render_files(make_plan(spec, load_catalog()))}


def workflow(case: str) -> dict:
    # PyYAML reads the bare key `on` as True (YAML 1.1); GitHub reads it as "on"
    document = yaml.safe_load(rendered(case)[".github/workflows/verify.yml"])
    if True in document:
        document["on"] = document.pop(True)
    return document


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("case", CASES)
def test_workflow_is_valid_against_githubs_schema(case):
    jsonschema.validate(workflow(case), SCHEMA, cls=jsonschema.Draft7Validator)


def test_the_schema_check_can_fail():
    broken = copy.deepcopy(workflow("team"))
    del broken["jobs"]["linux"]["runs-on"]
    broken["jobs"]["linux"]["steps"][0]["uses"] = 3
    errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))
    assert errors


@pytest.mark.parametrize("case", CASES)
def test_every_workflow_checks_the_lock_on_linux_without_envgen(case):
    linux = workflow(case)["jobs"]["linux"]
    assert linux["runs-on"] == "ubuntu-latest"
    assert runs(linux)[0] == "./bootstrap.sh --check"
    for path, text in rendered(case).items():
        assert "pip install envgen" not in text, path
        assert "pypi.org/project/envgen" not in text, path
        assert not re.search(r"\benvgen[=<>~]=", text), path


@pytest.mark.parametrize("case", ["team", "linux-cpu"])
def test_a_linux_64_project_builds_and_trains_on_linux_with_a_cache_keyed_on_its_lock(
    case,
):
    linux = workflow(case)["jobs"]["linux"]
    cache = next(
        step
        for step in linux["steps"]
        if step.get("uses", "").startswith("actions/cache@")
    )
    assert (
        cache["with"]["key"]
        == "envgen-linux-64-${{ hashFiles('conda-linux-64.lock') }}"
    )
    assert "~/micromamba/pkgs" in cache["with"]["path"].split()
    commands = runs(linux)
    assert (
        'MAMBA_ROOT_PREFIX="$HOME/micromamba" ./bootstrap.sh --install-micromamba --yes'
        in commands
    )
    train = commands[-1]
    assert '"$MAMBA_ROOT_PREFIX/envs/demo/bin/python" train.py' in train


@pytest.mark.parametrize("case", ["team", "metal-only", "mac-cpu-prefix"])
def test_an_osx_arm64_project_bootstraps_on_macos_14(case):
    jobs = workflow(case)["jobs"]
    macos = jobs["macos"]
    assert macos["runs-on"] == "macos-14"
    cache = next(
        step
        for step in macos["steps"]
        if step.get("uses", "").startswith("actions/cache@")
    )
    assert (
        cache["with"]["key"]
        == "envgen-osx-arm64-${{ hashFiles('conda-osx-arm64.lock') }}"
    )
    (command,) = runs(macos)
    metal = CASES[case]["metal"]
    # with Metal, the verification reports the plugin and the device (hosted runners
    # have no GPU: --allow-cpu); without, bootstrap runs it in CPU mode on its own
    assert command.endswith(
        "./bootstrap.sh --install-micromamba --yes" + (" --allow-cpu" if metal else "")
    )


def test_a_project_without_osx_arm64_has_no_macos_job_and_no_build_without_linux_64():
    assert "macos" not in workflow("linux-cpu")["jobs"]
    linux = workflow("metal-only")["jobs"]["linux"]
    assert runs(linux) == ["./bootstrap.sh --check"]
