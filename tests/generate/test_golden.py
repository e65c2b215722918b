"""Golden files: every rendered file for a few representative specs, byte for byte.

Each case is a folder under tests/golden/ holding `envgen.toml` (the input) and
`expected/` (the rendered project). After an intended change, regenerate them on purpose
with `ENVGEN_UPDATE_GOLDEN=1 python -m pytest tests/generate/test_golden.py` and review
the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envgen.catalog.lines import load_catalog
from envgen.generate.plan import make_plan
from envgen.generate.render import render_files
from envgen.generate.spec import parse_spec

GOLDEN = Path(__file__).parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "envgen.toml").is_file())
UPDATE = os.environ.get("ENVGEN_UPDATE_GOLDEN") == "1"


def rendered(case: str) -> dict[str, str]:
    spec = parse_spec((GOLDEN / case / "envgen.toml").read_text())
    return {
        item.path: item.content
        for item in render_files(make_plan(spec, load_catalog()))
    }


@pytest.mark.parametrize("case", CASES)
def test_rendered_files_match_golden(case):
    expected_dir = GOLDEN / case / "expected"
    files = rendered(case)
    if UPDATE:
        for path, content in files.items():
            target = expected_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
    expected = {
        str(p.relative_to(expected_dir)): p.read_text()
        for p in expected_dir.rglob("*")
        if p.is_file()
    }
    assert sorted(files) == sorted(expected), "the set of generated files changed"
    for path, content in files.items():
        assert content == expected[path], f"{case}/{path} differs from its golden file"


def test_rendering_is_deterministic():
    for case in CASES:
        assert rendered(case) == rendered(case)


def test_golden_cases_cover_the_required_lines():
    lines = {
        parse_spec((GOLDEN / case / "envgen.toml").read_text()).tensorflow
        for case in CASES
    }
    assert {"2.6", "2.12", "2.16", "2.18"} <= lines
