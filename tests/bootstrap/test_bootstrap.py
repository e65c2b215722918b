"""bootstrap.sh: shellcheck, bash 3.2 compatibility, and real runs under bash on a
stubbed Mac.

The stubs in tests/fixtures/fakemac/ play macOS (uname, sw_vers, sysctl, xcode-select)
and a conda front end that records its arguments; lock files are fabricated following
the lock contract (conda-lock.yml + conda-osx-arm64.lock with envgen's hash header
lines).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.fakemac import FAKEMAC, FakeMac
from support.tools import require_tool

from envgen.catalog.lines import load_catalog
from envgen.generate.plan import make_plan
from envgen.generate.project import create_project
from envgen.generate.render import render_files
from envgen.generate.spec import ProjectSpec

__all__ = ["FakeMac"]  # tests/lock/test_pipeline.py imports it from here
PIP_SHA = "a" * 64


def _spec(
    tf: str,
    *,
    python: str | None = None,
    location: str = "named",
    jupyter: bool = False,
) -> ProjectSpec:
    return ProjectSpec(
        name="demo",
        tensorflow=tf,
        metal=True,
        python=python,
        jupyter=jupyter,
        platforms=("osx-arm64",),
        location=location,
    )


SPECS = [
    ("2.6-py3.9", dict(tf="2.6", python="3.9")),
    ("2.6-prefix-jupyter", dict(tf="2.6", location="prefix", jupyter=True)),
    ("2.6-default-python", dict(tf="2.6")),
    ("2.12-prefix-jupyter", dict(tf="2.12", location="prefix", jupyter=True)),
    ("2.16", dict(tf="2.16")),
    ("2.18", dict(tf="2.18")),
]


def _rendered_bootstrap(**kwargs) -> str:
    plan = make_plan(_spec(**kwargs), load_catalog())
    return next(f.content for f in render_files(plan) if f.path == "bootstrap.sh")


@pytest.mark.parametrize("case,kwargs", SPECS, ids=[c for c, _ in SPECS])
def test_rendered_bootstrap_is_shellcheck_clean(case, kwargs, tmp_path):
    shellcheck = require_tool("shellcheck")
    script = tmp_path / "bootstrap.sh"
    script.write_text(_rendered_bootstrap(**kwargs))
    result = subprocess.run(
        [shellcheck, "--shell=bash", str(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# bash-4-only constructs macOS's /bin/bash 3.2 rejects or misreads.
BASH4 = [
    (r"\bdeclare\s+-[a-zA-Z]*A", "associative array"),
    (r"\blocal\s+-[a-zA-Z]*A", "associative array"),
    (r"\bmapfile\b", "mapfile"),
    (r"\breadarray\b", "readarray"),
    (r"\bcoproc\b", "coproc"),
    (r"\$\{[^}]*(,,|\^\^)[^}]*\}", "case conversion ${x,,}/${x^^}"),
    (r"\$\{[^}]*[^,],\}|\$\{[^}]*\^\}", "case conversion ${x,}/${x^}"),
    (r"\|&", "|& pipe"),
    (r"&>>", "&>> redirection"),
    (r"\[-\d+\]\}", "negative array index"),
    (r"\bdeclare\s+-[a-zA-Z]*n", "nameref"),
    (r"\bshopt\s+-s\s+(globstar|lastpipe)", "bash 4 shopt"),
    (r"\$\{[^}]*@[QEPAa]\}", "${x@op} transformation"),
    (r"\bwait\s+-n\b", "wait -n"),
    (r"\$EPOCHSECONDS|\$EPOCHREALTIME|\$BASHPID", "bash 4/5 variable"),
]


def test_bash4_scanner_catches_each_construct():
    samples = [
        "declare -A map",
        "mapfile -t a",
        "readarray x",
        "coproc cat",
        'echo "${x,,}"',
        'echo "${x^^}"',
        "a |& b",
        "a &>> log",
        'echo "${a[-1]}"',
        "declare -n ref=x",
        "shopt -s globstar",
        'echo "${x@Q}"',
        "wait -n",
        "echo $EPOCHSECONDS",
    ]
    for sample in samples:
        assert any(re.search(pattern, sample) for pattern, _ in BASH4), sample


@pytest.mark.parametrize("case,kwargs", SPECS, ids=[c for c, _ in SPECS])
def test_rendered_bootstrap_has_no_bash4_constructs(case, kwargs):
    text = _rendered_bootstrap(**kwargs)
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    found = [
        (name, line)
        for line in code
        for pattern, name in BASH4
        if re.search(pattern, line)
    ]
    assert found == []
    assert "set -euo pipefail" in text


# ---- real runs on a stubbed Mac ------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_lock(project: Path, *, pip: bool = True) -> None:
    """Fabricate conda-lock.yml and render conda-osx-arm64.lock from it the way `envgen
    lock` does."""
    import yaml

    from envgen.lock.integrity import header_lines, render_explicit

    packages = [
        {
            "name": "python",
            "version": "3.9.18",
            "manager": "conda",
            "platform": "osx-arm64",
            "dependencies": {},
            "url": (
                "https://conda.anaconda.org/conda-forge/osx-arm64/python-3.9.18-hfa1ae8a_0_cpython.conda"
            ),
            "hash": {"md5": "b" * 32, "sha256": "c" * 64},
            "category": "main",
            "optional": False,
        }
    ]
    if pip:
        packages.append(
            {
                "name": "tensorflow-metal",
                "version": "0.2.0",
                "manager": "pip",
                "platform": "osx-arm64",
                "dependencies": {},
                "url": (
                    "https://files.pythonhosted.org/packages/x/tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl"
                ),
                "hash": {"sha256": PIP_SHA},
                "category": "main",
                "optional": False,
            }
        )
    inputs = {name: _sha(project / name) for name in ("envgen.toml", "environment.yml")}
    document = {
        "version": 1,
        "metadata": {
            "platforms": ["osx-arm64"],
            "custom_metadata": {
                "envgen_toml_sha256": inputs["envgen.toml"],
                "environment_yml_sha256": inputs["environment.yml"],
            },
        },
        "package": packages,
    }
    (project / "conda-lock.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    header = header_lines(_sha(project / "conda-lock.yml"), list(inputs.items()))
    (project / "conda-osx-arm64.lock").write_text(
        render_explicit(document, "osx-arm64", header)
    )


def make_project(
    tmp_path: Path, *, tf: str = "2.6", location: str = "named", jupyter: bool = False
) -> Path:
    project = tmp_path / "demo"
    create_project(_spec(tf, location=location, jupyter=jupyter), project)
    write_lock(project)
    return project


@pytest.fixture
def mac(tmp_path):
    return FakeMac(tmp_path)


def test_native_m1_creates_named_env_installs_pip_and_verifies(tmp_path, mac):
    project = make_project(tmp_path)
    result = mac.run(project)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = mac.calls()
    creates = [c for c in calls if c.startswith("conda: create")]
    assert creates == ["conda: create -y -n demo --file conda-osx-arm64.lock"]
    prefix = mac.root / "envs" / "demo"
    pythons = [c for c in calls if c.startswith("python:")]
    assert pythons[0].startswith(
        "python: -m pip install --no-deps --require-hashes -r "
    )
    assert pythons[-1] == "python: scripts/verify_gpu.py"
    assert (prefix / "conda-meta" / "envgen-lock.sha256").read_text().strip() == _sha(
        project / "conda-osx-arm64.lock"
    )
    assert "conda activate demo" in result.stdout
    # the temporary requirements file is gone, and it held the hash-pinned pip line
    assert not list(tmp_path.glob("envgen-pip.*"))


def test_pip_requirements_file_content(tmp_path, mac):
    project = make_project(tmp_path)
    # the dry run prints the requirements file it would hand to pip
    result = mac.run(project, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (
        "tensorflow-metal @"
        " https://files.pythonhosted.org/packages/x/tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl"
        f" --hash=sha256:{PIP_SHA}" in result.stdout
    )


def test_prefix_project_with_jupyter(tmp_path, mac):
    project = make_project(tmp_path, location="prefix", jupyter=True)
    result = mac.run(project, "--allow-cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = project / ".conda-env"
    assert f"conda: create -y -p {prefix} --file conda-osx-arm64.lock" in mac.calls()
    assert (
        "python: -m ipykernel install --user --name demo --display-name Python (demo)"
        in mac.calls()
    )
    assert "python: scripts/verify_gpu.py --allow-cpu" in mac.calls()
    assert (prefix / "conda-meta" / "envgen-lock.sha256").is_file()
    assert "conda activate ./.conda-env" in result.stdout


def test_second_run_skips_matching_env(tmp_path, mac):
    project = make_project(tmp_path)
    assert mac.run(project, "--no-verify").returncode == 0
    before = mac.calls()
    result = mac.run(project, "--no-verify")
    assert result.returncode == 0, result.stderr
    new_calls = mac.calls()[len(before) :]
    assert not [
        c
        for c in new_calls
        if c.startswith(("conda: create", "conda: env remove", "python:"))
    ]
    assert "already matches the lock" in result.stdout


def test_env_with_other_stamp_needs_yes(tmp_path, mac):
    project = make_project(tmp_path)
    assert mac.run(project, "--no-verify").returncode == 0
    (mac.root / "envs" / "demo" / "conda-meta" / "envgen-lock.sha256").write_text(
        "0" * 64 + "\n"
    )
    refused = mac.run(project, "--no-verify")
    assert refused.returncode == 6
    assert "--yes" in refused.stderr
    recreated = mac.run(project, "--no-verify", "--yes")
    assert recreated.returncode == 0, recreated.stderr
    assert "conda: env remove -y -n demo" in mac.calls()
    assert (
        mac.calls().count("conda: create -y -n demo --file conda-osx-arm64.lock") == 2
    )


def test_rosetta_refused(tmp_path, mac):
    project = make_project(tmp_path)
    result = mac.run(project, FAKEMAC_ROSETTA="1")
    assert result.returncode == 3
    assert (
        "Rosetta" in result.stderr
        and "arch -arm64 /bin/bash ./bootstrap.sh" in result.stderr
    )
    assert not [c for c in mac.calls() if c.startswith("conda: create")]


@pytest.mark.parametrize(
    "machine,platform",
    [
        ({"FAKEMAC_ARM64": "0"}, "osx-64"),
        ({"FAKEMAC_KERNEL": "Linux", "FAKEMAC_MACHINE": "x86_64"}, "linux-64"),
        ({"FAKEMAC_KERNEL": "Linux", "FAKEMAC_MACHINE": "aarch64"}, "linux-aarch64"),
    ],
)
def test_a_platform_the_project_was_not_locked_for_is_refused(
    tmp_path, mac, machine, platform
):
    project = make_project(tmp_path)
    result = mac.run(project, **machine)
    assert result.returncode == 3, result.stdout + result.stderr
    assert (
        f"this machine is {platform}: the project was locked for osx-arm64 only"
        in result.stderr
    )
    if platform == "linux-aarch64":  # not a platform the catalog can lock
        assert (
            "TensorFlow 2.6.0 has no linux-aarch64 wheels envgen can lock"
            in result.stderr
        )
    else:
        assert f'add "{platform}" to environment.platforms' in result.stderr
    assert not [c for c in mac.calls() if c.startswith("conda: create")]


def test_macos_too_old_refused(tmp_path, mac):
    project = make_project(tmp_path)
    plan_min = make_plan(_spec("2.6"), load_catalog()).min_macos
    older = str(int(plan_min.split(".")[0]) - 1) + ".6.8"
    result = mac.run(project, FAKEMAC_MACOS=older)
    assert result.returncode == 3
    assert f"macOS {older} is older than {plan_min}" in result.stderr
    # every catalog line needs macOS 12: updating macOS is the only advice
    assert "update macOS" in result.stderr
    assert (
        f"no other TensorFlow line for this project runs on macOS {older}"
        in result.stderr
    )
    ok = mac.run(project, "--no-verify", FAKEMAC_MACOS=plan_min.split(".")[0] + ".0.1")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    "have,want,expected",
    [
        ("13.4.1", "12", True),
        ("12", "12.0", True),
        ("11.7", "12", False),
        ("10.16", "11", False),
        ("12.10", "12.9", True),
        ("12.9", "12.10", False),
        ("14", "13.99", True),
    ],
)
def test_version_comparison_is_numeric(tmp_path, have, want, expected):
    text = _rendered_bootstrap(tf="2.6", python="3.9")
    body = text[text.index("version_at_least() {") :]
    body = body[: body.index("\n}\n") + 3]
    result = subprocess.run(
        ["bash", "-c", body + f'version_at_least "{have}" "{want}"'],
        capture_output=True,
    )
    assert (result.returncode == 0) is expected


def test_no_conda_frontend_gives_instruction(tmp_path, mac):
    project = make_project(tmp_path)
    mac.env["PATH"] = f"{FAKEMAC / 'bin'}:/usr/bin:/bin"
    result = mac.run(project)
    assert result.returncode == 4
    assert "no conda front end" in result.stderr
    assert "Miniforge" in result.stderr and "--install-micromamba" in result.stderr


def test_x86_64_conda_refused(tmp_path, mac):
    project = make_project(tmp_path)
    result = mac.run(project, FAKEMAC_CONDA_PLATFORM="osx-64")
    assert result.returncode == 4
    assert "x86_64" in result.stderr
    assert not [c for c in mac.calls() if c.startswith("conda: create")]


def test_stale_lock_refused_unless_allowed(tmp_path, mac):
    project = make_project(tmp_path)
    with open(project / "environment.yml", "a") as handle:
        handle.write("# changed\n")
    result = mac.run(project)
    assert result.returncode == 5
    assert (
        "stale" in result.stderr
        and "environment.yml" in result.stderr
        and "envgen lock" in result.stderr
    )
    assert not [c for c in mac.calls() if c.startswith("conda: create")]
    allowed = mac.run(project, "--allow-stale", "--no-verify")
    assert allowed.returncode == 0, allowed.stderr


def test_tampered_lock_refused(tmp_path, mac):
    project = make_project(tmp_path)
    lock = project / "conda-lock.yml"
    text = lock.read_text()
    lock.write_text(text.replace("optional: false", "optional: true", 1))
    result = mac.run(project, "--allow-stale")
    assert result.returncode == 5
    assert (
        "conda-lock.yml does not match" in result.stderr
        and "envgen lock" in result.stderr
    )
    lock.write_text(text + "# edited by hand\n")
    result = mac.run(project, "--allow-stale")
    assert result.returncode == 5
    assert "conda-lock.yml is not in the form envgen lock writes" in result.stderr
    assert "line " in result.stderr and "envgen lock" in result.stderr
    assert not [c for c in mac.calls() if c.startswith("conda: create")]


def test_missing_lock_refused(tmp_path, mac):
    project = make_project(tmp_path)
    (project / "conda-osx-arm64.lock").unlink()
    result = mac.run(project)
    assert result.returncode == 5
    assert "envgen lock" in result.stderr


def test_dry_run_changes_nothing(tmp_path, mac):
    project = make_project(tmp_path, location="prefix")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    result = mac.run(project, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (
        "would run:" in result.stdout and "--file conda-osx-arm64.lock" in result.stdout
    )
    assert "nothing was changed" in result.stdout
    after = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert after == before
    assert not [c for c in mac.calls() if c.startswith(("conda: create", "python:"))]


def test_verification_failure_is_exit_1(tmp_path, mac):
    project = make_project(tmp_path)
    result = mac.run(project, FAKEMAC_PYTHON_RC="1")
    # pip goes through the same fake python, so the failing python stops at the pip step
    # (exit 7)
    assert result.returncode == 7
    write_lock(project, pip=False)
    (mac.root / "envs" / "demo").exists() and shutil.rmtree(mac.root / "envs" / "demo")
    result = mac.run(project, FAKEMAC_PYTHON_RC="1")
    assert result.returncode == 1


def test_unknown_option_and_help(tmp_path, mac):
    project = make_project(tmp_path)
    bad = mac.run(project, "--frobnicate")
    assert bad.returncode == 2 and "--frobnicate" in bad.stderr
    help_text = mac.run(project, "--help")
    assert help_text.returncode == 0
    for code in ("0", "1", "2", "3", "4", "5", "6", "7"):
        assert re.search(rf"^  {code}  ", help_text.stdout, re.MULTILINE), code
    assert mac.calls() == []


def test_xcode_clt_missing_is_a_note(tmp_path, mac):
    project = make_project(tmp_path)
    result = mac.run(project, "--no-verify", FAKEMAC_CLT="0")
    assert result.returncode == 0, result.stderr
    assert "xcode-select --install" in result.stdout


def test_sha256sum_fallback_without_shasum(tmp_path):
    # Linux has sha256sum and maybe no shasum; macOS has shasum and no sha256sum.
    text = _rendered_bootstrap(tf="2.6", python="3.9")
    body = text[text.index("sha256_of() {") :]
    body = body[: body.index("\n}\n") + 3]
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("sha256sum", "awk"):
        (tools / tool).symlink_to(shutil.which(tool))
    sample = tmp_path / "sample"
    sample.write_bytes(b"envgen\n")
    result = subprocess.run(
        ["/bin/bash", "-c", body + f'sha256_of "{sample}"'],
        capture_output=True,
        text=True,
        env={"PATH": str(tools)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _sha(sample)


def test_bootstrap_is_executable_in_new_project(tmp_path):
    project = make_project(tmp_path)
    assert os.access(project / "bootstrap.sh", os.X_OK)
    assert (project / "scripts" / "verify_gpu.py").is_file()
    assert (project / ".github" / "workflows" / "verify.yml").is_file()


def test_install_micromamba_refuses_a_download_with_the_wrong_sha256(tmp_path, mac):
    project = make_project(tmp_path)
    body = tmp_path / "not-micromamba"
    body.write_text('#!/bin/sh\necho I should never run >>"$FAKEMAC_LOG"\n')
    mac.env["PATH"] = f"{FAKEMAC / 'bin'}:/usr/bin:/bin"
    result = mac.run(project, "--install-micromamba", FAKEMAC_CURL_BODY=str(body))
    assert result.returncode == 7, result.stdout + result.stderr
    assert "sha256" in result.stderr and "never run" in result.stderr
    assert not (project / ".micromamba" / "bin" / "micromamba").exists()
    assert not (project / ".micromamba" / "bin" / "micromamba.partial").exists()
    assert "I should never run" not in mac.log.read_text()
    assert any(
        "releases/download/2.1.0-0/micromamba-osx-arm64" in c for c in mac.calls()
    )


def test_install_micromamba_uses_a_checked_download(tmp_path, mac):
    project = make_project(tmp_path)
    body = (
        FAKEMAC / "conda" / "conda"
    )  # the fake front end plays the downloaded micromamba
    script = project / "bootstrap.sh"
    text = script.read_text()
    pinned = r'^MICROMAMBA_SHA256_OSX_ARM64="[0-9a-f]{64}"$'
    assert re.search(pinned, text, re.MULTILINE)
    script.write_text(
        re.sub(
            pinned,
            f'MICROMAMBA_SHA256_OSX_ARM64="{_sha(body)}"',
            text,
            flags=re.MULTILINE,
        )
    )
    mac.env["PATH"] = f"{FAKEMAC / 'bin'}:/usr/bin:/bin"
    result = mac.run(
        project, "--install-micromamba", "--no-verify", FAKEMAC_CURL_BODY=str(body)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / ".micromamba" / "bin" / "micromamba").is_file()
    assert "conda: create -y -n demo --file conda-osx-arm64.lock" in mac.calls()
    # the project-local micromamba is not on PATH: the hint goes through its shell hook
    assert (
        'next: eval "$(./.micromamba/bin/micromamba shell hook -s bash)"'
        " && micromamba activate demo && python train.py --epochs 3" in result.stdout
    )
    # a second run finds the project-local micromamba and downloads nothing
    downloads = len([c for c in mac.calls() if c.startswith("curl:")])
    assert mac.run(project, "--no-verify").returncode == 0
    assert len([c for c in mac.calls() if c.startswith("curl:")]) == downloads
