"""`envgen lock` end to end, offline: real conda-lock, the rattler front end, real uv,
the fixture channel and pip index.

Every lock here really runs conda-lock 4 (its Python API) with envgen's py-rattler conda
front end against tests/fixtures/lock/channel for the conda side, and uv against a PEP
503 index served on 127.0.0.1 for the pip side (tests/support/lock_fixtures.py). The
index counts as a mirror of PyPI: a stand-in PyPI (``ENVGEN_PYPI_URL``) lists the same
files at files.pythonhosted.org URLs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.lock_fixtures import (
    CHANNEL,
    CHANNEL_URL,
    PipIndex,
    closed_port,
    make_fixtures,
    stand_in_base,
    write_index,
    write_pypi_stand_in,
)

from envgen.cli import run
from envgen.lock.checks import load_name_map
from envgen.lock.condalock import CondaLockCall, choose_solver
from envgen.lock.freshness import freshness
from envgen.lock.name_mapping import MAPPING_PATH

PLATFORM = "osx-arm64"


@pytest.fixture(scope="module")
def served_indexes(tmp_path_factory):
    root = write_index(tmp_path_factory.mktemp("pypi"))
    served = PipIndex(root)
    stand_in = PipIndex(write_pypi_stand_in(tmp_path_factory.mktemp("pypi-org"), root))
    yield served, stand_in
    served.close()
    stand_in.close()


@pytest.fixture
def index(served_indexes, monkeypatch):
    served, stand_in = served_indexes
    monkeypatch.setenv("ENVGEN_PYPI_URL", stand_in_base(stand_in))
    return served


def index_files(index: PipIndex) -> list[tuple[str, str]]:
    """(file name, sha256) of every file the fixture index serves."""
    return [(p.name, sha(p)) for p in (index.root / "files").iterdir()]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_project(tmp_path: Path, *, conda=(), pip=(), name="demo") -> Path:
    target = tmp_path / name
    assert (
        run(
            [
                "new",
                name,
                "--tf",
                "2.6",
                "--python",
                "3.9",
                "--dir",
                str(target),
                "--no-lock",
            ]
        )
        == 0
    )
    spec = target / "envgen.toml"
    text = (
        spec.read_text()
        .replace("conda = []", f"conda = {json.dumps(list(conda))}")
        .replace("pip = []", f"pip = {json.dumps(list(pip))}")
    )
    spec.write_text(text)
    assert run(["generate", "--dir", str(target)]) == 0
    return target


def lock_args(project: Path, index: PipIndex, *extra: str) -> list[str]:
    return [
        "lock",
        "--dir",
        str(project),
        "--channel",
        CHANNEL_URL,
        "--pypi-index",
        index.url,
        *extra,
    ]


def load(project: Path) -> dict:
    return yaml.safe_load((project / "conda-lock.yml").read_text())


def by_name(document: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for package in document["package"]:
        found.setdefault(package["name"], []).append(package)
    return found


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("envgen: error: ")]
    assert len(lines) == 1, err
    return lines[0]


# ---- fixtures stay honest ------------------------------------------------------------


def test_committed_channel_is_what_the_generator_writes(tmp_path):
    make_fixtures.write_channel(tmp_path)
    for subdir in ("osx-arm64", "noarch"):
        assert (tmp_path / subdir / "repodata.json").read_text() == (
            CHANNEL / subdir / "repodata.json"
        ).read_text(), "run: python tests/fixtures/lock/make_fixtures.py"


def test_channel_has_the_2_6_lines_conda_packages():
    from envgen.catalog.lines import load_catalog

    records = {}
    for subdir in ("osx-arm64", "noarch"):
        data = json.loads((CHANNEL / subdir / "repodata.json").read_text())
        for record in [*data["packages"].values(), *data["packages.conda"].values()]:
            records.setdefault(record["name"], []).append(record)
    for name, _ in load_catalog().line("2.6").conda:
        assert name in records, (
            f"add conda-forge's {name} to tests/fixtures/lock/make_fixtures.py"
        )
    for record in [r for rs in records.values() for r in rs]:
        assert re.fullmatch(r"[0-9a-f]{64}", record["sha256"]) and re.fullmatch(
            r"[0-9a-f]{32}", record["md5"]
        )


# ---- the conda front end over py-rattler ---------------------------------------------


def test_shim_answers_conda_locks_dry_run_with_the_targets_virtual_packages(tmp_path):
    virtual = tmp_path / "virtual"
    for subdir, packages in (
        (
            "osx-arm64",
            {
                "__osx-12.0-0.tar.bz2": {
                    "name": "__osx",
                    "version": "12.0",
                    "build": "0",
                },
                "__archspec-1-m1.tar.bz2": {
                    "name": "__archspec",
                    "version": "1",
                    "build": "m1",
                },
            },
        ),
        ("noarch", {}),
    ):
        (virtual / subdir).mkdir(parents=True)
        (virtual / subdir / "repodata.json").write_text(
            json.dumps({"info": {"subdir": subdir}, "packages": packages})
        )
    argv = [
        sys.executable,
        "-m",
        "envgen.lock.conda_shim",
        "create",
        "--prefix",
        str(tmp_path / "p"),
        "--dry-run",
        "--json",
        "--override-channels",
        "--channel",
        CHANNEL_URL,
        "--channel",
        f"file://{virtual}",
        "python 3.9.*",
        "libcxx",
    ]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, "CONDA_SUBDIR": PLATFORM},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fetch = {a["name"]: a for a in json.loads(result.stdout)["actions"]["FETCH"]}
    assert fetch["python"]["version"] == "3.9.18" and fetch["python"]["url"].startswith(
        CHANNEL_URL + "/osx-arm64/"
    )
    assert fetch["libcxx"]["version"] == "16.0.6", (
        "libcxx 19.1.0 needs __osx >=14: a macOS 12 target must not get it"
    )
    assert all(re.fullmatch(r"[0-9a-f]{64}", a["sha256"]) for a in fetch.values())
    assert not any(name.startswith("__") for name in fetch)

    version = subprocess.run(
        [sys.executable, "-m", "envgen.lock.conda_shim", "--version"],
        capture_output=True,
        text=True,
    )
    assert version.returncode == 0 and "envgen-rattler-shim" in version.stdout
    other = subprocess.run(
        [sys.executable, "-m", "envgen.lock.conda_shim", "install", "numpy"],
        capture_output=True,
        text=True,
    )
    assert (
        other.returncode == 2
        and json.loads(other.stdout)["exception_name"] == "CommandNotSupported"
    )


def test_solver_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    kind, path = choose_solver("auto", tmp_path / "work")
    assert (
        kind == "rattler"
        and os.access(path, os.X_OK)
        and "envgen.lock.conda_shim" in path.read_text()
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "micromamba").write_text("#!/bin/sh\n")
    (bin_dir / "micromamba").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert choose_solver("auto", tmp_path) == ("micromamba", bin_dir / "micromamba")
    from envgen.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match="mamba is not on PATH"):
        choose_solver("mamba", tmp_path)


def test_conda_lock_is_asked_for_the_plans_platforms_channel_and_shipped_mapping(
    tmp_path, index, monkeypatch
):
    import envgen.lock.condalock

    project = new_project(tmp_path)
    calls: list[CondaLockCall] = []

    def fake(call: CondaLockCall) -> str:
        calls.append(call)
        derived = yaml.safe_load((call.workdir / "environment.yml").read_text())
        # conda-lock sees the conda side only: its pip solver never runs (uv resolves
        # the pip side)
        assert all(isinstance(d, str) for d in derived["dependencies"])
        assert (
            "pip-repositories" not in derived
            and "python 3.9.*" in derived["dependencies"]
        )
        virtual = yaml.safe_load((call.workdir / "virtual-packages.yml").read_text())
        assert virtual == {
            "subdirs": {
                PLATFORM: {
                    "packages": {"__osx": "12.0", "__unix": "0", "__archspec": "1 m1"}
                }
            }
        }
        raise KeyboardInterrupt  # stop here: the arguments are what this test is about

    monkeypatch.setattr(envgen.lock.condalock, "_conda_lock", fake)
    assert run(lock_args(project, index, "--solver", "rattler")) == 130
    [call] = calls
    assert (
        call.platforms == (PLATFORM,)
        and call.channel == CHANNEL_URL
        and call.mapping == MAPPING_PATH
    )
    assert not call.workdir.exists(), (
        "the temporary directory is removed when the lock is interrupted"
    )
    assert not (project / "conda-lock.yml").exists()


# ---- the real pipeline ---------------------------------------------------------------


def test_new_locks_the_project_end_to_end(tmp_path, index, capsys):
    project = tmp_path / "demo"
    code = run(
        [
            "new",
            "demo",
            "--tf",
            "2.6",
            "--dir",
            str(project),
            "--channel",
            CHANNEL_URL,
            "--pypi-index",
            index.url,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "locked osx-arm64:" in out and "every artifact sha256-pinned" in out
    # progress goes to stderr, each phase with its elapsed time
    assert "envgen lock: solving the conda side for osx-arm64" in err
    assert "envgen lock: resolving the pip side for osx-arm64 with uv" in err
    assert re.search(r"^envgen lock:   took \d+\.\ds$", err, re.MULTILINE)

    document = load(project)
    packages = by_name(document)
    assert all(
        re.fullmatch(r"[0-9a-f]{64}", p["hash"].get("sha256") or "")
        for p in document["package"]
    ), "every artifact hashed"
    for name in ("numpy", "h5py", "grpcio", "python", "pip"):
        assert [p["manager"] for p in packages[name]] == ["conda"], name
    assert (
        packages["numpy"][0]["version"] == "1.19.5"
        and packages["h5py"][0]["version"] == "3.1.0"
    )
    assert packages["libcxx"][0]["version"] == "16.0.6", (
        "the solve used the macOS 12 target's virtual packages"
    )
    for name, wheel in (
        ("tensorflow-macos", "tensorflow_macos-2.6.0-cp39-cp39-macosx_11_0_arm64.whl"),
        ("tensorflow-metal", "tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl"),
    ):
        [package] = packages[name]
        assert package["manager"] == "pip" and package["url"].endswith("/" + wheel)
    names = load_name_map(MAPPING_PATH)
    # what lands in site-packages: pip packages, and conda packages that depend on
    # python
    installed = [
        names.pypi_name(p["name"]) if p["manager"] == "conda" else p["name"]
        for p in document["package"]
        if p["manager"] == "pip" or "python" in (p.get("dependencies") or {})
    ]
    assert len(installed) == len(set(installed)), "no package twice"
    # locked against mirrors, the lock names conda-forge's and PyPI's URLs for the same
    # files
    channel_repodata = json.loads((CHANNEL / PLATFORM / "repodata.json").read_text())
    records = {
        **channel_repodata["packages"],
        **channel_repodata.get("packages.conda", {}),
    }
    for p in document["package"]:
        if p["manager"] == "conda":
            file = p["url"].rsplit("/", 1)[1]
            assert p["url"] in (
                f"https://conda.anaconda.org/conda-forge/{PLATFORM}/{file}",
                f"https://conda.anaconda.org/conda-forge/noarch/{file}",
            )
            if "/osx-arm64/" in p["url"]:
                assert p["hash"]["sha256"] == records[file]["sha256"]
        else:
            digest = p["hash"]["sha256"]
            assert p["url"].startswith("https://files.pythonhosted.org/packages/")
            assert p["url"].endswith(
                "/" + next(f for f, d in index_files(index) if d == digest)
            )
    assert [c["url"] for c in document["metadata"]["channels"]] == ["conda-forge"]

    custom = document["metadata"]["custom_metadata"]
    assert custom["envgen_channel"] == CHANNEL_URL
    assert custom["envgen_pypi_index"] == index.url
    assert custom["envgen_urls"] == "canonical"
    assert custom["envgen_toml_sha256"] == sha(project / "envgen.toml")
    assert custom["environment_yml_sha256"] == sha(project / "environment.yml")
    explicit = (project / "conda-osx-arm64.lock").read_text()
    assert f"# envgen-lock-sha256: {sha(project / 'conda-lock.yml')}\n" in explicit
    assert (
        f"# envgen-input-sha256: envgen.toml {sha(project / 'envgen.toml')}\n"
        in explicit
    )
    assert (
        f"# envgen-input-sha256: environment.yml {sha(project / 'environment.yml')}\n"
        in explicit
    )
    assert "@EXPLICIT\n" in explicit
    pip_lines = [line for line in explicit.splitlines() if line.startswith("# pip ")]
    assert len(pip_lines) == sum(
        1 for p in document["package"] if p["manager"] == "pip"
    )
    assert all(
        re.fullmatch(
            r"# pip [A-Za-z0-9_.\-]+ @"
            r" https://files\.pythonhosted\.org/\S+\.(whl|tar\.gz)#sha256=[0-9a-f]{64}",
            line,
        )
        for line in pip_lines
    )

    # conda-lock itself accepts the lock
    rendered = subprocess.run(
        [
            sys.executable,
            "-m",
            "conda_lock",
            "render",
            "-p",
            PLATFORM,
            "--kind",
            "explicit",
            str(project / "conda-lock.yml"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr
    # the same artifacts as conda-lock's own render; envgen pins conda packages by
    # sha256 (conda-lock: md5)
    theirs = (tmp_path / "conda-osx-arm64.lock").read_text().split("@EXPLICIT", 1)[1]
    ours = explicit.split("@EXPLICIT", 1)[1]

    def artifacts(body: str) -> list[str]:
        return sorted(
            line.rsplit("#", 1)[0] for line in body.splitlines() if line.strip()
        )

    assert artifacts(ours) == artifacts(theirs)
    assert all(
        re.fullmatch(r"\S+#[0-9a-f]{64}", line)
        for line in ours.splitlines()
        if line and not line.startswith("#")
    )

    # and the rendered bootstrap accepts it as fresh
    assert freshness(project).fresh


def test_a_lock_with_nothing_to_do_finishes_a_commit_a_kill_left(
    tmp_path, index, capsys
):
    """Killed after its last rename, before the journal was removed: the next `envgen
    lock` (nothing to do) keeps the finished pair and removes the journal and backups."""
    from envgen.atomic import JOURNAL

    project = new_project(tmp_path)
    assert run(lock_args(project, index)) == 0
    before = {p.name: p.read_bytes() for p in project.glob("conda*")}
    killer = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from envgen import atomic\n"
        "root = Path(sys.argv[1])\n"
        "real = Path.unlink\n"
        "def dying(self, *a, **k):\n"
        "    if self.name == atomic.JOURNAL and self.exists():\n"
        "        os._exit(137)\n"
        "    return real(self, *a, **k)\n"
        "Path.unlink = dying\n"
        "atomic.commit_files(root, [atomic.PendingFile(p, p.read_bytes())"
        " for p in sorted(root.glob('conda*'))])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", killer, str(project)], capture_output=True, text=True
    )
    assert done.returncode == 137, done.stderr
    assert (project / JOURNAL).exists()
    capsys.readouterr()
    assert run(lock_args(project, index)) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert not (project / JOURNAL).exists()
    assert not list(project.glob(".envgen-*"))
    assert {p.name: p.read_bytes() for p in project.glob("conda*")} == before


def test_freshness_check_noop_and_force(tmp_path, index, capsys):
    project = new_project(tmp_path)
    assert run(["lock", "--dir", str(project), "--check"]) == 1
    assert "conda-lock.yml is missing" in one_line_error(capsys.readouterr().err)
    assert run(lock_args(project, index)) == 0
    capsys.readouterr()
    assert run(["lock", "--dir", str(project), "--check"]) == 0
    before = {
        name: (project / name).read_bytes()
        for name in ("conda-lock.yml", "conda-osx-arm64.lock")
    }
    mtime = (project / "conda-lock.yml").stat().st_mtime_ns

    assert run(lock_args(project, index)) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (project / "conda-lock.yml").stat().st_mtime_ns == mtime, (
        "an unchanged project is not solved again"
    )
    # a plain `envgen lock` agrees with --check: the mirrors are recorded, nothing is
    # re-solved against conda-forge
    assert run(["lock", "--dir", str(project)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (project / "conda-lock.yml").stat().st_mtime_ns == mtime

    assert run(lock_args(project, index, "--force", "--quiet")) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert {name: (project / name).read_bytes() for name in before} == before, (
        "a re-solve of the same inputs is byte-identical"
    )

    spec = project / "envgen.toml"
    spec.write_text(spec.read_text() + "\n# a comment is a change\n")
    assert run(["lock", "--dir", str(project), "--check"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert (
        "envgen.toml changed since the lock was made" in line
        and "hint: run: envgen lock" in line
    )
    assert run(lock_args(project, index)) == 0
    assert run(["lock", "--dir", str(project), "--check"]) == 0

    lock = project / "conda-lock.yml"
    text = lock.read_text()
    lock.write_text(text.replace("optional: false", "optional: true", 1))
    assert run(["lock", "--dir", str(project), "--check"]) == 1
    assert (
        "conda-osx-arm64.lock does not match conda-lock.yml" in capsys.readouterr().err
    )
    lock.write_text(text + "\n")
    assert run(["lock", "--dir", str(project), "--check"]) == 1
    assert (
        "conda-lock.yml is not in the form envgen lock writes: line"
        in capsys.readouterr().err
    )


def test_a_stale_environment_yml_is_refused_before_solving(tmp_path, index, capsys):
    project = new_project(tmp_path)
    spec = project / "envgen.toml"
    spec.write_text(spec.read_text().replace("jupyter = false", "jupyter = true"))
    assert run(lock_args(project, index)) == 2
    assert "run: envgen generate" in one_line_error(capsys.readouterr().err)
    assert not (project / "conda-lock.yml").exists()


def test_conda_version_short_of_a_pip_requirement_is_pinned_and_solved_again(
    tmp_path, index, capsys
):
    # the fixture channel's newest six is 1.16; tensorflow-macos 2.6 and
    # tensorflow-metal 0.2 need six~=1.15.0
    project = new_project(tmp_path, conda=["six"])
    assert run(lock_args(project, index)) == 0
    out = capsys.readouterr().out
    # pip (the pin set's six==1.15.0, and tensorflow-macos's six~=1.15.0) needs another
    # six than conda's newest: conda is pinned to what pip needs and both sides are
    # solved again
    assert re.search(
        r"^fixed: .* needs six[=>]=1\.15\.0.*: pinned conda six ", out, re.M
    ), out
    [six] = by_name(load(project))["six"]
    assert six["manager"] == "conda" and six["version"] == "1.15.0"
    assert "six" in load(project)["metadata"]["custom_metadata"]["envgen_conda_pins"]


def test_unsatisfiable_conda_spec_is_one_readable_line(tmp_path, index, capsys):
    project = new_project(
        tmp_path, conda=["hdf5 >=1.14"]
    )  # h5py 3.1 is built against hdf5 1.10
    assert run(lock_args(project, index)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "cannot be solved" in line and "h5py" in line and "hdf5" in line
    assert not (project / "conda-lock.yml").exists()


def test_unsatisfiable_pip_spec_is_one_readable_line(tmp_path, index, capsys):
    project = new_project(
        tmp_path, pip=["six>=1.16"]
    )  # tensorflow-macos 2.6 needs six~=1.15.0
    assert run(lock_args(project, index)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "the pip packages cannot be solved" in line and "six" in line
    assert (
        "tensorflow-macos" in line or "tensorflow-metal" in line
    )  # both need six~=1.15.0; poetry names one


def test_unreachable_channel_says_what_and_how_to_lock_offline(tmp_path, index, capsys):
    project = new_project(tmp_path)
    channel = f"http://127.0.0.1:{closed_port()}/conda-forge"
    assert (
        run(
            [
                "lock",
                "--dir",
                str(project),
                "--channel",
                channel,
                "--pypi-index",
                index.url,
            ]
        )
        == 3
    )
    line = one_line_error(capsys.readouterr().err)
    assert f"could not reach the conda channel {channel}" in line
    assert "--channel file://" in line and "--pypi-index" in line


def test_a_copy_without_a_platforms_subdir_says_so(tmp_path, index, capsys):
    """A file:// copy of conda-forge that lacks linux-64: not a pin conflict."""
    project = new_project(tmp_path)
    spec = project / "envgen.toml"
    spec.write_text(
        spec.read_text()
        .replace("metal = true", "metal = false")
        .replace('platforms = ["osx-arm64"]', 'platforms = ["osx-arm64", "linux-64"]')
    )
    assert run(["generate", "--dir", str(project)]) == 0
    capsys.readouterr()
    assert run(lock_args(project, index)) == 3
    line = one_line_error(capsys.readouterr().err)
    assert f"the channel {CHANNEL_URL} has no packages for linux-64" in line
    assert "envgen.toml" in line and "cannot be solved" not in line
    assert not (project / "conda-lock.yml").exists()


