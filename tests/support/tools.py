"""External tools some tests run (shellcheck, the BSD awk): found, or the test says why not.

On a developer's machine a missing tool skips its tests with the command that installs
it; under .ci/run (which installs them and sets ENVGEN_REQUIRE_TOOLS=1) it fails them,
so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, debian_package: str | None = None) -> str:
    path = shutil.which(name)
    if path:
        return path
    why = f"{name} is not installed (apt-get install -y {debian_package or name})"
    if os.environ.get("ENVGEN_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{why}; .ci/run installs it")
    pytest.skip(why)
