"""A small PyPI client: release facts (upload time, yanked, wheel tags, sha256) behind one interface.

The rest of envgen asks a ``Repository`` for ``releases(name)`` and never touches the network;
``PyPIClient`` is the real one (JSON API ``/pypi/NAME/json`` or the PEP 691 simple API), with an
on-disk HTTP cache that revalidates with ETag/Last-Modified, timeouts, retries with backoff on
5xx and connection errors, and a fall-back to the cached answer (with its age) when PyPI is
down. The per-version endpoint ``/pypi/NAME/VERSION/json`` is never used (it 404s on some mirrors).
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envgen import __version__
from envgen.atomic import atomic_write
from envgen.errors import EnvironmentProblem
from envgen.names import cache_dir

DEFAULT_BASE_URL = "https://pypi.org"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
# PyPI (and the mirror this project is developed behind) often send no Cache-Control; answers
# younger than this are reused without asking, so a repeated `envgen update --check` is instant.
DEFAULT_MAX_AGE = 600.0
_MACOS_TAG = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
_CP_TAG = re.compile(
    r"^(?:cp|py)(\d)(\d+)$"
)  # cp39, py39 (py3 alone means any Python 3)
_ARM64_ARCHES = ("arm64", "universal2")
_X86_64_ARCHES = ("x86_64", "intel", "universal", "universal2", "fat64", "fat3")


class PyPIError(EnvironmentProblem):
    """PyPI could not answer usefully: unreachable without a cache, unknown package, malformed answer."""


# ----------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class WheelTags:
    """What a wheel's file name says about where it installs."""

    pythons: tuple[
        str, ...
    ]  # "3.9" for cp39/py39; empty when py3/py2.py3 (any Python 3)
    abi3: bool  # cp39-abi3: 3.9 and every later Python
    any_python: bool  # py3-none / py2.py3-none
    macos_min: str | None  # "11.0" from macosx_11_0_arm64 (lowest over the file's tags)
    arches: tuple[str, ...]  # macOS arches: arm64, x86_64, universal2...
    manylinux: tuple[
        str, ...
    ]  # linux arches from manylinux/musllinux tags: x86_64, aarch64
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


@dataclass(frozen=True)
class DistFile:
    """One file of a release (a wheel or an sdist)."""

    filename: str
    kind: str  # "wheel" | "sdist"
    url: str
    sha256: str
    size: int | None
    requires_python: str | None
    upload_time: datetime | None
    yanked: bool
    yanked_reason: str
    tags: WheelTags | None  # None for an sdist

    def supports_python(self, python: str) -> bool:
        """Whether this file installs on Python ``major.minor``."""
        if self.requires_python:
            try:
                # a conda env's "python 3.9.*" is the newest 3.9 patch: "!=3.9.0,!=3.9.1" still admits it
                if Version(f"{python}.99") not in SpecifierSet(self.requires_python):
                    return False
            except (InvalidSpecifier, InvalidVersion):
                pass  # a malformed Requires-Python is ignored by pip too
        if self.tags is None:
            return True
        if self.tags.any_python:
            return True
        if self.tags.abi3:
            return Version(python) >= Version(self.tags.pythons[0])
        return python in self.tags.pythons

    def supports_platform(self, platform: str, macos: str | None = None) -> bool:
        """Whether this file installs on a conda platform name (osx-arm64, osx-64, linux-64).

        With ``macos``, a macOS wheel must also not need a newer macOS than that.
        """
        if self.tags is None or self.tags.platform_any:
            return True
        if platform in ("osx-arm64", "osx-64"):
            wanted = _ARM64_ARCHES if platform == "osx-arm64" else _X86_64_ARCHES
            if not any(arch in wanted for arch in self.tags.arches):
                return False
            return not (
                macos
                and self.tags.macos_min
                and Version(self.tags.macos_min) > Version(macos)
            )
        if platform == "linux-64":
            return "x86_64" in self.tags.manylinux
        return False

    def installs_on(self, python: str, platform: str, macos: str | None = None) -> bool:
        """A wheel that pip would pick for this Python and platform (sdists never count)."""
        return (
            self.kind == "wheel"
            and self.supports_python(python)
            and self.supports_platform(platform, macos)
        )


