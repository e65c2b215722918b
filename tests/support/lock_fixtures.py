"""Offline lock fixtures: the local conda channel, a PyPI simple index served on
loopback, projects.

The channel is tests/fixtures/lock/channel (committed); the pip index is written by
tests/fixtures/lock/make_fixtures.py for the pins the test projects use, and served by a
thread in the test process (conda-lock's pip solver reads indexes over HTTP only).
"""

from __future__ import annotations

import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lock"
CHANNEL = FIXTURES / "channel"
CHANNEL_URL = f"file://{CHANNEL}"
sys.path.insert(0, str(FIXTURES))

import make_fixtures  # noqa: E402


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.requests += 1
        if self.server.delay:
            time.sleep(self.server.delay)
        super().do_GET()


class PipIndex:
    """A PEP 503 index on 127.0.0.1; ``delay`` slows every answer (to interrupt a lock
    mid-solve)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(_Handler, directory=str(root))
        )
        self.server.delay = 0.0
        self.server.requests = 0
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    @property
    def requests(self) -> int:
        return self.server.requests

    def set_delay(self, seconds: float) -> None:
        self.server.delay = seconds

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_index(root: Path) -> Path:
    """The fixture index for the tests' projects (the 2.6 line's plain pins and its caps
    case)."""
    return make_fixtures.write_pypi(root, make_fixtures.plain_pins("2.6", "3.9"))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PYPI_FILES = "https://files.pythonhosted.org/packages"


def write_pypi_stand_in(root: Path, index_root: Path) -> Path:
    """PyPI as envgen's URL check sees it, for locks made against the fixture index (a
    "mirror").

    The fixture index's simple pages, each file linked at a files.pythonhosted.org URL
    (same file name, same sha256). The URL's path is made from the sha256 here (PyPI's
    own uses a blake2b digest): the lock only copies it, nothing downloads it. Serve
    ``root`` with PipIndex and point ``ENVGEN_PYPI_URL`` at its base (``url`` without
    ``/simple``).
    """
    import re

    for page in sorted((index_root / "simple").glob("*/index.html")):
        text = re.sub(
            r'href="\.\./\.\./files/([^"#]+)#sha256=([0-9a-f]{64})"',
            lambda m: (
                f'href="{PYPI_FILES}/{m[2][:2]}/{m[2][2:4]}/{m[2][4:]}/{m[1]}#sha256={m[2]}"'
            ),
            page.read_text(),
        )
        target = root / "simple" / page.parent.name / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def stand_in_base(index: PipIndex) -> str:
    """The base URL (ENVGEN_PYPI_URL) of a PipIndex serving a PyPI stand-in."""
    return index.url.removesuffix("/simple")
