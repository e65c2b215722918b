"""The macOS arm64 wheels behind an ABI check: found through the PyPI client, downloaded
once and verified by sha256, and read member by member.

Cache layout under envgen's cache dir (``$ENVGEN_CACHE_DIR``, see ``names.cache_dir``):

- ``wheels/<file name>``: a downloaded wheel (one above ``KEEP_WHEEL_BYTES`` is deleted
  once the libraries a check needed were read out of it; it is downloaded again only if
  another member is ever needed);
- ``abi/<sha256>/wheel.json``: the wheel's Mach-O member names and its Requires-Dist;
- ``abi/<sha256>/<member>.slices``: the header, load commands and export table (plus,
  for a plugin, the bind information) of one library, in ``machoslice`` format.

Everything is keyed by the wheel's sha256, so a cached table can never belong to another
file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envgen import __version__
from envgen.abi.machoslice import SparseImage, extract
from envgen.atomic import atomic_write
from envgen.catalog.pairs import tf_packages_for
from envgen.errors import CatalogError, EnvironmentProblem
from envgen.names import CANDIDATE_PYTHONS, METAL_PLATFORM, cache_dir
from envgen.pypi.client import Repository
from envgen.pypi.models import DistFile, Release, Releases

KEEP_WHEEL_BYTES = 32 * 1024 * 1024
MACHO_SUFFIXES = (".so", ".dylib")
Progress = Callable[[str], None]
# What PyPI has of a package (``releases_reader``), by package name.
ReleasesOf = Callable[[str], Releases]


class WheelError(EnvironmentProblem):
    """A wheel could not be fetched or read (network, checksum, not a zip, no
    library)."""


@dataclass(frozen=True)
class Stats:
    """What fetching cost: downloads (file name, bytes, seconds) and libraries read
    (member, seconds)."""

    downloads: tuple[tuple[str, int, float], ...] = ()
    extracted: tuple[tuple[str, float], ...] = ()
    cached: tuple[str, ...] = ()


@dataclass
class WheelStore:
    """Downloads wheels into the cache and hands out their libraries' dyld tables."""

    cache_dir: Path | None = None
    timeout: float = 60.0
    retries: int = 2
    progress: Progress | None = None
    _downloads: list[tuple[str, int, float]] = field(default_factory=list)
    _extracted: list[tuple[str, float]] = field(default_factory=list)
    _cached: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.cache_dir) if self.cache_dir else cache_dir()

    @property
    def stats(self) -> Stats:
        return Stats(
            tuple(self._downloads), tuple(self._extracted), tuple(self._cached)
        )

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    # ------------------------------------------------------------------------ downloads

    def wheel_path(self, dist: DistFile) -> Path:
        """The wheel on disk, downloaded (and sha256-checked) when it is not already
        cached."""
        path = self.root / "wheels" / dist.filename
        if path.is_file() and _sha256(path) == dist.sha256:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        size = f" ({dist.size / 1e6:.0f} MB)" if dist.size else ""
        self._say(f"downloading {dist.filename}{size}")
        started = time.perf_counter()
        last = ""
        for attempt in range(self.retries + 1):
            try:
                got = self._download(dist, path)
                self._downloads.append(
                    (dist.filename, got, time.perf_counter() - started)
                )
                return path
            except _Retry as failure:
                last = str(failure)
                time.sleep(0.5 * 2**attempt)
        raise WheelError(
            f"could not download {dist.filename}: {last}", "check the network and retry"
        )

    def _download(self, dist: DistFile, path: Path) -> int:
        partial = path.with_name(f".{path.name}.part")
        digest = hashlib.sha256()
        got = 0
        request = urllib.request.Request(
            dist.url, headers={"User-Agent": f"envgen/{__version__}"}
        )
        try:
            with (
                urllib.request.urlopen(request, timeout=self.timeout) as response,
                open(partial, "wb") as out,
            ):
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    got += len(chunk)
        except urllib.error.HTTPError as error:
            partial.unlink(missing_ok=True)
            if 500 <= error.code < 600 or error.code == 429:
                raise _Retry(f"HTTP {error.code}") from None
            raise WheelError(
                f"PyPI answered HTTP {error.code} for {dist.url}",
                "check the release still exists",
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            partial.unlink(missing_ok=True)
            raise _Retry(
                f"{type(error).__name__}: {getattr(error, 'reason', error)}"
            ) from None
        if digest.hexdigest() != dist.sha256:
            partial.unlink(missing_ok=True)
            raise WheelError(
                f"{dist.filename} does not match the sha256 PyPI lists"
                f" ({digest.hexdigest()[:16]}… != {dist.sha256[:16]}…); it was deleted",
                "retry; if it persists, the index or a proxy serves a different file",
            )
        os.replace(partial, path)
        return got

    # -------------------------------------------------------------------------- members

    def wheel(self, dist: DistFile) -> Wheel:
        return Wheel(self, dist)


class _Retry(Exception):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Wheel:
    """One wheel's Mach-O members, read from the slice cache or streamed out of
    the zip."""

    store: WheelStore
    dist: DistFile
    _index: dict | None = None

    @property
    def directory(self) -> Path:
        return self.store.root / "abi" / self.dist.sha256

    def _zip(self) -> zipfile.ZipFile:
        path = self.store.wheel_path(self.dist)
        try:
            return zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            path.unlink(missing_ok=True)
            raise WheelError(
                f"{self.dist.filename} is not a valid zip file; it was deleted", "retry"
            ) from None

    def index(self) -> dict:
        """Mach-O member names and Requires-Dist of the wheel (cached beside the
        tables)."""
        if self._index is not None:
            return self._index
        path = self.directory / "wheel.json"
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(cached, dict) and isinstance(cached.get("members"), list):
                self._index = cached
                return cached
        except (OSError, ValueError):
            pass  # missing or torn: read the wheel again
        with self._zip() as archive:
            names = archive.namelist()
            metadata = next(
                (
                    n
                    for n in names
                    if n.endswith(".dist-info/METADATA") and n.count("/") == 1
                ),
                None,
            )
            requires = []
            if metadata:
                text = archive.read(metadata).decode("utf-8", "replace")
                requires = [
                    line.split(":", 1)[1].strip()
                    for line in text.splitlines()
                    if line.startswith("Requires-Dist:")
                ]
        self._index = {
            "filename": self.dist.filename,
            "members": sorted(n for n in names if n.endswith(MACHO_SUFFIXES)),
            "requires": requires,
        }
        # a cache that cannot be written costs time, not the answer
        with contextlib.suppress(OSError):
            atomic_write(path, json.dumps(self._index, indent=1, sort_keys=True) + "\n")
        return self._index

    def members(self) -> tuple[str, ...]:
        return tuple(self.index()["members"])

    def image(self, member: str, *, with_imports: bool) -> SparseImage:
        """The dyld tables of one member: from the cache, else streamed out of the wheel
        once."""
        path = self.directory / (
            member.replace("/", "%") + (".full" if with_imports else "") + ".slices"
        )
        try:
            image, meta = SparseImage.load(path)
            if meta.get("sha256") == self.dist.sha256 and meta.get("member") == member:
                self.store._cached.append(member)
                return image
        except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error):
            pass  # missing, torn or foreign: extract it again
        started = time.perf_counter()
        self.store._say(f"reading {member} from {self.dist.filename}")
        with self._zip() as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise WheelError(
                    f"{self.dist.filename} has no {member}",
                    "check the package and version",
                ) from None
            with archive.open(info) as stream:
                image = extract(stream, info.file_size, with_imports=with_imports)
        image.save(
            path,
            {"sha256": self.dist.sha256, "member": member, "wheel": self.dist.filename},
        )
        self.store._extracted.append((member, time.perf_counter() - started))
        return image

    def drop_if_large(self) -> None:
        """Delete the downloaded wheel when it is big: its tables are what later checks
        read."""
        path = self.store.root / "wheels" / self.dist.filename
        if path.is_file() and path.stat().st_size > KEEP_WHEEL_BYTES:
            path.unlink(missing_ok=True)