@dataclass(frozen=True)
class Release:
    """One version of a package with its files."""

    version: str
    files: tuple[DistFile, ...]

    @property
    def parsed(self) -> Version:
        return Version(self.version)

    @property
    def upload_time(self) -> datetime | None:
        """When the first file of the release was uploaded."""
        times = [f.upload_time for f in self.files if f.upload_time is not None]
        return min(times) if times else None

    @property
    def yanked(self) -> bool:
        """A release is yanked when every one of its files is."""
        return bool(self.files) and all(f.yanked for f in self.files)

    @property
    def yanked_reason(self) -> str:
        return next(
            (f.yanked_reason for f in self.files if f.yanked and f.yanked_reason), ""
        )

    @property
    def is_prerelease(self) -> bool:
        return self.parsed.is_prerelease

    def wheels_for(
        self,
        python: str,
        platform: str,
        macos: str | None = None,
        *,
        include_yanked: bool = False,
    ) -> tuple[DistFile, ...]:
        """The wheels of this release that install on the given Python and platform."""
        return tuple(
            f
            for f in self.files
            if f.installs_on(python, platform, macos)
            and (include_yanked or not f.yanked)
        )

    def pythons_for(self, platform: str, candidates: Iterable[str]) -> tuple[str, ...]:
        """Which of the candidate Pythons have a wheel for this platform."""
        return tuple(p for p in candidates if self.wheels_for(p, platform))


@dataclass(frozen=True)
class Releases:
    """Everything PyPI knows about one package, and how fresh the answer is."""

    name: str
    releases: tuple[Release, ...]  # oldest first (PEP 440 order)
    source: str  # "network" (fresh answer), "revalidated" (304), "cache" (not asked), "stale-cache" (PyPI failed)
    fetched_at: datetime
    warnings: tuple[str, ...] = ()

    def get(self, version: str) -> Release | None:
        """The release with exactly this version (PEP 440 equality), if PyPI has it."""
        try:
            wanted = Version(version)
        except InvalidVersion:
            return None
        return next((r for r in self.releases if r.parsed == wanted), None)

    @property
    def age_seconds(self) -> float:
        return max(0.0, (datetime.now(timezone.utc) - self.fetched_at).total_seconds())

    def usable(
        self, *, pre: bool = False, include_yanked: bool = False
    ) -> tuple[Release, ...]:
        """Releases with at least one file, without yanked and pre-releases unless asked for."""
        return tuple(
            r
            for r in self.releases
            if r.files
            and (include_yanked or not r.yanked)
            and (pre or not r.is_prerelease)
        )


class Repository(Protocol):
    """Where release facts come from: PyPI, or recorded answers in tests."""

    def releases(self, name: str) -> Releases:
        """All releases of a package (raises PyPIError when it cannot answer)."""
        ...


