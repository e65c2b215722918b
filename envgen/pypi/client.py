"""A small PyPI client: release facts (upload time, yanked, wheel tags, sha256) behind
one interface.

The rest of envgen asks a ``Repository`` for ``releases(name)`` and never touches the
network; ``PyPIClient`` is the real one (JSON API ``/pypi/NAME/json`` or the PEP 691
simple API), with an on-disk HTTP cache (``pypi.cache``) that revalidates with
ETag/Last-Modified, timeouts, retries with backoff on 5xx and connection errors, and a
fall-back to the cached answer (with its age) when PyPI is down. The per-version
endpoint ``/pypi/NAME/VERSION/json`` is never used (it 404s on some mirrors). The
answers are read by ``pypi.answers`` into the release facts of ``pypi.models``.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Protocol

from packaging.utils import canonicalize_name

from envgen import __version__
from envgen.errors import EnvironmentProblem
from envgen.names import cache_dir
from envgen.pypi.answers import MalformedAnswer, parse_json_api, parse_simple_api
from envgen.pypi.cache import CachedAnswer, HttpCache, header_max_age
from envgen.pypi.models import Releases, describe_age

DEFAULT_BASE_URL = "https://pypi.org"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
# PyPI (and the mirror this project is developed behind) often send no Cache-Control;
# answers younger than this are reused without asking, so a repeated
# `envgen update --check` is instant.
DEFAULT_MAX_AGE = 600.0


class PyPIError(EnvironmentProblem):
    """PyPI could not answer usefully: unreachable without a cache, unknown package,
    malformed answer."""


class Repository(Protocol):
    """Where release facts come from: PyPI, or recorded answers in tests."""

    def releases(self, name: str) -> Releases:
        """All releases of a package (raises PyPIError when it cannot answer)."""
        ...


@dataclass
class PyPIClient:
    """The real Repository: PyPI's JSON API (default) or PEP 691 simple API, cached on
    disk.

    ``offline`` answers only from the cache. ``refresh`` always asks PyPI (conditionally
    when cached). Otherwise a cached answer younger than its max-age (the server's
    Cache-Control, or ``max_age`` seconds) is used without asking.
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
    _sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

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
            warning = (
                f"PyPI did not answer for {name} ({failure}); using the answer cached"
                f" {age} ago"
            )
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
            self.cache.touch(url, cached, header_max_age(headers))
            return self._answer(
                name, url, cached.body, "revalidated", time.time(), cached=True
            )
        # raises before caching junk
        answer = self._answer(name, url, body, "network", time.time(), cached=False)
        self.cache.put(
            url,
            body,
            etag=headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
            max_age=header_max_age(headers),
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
        except MalformedAnswer as error:
            where = "the cached answer" if cached else "PyPI's answer"
            raise PyPIError(
                f"{where} for {name} from {url} is malformed: {error}",
                "retry later, or point ENVGEN_PYPI_URL at a working index; nothing was"
                " changed",
            ) from None
        return Releases(
            canonicalize_name(name),
            releases,
            source,
            datetime.fromtimestamp(fetched_at, timezone.utc),
            warnings,
        )

    def _fetch(
        self, url: str, cached: CachedAnswer | None
    ) -> tuple[int, bytes, Message]:
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
                self._sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(url, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read(), response.headers
            except urllib.error.HTTPError as error:
                if error.code == 304:
                    return 304, b"", error.headers
                if error.code == 404:
                    project = url.rstrip("/").split("/")[
                        -2 if self.api == "json" else -1
                    ]
                    raise PyPIError(
                        f"PyPI has no project {project!r} ({url})",
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
    """Ask the repository for several packages at once (threads); the first error is
    raised."""
    wanted = list(dict.fromkeys(names))
    if len(wanted) <= 1:
        return {name: repository.releases(name) for name in wanted}
    with ThreadPoolExecutor(max_workers=min(workers, len(wanted))) as pool:
        futures = {name: pool.submit(repository.releases, name) for name in wanted}
        return {name: future.result() for name, future in futures.items()}
