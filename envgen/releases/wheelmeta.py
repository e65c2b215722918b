"""Read a remote wheel's Requires-Dist with HTTP range requests: the end of the zip, its
central directory, then the one METADATA member, so a catalog draft costs kilobytes,
not the 250 MB TensorFlow wheel.
"""

from __future__ import annotations

import struct
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable

from envgen.errors import EnvironmentProblem
from envgen.pypi.models import DistFile

# (wheel, package) -> its Requires-Dist lines.
RequiresReader = Callable[[DistFile, str], list[str]]


def _range(url: str, first: int, last: int | None = None, timeout: float = 60) -> bytes:
    wanted = (
        f"bytes={first}"
        if first < 0
        else f"bytes={first}-{'' if last is None else last}"
    )
    request = urllib.request.Request(
        url, headers={"Range": wanted, "User-Agent": "envgen"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
        if (
            response.status == 200 and first < 0
        ):  # the server ignored the range: the whole file
            return body[first:]
        if response.status == 200:
            return body[first : None if last is None else last + 1]
        return body


def wheel_metadata(url: str) -> str:
    """The ``*.dist-info/METADATA`` text of a remote wheel, read with three range
    requests."""
    tail = _range(url, -65536)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0:
        raise EnvironmentProblem(
            f"{url} does not end like a zip file", "check the index URL"
        )
    size, offset = struct.unpack("<II", tail[end + 12 : end + 20])
    directory = _range(url, offset, offset + size - 1)
    at = 0
    while at + 46 <= len(directory) and directory[at : at + 4] == b"PK\x01\x02":
        method, _, _, compressed = struct.unpack("<HIII", directory[at + 10 : at + 24])
        name_len, extra_len, comment_len = struct.unpack(
            "<HHH", directory[at + 28 : at + 34]
        )
        local = struct.unpack("<I", directory[at + 42 : at + 46])[0]
        name = directory[at + 46 : at + 46 + name_len].decode("utf-8", "replace")
        at += 46 + name_len + extra_len + comment_len
        if not (name.endswith(".dist-info/METADATA") and name.count("/") == 1):
            continue
        header = _range(url, local, local + 29)
        skip = 30 + sum(struct.unpack("<HH", header[26:30]))
        data = _range(url, local + skip, local + skip + compressed - 1)
        raw = zlib.decompress(data, -15) if method == 8 else data
        return raw.decode("utf-8", "replace")
    raise EnvironmentProblem(f"{url} holds no .dist-info/METADATA", "is this a wheel?")


def wheel_requires(dist: DistFile, base_url: str) -> list[str]:
    """Requires-Dist of a remote wheel (its URL may be relative to the index page
    ``base_url``)."""
    url = urllib.parse.urljoin(base_url, dist.url)
    try:
        text = wheel_metadata(url)
    except (OSError, ValueError, zlib.error, struct.error) as error:
        raise EnvironmentProblem(
            f"could not read the metadata of {dist.filename} from {url}: {error}",
            "check the network or the index",
        ) from None
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]
