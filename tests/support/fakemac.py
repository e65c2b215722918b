"""Run a generated bootstrap.sh under real bash with the stubs of
tests/fixtures/fakemac.

``FakeMac`` plays an Apple Silicon Mac by default; the stubs read their answers from
``FAKEMAC_*`` variables (tests/fixtures/fakemac/README.md), so the same class plays an
Intel Mac (``FAKEMAC_ARM64=0``). ``FakeMac(tmp_path, machine="linux")`` keeps this
machine's own uname, getconf and friends (a real Linux up to the installer) and adds
only the fake conda.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

FAKEMAC = Path(__file__).parent.parent / "fixtures" / "fakemac"


class FakeMac:
    """Runs bootstrap.sh under bash with the fakemac stubs first on PATH."""

    def __init__(self, tmp_path: Path, *, machine: str = "mac") -> None:
        self.root = tmp_path / "conda-root"
        self.root.mkdir()
        self.log = tmp_path / "calls.log"
        self.log.touch()
        stubs = f"{FAKEMAC / 'bin'}:" if machine == "mac" else ""
        self.env = {
            "PATH": f"{stubs}{FAKEMAC / 'conda'}:/usr/bin:/bin",
            "HOME": str(tmp_path / "home"),
            "TMPDIR": str(tmp_path),
            "FAKEMAC_LOG": str(self.log),
            "FAKEMAC_ROOT": str(self.root),
            "FAKEMAC_LIB": str(FAKEMAC / "lib"),
        }
        if machine != "mac":
            self.env["FAKEMAC_CONDA_PLATFORM"] = "linux-64"

    def run(
        self, project: Path, *args: str, stdin=subprocess.DEVNULL, **env: str
    ) -> subprocess.CompletedProcess:
        full_env = dict(self.env, **env)
        return subprocess.run(
            ["bash", str(project / "bootstrap.sh"), *args],
            cwd=project,
            env=full_env,
            capture_output=True,
            text=True,
            stdin=stdin,
            timeout=600,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()
