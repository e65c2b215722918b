"""Recorded PyPI answers, a local HTTP server that plays them back, and scenario edits.

The recorded answers live in tests/fixtures/pypi_client/ (made by its record.py from
live PyPI, trimmed). Scenarios — a new release, a yank, a missing wheel — are applied
here in code, on a copy, so every test shows exactly how its PyPI differs from the real
one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from envgen.catalog.lines import parse_catalog
from envgen.pypi.answers import parse_json_api
from envgen.pypi.models import Releases

RECORDED = Path(__file__).parent.parent / "fixtures" / "pypi_client"
PACKAGES = ("tensorflow-metal", "tensorflow-macos", "tensorflow")
RECORDED_AT = datetime(2026, 11, 22, tzinfo=timezone.utc)  # when record.py ran

# A test catalog (not envgen's shipped one, which another engineer curates): three lines
# whose pairs are Apple's published ones, so the tests do not move when the real catalog
# grows.
TEST_CATALOG_TEXT = """schema = 1

[[lines]]
tf = "2.6"
package = "tensorflow-macos"
version = "2.6.0"
metal = "0.2.0"
metal_range = ">=0.2.0,<0.3"
pythons = ["3.8", "3.9"]
min_macos = "12.0"
status = "verified"
[lines.conda]
numpy = ">=1.19.5,<1.20"
[lines.pip_caps]
keras = ">=2.6,<2.7"

[[lines]]
tf = "2.9"
package = "tensorflow-macos"
version = "2.9.0"
versions = ["2.9.0", "2.9.2"]
metal = "0.5.0"
metal_range = ">=0.5.0,<0.6"
pythons = ["3.8", "3.9", "3.10"]
min_macos = "12.0"
status = "verified"

[[lines]]
tf = "2.18"
package = "tensorflow"
version = "2.18.0"
metal = "1.2.0"
metal_range = ">=1.2.0,<1.3"
pythons = ["3.9", "3.10", "3.11", "3.12"]
min_macos = "12.0"
status = "verified"
"""


def make_test_catalog():
    return parse_catalog(TEST_CATALOG_TEXT)


def recorded(name: str) -> dict:
    """A fresh copy of the recorded JSON API answer for a package."""
    return json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))


def recorded_releases(
    names: Iterable[str] = PACKAGES, *, when: datetime = RECORDED_AT
) -> dict[str, Releases]:
    """The recorded answers of these packages, parsed as the PyPI client hands them out
    of its cache."""
    return {
        name: Releases(
            name,
            parse_json_api(name, (RECORDED / f"{name}.json").read_bytes()),
            "cache",
            when,
        )
        for name in names
    }


def recorded_simple(name: str) -> dict:
    return json.loads((RECORDED / f"simple-{name}.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------- scenario edits


def add_release(document: dict, new_version: str, *, like: str, uploaded: str) -> dict:
    """A release that PyPI does not have: the files of ``like`` renamed, uploaded at
    ``uploaded``."""
    files = []
    for item in copy.deepcopy(document["releases"][like]):
        item["filename"] = item["filename"].replace(f"-{like}-", f"-{new_version}-")
        item["url"] = item["url"].replace(f"-{like}-", f"-{new_version}-")
        item["upload_time_iso_8601"] = uploaded
        item["digests"]["sha256"] = hashlib.sha256(
            item["filename"].encode("utf-8")
        ).hexdigest()  # a stand-in
        files.append(item)
    document["releases"][new_version] = files
    return document


def yank(document: dict, version: str, reason: str) -> dict:
    for item in document["releases"][version]:
        item["yanked"] = True
        item["yanked_reason"] = reason
    return document


def drop_wheels(document: dict, version: str, fragment: str) -> dict:
    """Remove the files of a release whose name contains ``fragment`` (e.g.
    'cp39-cp39-macosx')."""
    document["releases"][version] = [
        f for f in document["releases"][version] if fragment not in f["filename"]
    ]
    return document


# --------------------------------------------------------------------------- the server


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


class FakePyPI:
    """A PyPI on 127.0.0.1 that plays back replies per path and records every
    request."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with fake._lock:
                    fake.requests.append((self.path, dict(self.headers)))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    replies = fake.routes.get(self.path)
                    if not replies:
                        reply = Reply(404, b'{"message": "Not Found"}')
                    else:
                        reply = replies.pop(0) if len(replies) > 1 else replies[0]
                    if reply.delay:
                        time.sleep(reply.delay)
                    etag = reply.headers.get("ETag")
                    if (
                        reply.status == 200
                        and etag
                        and self.headers.get("If-None-Match") == etag
                    ):
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    since = reply.headers.get("Last-Modified")
                    if (
                        reply.status == 200
                        and since
                        and not etag
                        and self.headers.get("If-Modified-Since") == since
                    ):
                        self.send_response(304)
                        self.end_headers()
                        return
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    try:
                        self.wfile.write(reply.body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up (a timeout test)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_json(
        self,
        name: str,
        document: dict | bytes,
        *,
        status: int = 200,
        headers: dict | None = None,
        delay: float = 0.0,
        then: list[Reply] | None = None,
    ) -> None:
        """Answer /pypi/NAME/json with a document (or raw bytes), optionally followed by
        more replies."""
        body = (
            document
            if isinstance(document, bytes)
            else json.dumps(document).encode("utf-8")
        )
        self.routes[f"/pypi/{name}/json"] = [
            Reply(status, body, headers or {}, delay),
            *(then or []),
        ]

    def serve_recorded(self, overrides: dict[str, dict] | None = None) -> None:
        """Every recorded package, with some answers replaced by edited documents."""
        for name in PACKAGES:
            self.serve_json(name, (overrides or {}).get(name) or recorded(name))

    def hits(self, name: str) -> int:
        return sum(1 for path, _ in self.requests if path == f"/pypi/{name}/json")

    def __enter__(self) -> FakePyPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
