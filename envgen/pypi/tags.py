"""What a wheel's file name says about where it installs: its Python, ABI and platform
tags, read into a ``WheelTags``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.utils import parse_wheel_filename
from packaging.version import Version

_MACOS_TAG = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
# cp39, py39 (py3 alone means any Python 3)
_CP_TAG = re.compile(r"^(?:cp|py)(\d)(\d+)$")
# The macOS wheel arches that install on an Apple Silicon Mac, and on an Intel one.
ARM64_ARCHES = ("arm64", "universal2")
X86_64_ARCHES = ("x86_64", "intel", "universal", "universal2", "fat64", "fat3")


@dataclass(frozen=True)
class WheelTags:
    """What a wheel's file name says about where it installs."""

    # "3.9" for cp39/py39; empty when py3/py2.py3 (any Python 3)
    pythons: tuple[str, ...]
    abi3: bool  # cp39-abi3: 3.9 and every later Python
    any_python: bool  # py3-none / py2.py3-none
    macos_min: str | None  # "11.0" from macosx_11_0_arm64 (lowest over the file's tags)
    arches: tuple[str, ...]  # macOS arches: arm64, x86_64, universal2...
    # linux arches from manylinux/musllinux tags: x86_64, aarch64
    manylinux: tuple[str, ...]
    platform_any: bool  # the "any" platform (pure Python)

    @property
    def tag_text(self) -> str:
        """A short human summary: 'cp39-cp312 macosx 12.0 arm64'."""
        if self.any_python:
            pythons = "py3"
        elif self.abi3:
            pythons = f"cp{self.pythons[0].replace('.', '')}-abi3"
        else:
            pythons = ",".join("cp" + p.replace(".", "") for p in self.pythons)
        places = []
        if self.arches:
            places.append(f"macosx {self.macos_min} {'/'.join(self.arches)}")
        if self.manylinux:
            places.append(f"manylinux {'/'.join(self.manylinux)}")
        if self.platform_any:
            places.append("any")
        return f"{pythons} {' '.join(places)}".strip()


def parse_wheel_tags(filename: str) -> WheelTags:
    """Read Python versions, abi3, macOS minimum and architectures from a wheel file
    name."""
    _, _, _, tags = parse_wheel_filename(filename)
    pythons: set[str] = set()
    abi3 = any_python = platform_any = False
    macos: list[Version] = []
    arches: set[str] = set()
    linux: set[str] = set()
    for tag in tags:
        match = _CP_TAG.match(tag.interpreter)
        if tag.interpreter == "py3":
            any_python = True
        elif match and match.group(1) == "3":
            pythons.add(f"3.{match.group(2)}")
        if tag.abi == "abi3":
            abi3 = True
        if tag.platform == "any":
            platform_any = True
        mac = _MACOS_TAG.match(tag.platform)
        if mac:
            macos.append(Version(f"{mac.group(1)}.{mac.group(2)}"))
            arches.add(mac.group(3))
        elif tag.platform.startswith(("manylinux", "musllinux", "linux_")):
            linux.add(
                tag.platform.rsplit("_", 1)[-1]
                if not tag.platform.endswith("x86_64")
                else "x86_64"
            )
    ordered = tuple(sorted(pythons, key=Version))
    return WheelTags(
        pythons=ordered,
        abi3=abi3 and bool(ordered),
        any_python=any_python and not ordered,
        macos_min=str(min(macos)) if macos else None,
        arches=tuple(sorted(arches)),
        manylinux=tuple(sorted(linux)),
        platform_any=platform_any,
    )
