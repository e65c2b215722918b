"""The wheel carries templates/ and locks/, and an installed envgen finds them inside
itself.

templates/ and locks/ sit at the top of the repository (the design card fixes that
layout) and are force-included into the wheel; envgen.resources reads them through
importlib.resources. A checkout run hides a broken force-include, so this builds the
real wheel and runs from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--quiet"],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling")
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-build-isolation", "--wheel-dir", str(out), str(REPO))
    [built] = out.glob("envgen_metal-*.whl")
    return built


def test_the_wheel_holds_every_template_and_pin_set(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {f"envgen/templates/{p.name}" for p in (REPO / "templates").iterdir()}
    locks = {f"envgen/locks/{p.name}" for p in (REPO / "locks").iterdir()}
    assert templates and templates <= names
    assert locks and locks <= names
    assert "envgen/data/catalog.toml" in names


def test_an_installed_envgen_reads_its_own_copies_and_renders(wheel, tmp_path):
    target = tmp_path / "site"
    _pip("install", "--target", str(target), str(wheel))
    script = (
        f"import json, sys\nsys.path.insert(0, {str(target)!r})\nfrom envgen import"
        " resources\nfrom envgen.cli import run\ncode = run(['new', 'p', '--tf',"
        " '2.18', '--dir', sys.argv[1], '--no-lock'])\nprint(json.dumps({'code':"
        " code, 'templates': str(resources.templates_dir()),\n    'locks':"
        " str(resources.locks_dir()), 'module': resources.__file__}))\n"
    )
    # Run outside the checkout, with the checkout off sys.path: only the wheel's copy
    # can answer.
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(tmp_path / "p")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["code"] == 0
    for key in ("templates", "locks", "module"):
        assert Path(found[key]).is_relative_to(target), found
    assert (tmp_path / "p" / "bootstrap.sh").is_file()
