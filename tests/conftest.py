"""Suite-wide guards: no accidental network, no writes to $HOME, no inherited pip/conda
settings."""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest

_REAL_CONNECT = socket.socket.connect


def _pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=5):
            return True
    except OSError:
        return False


_PYPI_REACHABLE: bool | None = None
# What a failed network test's error says when the network, not envgen, failed.
TRANSIENT_NETWORK_ERRORS = (
    "Temporary failure in name resolution",
    "Name or service not known",
    "Connection reset by peer",
    "Connection refused",
    "timed out",
    "could not reach the pip index",
    "PipIndexUnreachable",
    "URLError",
)


def pytest_collection_modifyitems(config, items):
    global _PYPI_REACHABLE
    if not any("network" in item.keywords for item in items):
        return
    if _PYPI_REACHABLE is None:
        _PYPI_REACHABLE = _pypi_reachable()
    if not _PYPI_REACHABLE:
        skip = pytest.mark.skip(
            reason="needs live PyPI (pypi.org:443 not reachable from this machine)"
        )
        for item in items:
            if "network" in item.keywords:
                item.add_marker(skip)
        return
    # PyPI answered at the start; a lookup that fails mid-run for a network reason (a
    # DNS blip, a reset) is run again twice, 10 s apart; any other failure is not.
    again = pytest.mark.flaky(
        reruns=2, reruns_delay=10, only_rerun=list(TRANSIENT_NETWORK_ERRORS)
    )
    for item in items:
        if "network" in item.keywords:
            item.add_marker(again)


class NetworkBlocked(RuntimeError):
    """Raised when a test that is not marked `network` tries to reach a non-local
    address."""


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (
        host in ("localhost", "::1") or host.startswith("127.") or host.startswith("/")
    ):
        return _REAL_CONNECT(self, address)
    if self.family == socket.AF_UNIX:
        return _REAL_CONNECT(self, address)
    raise NetworkBlocked(
        f"test tried to reach {address!r}: mark it @pytest.mark.network or use a local"
        " fixture"
    )


@pytest.fixture(autouse=True)
def _isolate(request, monkeypatch, tmp_path_factory):
    """Every test: sockets limited to loopback unless marked `network`; caches and HOME
    in a temp dir."""
    if "network" not in request.keywords:
        monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("ENVGEN_CACHE_DIR", str(home / ".cache" / "envgen"))
    for name in list(os.environ):
        if name.startswith(("CONDA_", "MAMBA_", "PIP_", "UV_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(urllib.request, "getproxies", lambda: {})
    yield
