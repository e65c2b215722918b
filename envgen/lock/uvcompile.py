"""Running ``uv pip compile`` for a foreign target: the uv binary, the command line,
the conda stand-in wheels it resolves against and the requirements file it writes.

Both pip-side resolvers use it: the lock's (:mod:`envgen.lock.pipside`) and the
catalog's pin sets (:mod:`envgen.releases.pinlock`). Every subprocess goes through a
``Runner`` so tests can see and replace the command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from envgen.errors import EnvironmentProblem

HELD_LABEL = "envgen.conda"  # the local version label of a stand-in for a conda package


Runner = Callable[[Sequence[str], Mapping[str, str], Path], tuple[int, str, str]]


def run_command(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path
) -> tuple[int, str, str]:
    done = subprocess.run(
        list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout, done.stderr


def write_stand_in_wheel(
    directory: Path, name: str, version: str, label: str = HELD_LABEL
) -> None:
    """A dependency-free wheel ``NAME-VERSION+LABEL`` standing in for a package conda
    provides: uv must then agree with conda's version while installing nothing."""
    project = canonicalize_name(name).replace("-", "_")
    full = f"{version}+{label}"
    info = f"{project}-{full}.dist-info"
    with zipfile.ZipFile(
        directory / f"{project}-{full}-py3-none-any.whl", "w"
    ) as wheel:
        wheel.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {full}\n",
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: envgen\nRoot-Is-Purelib: true\nTag:"
            " py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")


_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*\\)?$")


_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


NEEDS_WHEEL = re.compile(r"Wheels are required for `([^`]+)`")


def parse_compiled(
    text: str,
) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """(name, version, sha256 hashes, names it is required by) for each pin uv wrote."""
    entries: list[tuple[str, str, list[str], list[str]]] = []
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _ENTRY.match(line)
        if match:
            entries.append((canonicalize_name(match.group(1)), match.group(2), [], []))
            in_via = False
        elif line.startswith("--hash=") and entries:
            entries[-1][2].extend(_HASH.findall(line))
        elif line.startswith("# via") and entries:
            rest = line[len("# via") :].strip()
            in_via = not rest
            entries[-1][3].extend(x.strip() for x in rest.split(",") if x.strip())
        elif line.startswith("#") and in_via and entries:
            entries[-1][3].append(line.lstrip("#").strip())
        elif line.startswith("#"):
            continue
        else:
            raise ValueError(f"uv wrote a line envgen cannot read: {line!r}")
    return [
        (
            n,
            v,
            tuple(h),
            tuple(canonicalize_name(x) for x in via if not x.startswith("-")),
        )
        for n, v, h, via in entries
    ]


def compile_argv(
    uv: str,
    *,
    index_url: str,
    platform: str,
    python: str,
    from_source: Sequence[str] = (),
    interpreter: str | None = None,
    annotate: bool = True,
) -> list[str]:
    """The ``uv pip compile`` command both pip-side resolvers run in their work
    directory: requirements.in under constraints.txt, the conda stand-ins found in
    conda-provided/, wheels only except for ``from_source``, hashes for every file,
    written to resolved.txt."""
    return [
        uv,
        "pip",
        "compile",
        "requirements.in",
        "--constraint",
        "constraints.txt",
        "--find-links",
        "conda-provided",
        "--index-url",
        index_url,
        "--python-platform",
        platform,
        "--python-version",
        python,
        "--generate-hashes",
        "--only-binary",
        ":all:",
        *[x for name in from_source for x in ("--no-binary", name)],
        *([] if annotate else ["--no-annotate"]),
        "--no-header",
        "--no-config",
        "--no-python-downloads",
        *(["--python", interpreter] if interpreter else []),
        "--quiet",
        "--output-file",
        "resolved.txt",
    ]


def find_uv() -> str:
    """The uv binary: the one the ``uv`` PyPI package ships (a dependency of envgen),
    else uv on PATH. Both the lock's pip side and `catalog refresh --write-locks` use
    it."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if not found:
        raise EnvironmentProblem(
            "uv is needed to resolve pip packages and was not found",
            "pip install uv (envgen depends on it: reinstalling envgen brings it)",
        )
    return found
