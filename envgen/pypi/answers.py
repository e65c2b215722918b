"""PyPI's answers read into release facts: the JSON API (``/pypi/NAME/json``) and the
PEP 691 JSON simple API (``/simple/NAME/``).

Both parsers raise ``MalformedAnswer`` (a ValueError) when a document is not the shape
its API promises; files envgen cannot install (eggs, installers) and versions that are
not PEP 440 are left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TypeVar

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envgen.pypi.models import DistFile, Release
from envgen.pypi.tags import parse_wheel_tags

_T = TypeVar("_T")


class MalformedAnswer(ValueError):
    """A PyPI answer that is not the shape its API promises."""


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
    reason = yanked_reason if isinstance(yanked_reason, str) else ""
    return DistFile(
        filename=filename,
        kind=kind,
        url=url,
        sha256=sha256,
        size=size if isinstance(size, int) else None,
        requires_python=(
            requires_python
            if isinstance(requires_python, str) and requires_python.strip()
            else None
        ),
        upload_time=_time(upload_time),
        yanked=bool(yanked),
        yanked_reason=reason or (yanked if isinstance(yanked, str) else ""),
        tags=tags,
    )


def _group(name: str, by_version: Mapping[str, list[DistFile]]) -> tuple[Release, ...]:
    releases = []
    for version, files in by_version.items():
        try:
            Version(version)
        except InvalidVersion:
            continue  # ancient non-PEP 440 versions ("1.3.0.dev-r634") cannot be pinned
        releases.append(
            Release(version, tuple(sorted(files, key=lambda f: f.filename)))
        )
    return tuple(sorted(releases, key=lambda r: r.parsed))


def _need(value: object, kind: type[_T], where: str) -> _T:
    if not isinstance(value, kind):
        raise MalformedAnswer(f"{where} is not a {kind.__name__}")
    return value


def _document(body: bytes) -> dict:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MalformedAnswer(f"not JSON ({error})") from None
    return _need(document, dict, "the answer")


def parse_json_api(name: str, body: bytes) -> tuple[Release, ...]:
    """Releases from a ``/pypi/NAME/json`` answer; raises ValueError when it is not that
    shape."""
    document = _document(body)
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
    document = _document(body)
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
