"""Names several envgen packages share, in one place: conda platforms and how other
tools spell them.

A flat module of constants and small functions; it imports nothing from envgen.
"""

from __future__ import annotations

import os
from pathlib import Path

# The files of a generated project that more than one package reads or writes.
SPEC_FILE = "envgen.toml"
ENV_FILE = "environment.yml"
LOCK_FILE = "conda-lock.yml"


# Every file envgen writes in a project (what a killed commit's journal may name there,
# and what envgen verify --report must not overwrite):
# the spec, the rendered files (tests/cli/test_architecture.py holds render.py to this
# list) and the locks.
PROJECT_FILES = (
    SPEC_FILE,
    ENV_FILE,
    LOCK_FILE,
    ".gitignore",
    "README.md",
    "train.py",
    "bootstrap.sh",
    "scripts/verify_gpu.py",
    ".github/workflows/verify.yml",
)


def is_project_file(relative: str) -> bool:
    """Whether ``relative`` (a path inside a project, with '/') is a file envgen writes
    there: one of PROJECT_FILES or an explicit lock ``conda-<platform>.lock``."""
    if relative in PROJECT_FILES:
        return True
    stem = relative.removeprefix("conda-").removesuffix(".lock")
    return (
        relative == explicit_lock_name(stem)
        and stem != ""
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in stem)
    )


def explicit_lock_name(platform: str) -> str:
    """The explicit lock file bootstrap.sh installs on ``platform``:
    ``conda-<platform>.lock``."""
    return f"conda-{platform}.lock"


def cache_dir() -> Path:
    """envgen's cache: ``$ENVGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/envgen``, else
    ``~/.cache/envgen``."""
    if os.environ.get("ENVGEN_CACHE_DIR"):
        return Path(os.environ["ENVGEN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "envgen"


# The conda platforms a project can be locked for, and the one that gets the Metal
# plugin.
METAL_PLATFORM = "osx-arm64"
PLATFORMS = ("osx-arm64", "osx-64", "linux-64")

# uv's --python-platform for each conda platform: the pip side of a lock must pick the
# wheels a machine of that platform installs, matching the virtual packages the conda
# side is solved for (generate/plan.py: __osx at the line's minimum macOS, __glibc 2.17
# = manylinux2014). linux-aarch64 is listed for when the catalog allows it (TensorFlow
# ships manylinux aarch64 wheels).
UV_PYTHON_PLATFORMS = {
    "osx-arm64": "aarch64-apple-darwin",
    "osx-64": "x86_64-apple-darwin",
    "linux-64": "x86_64-manylinux_2_17",
    "linux-aarch64": "aarch64-manylinux_2_17",
}


def uv_python_platform(platform: str) -> str:
    """uv's ``--python-platform`` for a conda platform (KeyError for one envgen cannot
    lock)."""
    return UV_PYTHON_PLATFORMS[platform]


# The first line of every explicit lock file (conda-<platform>.lock): written by envgen
# lock, and compared byte for byte by envgen lock --check and bootstrap.sh.
EXPLICIT_NOTICE = (
    "# Rendered by `envgen lock` from conda-lock.yml: regenerate it with `envgen lock`,"
    " never edit it."
)

# The Pythons a release's wheels are looked for among (PyPI's answers are asked which of
# these a release serves: TensorFlow for macOS arm64 has had wheels from 3.8 on).
CANDIDATE_PYTHONS = tuple(f"3.{minor}" for minor in range(7, 16))

# The other two platforms of PLATFORMS by name: an Intel Mac, and x86_64 Linux.
INTEL_MAC_PLATFORM = "osx-64"
LINUX_PLATFORM = "linux-64"