def describe_age(seconds: float) -> str:
    """'12 s', '5 min', '3 h', '2 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


# ---------------------------------------------------------------------------------------- parsing


def parse_wheel_tags(filename: str) -> WheelTags:
    """Read Python versions, abi3, macOS minimum and architectures from a wheel file name."""
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


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _dist_file(
    filename: str,
    *,
    url: str,
    sha256: str,
    size: object,
    requires_python: object,
    upload_time: object,
    yanked: object,
    yanked_reason: object,
) -> DistFile | None:
    if filename.endswith(".whl"):
        try:
            tags = parse_wheel_tags(filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None
        kind = "wheel"
    elif filename.endswith((".tar.gz", ".zip", ".tar.bz2", ".tgz")):
        tags, kind = None, "sdist"
    else:  # eggs, .exe installers: nothing envgen can install
        return None
    return DistFile(
        filename=filename,
        kind=kind,
        url=url,
        sha256=sha256,
        size=size if isinstance(size, int) else None,
        requires_python=requires_python
        if isinstance(requires_python, str) and requires_python.strip()
        else None,
        upload_time=_time(upload_time),
        yanked=bool(yanked),
        yanked_reason=(yanked_reason or (yanked if isinstance(yanked, str) else ""))
        or "",
        tags=tags,
    )


def _group(name: str, by_version: Mapping[str, list[DistFile]]) -> tuple[Release, ...]:
    releases = []
    for version, files in by_version.items():
        try:
            Version(version)
        except InvalidVersion:
            continue  # ancient non-PEP 440 versions ("1.3.0.dev-r634") cannot be pinned anyway
        releases.append(
            Release(version, tuple(sorted(files, key=lambda f: f.filename)))
        )
    return tuple(sorted(releases, key=lambda r: r.parsed))


class _Malformed(ValueError):
    pass


def _need(value: object, kind: type, where: str):
    if not isinstance(value, kind):
        raise _Malformed(f"{where} is not a {kind.__name__}")
    return value


def parse_json_api(name: str, body: bytes) -> tuple[Release, ...]:
    """Releases from a ``/pypi/NAME/json`` answer; raises ValueError when it is not that shape."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _Malformed(f"not JSON ({error})") from None
    _need(document, dict, "the answer")
    raw_releases = _need(document.get("releases"), dict, "'releases'")
    by_version: dict[str, list[DistFile]] = {}
    for version, files in raw_releases.items():
        _need(files, list, f"releases[{version!r}]")
        parsed = by_version.setdefault(version, [])
        for item in files:
            _need(item, dict, f"a file of {version}")
            digests = _need(
                item.get("digests"), dict, f"digests of a file of {version}"
            )
            dist = _dist_file(
                _need(item.get("filename"), str, f"filename in {version}"),
                url=str(item.get("url", "")),
                sha256=_need(digests.get("sha256"), str, f"sha256 in {version}"),
                size=item.get("size"),
                requires_python=item.get("requires_python"),
                upload_time=item.get("upload_time_iso_8601") or item.get("upload_time"),
                yanked=item.get("yanked", False),
                yanked_reason=item.get("yanked_reason"),
            )
            if dist is not None:
                parsed.append(dist)
    return _group(name, by_version)


