"""The two engines a lock runs, behind small interfaces, chosen by name from a registry.

- a *conda engine* solves the conda side of environment.yml (no pip section) for the
  target's virtual packages and returns conda-lock's ``Lockfile`` model: ``conda-lock``
  (conda-lock's solver driver over micromamba/mamba/conda or envgen's rattler front
  end);
- a *pip resolver* resolves the pip section for one platform with conda's packages held
  at the versions conda chose, and returns each pin with the one file it installs:
  ``uv``.

The registry maps a name to ``module:attribute`` so that nothing heavy (conda-lock,
rattler) is imported until a lock really runs; ``envgen lock --check`` and ``--help``
stay fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from envgen.lock.pipside import PipRequest, PipResolution

CONDA_ENGINES = {"conda-lock": "envgen.lock.condalock:CondaLockEngine"}
PIP_RESOLVERS = {"uv": "envgen.lock.pipside:UvResolver"}
DEFAULT_CONDA_ENGINE = "conda-lock"
DEFAULT_PIP_RESOLVER = "uv"


@dataclass(frozen=True)
class CondaJob:
    """What the conda side is asked to solve."""

    workdir: Path  # a scratch directory the engine may write into
    environment: str  # environment.yml without its pip section
    virtual_packages: str  # conda-lock's virtual-package spec (YAML)
    platforms: tuple[str, ...]
    channel: str | None  # a mirror of conda-forge, or None for conda-forge itself
    solver: str  # "auto", "micromamba", "mamba", "conda" or "rattler"
    mapping: Path  # the PyPI ↔ conda name table (conda-lock's format)
    user_names: frozenset[str] = (
        frozenset()
    )  # conda names envgen.toml chooses (python too)


class CondaEngine(Protocol):
    name: str

    def solve(self, job: CondaJob) -> tuple[str, Any]:
        """(the solver that ran, conda-lock's Lockfile model with the conda
        packages)."""
        ...


class PipResolver(Protocol):
    name: str

    def resolve(self, request: PipRequest) -> PipResolution: ...


def _load(registry: dict[str, str], name: str, kind: str) -> Any:
    if name not in registry:
        raise KeyError(
            f"no {kind} called {name!r} (known: {', '.join(sorted(registry))})"
        )
    module, attribute = registry[name].split(":")
    return getattr(importlib.import_module(module), attribute)()


def conda_engine(name: str = DEFAULT_CONDA_ENGINE) -> CondaEngine:
    return _load(CONDA_ENGINES, name, "conda engine")


def pip_resolver(name: str = DEFAULT_PIP_RESOLVER) -> PipResolver:
    return _load(PIP_RESOLVERS, name, "pip resolver")
