"""The known-good pip pin sets in ``locks/``: one hash-pinned file per catalog line.

``envgen catalog refresh --write-locks`` makes them (see ``refresh``); this module only
finds and reads them, so ``envgen new`` can take exact pip pins without the network.
(Not ``locks.py``: the wheel ships the ``locks/`` directory as ``envgen/locks``, which a
module of that name would collide with.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from envgen.catalog.lines import METAL, Line
from envgen.names import METAL_PLATFORM
from envgen.resources import locks_dir

# Installed by conda in every envgen environment, so never pinned for pip.
PIP_TOOLING = ("pip", "setuptools", "wheel")
_RESOLVED = re.compile(r" \(resolved [^)]*\)")
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*(\\)?$")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_WHEEL = re.compile(r"^#\s+wheel\s+(\S+)\s+(\S+)\s+sha256:([0-9a-f]{64})$")
_SDIST = re.compile(r"^#\s+sdist\s+(\S+)\s+(\S+)\s+sha256:([0-9a-f]{64})$")
_FIELD = re.compile(r"^#\s+([a-z-]+):\s+(.*)$")


def pin_set_name(line_tf: str, python: str, platform: str = METAL_PLATFORM) -> str:
    """``tf-2.6-py3.9-osx-arm64.txt``."""
    return f"tf-{line_tf}-py{python}-{platform}.txt"


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503) name
    version: str
    hashes: tuple[str, ...]


@dataclass(frozen=True)
class PinSet:
    """One parsed file of ``locks/``."""

    path: Path
    # header fields: line, python, platform, conda, caps...
    fields: tuple[tuple[str, str], ...]
    pins: tuple[Pin, ...]
    # (name, file name, sha256) of the wheel each pin installs
    wheels: tuple[tuple[str, str, str], ...]
    # (name, file name, sha256) of pins built from source
    sdists: tuple[tuple[str, str, str], ...]

    def field(self, key: str) -> str:
        return dict(self.fields).get(key, "")

    def requirements(self) -> list[str]:
        """``name==version`` for every pin, in file order."""
        return [f"{pin.name}=={pin.version}" for pin in self.pins]


def parse_pin_set(text: str, path: Path = Path("<text>")) -> PinSet:
    """Read a pin set file (pip requirements with hashes, plus envgen's header
    comments)."""
    fields: list[tuple[str, str]] = []
    pins: list[Pin] = []
    wheels: list[tuple[str, str, str]] = []
    sdists: list[tuple[str, str, str]] = []
    current: tuple[str, str] | None = None
    hashes: list[str] = []

    def close() -> None:
        nonlocal current, hashes
        if current is not None:
            pins.append(Pin(current[0], current[1], tuple(hashes)))
        current, hashes = None, []

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            for pattern, target in ((_WHEEL, wheels), (_SDIST, sdists)):
                match = pattern.match(line)
                if match:
                    target.append(
                        (
                            canonicalize_name(match.group(1)),
                            match.group(2),
                            match.group(3),
                        )
                    )
                    break
            else:
                match = _FIELD.match(line)
                if match and current is None and not pins:
                    fields.append((match.group(1), match.group(2).strip()))
            continue
        if line.startswith("--hash="):
            hashes += _HASH.findall(line)
            continue
        close()
        match = _REQUIREMENT.match(line)
        if not match:
            raise ValueError(f"{path}: not a pinned requirement: {line!r}")
        current = (canonicalize_name(match.group(1)), match.group(2))
        hashes = _HASH.findall(line)
    close()
    return PinSet(Path(path), tuple(fields), tuple(pins), tuple(wheels), tuple(sdists))


def pin_set_metal(line: Line, python: str) -> str:
    """The tensorflow-metal release a line's pin set for this Python holds ("" for
    none): the plugin ``catalog.pairs`` gives that Python (an alternative where the
    line's own has no wheel).
    """
    from envgen.catalog.pairs import metal_for_python

    option = metal_for_python(line, python)
    return option.metal if option is not None else ""


def line_fields(line: Line, python: str | None = None) -> dict[str, str]:
    """The header fields a pin set made from this catalog line (for this Python) carries
    (``refresh`` writes them)."""
    from envgen.catalog.pairs import tf_package

    metal = pin_set_metal(line, python) if python else line.metal
    return {
        "line": line.tf,
        "status": line.status,
        "tensorflow": f"{tf_package(line, line.version)}=={line.version}",
        "metal": f"{METAL}=={metal}" if metal else "none",
        "caps": "; ".join(f"{name}{spec}" for name, spec in line.pip_caps) or "none",
        "conda": "; ".join(f"{name}{spec}" for name, spec in line.conda) or "none",
    }


def stale_fields(pin_set: PinSet, line: Line) -> list[str]:
    """How a pin set's header differs from the catalog line it claims to be made from
    (empty: current)."""
    expected = line_fields(line, pin_set.field("python") or None)
    found = {key: pin_set.field(key) for key in expected}
    # "numpy>=1.19.5,<1.20 (resolved 1.19.5)"
    found["conda"] = _RESOLVED.sub("", found["conda"])
    return [
        f"{key}: {found[key] or '(missing)'} in the pin set, {value} in the catalog"
        for key, value in expected.items()
        if found[key] != value
    ]


def current_pin_set(
    line: Line, python: str, directory: Path | None = None
) -> PinSet | None:
    """The line's pin set for this Python when one exists and was made from the line as
    it is now."""
    pin_set = read_pin_set(line.tf, python, directory)
    if pin_set is None or stale_fields(pin_set, line):
        return None
    return pin_set


def read_pin_set(
    line_tf: str, python: str, directory: Path | None = None
) -> PinSet | None:
    """The pin set for a catalog line and Python, or None when ``locks/`` has none."""
    path = (directory or locks_dir()) / pin_set_name(line_tf, python)
    if not path.is_file():
        return None
    return parse_pin_set(path.read_text(encoding="utf-8"), path)


def pinned_requirements(
    line: Line, python: str, directory: Path | None = None, *, metal: str | None = None
) -> list[str] | None:
    """Exact ``name==version`` pip pins known to resolve for this line and Python
    (osx-arm64), or None.

    The list holds the whole pip closure, TensorFlow and tensorflow-metal first, and
    never a package the catalog leaves to conda. None when ``locks/`` has no current set
    for them, or when ``metal`` (the project's plugin release, "" for none) is not the
    one the set holds.
    """
    if metal is not None and metal != pin_set_metal(line, python):
        return None
    pin_set = current_pin_set(line, python, directory)
    if pin_set is None:
        return None
    from envgen.catalog.pairs import tf_package

    first = (canonicalize_name(tf_package(line, line.version)), METAL)
    return sorted(
        pin_set.requirements(),
        key=lambda r: first.index(r.split("==")[0]) if r.split("==")[0] in first else 2,
    )
