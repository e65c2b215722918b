"""The PyPI client's on-disk HTTP cache: one answer per URL, with the validators (ETag,
Last-Modified) and the freshness (Cache-Control max-age) the server sent with it."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from envgen.atomic import atomic_write


@dataclass(frozen=True)
class CachedAnswer:
    """One cached answer: its body, validators, when it was fetched and how long it is
    fresh."""

    body: bytes
    etag: str | None
    last_modified: str | None
    fetched_at: float
    max_age: float | None


class HttpCache:
    """One directory of cached answers: ``<key>.json`` (headers, time) beside
    ``<key>.body``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]
        return self.directory / f"{key}.json", self.directory / f"{key}.body"

    def get(self, url: str) -> CachedAnswer | None:
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
        return CachedAnswer(
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
        # a cache that cannot be written (full disk, read-only home) costs speed, not
        # the answer
        try:
            atomic_write(body_path, body)
            atomic_write(meta_path, json.dumps(meta, indent=1) + "\n")
        except OSError:
            pass

    def touch(self, url: str, cached: CachedAnswer, max_age: float | None) -> None:
        """A 304 proved the cached body current: record the new check time."""
        self.put(
            url,
            cached.body,
            etag=cached.etag,
            last_modified=cached.last_modified,
            max_age=max_age,
        )


def header_max_age(headers: Message) -> float | None:
    """How long an answer is fresh by its Cache-Control header (0 for no-store and
    no-cache; None when the header says nothing)."""
    control = headers.get("Cache-Control") or ""
    if "no-store" in control or "no-cache" in control:
        return 0.0
    match = re.search(r"max-age=(\d+)", control)
    return float(match.group(1)) if match else None
