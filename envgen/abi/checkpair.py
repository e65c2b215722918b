"""``check_pair``: can tensorflow-metal X load into TensorFlow Y? From the two macOS
arm64 wheels.

Steps: find both wheels through the PyPI client (following a thin alias wheel such as
``tensorflow`` 2.14 → ``tensorflow-macos`` 2.14 to the wheel that holds the libraries),
read the plugin's imports and TensorFlow's export tables (``abi.wheels``), and bind
them as dyld would (``abi.bind.resolve``). The result says compatible, or lists the
missing symbols.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass, replace

from packaging.version import InvalidVersion, Version

from envgen.abi.bind import Image, Resolution, demangle, resolve
from envgen.abi.wheels import (
    Stats,
    WheelStore,
    _release,
    alias_target,
    arm64_wheel,
    common_pythons,
    installed_path,
    releases_reader,
    tensorflow_packages,
)
from envgen.errors import CatalogError, SpecError
from envgen.pypi.client import Repository
from envgen.pypi.models import DistFile

PYWRAP = "tensorflow/python/_pywrap_tensorflow_internal.so"
PLUGIN_DIR = "tensorflow-plugins/"


@dataclass(frozen=True)
class PairReport:
    """The outcome of one check, with what it read and what it cost."""

    metal: str
    tf: str
    tf_package: str  # the package whose wheel holds the libraries
    python: str
    metal_wheel: DistFile
    tf_wheel: DistFile
    alias: str  # "tensorflow 2.14.1 -> tensorflow-macos 2.14.1", or ""
    plugin: str
    resolution: Resolution
    readable: dict[str, str]  # symbol -> demangled
    stats: Stats
    seconds: float
    plugin_min_macos: str = ""  # LC_BUILD_VERSION minos of the plugin library
    # the highest minos among the TensorFlow images dyld would load
    tf_min_macos: str = ""

    @property
    def compatible(self) -> bool:
        return self.resolution.compatible

    def as_json(self) -> dict:
        res = self.resolution
        return {
            "metal": self.metal,
            "tensorflow": self.tf,
            "tensorflow_package": self.tf_package,
            "alias": self.alias or None,
            "python": self.python,
            "compatible": self.compatible,
            "wheels": {
                "tensorflow-metal": {
                    "file": self.metal_wheel.filename,
                    "sha256": self.metal_wheel.sha256,
                    "size": self.metal_wheel.size,
                },
                self.tf_package: {
                    "file": self.tf_wheel.filename,
                    "sha256": self.tf_wheel.sha256,
                    "size": self.tf_wheel.size,
                },
            },
            "plugin": self.plugin,
            "loaded": list(res.loaded),
            "checked": len(res.checked),
            "resolved": sum(1 for f in res.findings if f.status == "resolved"),
            "missing": [
                {
                    "symbol": f.symbol,
                    "demangled": self.readable.get(f.symbol, f.symbol),
                    "binding": f.binding,
                    "expected_in": f.expected_in,
                    "lazy": f.lazy,
                    "fails_at_load": f.fails_at_load,
                }
                for f in res.missing
            ],
            "weak_missing": [
                f.symbol for f in res.findings if f.status == "weak-missing"
            ],
            "library_problems": [
                {"load_path": p.load_path, "kind": p.kind, "detail": p.detail}
                for p in res.library_problems
            ],
            "not_checked": dict(res.not_checked),
            "downloads": [
                {"file": f, "bytes": b, "seconds": round(s, 2)}
                for f, b, s in self.stats.downloads
            ],
            "extracted": [
                {"member": m, "seconds": round(s, 2)} for m, s in self.stats.extracted
            ],
            "seconds": round(self.seconds, 2),
            "min_macos": {
                "plugin": self.plugin_min_macos or None,
                "tensorflow": self.tf_min_macos or None,
            },
        }


def _installed(members: tuple[str, ...]) -> dict[str, str]:
    """site-packages path -> wheel member."""
    return {installed_path(member): member for member in members}


def _absolute(repository: Repository, package: str, dist: DistFile) -> DistFile:
    """File URLs may be relative to the index page that listed them (mirrors do
    that)."""
    url_for = getattr(repository, "url_for", None)
    if url_for is None or urllib.parse.urlsplit(dist.url).scheme:
        return dist
    return replace(dist, url=urllib.parse.urljoin(url_for(package), dist.url))


def _version(text: str, what: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        raise SpecError(
            f"{what} {text!r} is not a version",
            "give an exact release such as 1.1.0 or 2.14.1",
        ) from None


def check_pair(
    metal: str,
    tf: str,
    *,
    python: str | None = None,
    repository: Repository,
    store: WheelStore | None = None,
) -> PairReport:
    """Download (or reuse) both wheels and bind the plugin's TensorFlow imports as dyld
    would."""
    started = time.perf_counter()
    metal, tf = _version(metal, "--metal"), _version(tf, "--tf")
    store = store or WheelStore()
    releases_of = releases_reader(repository)
    metal_release = _release(releases_of, "tensorflow-metal", metal)

    tf_package, tf_release = None, None
    for package in tensorflow_packages(tf):
        try:
            tf_release = _release(releases_of, package, tf)
            tf_package = package
            break
        except CatalogError:
            continue
    if tf_release is None or tf_package is None:
        raise CatalogError(
            f"PyPI has no TensorFlow {tf} for macOS (tried"
            f" {', '.join(tensorflow_packages(tf))})",
            "check the version",
        )
    if python is None:
        shared = common_pythons(metal_release, tf_release)
        if not shared:
            raise CatalogError(
                f"tensorflow-metal {metal} and {tf_package} {tf} share no Python with"
                " macOS arm64 wheels",
                "these two cannot be installed together",
            )
        python = shared[-1]

    metal_dist = _absolute(
        repository,
        "tensorflow-metal",
        arm64_wheel(releases_of, "tensorflow-metal", metal, python),
    )
    tf_dist = _absolute(
        repository, tf_package, arm64_wheel(releases_of, tf_package, tf, python)
    )
    tf_wheel = store.wheel(tf_dist)
    alias = ""
    if PYWRAP not in _installed(tf_wheel.members()):
        target = alias_target(tf_wheel.index()["requires"], python)
        if target is None:
            raise CatalogError(
                f"{tf_dist.filename} holds no {PYWRAP} and pins no other TensorFlow"
                " wheel for macOS arm64",
                "this TensorFlow release cannot be checked",
            )
        alias = f"{tf_package} {tf} -> {target[0]} {target[1]}"
        tf_package, tf_dist = (
            target[0],
            _absolute(
                repository,
                target[0],
                arm64_wheel(releases_of, target[0], target[1], python),
            ),
        )
        tf_wheel = store.wheel(tf_dist)
        if PYWRAP not in _installed(tf_wheel.members()):
            raise CatalogError(
                f"{tf_dist.filename} holds no {PYWRAP}",
                "this TensorFlow release cannot be checked",
            )

    metal_wheel = store.wheel(metal_dist)
    metal_members = _installed(metal_wheel.members())
    plugins = sorted(path for path in metal_members if path.startswith(PLUGIN_DIR))
    if not plugins:
        raise CatalogError(
            f"{metal_dist.filename} holds no library under {PLUGIN_DIR}",
            "is this a TensorFlow plugin wheel?",
        )
    plugin = Image(
        plugins[0],
        metal_wheel.image(metal_members[plugins[0]], with_imports=True).parse(),
    )

    images: dict[str, Image | None] = {}
    tf_members = _installed(tf_wheel.members())

    def load_image(path: str) -> Image | None:
        if path not in images:
            if path in tf_members:
                images[path] = Image(
                    path, tf_wheel.image(tf_members[path], with_imports=False).parse()
                )
            elif path in metal_members:
                images[path] = Image(
                    path,
                    metal_wheel.image(metal_members[path], with_imports=False).parse(),
                )
            else:
                images[path] = None
        return images[path]

    root = load_image(PYWRAP)
    assert root is not None
    resolution = resolve(plugin, [root], load_image)
    tf_wheel.drop_if_large()
    readable = demangle(
        [f.symbol for f in resolution.findings if f.status != "not-checked"]
    )
    minos = [
        image.macho.min_macos
        for path in resolution.loaded
        if (image := images.get(path)) is not None and image.macho.min_macos
    ]
    return PairReport(
        metal=metal,
        tf=tf,
        tf_package=tf_package,
        python=python,
        metal_wheel=metal_dist,
        tf_wheel=tf_dist,
        alias=alias,
        plugin=plugins[0],
        resolution=resolution,
        readable=readable,
        stats=store.stats,
        seconds=time.perf_counter() - started,
        plugin_min_macos=plugin.macho.min_macos or "",
        tf_min_macos=max(minos, key=Version) if minos else "",
    )
