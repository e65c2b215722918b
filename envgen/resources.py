"""The one lookup of envgen's shipped files: ``data/``, ``templates/`` and ``locks/``.

``data/`` lives inside the package. ``templates/`` and ``locks/`` live at the top of the
repository (the design card fixes that layout) and are force-included into the wheel as
``envgen/templates`` and ``envgen/locks``; an installed envgen reads them through
:mod:`importlib.resources`, a checkout from the repository root.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _shipped(name: str) -> Path:
    installed = files("envgen") / name
    if installed.is_dir():
        return Path(str(installed))
    return _REPO_ROOT / name


def data_path(name: str) -> Path:
    """A file of ``envgen/data/`` (the catalog, the ABI records, the name map)."""
    return Path(str(files("envgen") / "data" / name))


def templates_dir() -> Path:
    """The project templates: ``envgen/templates`` when installed, ``templates/`` in a
    checkout."""
    found = _shipped("templates")
    if not (found / "project.toml").is_file():
        raise FileNotFoundError("envgen's templates are missing from the installation")
    return found


def locks_dir() -> Path:
    """The known-good pin sets: ``envgen/locks`` when installed, ``locks/`` in a
    checkout."""
    return _shipped("locks")