def parse_simple_api(name: str, body: bytes) -> tuple[Release, ...]:
    """Releases from a PEP 691 JSON simple page (versions read from the file names)."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _Malformed(f"not JSON ({error})") from None
    _need(document, dict, "the answer")
    files = _need(document.get("files"), list, "'files'")
    by_version: dict[str, list[DistFile]] = {}
    canonical: dict[str, str] = {}  # normalised version -> the spelling PyPI lists
    for listed in document.get("versions", []):
        if isinstance(listed, str):
            by_version.setdefault(listed, [])
            canonical.setdefault(_normal(listed), listed)
    for item in files:
        _need(item, dict, "a file entry")
        filename = _need(item.get("filename"), str, "a file name")
        try:
            if filename.endswith(".whl"):
                version = str(parse_wheel_filename(filename)[1])
            else:
                version = str(parse_sdist_filename(filename)[1])
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        hashes = _need(item.get("hashes"), dict, f"hashes of {filename}")
        if "sha256" not in hashes:
            continue
        yanked = item.get("yanked", False)
        dist = _dist_file(
            filename,
            url=str(item.get("url", "")),
            sha256=str(hashes["sha256"]),
            size=item.get("size"),
            requires_python=item.get("requires-python"),
            upload_time=item.get("upload-time"),
            yanked=yanked,
            yanked_reason=yanked if isinstance(yanked, str) else "",
        )
        if dist is not None:
            key = canonical.setdefault(_normal(version), version)
            by_version.setdefault(key, []).append(dist)
    return _group(name, by_version)


def _normal(version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


# ------------------------------------------------------------------------------------ HTTP cache


@dataclass(frozen=True)
class _Cached:
    body: bytes
    etag: str | None
    last_modified: str | None
    fetched_at: float
    max_age: float | None


class HttpCache:
    """One directory of cached answers: ``<key>.json`` (headers, time) beside ``<key>.body``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]
        return self.directory / f"{key}.json", self.directory / f"{key}.body"

    def get(self, url: str) -> _Cached | None:
        meta_path, body_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if (
            not isinstance(meta, dict)
            or meta.get("url") != url
            or meta.get("sha256") != hashlib.sha256(body).hexdigest()
        ):
            return None  # torn or foreign entry: as good as none
        try:
            fetched_at = float(meta["fetched_at"])
            max_age = None if meta.get("max_age") is None else float(meta["max_age"])
        except (KeyError, TypeError, ValueError):
            return None  # a damaged record: as good as none
        etag, modified = meta.get("etag"), meta.get("last_modified")
        return _Cached(
            body,
            etag if isinstance(etag, str) else None,
            modified if isinstance(modified, str) else None,
            fetched_at,
            max_age,
        )

    def put(
        self,
        url: str,
        body: bytes,
        *,
        etag: str | None,
        last_modified: str | None,
        max_age: float | None,
        fetched_at: float | None = None,
    ) -> None:
        meta_path, body_path = self._paths(url)
        meta = {
            "url": url,
            "sha256": hashlib.sha256(body).hexdigest(),
            "etag": etag,
            "last_modified": last_modified,
            "max_age": max_age,
            "fetched_at": time.time() if fetched_at is None else fetched_at,
        }
        try:  # a cache that cannot be written (full disk, read-only home) costs speed, not the answer
            atomic_write(body_path, body)
            atomic_write(meta_path, json.dumps(meta, indent=1) + "\n")
        except OSError:
            pass

    def touch(self, url: str, cached: _Cached, max_age: float | None) -> None:
        """A 304 proved the cached body current: record the new check time."""
        self.put(
            url,
            cached.body,
            etag=cached.etag,
            last_modified=cached.last_modified,
            max_age=max_age,
        )


def _max_age(headers: Mapping[str, str]) -> float | None:
    control = headers.get("Cache-Control") or ""
    if "no-store" in control or "no-cache" in control:
        return 0.0
    match = re.search(r"max-age=(\d+)", control)
    return float(match.group(1)) if match else None


# ----------------------------------------------------------------------------------- the client


