"""The example specs under examples/ stay valid against the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from envgen.catalog import load_catalog
from envgen.plan import make_plan
from envgen.spec import parse_spec

SPECS = sorted((Path(__file__).parent.parent / "examples" / "specs").glob("*.toml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_example_spec_plans(path):
    plan = make_plan(parse_spec(path.read_text()), load_catalog())
    assert plan.python in plan.line.pythons
    assert plan.conda_specs[0].startswith("python ")
