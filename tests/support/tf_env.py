"""A Python with TensorFlow CPU, for the tests that run the verification script and
doctor for real.

`ENVGEN_TF_PYTHON` names an interpreter to use (CI builds one in .ci/run); otherwise a
venv is built once at $ENVGEN_TF_VENV (default /tmp/envgen-test-tf-venv) with `pip
install tensorflow-cpu tensorboard`, which takes about half a minute from this machine's
wheel mirror, and reused by later runs.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

DEFAULT_VENV = Path("/tmp/envgen-test-tf-venv")


def tensorflow_cpu_python() -> Path:
    """Path of a python that can `import tensorflow` (CPU build); builds the venv on
    first use."""
    named = os.environ.get("ENVGEN_TF_PYTHON")
    if named:
        return Path(named)
    venv = Path(os.environ.get("ENVGEN_TF_VENV", str(DEFAULT_VENV)))
    python = venv / "bin" / "python"
    marker = (
        venv / ".tensorflow-tensorboard-ready"
    )  # TensorFlow 2.21 no longer pulls TensorBoard in
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(str(venv) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(venv)], check=True
            )
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "tensorflow-cpu",
                    "tensorboard",
                ],
                check=True,
            )
            marker.write_text("ok\n")
    return python
