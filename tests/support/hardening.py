"""Helpers of the hardening battery (tests/hardening/): projects, snapshots, the CLI,
small file systems."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import yaml

from envgen.cli import run

# Characters no value may carry into a generated file: C0 and C1 controls, DEL, line and
# paragraph separators, bidi and zero-width format characters, a byte-order mark,
# noncharacters and unassigned code points.
UNSAFE_CHARACTERS = {
    "LF": "\n",
    "CR": "\r",
    "TAB": "\t",
    "NUL": "\x00",
    "ESC": "\x1b",
    "VT": "\x0b",
    "FF": "\x0c",
    "DEL": "\x7f",
    "NEL": "\x85",
    "LSEP": "\u2028",
    "PSEP": "\u2029",
    "RLO": "\u202e",
    "ZWSP": "\u200b",
    "BOM": "\ufeff",
    "NONCHAR-FFFE": "\ufffe",
    "NONCHAR-FDD0": "\ufdd0",
    "UNASSIGNED": "\U000e0080",
}


def toml_string(value: str) -> str:
    """A TOML basic string for any text (every control or format character as a \\u
    escape)."""
    out = []
    for char in value:
        if (
            char in '"\\'
            or unicodedata.category(char)[0] == "C"
            or unicodedata.category(char) in ("Zl", "Zp")
        ):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run envgen in-process: (exit code, stdout, stderr)."""
    code = run([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_process(
    *args: str, cwd: Path | None = None, timeout: float = 120, **kwargs
) -> subprocess.CompletedProcess:
    """Run envgen as its own process (python -m envgen): the exit code a shell sees."""
    return subprocess.run(
        [sys.executable, "-m", "envgen", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def assert_one_error_line(err: str, *needles: str) -> str:
    """stderr holds exactly one `envgen: error: …` line naming each needle, no
    traceback, no raw control character.

    Other stderr lines may only be envgen's progress notes (`envgen <command>: …`, shown
    before the error).
    """
    assert "Traceback" not in err, err
    lines = err.splitlines()
    errors = [
        line
        for line in lines
        if line.startswith(("envgen: error: ", "envgen: internal error: "))
    ]
    assert len(errors) == 1, (
        f"expected one error line on stderr, got {len(errors)}:\n{err}"
    )
    others = [line for line in lines if line not in errors and line.strip()]
    assert all(re.match(r"envgen [a-z-]+: ", line) for line in others), err
    line = errors[0]
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in line), (
        repr(line)
    )
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and symlink under root: content (or link target) and mode."""
    state = {}
    for path in sorted(Path(root).rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            state[relative] = (os.readlink(path).encode(), 0o120000)
        elif path.is_file():
            state[relative] = (path.read_bytes(), path.stat().st_mode & 0o7777)
        elif path.is_dir():
            state[relative + "/"] = (b"", path.stat().st_mode & 0o7777)
    return state


def new_project(capsys, where: Path, name: str = "demo", *extra: str) -> Path:
    """`envgen new NAME --tf 2.6 --no-lock` into where/NAME."""
    target = where / name
    code, _, err = cli(
        capsys, "new", name, "--tf", "2.6", "--no-lock", "--dir", target, *extra
    )
    assert code == 0, err
    return target


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fabricate_lock(project: Path, *, platform: str = "osx-arm64") -> dict:
    """conda-lock.yml in conda-lock's layout (three conda packages, two pip wheels) and
    its explicit file, as envgen lock writes them."""
    from envgen.lock.integrity import header_lines, render_explicit

    def conda(name: str, version: str, build: str, deps: dict) -> dict:
        return {
            "name": name,
            "version": version,
            "manager": "conda",
            "platform": platform,
            "dependencies": deps,
            "url": (
                f"https://conda.anaconda.org/conda-forge/{platform}/{name}-{version}-{build}.conda"
            ),
            "hash": {
                "md5": sha256(name.encode())[:32],
                "sha256": sha256(f"{name}-{version}".encode()),
            },
            "category": "main",
            "optional": False,
        }

    def pip(name: str, version: str) -> dict:
        wheel = name.replace("-", "_")
        return {
            "name": name,
            "version": version,
            "manager": "pip",
            "platform": platform,
            "dependencies": {},
            "url": (
                f"https://files.pythonhosted.org/packages/ab/cd/{wheel}-{version}-py3-none-any.whl"
            ),
            "hash": {"sha256": sha256(f"{name}=={version}".encode())},
            "category": "main",
            "optional": False,
        }

    inputs = {
        name: sha256((project / name).read_bytes())
        for name in ("envgen.toml", "environment.yml")
    }
    document = {
        "version": 1,
        "metadata": {
            "content_hash": {platform: "0" * 64},
            "channels": [{"url": "conda-forge", "used_env_vars": []}],
            "platforms": [platform],
            "sources": ["environment.yml"],
            "custom_metadata": {
                "envgen_toml_sha256": inputs["envgen.toml"],
                "environment_yml_sha256": inputs["environment.yml"],
            },
        },
        "package": [
            conda("ca-certificates", "2024.8.30", "hf0a4a13_0", {}),
            conda("python", "3.9.18", "hfa1ae8a_0_cpython", {"ca-certificates": ""}),
            conda("python_abi", "3.9", "4_cp39", {"python": "3.9.*"}),
            pip("tensorflow-metal", "0.2.0"),
            pip("wrapt", "1.12.1"),
        ],
    }
    (project / "conda-lock.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    header = header_lines(
        sha256((project / "conda-lock.yml").read_bytes()), list(inputs.items())
    )
    (project / f"conda-{platform}.lock").write_text(
        render_explicit(document, platform, header)
    )
    return document


@contextlib.contextmanager
def small_filesystem(
    where: Path, size: str = "256k", *, read_only: bool = False
) -> Iterator[Path | None]:
    """A tmpfs of ``size`` mounted at where (root only); None when this machine cannot
    mount one."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount_read_only(where: Path) -> bool:
    return (
        subprocess.run(
            ["mount", "-o", "remount,ro", str(where)], capture_output=True
        ).returncode
        == 0
    )
