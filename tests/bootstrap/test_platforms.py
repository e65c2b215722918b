"""One bootstrap.sh for every locked platform: the team example (osx-arm64, osx-64,
linux-64) on each of its platforms from that platform's own lock, --check, --dry-run
anywhere, and the linux-64 CPU path for real (this Linux machine up to the installer,
then real TensorFlow CPU: verification and training).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.fakemac import FakeMac
from support.team_locks import (
    PLATFORMS,
    conda_lines,
    pip_requirements,
    write_team_locks,
)
from support.tools import require_tool

from envgen.catalog.lines import load_catalog
from envgen.generate.plan import make_plan
from envgen.generate.project import create_project
from envgen.generate.render import render_files
from envgen.generate.spec import ProjectSpec, parse_spec

TEAM_SPEC = (
    Path(__file__).parent.parent.parent / "examples" / "specs" / "tf2.16-team.toml"
)

# The stub answers that make tests/fixtures/fakemac play a machine of each platform.
MACHINES = {
    "osx-arm64": {},
    "osx-64": {"FAKEMAC_ARM64": "0", "FAKEMAC_CONDA_PLATFORM": "osx-64"},
    "linux-64": {
        "FAKEMAC_KERNEL": "Linux",
        "FAKEMAC_MACHINE": "x86_64",
        "FAKEMAC_CONDA_PLATFORM": "linux-64",
    },
}


def team_project(tmp_path: Path) -> Path:
    project = tmp_path / "team"
    create_project(parse_spec(TEAM_SPEC.read_text()), project)
    write_team_locks(project)
    return project


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_team_example_installs_each_platform_from_its_own_lock(tmp_path, platform):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path)
    result = mac.run(project, **MACHINES[platform])
    assert result.returncode == 0, result.stdout + result.stderr
    calls = mac.calls()
    assert f"conda: create -y -n team --file conda-{platform}.lock" in calls
    # exactly this platform's conda artifacts and hash-pinned wheels, nothing of another
    # platform's
    installed = [
        c.removeprefix("conda-package: ")
        for c in calls
        if c.startswith("conda-package: ")
    ]
    assert installed == conda_lines(platform)
    handed_to_pip = [
        c.removeprefix("pip-requirement: ")
        for c in calls
        if c.startswith("pip-requirement: ")
    ]
    assert handed_to_pip == pip_requirements(platform)
    if platform == "osx-arm64":
        assert calls[-1] == "python: scripts/verify_gpu.py"
        assert "verification: passed: the Metal GPU ran the operations" in result.stdout
        assert any("tensorflow-metal @" in r for r in handed_to_pip)
    else:
        assert calls[-1] == "python: scripts/verify_gpu.py --cpu"
        assert "verification: passed in CPU mode" in result.stdout
        assert not any("metal" in r for r in handed_to_pip)
    assert (mac.root / "envs" / "team" / "conda-meta" / "envgen-lock.sha256").is_file()


def test_osx_64_gets_the_macos_minimum_but_no_rosetta_check(tmp_path):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path)
    intel = dict(
        MACHINES["osx-64"], FAKEMAC_ROSETTA="1"
    )  # sysctl answers 1 on no Intel Mac; ignored
    assert mac.run(project, "--no-verify", **intel).returncode == 0
    old = mac.run(project, "--no-verify", FAKEMAC_MACOS="11.7", **MACHINES["osx-64"])
    assert old.returncode == 3
    assert "macOS 11.7 is older than 12.1" in old.stderr


def test_macos_advice_names_only_lines_the_catalog_has(tmp_path):
    # TF 2.9 needs macOS 12.1; 2.8 needs 12.0 and supports the project's Python 3.9
    project = tmp_path / "demo"
    create_project(
        ProjectSpec(
            name="demo",
            tensorflow="2.9",
            metal=True,
            python="3.9",
            platforms=("osx-arm64",),
        ),
        project,
    )
    write_team_locks(project, ("osx-arm64",))
    mac = FakeMac(tmp_path)
    almost = mac.run(project, FAKEMAC_MACOS="12.0.1")
    assert almost.returncode == 3
    assert (
        'set tensorflow.version = "2.8" in envgen.toml (it needs macOS 12.0)'
        in almost.stderr
    )
    # the team project pins Python 3.11, which no line for macOS 12.0 supports; and no
    # line runs on 11
    team = team_project(tmp_path / "team-case")
    for version in ("12.0.1", "11.7.10"):
        refused = mac.run(team, FAKEMAC_MACOS=version)
        assert refused.returncode == 3
        assert "update macOS to 12.1 or newer" in refused.stderr
        assert "tensorflow.version" not in refused.stderr
        assert (
            f"no other TensorFlow line for this project runs on macOS {version}"
            in refused.stderr
        )


def test_a_conda_for_another_platform_is_refused(tmp_path):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path)
    linux = dict(MACHINES["linux-64"], FAKEMAC_CONDA_PLATFORM="osx-arm64")
    result = mac.run(project, **linux)
    assert result.returncode == 4
    assert "is a conda for osx-arm64, not for this linux-64 machine" in result.stderr
    assert not [c for c in mac.calls() if c.startswith("conda: create")]


# ---- --check: the lock only ----------------------------------------------------------


def test_check_passes_on_a_fresh_lock_without_touching_conda(tmp_path):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path)
    result = mac.run(project, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    for platform in PLATFORMS:
        assert f"conda-{platform}.lock: intact and fresh" in result.stdout
    assert mac.calls() == []


def test_check_runs_on_a_machine_of_no_locked_platform(tmp_path):
    # CI checks the lock on Linux whatever the project was locked for
    project = tmp_path / "demo"
    create_project(
        ProjectSpec(
            name="demo",
            tensorflow="2.18",
            metal=True,
            python=None,
            platforms=("osx-arm64",),
        ),
        project,
    )
    write_team_locks(project, ("osx-arm64",))
    mac = FakeMac(tmp_path, machine="linux")
    result = mac.run(project, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the lock is intact and fresh for: osx-arm64" in result.stdout


def test_check_fails_on_a_stale_lock_naming_every_platform(tmp_path):
    project = team_project(tmp_path)
    with open(project / "environment.yml", "a") as handle:
        handle.write("# changed\n")
    result = FakeMac(tmp_path).run(project, "--check")
    assert result.returncode == 5
    for platform in PLATFORMS:
        assert (
            f"conda-{platform}.lock: stale: changed since it was made: environment.yml"
            in result.stderr
        )
    assert "envgen generate && envgen lock" in result.stderr


def test_check_fails_on_a_tampered_or_missing_lock(tmp_path):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path)
    (project / "conda-osx-64.lock").unlink()
    missing = mac.run(project, "--check")
    assert missing.returncode == 5
    assert "conda-osx-64.lock or conda-lock.yml is missing" in missing.stderr
    assert "conda-linux-64.lock: intact and fresh" in missing.stdout
    # --platform narrows the check to one lock
    assert mac.run(project, "--check", "--platform", "linux-64").returncode == 0
    lock = project / "conda-lock.yml"
    lock.write_text(lock.read_text().replace("optional: false", "optional: true"))
    tampered = mac.run(project, "--check", "--platform", "linux-64")
    assert tampered.returncode == 5
    assert "conda-lock.yml does not match conda-linux-64.lock" in tampered.stderr


def test_check_refuses_a_lock_rendered_for_another_platform(tmp_path):
    project = team_project(tmp_path)
    shutil.copy(project / "conda-osx-arm64.lock", project / "conda-linux-64.lock")
    result = FakeMac(tmp_path).run(project, "--check")
    assert result.returncode == 5
    assert (
        "conda-linux-64.lock says it is for platform 'osx-arm64', not linux-64"
        in result.stderr
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (("--check", "--dry-run"), "--check and --dry-run do not go together"),
        (
            ("--platform", "win-64"),
            (
                "--platform win-64: the project was not locked for it; locked:"
                " osx-arm64 linux-64 osx-64"
            ),
        ),
        (("--platform",), "--platform needs a value"),
    ],
)
def test_bad_platform_options_are_usage_errors(tmp_path, args, message):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path)
    result = mac.run(project, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert mac.calls() == []


def test_a_real_run_for_another_platform_is_refused(tmp_path):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path)  # an Apple Silicon Mac asked to install the linux-64 lock
    result = mac.run(project, "--platform", "linux-64")
    assert result.returncode == 2
    assert (
        "--platform linux-64 installs nothing on this osx-arm64 machine"
        in result.stderr
    )
    assert "--dry-run" in result.stderr


# ---- --dry-run anywhere --------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_dry_run_shows_any_locked_platform_from_this_linux_machine(tmp_path, platform):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path, machine="linux")
    before = files_under(tmp_path)
    result = mac.run(project, "--dry-run", "--platform", platform)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"--file conda-{platform}.lock" in out
    for requirement in pip_requirements(platform):
        assert "  " + requirement in out
    verify = re.search(
        r"would run: .*/bin/python scripts/verify_gpu.py(.*)$", out, re.MULTILINE
    )
    assert verify is not None
    assert verify.group(1) == ("" if platform == "osx-arm64" else " --cpu")
    # never claims a check or a verification it did not run
    assert "verification: passed" not in out and "nothing was verified" in out
    if platform == "linux-64":  # this machine: its checks ran for real (read-only)
        assert re.search(
            r"^bootstrap: Linux \(linux-64, glibc [0-9.]+\)", out, re.MULTILINE
        )
        assert "a real run here would stop early" not in out
        assert "to do it: ./bootstrap.sh" in out
    else:
        assert "not checked here: this machine is linux-64" in out
        assert "macOS 12.1 or newer" in out
        assert f"to do it: run ./bootstrap.sh on the target machine ({platform})" in out
    assert files_under(tmp_path) == before
    assert not [c for c in mac.calls() if c.startswith(("conda: create", "python:"))]


def test_dry_run_on_an_unlocked_machine_shows_the_first_locked_platform(tmp_path):
    project = tmp_path / "demo"
    create_project(
        ProjectSpec(
            name="demo",
            tensorflow="2.6",
            metal=True,
            python=None,
            platforms=("osx-arm64",),
        ),
        project,
    )
    write_team_locks(project, ("osx-arm64",))
    mac = FakeMac(tmp_path, machine="linux")
    result = mac.run(project, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "this machine is linux-64, which the project was not locked for: showing"
        " osx-arm64" in result.stdout
    )
    assert "--file conda-osx-arm64.lock" in result.stdout


def test_dry_run_without_a_conda_says_where_a_real_run_would_stop(tmp_path):
    project = team_project(tmp_path)
    mac = FakeMac(tmp_path, machine="linux")
    mac.env["PATH"] = "/usr/bin:/bin"  # no conda front end at all
    result = mac.run(project, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "a real run would stop here (exit 4): no conda front end (micromamba, mamba"
        in result.stdout
    )
    assert (
        "would run: conda create -y -n team --file conda-linux-64.lock" in result.stdout
    )
    assert (
        "a real run here would stop early: no conda front end (micromamba, mamba"
        in result.stdout
    )
    real = mac.run(project)
    assert real.returncode == 4


def test_dry_run_of_an_unlocked_project_shows_the_steps_and_where_it_stops(tmp_path):
    project = tmp_path / "cpu"
    create_project(
        ProjectSpec(
            name="cpu",
            tensorflow="2.18",
            metal=False,
            python=None,
            platforms=("linux-64",),
        ),
        project,
    )  # envgen new --no-lock: no lock yet
    mac = FakeMac(tmp_path, machine="linux")
    result = mac.run(project, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "a real run would stop here (exit 5): conda-linux-64.lock or conda-lock.yml is"
        " missing" in result.stdout
    )
    assert (
        "would run: " in result.stdout
        and "scripts/verify_gpu.py --cpu" in result.stdout
    )
    assert "fix: run: envgen lock" in result.stdout
    assert mac.run(project).returncode == 5


# ---- the generated script stays portable for every platform set ----------------------

PLATFORM_SETS = [
    ("osx-arm64", "osx-64", "linux-64"),
    ("linux-64",),
    ("osx-64", "linux-64"),
]


@pytest.mark.parametrize("platforms", PLATFORM_SETS, ids=lambda p: "+".join(p))
def test_bootstrap_for_each_platform_set_is_shellcheck_clean(tmp_path, platforms):
    spec = ProjectSpec(
        name="demo",
        tensorflow="2.16",
        metal="osx-arm64" in platforms,
        python=None,
        platforms=platforms,
    )
    text = next(
        f.content
        for f in render_files(make_plan(spec, load_catalog()))
        if f.path == "bootstrap.sh"
    )
    script = tmp_path / "bootstrap.sh"
    script.write_text(text)
    shellcheck = require_tool("shellcheck")
    result = subprocess.run(
        [shellcheck, "--shell=bash", str(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"LOCKED_PLATFORMS={shlex.quote(' '.join(make_plan(spec, load_catalog()).platforms))}"
        in text
    )


# ---- linux-64 for real: this machine, real TensorFlow CPU ----------------------------


def hide_tensorboard(tmp_path: Path) -> str:
    """A PYTHONPATH entry whose sitecustomize makes `import tensorboard` fail, as on TF
    2.21 without it."""
    site = tmp_path / "no-tensorboard"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        'import sys\nsys.modules["tensorboard"] = None\n'
    )
    return str(site)


@pytest.mark.slow
def test_linux_64_path_verifies_and_trains_for_real_without_tensorboard(tmp_path):
    """The team example on this Linux machine: real uname/getconf, the lock checks, a
    stub installer (conda and pip install nothing), then the environment's python is
    real TensorFlow CPU: the CPU-mode verification runs for real and the closing hint's
    command trains the example model.
    """
    from support.tf_env import tensorflow_cpu_python

    project = team_project(tmp_path)
    mac = FakeMac(tmp_path, machine="linux")
    no_tensorboard = hide_tensorboard(tmp_path)
    result = mac.run(
        project,
        FAKEMAC_REAL_PYTHON=str(tensorflow_cpu_python()),
        PYTHONPATH=no_tensorboard,
        SHELL="/bin/zsh",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(
        r"^bootstrap: Linux \(linux-64, glibc [0-9.]+\)", out, re.MULTILINE
    )
    assert "python: scripts/verify_gpu.py --cpu" in mac.calls()
    assert "Mode        CPU: this platform gets no GPU plugin in this project" in out
    assert "Result      OK (CPU mode): TensorFlow computes and trains on the CPU" in out
    assert "verification: passed in CPU mode" in out
    # the hints name commands that work from here: a conda on PATH activates; the direct
    # path always works
    assert "next: conda activate team && python train.py --epochs 3" in out
    hint = re.search(
        r"or, without activating: (\S+) train.py --epochs 3$", out, re.MULTILINE
    )
    assert hint is not None
    python = hint.group(1)
    assert python == str(mac.root / "envs" / "team" / "bin" / "python")
    trained = subprocess.run(
        [python, "train.py", "--epochs", "2", "--samples", "600"],
        cwd=project,
        env=dict(
            mac.env,
            FAKEMAC_REAL_PYTHON=str(tensorflow_cpu_python()),
            PYTHONPATH=no_tensorboard,
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    skipped = [line for line in trained.stdout.splitlines() if "TensorBoard" in line]
    assert skipped == [
        "TensorBoard is not installed: skipped the ./logs TensorBoard logs (add"
        " tensorboard to packages.pip in envgen.toml)"
    ]
    assert re.search(r"final validation accuracy: [01]\.\d+", trained.stdout)
    assert sorted(p.name for p in (project / "checkpoints").iterdir()) == [
        "epoch-01.weights.h5",
        "epoch-02.weights.h5",
    ]
    assert not (project / "logs").exists()


@pytest.mark.parametrize("platforms", PLATFORM_SETS, ids=lambda p: "+".join(p))
def test_bootstrap_for_each_platform_set_has_no_bash4_constructs(platforms):
    from test_bootstrap import BASH4

    spec = ProjectSpec(
        name="demo",
        tensorflow="2.16",
        metal="osx-arm64" in platforms,
        python=None,
        platforms=platforms,
    )
    text = next(
        f.content
        for f in render_files(make_plan(spec, load_catalog()))
        if f.path == "bootstrap.sh"
    )
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    found = [
        (name, line)
        for line in code
        for pattern, name in BASH4
        if re.search(pattern, line)
    ]
    assert found == []


def test_cpu_mode_verification_fails_when_tensorflow_is_broken(tmp_path):
    """--cpu is a check that can fail: a TensorFlow that cannot import is exit 2 with
    its likely cause."""
    spec = ProjectSpec(
        name="demo",
        tensorflow="2.18",
        metal=False,
        python=None,
        platforms=("linux-64",),
    )
    script = next(
        f.content
        for f in render_files(make_plan(spec, load_catalog()))
        if f.path == "scripts/verify_gpu.py"
    )
    (tmp_path / "verify_gpu.py").write_text(script)
    broken = tmp_path / "site" / "tensorflow"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        'raise ImportError("Importing the numpy C-extensions failed.")\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "verify_gpu.py"),
            "--cpu",
            "--json",
            "report.json",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Likely      a numpy not from conda-forge" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "cpu" and report["exit_code"] == 2