@dataclass
class PyPIClient:
    """The real Repository: PyPI's JSON API (default) or PEP 691 simple API, cached on disk.

    ``offline`` answers only from the cache. ``refresh`` always asks PyPI (conditionally when
    cached). Otherwise a cached answer younger than its max-age (the server's Cache-Control, or
    ``max_age`` seconds) is used without asking.
    """

    base_url: str = ""
    api: str = "json"
    cache_dir: Path | None = None
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    offline: bool = False
    refresh: bool = False
    max_age: float = DEFAULT_MAX_AGE
    _sleep: object = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        self.base_url = (
            self.base_url or os.environ.get("ENVGEN_PYPI_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        if self.api not in ("json", "simple"):
            raise ValueError(f"api must be 'json' or 'simple', not {self.api!r}")
        self.cache = HttpCache(
            (Path(self.cache_dir) if self.cache_dir else cache_dir()) / "http"
        )

    def url_for(self, name: str) -> str:
        project = canonicalize_name(name)
        if self.api == "json":
            return f"{self.base_url}/pypi/{project}/json"
        return f"{self.base_url}/simple/{project}/"

    def releases(self, name: str) -> Releases:
        url = self.url_for(name)
        cached = self.cache.get(url)
        if self.offline:
            if cached is None:
                raise PyPIError(
                    f"offline and no cached PyPI answer for {name}",
                    "run once with network access (without --offline)",
                )
            return self._answer(
                name, url, cached.body, "cache", cached.fetched_at, cached=True
            )
        if cached is not None and not self.refresh:
            fresh_for = cached.max_age if cached.max_age is not None else self.max_age
            if time.time() - cached.fetched_at < fresh_for:
                return self._answer(
                    name, url, cached.body, "cache", cached.fetched_at, cached=True
                )
        try:
            status, body, headers = self._fetch(url, cached)
        except _Unreachable as failure:
            if cached is None:
                raise PyPIError(
                    f"PyPI did not answer for {name} ({failure}) and nothing is cached",
                    "check the network (or ENVGEN_PYPI_URL) and retry",
                ) from None
            age = describe_age(time.time() - cached.fetched_at)
            warning = f"PyPI did not answer for {name} ({failure}); using the answer cached {age} ago"
            return self._answer(
                name,
                url,
                cached.body,
                "stale-cache",
                cached.fetched_at,
                cached=True,
                warnings=(warning,),
            )
        if status == 304 and cached is not None:
            self.cache.touch(url, cached, _max_age(headers))
            return self._answer(
                name, url, cached.body, "revalidated", time.time(), cached=True
            )
        answer = self._answer(
            name, url, body, "network", time.time(), cached=False
        )  # raises before caching junk
        self.cache.put(
            url,
            body,
            etag=headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
            max_age=_max_age(headers),
        )
        return answer

    def _answer(
        self,
        name: str,
        url: str,
        body: bytes,
        source: str,
        fetched_at: float,
        *,
        cached: bool,
        warnings: tuple[str, ...] = (),
    ) -> Releases:
        parse = parse_json_api if self.api == "json" else parse_simple_api
        try:
            releases = parse(name, body)
        except _Malformed as error:
            where = "the cached answer" if cached else "PyPI's answer"
            raise PyPIError(
                f"{where} for {name} from {url} is malformed: {error}",
                "retry later, or point ENVGEN_PYPI_URL at a working index; nothing was changed",
            ) from None
        return Releases(
            canonicalize_name(name),
            releases,
            source,
            datetime.fromtimestamp(fetched_at, timezone.utc),
            warnings,
        )

    def _fetch(
        self, url: str, cached: _Cached | None
    ) -> tuple[int, bytes, Mapping[str, str]]:
        headers = {
            "Accept": SIMPLE_JSON if self.api == "simple" else "application/json",
            "User-Agent": f"envgen/{__version__}",
        }
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        last_failure = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))  # type: ignore[operator]
            request = urllib.request.Request(url, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read(), response.headers
            except urllib.error.HTTPError as error:
                if error.code == 304:
                    return 304, b"", error.headers
                if error.code == 404:
                    raise PyPIError(
                        f"PyPI has no project {url.rstrip('/').split('/')[-2 if self.api == 'json' else -1]!r} ({url})",
                        "check the package name",
                    ) from None
                if 500 <= error.code < 600 or error.code == 429:
                    last_failure = f"HTTP {error.code}"
                    continue
                raise PyPIError(
                    f"PyPI answered HTTP {error.code} for {url}",
                    "check ENVGEN_PYPI_URL and retry",
                ) from None
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                http.client.HTTPException,
                OSError,
            ) as error:
                reason = getattr(error, "reason", error)
                last_failure = (
                    "timed out"
                    if isinstance(reason, (TimeoutError, socket.timeout))
                    else f"{type(reason).__name__}: {reason}"
                )
                continue
        raise _Unreachable(f"{last_failure} after {self.retries + 1} tries")


class _Unreachable(Exception):
    pass


def fetch_all(
    repository: Repository, names: Iterable[str], *, workers: int = 4
) -> dict[str, Releases]:
    """Ask the repository for several packages at once (threads); the first error is raised."""
    wanted = list(dict.fromkeys(names))
    if len(wanted) <= 1:
        return {name: repository.releases(name) for name in wanted}
    with ThreadPoolExecutor(max_workers=min(workers, len(wanted))) as pool:
        futures = {name: pool.submit(repository.releases, name) for name in wanted}
        return {name: future.result() for name, future in futures.items()}


def last_modified_header(when: datetime) -> str:
    """An HTTP date (for tests and recorded answers)."""
    return email.utils.format_datetime(when.astimezone(timezone.utc), usegmt=True)