def installed_path(member: str) -> str:
    """Where a wheel member lands relative to site-packages (``NAME.data/purelib/x`` ->
    ``x``)."""
    head, _, rest = member.partition("/")
    if head.endswith(".data") and rest.startswith(("purelib/", "platlib/")):
        return rest.split("/", 1)[1]
    return member


# ---------------------------------------------------------------------- choosing wheels


def arm64_wheel(
    releases_of: ReleasesOf, package: str, version: str, python: str
) -> DistFile:
    """The macOS arm64 wheel of ``package==version`` for Python ``python`` (CatalogError
    if none)."""
    release = _release(releases_of, package, version)
    wheels = release.wheels_for(python, METAL_PLATFORM) or release.wheels_for(
        python, METAL_PLATFORM, include_yanked=True
    )
    if not wheels:
        pythons = (
            ", ".join(release.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)) or "none"
        )
        raise CatalogError(
            f"{package} {version} has no macOS arm64 wheel for Python {python}",
            f"pass --python with one of: {pythons}",
        )
    return wheels[0]


def _release(releases_of: ReleasesOf, package: str, version: str) -> Release:
    release = releases_of(package).get(version)
    if release is None or not release.files:
        raise CatalogError(
            f"PyPI has no {package} {version}",
            f"check the version (see https://pypi.org/project/{package}/#history)",
        )
    return release


def common_pythons(a: Release, b: Release) -> tuple[str, ...]:
    """Pythons for which both releases have a macOS arm64 wheel, oldest first."""
    return tuple(
        p
        for p in a.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)
        if p in b.pythons_for(METAL_PLATFORM, CANDIDATE_PYTHONS)
    )


def alias_target(requires: list[str], python: str) -> tuple[str, str] | None:
    """(package, version) a thin alias wheel pins on macOS arm64, e.g. tensorflow 2.14
    -> tensorflow-macos."""
    # overrides of the running interpreter's markers (``Marker.evaluate`` merges them)
    environment = {
        "platform_system": "Darwin",
        "platform_machine": "arm64",
        "sys_platform": "darwin",
        "python_version": python,
        "python_full_version": f"{python}.0",
        "os_name": "posix",
    }
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or not requirement.marker.evaluate(environment):
            continue
        if not canonicalize_name(requirement.name).startswith("tensorflow"):
            continue
        pins = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
        if pins:
            return canonicalize_name(requirement.name), pins[0]
    return None


def tensorflow_packages(version: str) -> tuple[str, ...]:
    """Which PyPI names may hold TensorFlow ``version`` for macOS arm64, most likely
    first."""
    return tf_packages_for(version)


def releases_reader(repository: Repository) -> ReleasesOf:
    """``repository.releases``, asked once per package."""
    cache: dict[str, Releases] = {}

    def read(package: str) -> Releases:
        if package not in cache:
            cache[package] = repository.releases(package)
        return cache[package]

    return read
