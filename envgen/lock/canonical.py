"""Canonical URLs for a lock made against mirrors, so a teammate installs from
conda-forge and PyPI.

``--channel URL`` is a mirror (or a file:// copy) of conda-forge: a record read from it
is the file conda-forge serves at
``https://conda.anaconda.org/conda-forge/<subdir>/<file>`` with the same sha256, so the
lock names that URL. ``--pypi-index URL`` may mirror PyPI: each pip file is looked up on
PyPI's own simple index and takes PyPI's files.pythonhosted.org URL when PyPI lists the
same file name with the same sha256; any disagreement fails the lock (the mirror is not
a mirror of PyPI, or serves another file). ``--keep-mirror-urls`` skips both, for teams
that install from their mirror.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from packaging.utils import canonicalize_name

CONDA_FORGE = "https://conda.anaconda.org/conda-forge"
PYPI_SIMPLE = "https://pypi.org/simple"
PYPI_FILES = "https://files.pythonhosted.org/"


def pypi_simple_url() -> str:
    """PyPI's simple index (``ENVGEN_PYPI_URL`` points envgen, and the tests, at a
    stand-in)."""
    base = os.environ.get("ENVGEN_PYPI_URL")
    return f"{base.rstrip('/')}/simple" if base else PYPI_SIMPLE


def is_pypi(index_url: str) -> bool:
    return index_url.rstrip("/") in (PYPI_SIMPLE, pypi_simple_url())


_URL_SCHEMES = ("http", "https", "file")


def url_problem(url: str) -> str:
    """Why ``url`` cannot name a conda channel or a simple index ("" when it can).

    envgen reads channels and indexes over http(s) or from a file:// copy; anything else
    (a bare word, ftp://, a URL with spaces) would fail later as "could not reach", or
    be taken for another option.
    """
    if not url or any(char.isspace() or not char.isprintable() for char in url):
        return "is not a URL (it is empty, or holds spaces or control characters)"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a well-formed URL"
    if parts.scheme not in _URL_SCHEMES:
        what = f"a {parts.scheme}:// URL" if parts.scheme else "not a URL"
        return f"is {what}: envgen reads http://, https:// and file:// URLs"
    if parts.scheme == "file" and (
        parts.netloc not in ("", "localhost") or not parts.path.startswith("/")
    ):
        return "is not a file:// URL of an absolute path (file:///path/to/copy)"
    if parts.scheme != "file" and not host:
        return "names no host"
    return ""


def normalized_url(url: str) -> str:
    """``url`` with its path's ``.`` and ``..`` segments resolved, as the solver reports
    it.

    ``--channel file://$PWD/../records/channel`` is read by rattler as
    ``file:///…/records/channel``: the record URLs it returns carry the resolved path.
    """
    parts = urlsplit(url)
    if not parts.scheme or not parts.path:
        return url
    path = posixpath.normpath(parts.path)
    if parts.path.endswith("/") and path != "/":
        path += "/"
    return urlunsplit(parts._replace(path=path))


def conda_url(url: str, channel: str | None) -> str:
    """A conda package URL read from ``channel`` as conda-forge's URL for the same
    file."""
    if not channel:
        return url
    prefix = normalized_url(channel).rstrip("/") + "/"
    url = normalized_url(url)
    return CONDA_FORGE + "/" + url[len(prefix) :] if url.startswith(prefix) else url


class NotOnPyPI(Exception):
    """A pip file from the mirror that PyPI does not serve as-is."""


@dataclass(frozen=True)
class PipFileLocation:
    name: str
    filename: str
    url: str
    sha256: str


def pypi_urls(files: list[PipFileLocation]) -> list[PipFileLocation]:
    """Each file with PyPI's URL for it (same name, same sha256); raises NotOnPyPI
    otherwise."""
    from envgen.lock.simple_index import many_project_files

    pending = [f for f in files if not f.url.startswith(PYPI_FILES)]
    listed = many_project_files(pypi_simple_url(), [f.name for f in pending])
    problems, found = [], {}
    for file in pending:
        match = next(
            (
                f
                for f in listed.get(canonicalize_name(file.name), [])
                if f.filename == file.filename
            ),
            None,
        )
        if match is None:
            problems.append(f"{file.filename} is not on PyPI")
        elif match.sha256 != file.sha256:
            problems.append(
                f"{file.filename} on PyPI has sha256 {match.sha256[:12]}…, the index's"
                f" {file.sha256[:12]}…"
            )
        else:
            found[file.filename] = match.url
    if problems:
        raise NotOnPyPI("; ".join(problems))
    return [replace(f, url=found.get(f.filename, f.url)) for f in files]


# ---- what a lock is made against -----------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """The channel and index a lock reads, and whether it keeps their URLs."""

    channel: str | None  # a mirror or copy of conda-forge; None: conda-forge itself
    index: str
    keep_mirror_urls: bool = False

    def metadata(self) -> dict[str, str]:
        """custom_metadata entries recording them (read back by
        :func:`choose_sources`)."""
        return {
            "envgen_channel": self.channel or "",
            "envgen_pypi_index": self.index,
            "envgen_urls": "mirror" if self.keep_mirror_urls else "canonical",
        }

    @property
    def mirrored(self) -> bool:
        return bool(self.channel) or not is_pypi(self.index)


def _channel(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.rstrip("/")
    if value in ("", "conda-forge", CONDA_FORGE):
        return None
    return normalized_url(value).rstrip("/")


def choose_sources(
    channel: str | None,
    index: str | None,
    keep_mirror_urls: bool | None,
    recorded: dict[str, str],
) -> Sources:
    """What to lock against: what was asked, else what the existing lock was made
    against.

    A project locked against a mirror stays locked against it until told otherwise
    (``--channel conda-forge``, ``--pypi-index https://pypi.org/simple``,
    ``--canonical-urls``).
    """
    if channel is None:
        channel = recorded.get("envgen_channel") or None
    if index is None:
        index = recorded.get("envgen_pypi_index") or PYPI_SIMPLE
    if keep_mirror_urls is None:
        keep_mirror_urls = recorded.get("envgen_urls") == "mirror"
    return Sources(_channel(channel), index.rstrip("/"), keep_mirror_urls)
