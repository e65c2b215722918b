"""The files a PEP 503 / PEP 691 simple index lists for a project: file name, URL and
sha256.

The lock's pip side reads the index uv resolved against (to give each pin its URL) and,
for a mirror, PyPI itself (to give each pin its canonical files.pythonhosted.org URL).
JSON (PEP 691) is asked for first; an index that answers HTML (PEP 503) is read from its
anchors.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

from packaging.utils import canonicalize_name

ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
TIMEOUT = 30.0


class IndexUnreachable(Exception):
    """The index did not answer (network error, timeout, 5xx)."""


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: str
    yanked: bool = False


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, bool]] = []  # (href, text, yanked)
        self._href: str | None = None
        self._yanked = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            values = dict(attrs)
            self._href = values.get("href") or ""
            self._yanked = "data-yanked" in values
            self._text = []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.found.append((self._href, "".join(self._text).strip(), self._yanked))
            self._href = None


def _from_json(document: dict, page_url: str) -> list[IndexFile]:
    files = []
    for entry in document.get("files") or []:
        sha256 = (entry.get("hashes") or {}).get("sha256") or ""
        url = urljoin(page_url, entry.get("url") or "")
        files.append(
            IndexFile(
                entry.get("filename") or url.rsplit("/", 1)[-1],
                urldefrag(url)[0],
                sha256,
                bool(entry.get("yanked")),
            )
        )
    return files


def _from_html(text: str, page_url: str) -> list[IndexFile]:
    parser = _Anchors()
    parser.feed(text)
    files = []
    for href, label, yanked in parser.found:
        url, fragment = urldefrag(urljoin(page_url, href))
        match = re.search(r"sha256=([0-9a-fA-F]{64})", fragment)
        files.append(
            IndexFile(
                label or url.rsplit("/", 1)[-1],
                url,
                match.group(1).lower() if match else "",
                yanked,
            )
        )
    return files


def project_files(index_url: str, name: str) -> list[IndexFile]:
    """Every file the index lists for ``name`` ([] when the index does not know the
    project)."""
    page = f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"
    request = urllib.request.Request(
        page, headers={"Accept": ACCEPT, "User-Agent": "envgen"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            kind = answer.headers.get("Content-Type", "")
            body = answer.read()
            final = answer.geturl()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise IndexUnreachable(f"{page} answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise IndexUnreachable(f"{page}: {reason}") from None
    if "json" in kind:
        return _from_json(json.loads(body), final)
    return _from_html(body.decode("utf-8", errors="replace"), final)


def many_project_files(
    index_url: str, names: list[str], workers: int = 16
) -> dict[str, list[IndexFile]]:
    """``project_files`` for several projects at once, by canonical name."""
    unique = sorted({canonicalize_name(n) for n in names})
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=min(workers, len(unique))) as pool:
        answers = list(pool.map(lambda n: project_files(index_url, n), unique))
    return dict(zip(unique, answers, strict=True))
