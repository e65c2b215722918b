"""A small PyPI on 127.0.0.1 built from wheels the tests make: PEP 503 simple pages for
uv and pip, and the JSON API (``/pypi/NAME/json``) for envgen's own client, both
describing the same files.

The wheels are the lock fixtures' real-format ones (make_fixtures.make_wheel: METADATA,
WHEEL, RECORD) with the dependency metadata each test gives, so uv resolves them as it
would PyPI's.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name

from support.lock_fixtures import make_fixtures


@dataclass(frozen=True)
class Dist:
    name: str
    version: str
    requires: tuple[str, ...] = ()
    tag: str = "py3-none-any"  # e.g. "cp39-cp39-macosx_11_0_arm64"
    sdist: bool = False  # an sdist only (no wheel)
    uploaded: str = "2021-09-30T12:00:00"


def build(dist: Dist, directory: Path) -> Path:
    """Write the wheel (the lock fixtures' real-format one) or a minimal sdist for a
    Dist; returns its path."""
    if not dist.sdist:
        filename, data = make_fixtures.make_wheel(
            dist.name, dist.version, dist.tag, list(dist.requires)
        )
        path = directory / filename
        path.write_bytes(data)
        return path
    root = f"{canonicalize_name(dist.name).replace('-', '_')}-{dist.version}"
    path = directory / f"{root}.tar.gz"
    metadata = (
        f"Metadata-Version: 2.1\nName: {dist.name}\nVersion: {dist.version}\n".encode()
    )
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(f"{root}/PKG-INFO")
        info.size = len(metadata)
        archive.addfile(info, io.BytesIO(metadata))
    return path


class LocalPyPI:
    """Serve a set of Dists; use as a context manager. ``url`` is the base
    (``/simple/``, ``/pypi/``)."""

    def __init__(self, dists: list[Dist], directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.files: dict[
            str, list[tuple[Dist, str, str, bytes]]
        ] = {}  # name -> (dist, file name, sha256, bytes)
        for dist in dists:
            path = build(dist, directory)
            data = path.read_bytes()
            self.files.setdefault(canonicalize_name(dist.name), []).append(
                (dist, path.name, hashlib.sha256(data).hexdigest(), data)
            )
        self.requests: list[str] = []
        local = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._reply(with_body=True)

            def do_HEAD(self):
                self._reply(with_body=False)

            def _reply(self, *, with_body: bool) -> None:
                local.requests.append(self.path)
                status, body, kind = local._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, *args):
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

    def sha256(self, filename: str) -> str:
        return next(
            digest
            for entries in self.files.values()
            for _, name, digest, _ in entries
            if name == filename
        )

    def _answer(self, path: str) -> tuple[int, bytes, str]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            entries = self.files.get(canonicalize_name(parts[1]))
            if entries is None:
                return 404, b"not found", "text/plain"
            links = "".join(
                f'<a href="/files/{html.escape(name)}#sha256={digest}">{html.escape(name)}</a><br>\n'
                for _, name, digest, _ in entries
            )
            return (
                200,
                f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(),
                "text/html",
            )
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            entries = self.files.get(canonicalize_name(parts[1]))
            if entries is None:
                return 404, b'{"message": "Not Found"}', "application/json"
            releases: dict[str, list[dict]] = {}
            for dist, name, digest, data in entries:
                releases.setdefault(dist.version, []).append(
                    {
                        "filename": name,
                        "url": f"{self.url}/files/{name}",
                        "digests": {"sha256": digest},
                        "size": len(data),
                        "packagetype": "sdist" if dist.sdist else "bdist_wheel",
                        "requires_python": None,
                        "upload_time_iso_8601": dist.uploaded + ".000000Z",
                        "yanked": False,
                        "yanked_reason": None,
                    }
                )
            document = {"info": {"name": parts[1]}, "releases": releases}
            return 200, json.dumps(document).encode(), "application/json"
        if len(parts) == 2 and parts[0] == "files":
            for entries in self.files.values():
                for _, name, _, data in entries:
                    if name == parts[1]:
                        return 200, data, "application/octet-stream"
        return 404, b"not found", "text/plain"

    def __enter__(self) -> LocalPyPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