def test_unreachable_pip_index_says_what_and_how_to_lock_offline(tmp_path, capsys):
    project = new_project(tmp_path)
    pypi = f"http://127.0.0.1:{closed_port()}/simple"
    assert (
        run(
            [
                "lock",
                "--dir",
                str(project),
                "--channel",
                CHANNEL_URL,
                "--pypi-index",
                pypi,
            ]
        )
        == 3
    )
    line = one_line_error(capsys.readouterr().err)
    assert f"could not reach the pip index {pypi}" in line and "offline" in line


def test_new_says_the_project_exists_when_its_lock_fails(tmp_path, capsys):
    channel = f"http://127.0.0.1:{closed_port()}/conda-forge"
    target = tmp_path / "demo"
    assert (
        run(["new", "demo", "--tf", "2.6", "--dir", str(target), "--channel", channel])
        == 3
    )
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith(
        f"envgen: error: created {target}/, but locking it failed: could not reach the"
        " conda channel"
    )
    assert f"lock later with: cd {target} && envgen lock --channel {channel}" in line
    assert (target / "envgen.toml").is_file() and not (
        target / "conda-lock.yml"
    ).exists()


# ---- interruption and concurrency (real processes) -----------------------------------


def _spawn_lock(
    project: Path, index: PipIndex, tmp: Path, *extra: str
) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen(
        [sys.executable, "-m", "envgen", *lock_args(project, index, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_requests(
    index: PipIndex, count: int, process: subprocess.Popen, limit: float = 60
) -> None:
    deadline = time.monotonic() + limit
    while index.requests < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the lock never reached the pip index"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "sig",
    [signal.SIGKILL, signal.SIGINT, signal.SIGTERM],
    ids=["kill-9", "ctrl-c", "kill"],
)
def test_an_interrupted_lock_leaves_the_previous_lock_intact(tmp_path, index, sig):
    project = new_project(tmp_path)
    assert run(lock_args(project, index)) == 0
    before = {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    index.set_delay(0.4)
    try:
        start = index.requests
        process = _spawn_lock(project, index, scratch, "--force")
        _wait_for_requests(index, start + 2, process)  # inside the pip solve
        process.send_signal(sig)
        _out, err = process.communicate(timeout=60)
    finally:
        index.set_delay(0)
    assert {
        p.name: p.read_bytes() for p in project.iterdir() if p.is_file()
    } == before, "byte-for-byte intact, nothing added"
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130, err
        assert "envgen: interrupted" in err
        assert not any(p.name.startswith("envgen-lock-") for p in scratch.iterdir()), (
            "temporary files are removed"
        )
    assert freshness(project).fresh


def test_two_locks_at_once_never_corrupt_the_lock(tmp_path, index):
    project = new_project(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    index.set_delay(0.05)
    try:
        first = _spawn_lock(project, index, scratch, "--force")
        second = _spawn_lock(project, index, scratch, "--force")
        results = [p.communicate(timeout=300) for p in (first, second)]
    finally:
        index.set_delay(0)
    assert (first.returncode, second.returncode) == (0, 0), results
    assert any("another envgen lock is running" in err for _, err in results)
    document = load(project)  # parses: not interleaved
    assert document["metadata"]["custom_metadata"]["environment_yml_sha256"] == sha(
        project / "environment.yml"
    )
    assert freshness(project).fresh
    assert not [
        p
        for p in project.iterdir()
        if p.name.startswith(".") and p.name.endswith(".tmp")
    ]


# ---- live PyPI -----------------------------------------------------------------------


@pytest.mark.network
def test_pip_side_against_real_pypi(tmp_path, capsys):
    """The conda side from the fixture channel, the pip side from pypi.org's simple
    index.

    TF 2.16 on Python 3.11 with an extra pip package (so the line's caps apply, not
    envgen's pin set): every pip dependency resolves to a wheel. (The 2.6 line needs
    sdists, whose metadata conda-lock's pip solver reads through PyPI's per-version
    JSON, which this machine cannot reach.)
    """
    target = tmp_path / "live"
    assert (
        run(
            [
                "new",
                "live",
                "--tf",
                "2.16",
                "--python",
                "3.11",
                "--dir",
                str(target),
                "--no-lock",
            ]
        )
        == 0
    )
    spec = target / "envgen.toml"
    spec.write_text(spec.read_text().replace("pip = []", 'pip = ["tqdm"]'))
    assert run(["generate", "--dir", str(target)]) == 0
    assert run(["lock", "--dir", str(target), "--channel", CHANNEL_URL]) == 0, (
        capsys.readouterr().err
    )
    packages = by_name(load(target))
    [tf] = packages["tensorflow"]
    assert tf["manager"] == "pip" and tf["version"] == "2.16.2"
    assert (
        tf["url"].startswith("https://files.pythonhosted.org/")
        and "macosx" in tf["url"]
        and "arm64" in tf["url"]
    )
    assert packages["tensorflow-metal"][0]["url"].endswith(".whl")
    assert [p["manager"] for p in packages["numpy"]] == ["conda"]
    assert all(p["hash"].get("sha256") for p in load(target)["package"])


def test_a_vanished_recorded_mirror_says_how_to_switch(tmp_path, index, capsys):
    import shutil

    channel = tmp_path / "mirror"
    shutil.copytree(CHANNEL, channel)
    project = new_project(tmp_path)
    argv = ["lock", "--dir", str(project), "--pypi-index", index.url]
    assert run([*argv, "--channel", channel.as_uri()]) == 0
    shutil.rmtree(channel)
    spec = project / "envgen.toml"
    spec.write_text(spec.read_text() + "\n# changed\n")
    capsys.readouterr()
    # a plain lock uses the recorded mirror, never conda-forge behind the user's back
    assert run(["lock", "--dir", str(project)]) == 3
    line = one_line_error(capsys.readouterr().err)
    assert channel.as_uri() in line and "last locked against it" in line
    assert "--channel conda-forge" in line
